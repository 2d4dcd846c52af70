// A huia detector in the browser: load an exported model, run it on a video/image/canvas, get boxes.
//
// The decoding (3x3 peak picking, top 100, boxes from the distance head) runs INSIDE the exported graph
// (`tower_0/detections`, rows of [xmin, ymin, xmax, ymax, score, class] in input pixels), so the only
// post-processing here is the same as Python's huia.detect.model.rows_to_detections: keep score >= threshold,
// scale x by width/input and y by height/input, clip to the image, drop empty boxes. No DOM access at import
// time, so Node (tests) can import `rowsToBoxes` directly.

import { frameReader, padResizeBilinearRGBA } from './pose/calculators/image.js';
import { loadGraphModel } from './tfjs.js';

const NO_PAD = { top: 0, bottom: 0, left: 0, right: 0 };

const RUNS = 'the page runs detectors `huia export` writes for a `huia detect train` run';

/**
 * Read a detector's userDefinedMetadata.huia (labels, input size, threshold, output name). `outputs` (the graph's
 * output names) and `url` only word the refusal of a model without it: a CenterNet-style graph (an output named
 * tower_0/detections, like the bundled COCO model) is a detector, just not a huia export with its labels.
 */
export function detectorMeta(userDefinedMetadata, { outputs = [], url = '' } = {}) {
  const meta = (userDefinedMetadata || {}).huia;
  if (meta && meta.task && meta.task !== 'detect') throw new Error(`this model is a huia ${meta.task} model, not a detector: ${RUNS}`);
  if (!meta || meta.task !== 'detect') {
    const detector = outputs.some((n) => String(n).split(':')[0] === 'tower_0/detections');
    const what = !detector ? 'this model was not exported by huia (it has none of huia\'s metadata)'
      : /\/models\/builtin\//.test(url) ? 'this is a bundled COCO model without huia\'s metadata (class names, input size, score threshold)'
        : 'this detector has none of huia\'s metadata (class names, input size, score threshold)';
    throw new Error(`${what}; ${RUNS}`);
  }
  return {
    labels: meta.labels,
    inputSize: meta.input_size[0],
    inputName: meta.input_name || 'tower_0/images',
    output: (meta.postprocessing || {}).output || 'tower_0/detections',
    scoreThreshold: meta.score_threshold ?? 0.3,
    // {evaluated_on, images, iou, curve: [[threshold, TP, FP, FN], ...]} from `huia detect train`'s evaluation
    operatingCurve: meta.operating_curve && Array.isArray(meta.operating_curve.curve) ? meta.operating_curve : null,
  };
}

/**
 * rows: flat [K*6] numbers (xmin, ymin, xmax, ymax, score, class) in input pixels, best first.
 * Returns [{box: [xmin, ymin, xmax, ymax], label, score, classId}] in image pixels.
 */
export function rowsToBoxes(rows, width, height, inputSize, labels, threshold = 0, maxDetections = 100) {
  const out = [];
  const sx = width / inputSize; const sy = height / inputSize;
  const clip = (v, hi) => Math.min(Math.max(v, 0), hi);
  const f = (v) => Math.fround(v);
  for (let i = 0; i + 5 < rows.length && out.length < maxDetections; i += 6) {
    const score = rows[i + 4];
    if (!(score >= threshold)) continue;
    const x1 = clip(f(rows[i] * f(sx)), width); const y1 = clip(f(rows[i + 1] * f(sy)), height);
    const x2 = clip(f(rows[i + 2] * f(sx)), width); const y2 = clip(f(rows[i + 3] * f(sy)), height);
    if (!(x2 > x1 && y2 > y1)) continue;
    const classId = Math.round(rows[i + 5]);
    out.push({ box: [x1, y1, x2, y2], label: labels[classId] ?? String(classId), score, classId });
  }
  return out;
}

/**
 * Load an exported detector (URL of model.json) with the page's tf namespace.
 * Returns {meta, detect(source, {threshold}) -> Promise<boxes>, dispose()}.
 */
export async function loadDetector(tf, url) {
  const refused = modelUrlProblem(url, globalThis.location);
  if (refused) throw new Error(refused);
  let model;
  try {
    model = await loadGraphModel(tf, url);
  } catch (e) {
    throw new Error(explainFetchError(e, url, globalThis.location));
  }
  let meta;
  try {
    const outputs = [...(model.outputNodes || []), ...(model.outputs || []).map((o) => o.name)];
    meta = detectorMeta(model.metadata || model.userDefinedMetadata || (model.artifacts || {}).userDefinedMetadata,
      { outputs, url });
  } catch (e) {
    model.dispose();   // refused: its weights must not stay in memory
    throw e;
  }
  const n = meta.inputSize;
  // The frame's RGBA bytes (a WebCodecs copy for <video>) are stretched to n x n in JS into a reused buffer, with
  // half-pixel centres like Python's cv2.resize(INTER_LINEAR) in huia.detect.model.preprocess: no whole-frame
  // float tensor per frame (tf.browser.fromPixels + cast + resize cost ~4 ms of a 36 ms frame at 320 on wasm).
  const readFrame = frameReader();
  const inputBuf = new Float32Array(n * n * 3);
  async function detect(source, { threshold = meta.scoreThreshold } = {}) {
    return readFrame(source, async (px) => {
      const x = tf.tensor4d(padResizeBilinearRGBA(px, NO_PAD, n, n, inputBuf, { halfPixelCenters: true }), [1, n, n, 3]);
      const t = model.execute({ [meta.inputName]: x }, meta.output);
      x.dispose();
      const rows = await t.data();
      t.dispose();
      return rowsToBoxes(rows, px.width, px.height, n, meta.labels, threshold);
    });
  }
  return { meta, model, detect, dispose: () => model.dispose() };
}

/**
 * Why `url` cannot be a model's address, or null: only http(s) URLs and paths on this server are fetched. A
 * `javascript:` or `data:` URL failed inside the fetch and was explained as a CORS refusal.
 */
export function modelUrlProblem(url, here) {
  const s = String(url);
  const shown = s.length > 60 ? `${s.slice(0, 57)}…` : s;
  let target = null;
  try { target = new URL(s, here && here.href ? here.href : 'http://localhost/'); } catch { /* not a URL */ }
  if (target && (target.protocol === 'http:' || target.protocol === 'https:')) return null;
  return `${shown}: not a model address; give a path on this server (/models/user/NAME/model.json) or an http(s)`
    + ' URL of a model.json';
}

/**
 * A failed model fetch in one line that names the URL and the likely fix. A fetch another origin refuses (no CORS
 * header for this page) fails as a bare "Failed to fetch", which says neither.
 */
export function explainFetchError(e, url, here) {
  const msg = String((e && e.message) || e);
  let target = null;
  try { target = new URL(url, here ? here.href : undefined); } catch { /* not a URL: keep the message */ }
  if (target && here && target.origin !== here.origin && /failed to fetch|networkerror|load failed/i.test(msg)) {
    return `cannot load ${target.href}: that server is down or does not allow this page's origin (CORS);`
      + ` with huia serve, add --cors ${here.origin}`;
  }
  return msg.includes(url) ? msg : `${url}: ${msg}`;
}

/**
 * What a score threshold gave on the images the model was evaluated on (its operating curve): the row with the
 * largest threshold <= t. Returns {threshold, tp, fp, fn, precision, recall, images, evaluatedOn, iou} or null.
 */
export function operatingPoint(curve, t) {
  if (!curve || !curve.curve.length) return null;
  let row = null;
  for (const r of curve.curve) if (r[0] <= t + 1e-9 && (!row || r[0] > row[0])) row = r;
  if (!row) return null;
  const [threshold, tp, fp, fn] = row;
  return { threshold, tp, fp, fn, precision: tp + fp ? tp / (tp + fp) : null, recall: tp + fn ? tp / (tp + fn) : null,
    images: curve.images, evaluatedOn: curve.evaluated_on, iou: curve.iou };
}

/** Boxes in the {x1, y1, x2, y2, label, score} form web/js/draw.js drawBoxes() takes. */
export function toDrawBoxes(boxes) {
  return boxes.map((b) => ({ x1: b.box[0], y1: b.box[1], x2: b.box[2], y2: b.box[3], label: b.label, score: b.score }));
}
