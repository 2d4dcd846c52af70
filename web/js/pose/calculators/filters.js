// Temporal filters used for video: the same semantics as MediaPipe's low-pass and one-euro filters
// (what the tfjs-models pose-detection MoveNet pipeline smooths keypoints and crop boxes with).

/** Exponential smoothing; with a threshold the step is compressed through asinh (robust to jumps). */
/** The one-euro filter options for a {frequency, min_cutoff, beta, d_cutoff, threshold_*} spec block. */
export function oneEuroConfig(f) {
  return {
    frequency: f.frequency, minCutOff: f.min_cutoff, beta: f.beta, derivateCutOff: f.d_cutoff,
    thresholdCutOff: f.threshold_cutoff ?? null, thresholdBeta: f.threshold_beta ?? null,
  };
}

export class LowPassFilter {
  constructor(alpha) { this.alpha = alpha; this.initialized = false; this.raw = 0; this.stored = 0; }
  apply(value, threshold = null) {
    let out;
    if (!this.initialized) {
      out = value;
      this.initialized = true;
    } else if (threshold == null) {
      out = this.stored + this.alpha * (value - this.stored);
    } else {
      out = this.stored + this.alpha * threshold * Math.asinh((value - this.stored) / threshold);
    }
    this.raw = value;
    this.stored = out;
    return out;
  }
  applyWithAlpha(value, alpha, threshold = null) { this.alpha = alpha; return this.apply(value, threshold); }
  reset() { this.initialized = false; }
}

/** One-euro filter (Casiez et al.): cut-off grows with speed, so slow motion is smoothed, fast is not. */
export class OneEuroFilter {
  constructor({ frequency, minCutOff, beta, derivateCutOff, thresholdCutOff = null, thresholdBeta = null }) {
    this.frequency = frequency;
    this.minCutOff = minCutOff;
    this.beta = beta;
    this.derivateCutOff = derivateCutOff;
    this.thresholdCutOff = thresholdCutOff;
    this.thresholdBeta = thresholdBeta;
    this.x = new LowPassFilter(this.alpha(minCutOff));
    this.dx = new LowPassFilter(this.alpha(derivateCutOff));
    this.lastUs = 0;
  }
  alpha(cutoff) { return 1 / (1 + this.frequency / (2 * Math.PI * cutoff)); }
  /** value at time `us` (microseconds); a non-increasing timestamp returns the value unfiltered. */
  apply(value, us, valueScale = 1) {
    const t = Math.trunc(us);
    if (this.lastUs >= t) return value;
    if (this.lastUs !== 0 && t !== 0) this.frequency = 1 / ((t - this.lastUs) * 1e-6);
    this.lastUs = t;
    const d = this.x.initialized ? (value - this.x.raw) * valueScale * this.frequency : 0;
    const ed = this.dx.applyWithAlpha(d, this.alpha(this.derivateCutOff));
    const cutoff = this.minCutOff + this.beta * Math.abs(ed);
    const threshold = this.thresholdCutOff != null ? this.thresholdCutOff + this.thresholdBeta * Math.abs(ed) : null;
    return this.x.applyWithAlpha(value, this.alpha(cutoff), threshold);
  }
}

/** One one-euro filter per keypoint axis. */
export class KeypointsOneEuroFilter {
  constructor(config) { this.config = config; this.fx = null; this.fy = null; }
  apply(keypoints, us) {
    if (!this.fx || this.fx.length !== keypoints.length) {
      this.fx = keypoints.map(() => new OneEuroFilter(this.config));
      this.fy = keypoints.map(() => new OneEuroFilter(this.config));
    }
    return keypoints.map((k, i) => ({ ...k, x: this.fx[i].apply(k.x, us), y: this.fy[i].apply(k.y, us) }));
  }
  reset() { this.fx = null; this.fy = null; }
}
