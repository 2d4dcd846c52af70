// Interactive signals of the Huia article, the same formulas as huia.pose.signals (Python) with the constants of
// /spec/signals.json: head direction by the "rule of three" and the "both arms raised" trigger with hysteresis.
import { OneEuroFilter } from './calculators/filters.js';

function points(pose, names, minScore) {
  const by = {};
  for (const k of pose.keypoints) by[k.name] = k;
  const out = {};
  for (const n of names) {
    const k = by[n];
    if (!k || k.score < minScore || !Number.isFinite(k.x) || !Number.isFinite(k.y)) return null;
    out[n] = [k.x, k.y];
  }
  return out;
}

const clip = (v) => Math.max(-1, Math.min(1, v));

/** {yaw, pitch} in -1..1 (+yaw = face turned towards image +x, +pitch = looking up) or nulls. */
export function headDirection(cfg, pose, minScore = cfg.min_keypoint_score) {
  const hd = cfg.head_direction;
  const p = points(pose, ['nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear'], minScore);
  if (!p) return { yaw: null, pitch: null };
  const sLeft = p.left_ear[0] - p.left_eye[0];
  const sRight = p.right_eye[0] - p.right_ear[0];
  const total = sLeft + sRight;
  const earSpan = Math.hypot(p.left_ear[0] - p.right_ear[0], p.left_ear[1] - p.right_ear[1]);
  if (total <= 1e-6 || earSpan < hd.min_ear_span_px) return { yaw: null, pitch: null };
  const yaw = clip((sRight - sLeft) / total);
  const eyeY = (p.left_eye[1] + p.right_eye[1]) / 2;
  const d = (p.nose[1] - eyeY) / earSpan;
  const d0 = hd.pitch_neutral_ratio;
  return { yaw, pitch: clip((d - d0) / d0) };
}

/** [left, right]: wrist height above its shoulder in torso lengths (negative = below), null when unseen. */
export function armHeights(cfg, pose, minScore = cfg.min_keypoint_score) {
  const ar = cfg.arms_raised;
  const sh = points(pose, ['left_shoulder', 'right_shoulder'], minScore);
  if (!sh) return [null, null];
  const ls = sh.left_shoulder; const rs = sh.right_shoulder;
  const hips = points(pose, ['left_hip', 'right_hip'], minScore);
  let torso;
  if (hips) {
    const mx = (ls[0] + rs[0]) / 2 - (hips.left_hip[0] + hips.right_hip[0]) / 2;
    const my = (ls[1] + rs[1]) / 2 - (hips.left_hip[1] + hips.right_hip[1]) / 2;
    torso = Math.hypot(mx, my);
  } else {
    torso = Math.hypot(ls[0] - rs[0], ls[1] - rs[1]) * ar.shoulder_width_to_torso;
  }
  if (torso < 1e-6) return [null, null];
  return [['left', ls], ['right', rs]].map(([side, s]) => {
    const w = points(pose, [`${side}_wrist`], minScore);
    return w ? (s[1] - w[`${side}_wrist`][1]) / torso : null;
  });
}

/** On at `enter`, off only below `exit`; the new state must hold for onFrames / offFrames updates. */
export class Hysteresis {
  constructor(enter, exit, onFrames = 1, offFrames = 1) {
    if (exit > enter) throw new Error('Hysteresis: exit threshold must not exceed enter threshold');
    Object.assign(this, { enter, exit, onFrames, offFrames });
    this.state = false;
    this.count = 0;
  }
  reset() { this.state = false; this.count = 0; }
  update(value) {
    const want = value == null ? false : (this.state ? value >= this.exit : value >= this.enter);
    if (want !== this.state) {
      this.count += 1;
      if (this.count >= (want ? this.onFrames : this.offFrames)) { this.state = want; this.count = 0; }
    } else {
      this.count = 0;
    }
    return this.state;
  }
}

/** update(pose) -> true only on the frame both arms are recognised as up (the bird jumps). */
export class ArmsRaisedTrigger {
  constructor(cfg) {
    const ar = cfg.arms_raised;
    this.cfg = cfg;
    this.left = new Hysteresis(ar.on_margin, ar.off_margin);
    this.right = new Hysteresis(ar.on_margin, ar.off_margin);
    this.both = new Hysteresis(1, 1, ar.on_frames, ar.off_frames);
    this.heights = [null, null];
  }
  get raised() { return this.both.state; }
  reset() { this.left.reset(); this.right.reset(); this.both.reset(); }
  update(pose) {
    const before = this.both.state;
    this.heights = pose ? armHeights(this.cfg, pose) : [null, null];
    const l = this.left.update(this.heights[0]);
    const r = this.right.update(this.heights[1]);
    const now = this.both.update(l && r ? 1 : 0);
    return now && !before;
  }
}

/** Smoothed head direction (one-euro) plus a discrete label with hysteresis. update(pose, tSeconds). */
export class HeadDirectionTracker {
  constructor(cfg) {
    const hd = cfg.head_direction;
    this.cfg = cfg;
    const sm = hd.smoothing;
    const mk = () => new OneEuroFilter({ frequency: sm.frequency, minCutOff: sm.min_cutoff, beta: sm.beta, derivateCutOff: sm.d_cutoff });
    this.fYaw = mk();
    this.fPitch = mk();
    this.h = {};
    for (const n of ['right', 'left', 'up', 'down']) this.h[n] = new Hysteresis(hd.labels.enter, hd.labels.exit);
    this.last = { yaw: null, pitch: null };
  }
  update(pose, t) {
    let d = pose ? headDirection(this.cfg, pose) : { yaw: null, pitch: null };
    if (d.yaw != null && d.pitch != null) d = { yaw: this.fYaw.apply(d.yaw, t * 1e6), pitch: this.fPitch.apply(d.pitch, t * 1e6) };
    this.last = d;
    const v = { right: d.yaw, left: d.yaw == null ? null : -d.yaw, up: d.pitch, down: d.pitch == null ? null : -d.pitch };
    const on = ['left', 'right', 'up', 'down'].filter((n) => this.h[n].update(v[n]));
    const label = on.length ? on.reduce((a, b) => (Math.abs(v[b] || 0) > Math.abs(v[a] || 0) ? b : a)) : 'center';
    return { direction: d, label };
  }
}
