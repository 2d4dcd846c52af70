// MoveNet single-pose (Lightning 192 px / Thunder 256 px) with the video pipeline of the tfjs-models
// pose-detection package: crop a square around the body found in the previous frame, run the model on the
// crop, map keypoints back, smooth them with a one-euro filter and low-pass the next crop box.
import { POSE_MODELS } from '../spec.js';
import { loadBuiltinModel } from '../tfjs.js';
import { KeypointsOneEuroFilter, LowPassFilter, oneEuroConfig } from './calculators/filters.js';
import { cropAndResizeRGBA, frameReader, rgb } from './calculators/image.js';
import { determineNextCropRegion, initCropRegion, torsoVisible } from './calculators/crop.js';
import { frameTimeUs } from './calculators/smoothing.js';

export function sourceSize(source) {
  if (source.shape) return { height: source.shape[0], width: source.shape[1] };
  if (source.videoWidth) return { height: source.videoHeight, width: source.videoWidth };
  return { height: source.naturalHeight || source.height, width: source.naturalWidth || source.width };
}

/** `cfg`: the "movenet" section of /spec/pose_models.json (shared with huia.pose.movenet). */
export async function createMoveNet(tf, names, cfg = POSE_MODELS.movenet, {
  variant = 'lightning', smoothing = true,
} = {}) {
  if (!(variant in cfg.input_size)) throw new Error(`unknown MoveNet variant "${variant}"`);
  const model = await loadBuiltinModel(tf, `movenet-${variant}`);
  const res = cfg.input_size[variant];
  const minScore = cfg.min_crop_keypoint_score;
  const idx = {};
  names.forEach((n, i) => { idx[n] = i; });
  let crop = null;
  const kpFilter = new KeypointsOneEuroFilter(oneEuroConfig(cfg.keypoint_filter));
  const cropFilters = [0, 1, 2, 3].map(() => new LowPassFilter(cfg.crop_filter_alpha));
  // Reused across frames: the video frame's RGBA bytes (WebCodecs copy, held across a still's two passes) and the
  // model's int32 input (consumed by the synchronous execute before the next crop overwrites it)
  const readFrame = frameReader();
  const cropBuf = new Int32Array(res * res * 3);

  function reset() {
    crop = null;
    kpFilter.reset();
    cropFilters.forEach((f) => f.reset());
  }

  function filterCrop(c) {
    const [yMin, xMin, yMax, xMax] = [c.yMin, c.xMin, c.yMax, c.xMax].map((v, i) => cropFilters[i].apply(v));
    return { yMin, xMin, yMax, xMax, height: yMax - yMin, width: xMax - xMin };
  }

  /**
   * Model on one normalised crop box -> {kps (x, y normalised to the image), score}. `pixels` is an RGBA frame
   * ({data, width, height}, cropped in JS) or an [H, W, C] tensor (cropped by TF.js); both give the same input.
   */
  async function runCrop(pixels, region) {
    const box = [region.yMin, region.xMin, region.yMax, region.xMax];
    const out = tf.tidy(() => {
      let input;
      if (pixels.shape) {
        input = tf.cast(rgb(tf, tf.image.cropAndResize(tf.expandDims(pixels, 0), [box], [0], [res, res], 'bilinear', 0)), 'int32');
      } else {
        input = tf.tensor4d(cropAndResizeRGBA(pixels, box, res, res, 0, cropBuf), [1, res, res, 3], 'int32');
      }
      return model.execute(input);
    });
    const raw = await out.data();
    out.dispose();
    const kps = [];
    let score = 0; let valid = 0;
    for (let i = 0; i < names.length; i++) {
      const s = raw[3 * i + 2];
      kps.push({
        name: names[i], score: s,
        y: region.yMin + raw[3 * i] * region.height, x: region.xMin + raw[3 * i + 1] * region.width,
      });
      if (s > minScore) { score += s; valid += 1; }
    }
    return { kps, score: valid > 0 ? score / valid : 0 };
  }

  /**
   * A lone image (same semantics as huia.pose's MoveNet on stills): the whole image padded to a square, then a
   * second pass on the crop around the body it found, kept unless its score drops below
   * still_second_pass_min_ratio x the first.
   */
  async function estimateStill(pixels, size) {
    let r = await runCrop(pixels, initCropRegion(false, size));
    if (torsoVisible(r.kps, idx, cfg)) {
      const r2 = await runCrop(pixels, determineNextCropRegion(null, r.kps, idx, names, size, cfg));
      if (r2.score >= r.score * cfg.still_second_pass_min_ratio) r = r2;
    }
    return r;
  }

  /**
   * One frame. timestamp (ms) drives smoothing; for a <video> its currentTime is used, for other sources
   * without a timestamp no smoothing happens. {still: true}: a lone image (see estimateStill); the video
   * tracking state is left untouched; with singlePass only its first pass runs.
   */
  async function estimate(source, { flipHorizontal = false, timestamp = null, still = false, singlePass = false } = {}) {
    const us = frameTimeUs(source, timestamp);
    const size = sourceSize(source);
    const opts = { flipHorizontal, still, singlePass };
    if (source.shape) return estimateFrame(source, size, us, opts);
    return readFrame(source, (pixels) => estimateFrame(pixels, size, us, opts));
  }

  async function estimateFrame(pixels, size, us, { flipHorizontal, still, singlePass }) {
    let kps; let score;
    if (still && singlePass) {
      // only the first still pass (whole image padded to a square): a deterministic check of the numerics
      ({ kps, score } = await runCrop(pixels, initCropRegion(false, size)));
      if (score === 0) return [];
    } else if (still) {
      ({ kps, score } = await estimateStill(pixels, size));
      if (score === 0) return [];
    } else {
      if (!crop) crop = initCropRegion(true, size);
      ({ kps, score } = await runCrop(pixels, crop));
      if (score === 0) { reset(); return []; }
      if (us != null && smoothing) kps = kpFilter.apply(kps, us);
      crop = filterCrop(determineNextCropRegion(crop, kps, idx, names, size, cfg));
    }
    const W = size.width; const H = size.height;
    const keypoints = kps.map((k) => ({
      name: k.name, x: flipHorizontal ? W - 1 - k.x * W : k.x * W, y: k.y * H, score: k.score,
    }));
    return [{ score, keypoints }];
  }

  return {
    name: `movenet-${variant}`, inputSize: [res, res], model, estimate, reset,
    /** The crop box (normalised) the next frame will use; for tests and overlays. */
    get cropRegion() { return crop; },
    dispose() { model.dispose(); },
  };
}
