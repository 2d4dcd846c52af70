// Frozen feature extractors: an intermediate node of a bundled graph model (model.execute(x, nodeName)).
// The specs mirror huia.classify.models.BACKBONES so a head trained here and one exported by `huia export`
// read the same features (pixels 0..255 -> centre square -> input_size -> x * scale + offset).
import { loadBuiltinModel, loadGraphModel } from './tfjs.js';

export const EXTRACTORS = {
  'handlandmark-full': {
    model: 'handlandmark-full', feature_node: 'model_1/model/global_average_pooling2d/Mean', feature_dim: 1152,
    input_size: 224, scale: 1 / 255, offset: 0, pool: false, landmarks: null,
  },
  'posenet-mobilenet': {
    model: 'posenet', feature_node: 'MobilenetV1/MobilenetV1/Conv2d_13_pointwise/Relu6', feature_dim: 384,
    input_size: 224, scale: 1 / 127.5, offset: -1, pool: true, landmarks: null,
  },
};

/** What the picker and page call each extractor. The measured gap decides the advice: on 100 held-out sign-digit
 * photos a head on the hand net got 100/100, one on PoseNet's MobileNet 23-51/100 (spec audit 10, finding 3). */
export const EXTRACTOR_LABELS = {
  'handlandmark-full': 'hand landmarks net (recommended for hands)',
  'posenet-mobilenet': 'PoseNet MobileNet (body net, weak on hands)',
};

/** A person's name for an extractor spec (a loaded head's included), never a raw graph node name. */
export function extractorLabel(spec) {
  const key = Object.keys(EXTRACTORS).find((k) => EXTRACTORS[k].model === spec.model
    && EXTRACTORS[k].feature_node === spec.feature_node);
  const base = key ? EXTRACTOR_LABELS[key].replace(/ \(.*\)$/, '') : `${spec.model} (its feature layer)`;
  return spec.landmarks ? `${base} + ${spec.landmarks.count} landmarks` : base;
}

/** Extractor spec from a head's userDefinedMetadata (huia export format), or null when it names none. */
export function extractorFromMetadata(meta) {
  const bb = meta && meta.backbone;
  if (!bb || !bb.bundled_model) return null;
  const norm = meta.normalization || {};
  return {
    model: bb.bundled_model, feature_node: bb.feature_node, feature_dim: bb.feature_dim,
    input_size: meta.input_size || 224, scale: norm.scale != null ? norm.scale : 1 / 255,
    offset: norm.offset != null ? norm.offset : 0, pool: !!bb.pool,
    landmarks: bb.landmarks ? { node: bb.landmarks.node, count: bb.landmarks.count } : null,
  };
}

function freeInputSize(json) {
  for (const node of json.modelTopology.node) {
    if (node.op !== 'Placeholder') continue;
    const dims = node.attr && node.attr.shape && node.attr.shape.shape && node.attr.shape.shape.dim;
    if (dims) dims.forEach((d, i) => { if (i < 3) d.size = '-1'; });
  }
  if (json.signature && json.signature.inputs) {
    for (const v of Object.values(json.signature.inputs)) {
      if (v.tensorShape && v.tensorShape.dim) v.tensorShape.dim.forEach((d, i) => { if (i < 3) d.size = '-1'; });
    }
  }
}

/**
 * Centre square of an [H,W,3] image resized to size x size, float32 0..255 (the article's cropImage). Bilinear with
 * half-pixel centres, no antialias: the same pixels as huia.classify.dataset.prepare_image (cv2 INTER_LINEAR), which
 * prepares the training images (tests/browser/test_parity.py compares the two on a webcam-sized frame).
 */
export function centerSquare(tf, img, size) {
  const [h, w] = img.shape;
  const s = Math.min(h, w);
  const sq = tf.slice(img, [Math.floor((h - s) / 2), Math.floor((w - s) / 2), 0], [s, s, 3]);
  return tf.image.resizeBilinear(tf.cast(sq, 'float32'), [size, size], false, true);
}

/** Landmarks [1, n*3] -> relative to the first point, divided by its largest xy distance. */
function normalizeLandmarks(tf, lm, n) {
  const pts = tf.reshape(lm, [1, n, 3]);
  const rel = tf.sub(pts, tf.slice(pts, [0, 0, 0], [1, 1, 3]));
  const xy = tf.slice(rel, [0, 0, 0], [1, n, 2]);
  const scale = tf.maximum(tf.max(tf.sqrt(tf.sum(tf.square(xy), 2)), 1), 1e-6);
  return tf.reshape(tf.div(rel, tf.reshape(scale, [1, 1, 1])), [1, n * 3]);
}

/** Load the extractor; features(source) returns a [1, D] tensor (caller disposes). */
export async function createExtractor(tf, spec) {
  const model = spec.model === 'posenet'
    ? await loadGraphModel(tf, '/models/builtin/posenet.json', { patch: freeInputSize })
    : await loadBuiltinModel(tf, spec.model);
  const nodes = [spec.feature_node].concat(spec.landmarks ? [spec.landmarks.node] : []);
  function features(source) {
    return tf.tidy(() => {
      const img = source.shape ? source : tf.browser.fromPixels(source);
      const x = tf.expandDims(tf.add(tf.mul(centerSquare(tf, img, spec.input_size), spec.scale), spec.offset), 0);
      const outs = model.execute(x, nodes);
      const list = Array.isArray(outs) ? outs : [outs];
      let f = spec.pool ? tf.mean(list[0], [1, 2]) : tf.reshape(list[0], [1, -1]);
      if (spec.landmarks) f = tf.concat([f, normalizeLandmarks(tf, list[1], spec.landmarks.count)], 1);
      return f;
    });
  }
  return { spec, model, features, dispose() { model.dispose(); } };
}
