// BlazePose (full): person detector (224 px SSD, 2254 anchors) -> rotated square ROI from its two alignment
// keypoints -> landmark model (256 px) -> 33 landmarks (+2 alignment points), mapped to the COCO-17 names.
// Follows MediaPipe / tfjs-models pose-detection: on video the next ROI comes from this frame's alignment
// landmarks, so the detector only runs when tracking is lost. Constants: the "blazepose" section of
// /spec/pose_models.json and keypoints.json "blazepose33" (shared with huia.pose.blazepose).
import { POSE_MODELS } from '../spec.js';
import { loadBuiltinModel } from '../tfjs.js';
import { sourceSize } from './movenet.js';
import { frameReader, padResizeBilinearRGBA, rgb, warpAffineRGBA } from './calculators/image.js';

/** BlazePose landmark index for each COCO-17 name, from the spec's two name lists. */
export function blazeposeToCoco(spec) {
  const lm = spec.blazepose33.names;
  return spec.coco17.names.map((n) => {
    const i = lm.indexOf(n);
    if (i < 0) throw new Error(`keypoints.json: "${n}" is not a BlazePose landmark`);
    return i;
  });
}

/** SSD anchors of the BlazePose detector (one grid per run of equal strides, anchors_per_layer per cell per layer). */
export function blazeposeAnchors(cfg = POSE_MODELS.blazepose) {
  const strides = cfg.anchor_strides;
  const DET_SIZE = cfg.detector_size;
  const anchors = [];
  let layer = 0;
  while (layer < strides.length) {
    let perCell = 0;
    let last = layer;
    while (last < strides.length && strides[last] === strides[layer]) { perCell += cfg.anchors_per_layer; last++; }
    const size = Math.ceil(DET_SIZE / strides[layer]);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        for (let a = 0; a < perCell; a++) anchors.push([(x + 0.5) / size, (y + 0.5) / size]);
      }
    }
    layer = last;
  }
  return anchors;
}

const sigmoid = (v) => 1 / (1 + Math.exp(-Math.max(-100, Math.min(100, v))));
const normalizeRadians = (a) => a - 2 * Math.PI * Math.floor((a + Math.PI) / (2 * Math.PI));

/** Square ROI (pixels) centred on p0, side 2*|p1-p0|*roiScale, rotated so that p0->p1 points up. */
function roiFromAlignment(p0, p1, roiScale) {
  const r = Math.hypot(p1[0] - p0[0], p1[1] - p0[1]);
  const rotation = normalizeRadians(Math.PI / 2 - Math.atan2(-(p1[1] - p0[1]), p1[0] - p0[0]));
  const size = 2 * r * roiScale;
  return { cx: p0[0], cy: p0[1], w: size, h: size, rotation };
}

/** `cfg`: the "blazepose" section of /spec/pose_models.json. */
export async function createBlazePose(tf, spec, cfg = POSE_MODELS.blazepose) {
  const DET_SIZE = cfg.detector_size; const LM_SIZE = cfg.landmark_size;
  const DET_SCORE = cfg.min_detection_score; const POSE_FLAG = cfg.min_tracking_score;
  const OUTPUTS = cfg.landmark_outputs;
  const [detector, landmarker] = await Promise.all([
    loadBuiltinModel(tf, 'blazepose-detector'), loadBuiltinModel(tf, 'blazepose-full'),
  ]);
  const anchors = blazeposeAnchors(cfg);
  const names = spec.coco17.names;
  const toCoco = blazeposeToCoco(spec);
  let roi = null; // tracked ROI for the next frame
  const readFrame = frameReader(); // the video frame's RGBA bytes, one buffer reused across frames
  const crop = new Float32Array(LM_SIZE * LM_SIZE * 3); // the landmark model's input, reused across frames

  async function detect(img, rgba, W, H) {
    // letterbox the frame into a square (zero padding), resize to 224 (TF's legacy bilinear), values to [-1, 1]
    const S = Math.max(W, H);
    const top = Math.floor((S - H) / 2); const left = Math.floor((S - W) / 2);
    const pad = { top, bottom: S - H - top, left, right: S - W - left };
    const out = tf.tidy(() => {
      const x = rgba
        ? tf.tensor4d(padResizeBilinearRGBA(rgba, pad, DET_SIZE, DET_SIZE), [1, DET_SIZE, DET_SIZE, 3])
        : tf.expandDims(rgb(tf, tf.image.resizeBilinear(tf.pad3d(tf.cast(img, 'float32'),
          [[pad.top, pad.bottom], [pad.left, pad.right], [0, 0]]), [DET_SIZE, DET_SIZE])), 0);
      return detector.execute(tf.sub(tf.div(x, 127.5), 1));
    });
    const raw = await out.data();
    out.dispose();
    let best = -1; let bestScore = DET_SCORE;
    for (let i = 0; i < anchors.length; i++) {
      const s = sigmoid(raw[i * 13]);
      if (s > bestScore) { bestScore = s; best = i; }
    }
    if (best < 0) return null;
    const o = best * 13 + 1;
    const [ax, ay] = anchors[best];
    const kp = (k) => {
      const nx = raw[o + 4 + 2 * k] / DET_SIZE + ax;
      const ny = raw[o + 4 + 2 * k + 1] / DET_SIZE + ay;
      return [nx * S - left, ny * S - top]; // undo the letterbox
    };
    return { score: bestScore, roi: roiFromAlignment(kp(0), kp(1), cfg.roi_scale) };
  }

  async function landmarks(img, rgba, r) {
    const c = Math.cos(r.rotation); const s = Math.sin(r.rotation);
    const k = 1 / LM_SIZE;
    const m = [c * r.w * k, -s * r.h * k, r.cx - 0.5 * c * r.w + 0.5 * s * r.h,
      s * r.w * k, c * r.h * k, r.cy - 0.5 * s * r.w - 0.5 * c * r.h, 0, 0];
    const [ld, flag] = tf.tidy(() => {
      // DOM frames: warp + scale to [0, 1] in one JS pass into the reused buffer, then straight into the model
      const x = rgba
        ? tf.tensor4d(warpAffineRGBA(rgba, m, LM_SIZE, LM_SIZE, crop, 1 / 255), [1, LM_SIZE, LM_SIZE, 3])
        : tf.div(rgb(tf, tf.image.transform(tf.expandDims(tf.cast(img, 'float32'), 0), tf.tensor2d([m]), 'bilinear',
          'constant', 0, [LM_SIZE, LM_SIZE])), 255);
      return landmarker.execute(x, OUTPUTS);
    });
    const [raw, f] = await Promise.all([ld.data(), flag.data()]);
    ld.dispose(); flag.dispose();
    const pts = [];
    for (let i = 0; i < 35; i++) {
      const lx = raw[5 * i] / LM_SIZE - 0.5; const ly = raw[5 * i + 1] / LM_SIZE - 0.5;
      pts.push({
        x: r.cx + (lx * c - ly * s) * r.w, y: r.cy + (lx * s + ly * c) * r.h,
        z: raw[5 * i + 2] / LM_SIZE * r.w, score: sigmoid(raw[5 * i + 3]),
      });
    }
    return { flag: f[0], pts };
  }

  // DOM frames stay RGBA bytes (resize and warp run in JS), held until the frame's pipeline is done
  function estimate(source, opts = {}) {
    return source.shape ? estimateFrame(source, null, opts) : readFrame(source, (rgba) => estimateFrame(null, rgba, opts));
  }

  async function estimateFrame(img, rgba, { flipHorizontal = false, still = false }) {
    const { width: W, height: H } = img ? sourceSize(img) : rgba;
    let r = still ? null : roi;
    let detScore = null;
    if (!r) {
      const det = await detect(img, rgba, W, H);
      if (!det) { if (!still) roi = null; return []; }
      r = det.roi; detScore = det.score;
    }
    let lm = await landmarks(img, rgba, r);
    if (lm.flag < POSE_FLAG && detScore == null) {
      // lost track: one detector pass on this frame
      const det = await detect(img, rgba, W, H);
      if (!det) { roi = null; return []; }
      r = det.roi;
      lm = await landmarks(img, rgba, r);
    }
    if (lm.flag < POSE_FLAG) { if (!still) roi = null; return []; }
    if (!still) roi = roiFromAlignment([lm.pts[33].x, lm.pts[33].y], [lm.pts[34].x, lm.pts[34].y], cfg.roi_scale);
    const fx = (x) => (flipHorizontal ? W - 1 - x : x);
    const keypoints = names.map((n, i) => {
      const p = lm.pts[toCoco[i]];
      return { name: n, x: fx(p.x), y: p.y, score: p.score };
    });
    const keypoints33 = lm.pts.slice(0, 33).map((p, i) => ({ index: i, x: fx(p.x), y: p.y, z: p.z, score: p.score }));
    return [{ score: lm.flag, keypoints, keypoints33 }];
  }

  return {
    name: 'blazepose', inputSize: [LM_SIZE, LM_SIZE], models: [detector, landmarker], model: landmarker,
    /** The landmark outputs the pipeline reads (a bare benchmark loop should request the same). */
    outputs: OUTPUTS,
    estimate, reset() { roi = null; }, dispose() { detector.dispose(); landmarker.dispose(); },
  };
}
