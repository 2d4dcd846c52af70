// PoseNet (MobileNetV1) with the single- and multi-pose decoders of @tensorflow-models/posenet@2.2.2,
// ported to plain JS over typed arrays (Apache-2.0, (c) Google LLC). Maps are HxWxC Float32Arrays:
// scores (sigmoid applied) [H,W,K], offsets [H,W,2K] (y first, then x), displacements [H,W,2E].
// Decoding constants (local-maximum radius, refine steps) and defaults are the "posenet" section of
// /spec/pose_models.json, shared with huia.pose.posenet; the decoders take them as options (default: the spec).
import { POSE_MODELS } from '../spec.js';
import { loadGraphModel } from '../tfjs.js';
import { frameReader, padResizeBilinearRGBA, rgb } from './calculators/image.js';
import { withPoseSmoothing } from './calculators/smoothing.js';

/** A [H,W,C] map view over a flat typed array. */
export class Map3 {
  constructor(data, h, w, c) { this.data = data; this.h = h; this.w = w; this.c = c; }
  get(y, x, k) { return this.data[(y * this.w + x) * this.c + k]; }
}

const clamp = (a, lo, hi) => (a < lo ? lo : a > hi ? hi : a);

/** Max-heap with the exact tie order of the reference implementation. */
class MaxHeap {
  constructor(size, value) { this.q = new Array(size); this.n = -1; this.value = value; }
  enqueue(x) { this.q[++this.n] = x; this.swim(this.n); }
  dequeue() {
    const max = this.q[0];
    this.exchange(0, this.n--);
    this.sink(0);
    this.q[this.n + 1] = null;
    return max;
  }
  empty() { return this.n === -1; }
  swim(k) { while (k > 0 && this.less(Math.floor(k / 2), k)) { this.exchange(k, Math.floor(k / 2)); k = Math.floor(k / 2); } }
  sink(k) {
    while (2 * k <= this.n) {
      let j = 2 * k;
      if (j < this.n && this.less(j, j + 1)) j++;
      if (!this.less(k, j)) break;
      this.exchange(k, j);
      k = j;
    }
  }
  less(i, j) { return this.value(this.q[i]) < this.value(this.q[j]); }
  exchange(i, j) { const t = this.q[i]; this.q[i] = this.q[j]; this.q[j] = t; }
}

/** Single pose: per-part argmax of the heatmap + offset; score = mean part score. */
export function decodeSinglePose(scores, offsets, outputStride, names) {
  const K = scores.c;
  const keypoints = [];
  let total = 0;
  for (let k = 0; k < K; k++) {
    let best = -Infinity; let by = 0; let bx = 0;
    for (let y = 0; y < scores.h; y++) {
      for (let x = 0; x < scores.w; x++) {
        const s = scores.get(y, x, k);
        if (s > best) { best = s; by = y; bx = x; }
      }
    }
    total += best;
    keypoints.push({
      name: names[k], score: best,
      y: by * outputStride + offsets.get(by, bx, k), x: bx * outputStride + offsets.get(by, bx, k + K),
    });
  }
  return { score: total / K, keypoints };
}

function isLocalMaximum(k, score, hy, hx, r, scores) {
  const y0 = Math.max(hy - r, 0); const y1 = Math.min(hy + r + 1, scores.h);
  const x0 = Math.max(hx - r, 0); const x1 = Math.min(hx + r + 1, scores.w);
  for (let y = y0; y < y1; ++y) for (let x = x0; x < x1; ++x) if (scores.get(y, x, k) > score) return false;
  return true;
}

function buildPartQueue(scoreThreshold, r, scores) {
  const q = new MaxHeap(scores.h * scores.w * scores.c, (e) => e.score);
  for (let y = 0; y < scores.h; ++y) {
    for (let x = 0; x < scores.w; ++x) {
      for (let k = 0; k < scores.c; ++k) {
        const s = scores.get(y, x, k);
        if (s < scoreThreshold) continue;
        if (isLocalMaximum(k, s, y, x, r, scores)) q.enqueue({ score: s, part: { heatmapY: y, heatmapX: x, id: k } });
      }
    }
  }
  return q;
}

function imageCoords(part, stride, offsets, K) {
  return {
    x: part.heatmapX * stride + offsets.get(part.heatmapY, part.heatmapX, part.id + K),
    y: part.heatmapY * stride + offsets.get(part.heatmapY, part.heatmapX, part.id),
  };
}

function stridedIndexNear(p, stride, h, w) {
  return { y: clamp(Math.round(p.y / stride), 0, h - 1), x: clamp(Math.round(p.x / stride), 0, w - 1) };
}

function traverse(edge, source, targetId, scores, offsets, stride, disp, K, refineSteps) {
  const { h, w } = scores;
  const E = disp.c / 2;
  const si = stridedIndexNear(source, stride, h, w);
  let t = { x: source.x + disp.get(si.y, si.x, E + edge), y: source.y + disp.get(si.y, si.x, edge) };
  for (let i = 0; i < refineSteps; i++) {
    const ti = stridedIndexNear(t, stride, h, w);
    t = { x: ti.x * stride + offsets.get(ti.y, ti.x, targetId + K), y: ti.y * stride + offsets.get(ti.y, ti.x, targetId) };
  }
  const ti = stridedIndexNear(t, stride, h, w);
  return { x: t.x, y: t.y, score: scores.get(ti.y, ti.x, targetId) };
}

function decodePose(root, scores, offsets, stride, fwd, bwd, chain, refineSteps) {
  const K = scores.c;
  const kps = new Array(K);
  kps[root.part.id] = { ...imageCoords(root.part, stride, offsets, K), score: root.score };
  for (let e = chain.length - 1; e >= 0; --e) {
    const [parent, child] = chain[e];
    if (kps[child] && !kps[parent]) {
      kps[parent] = traverse(e, kps[child], parent, scores, offsets, stride, bwd, K, refineSteps);
    }
  }
  for (let e = 0; e < chain.length; ++e) {
    const [parent, child] = chain[e];
    if (kps[parent] && !kps[child]) {
      kps[child] = traverse(e, kps[parent], child, scores, offsets, stride, fwd, K, refineSteps);
    }
  }
  return kps;
}

function withinNms(poses, sqR, p, k) {
  return poses.some((pose) => {
    const c = pose.keypoints[k];
    const dy = c.y - p.y; const dx = c.x - p.x;
    return dy * dy + dx * dx <= sqR;
  });
}

/**
 * Multi-pose greedy decoding (PersonLab): local-maximum part queue, part-based NMS on squared radius,
 * backward then forward displacement walk along the pose chain, instance score from parts not overlapping
 * earlier poses. `chain` is the pose chain as [parentIndex, childIndex] pairs. Options: maxPoseDetections,
 * scoreThreshold, nmsRadius, localMaximumRadius, refineSteps (defaults: the spec's "posenet" section).
 */
export function decodeMultiplePoses(scores, offsets, fwd, bwd, outputStride, names, chain, {
  maxPoseDetections = POSE_MODELS.posenet.max_poses, scoreThreshold = POSE_MODELS.posenet.score_threshold,
  nmsRadius = POSE_MODELS.posenet.nms_radius, localMaximumRadius = POSE_MODELS.posenet.local_maximum_radius,
  refineSteps = POSE_MODELS.posenet.offset_refine_steps,
} = {}) {
  const poses = [];
  const queue = buildPartQueue(scoreThreshold, localMaximumRadius, scores);
  const sqR = nmsRadius * nmsRadius;
  const K = scores.c;
  while (poses.length < maxPoseDetections && !queue.empty()) {
    const root = queue.dequeue();
    if (withinNms(poses, sqR, imageCoords(root.part, outputStride, offsets, K), root.part.id)) continue;
    const kps = decodePose(root, scores, offsets, outputStride, fwd, bwd, chain, refineSteps);
    let s = 0;
    kps.forEach((kp, k) => { if (!withinNms(poses, sqR, kp, k)) s += kp.score; });
    poses.push({ score: s / K, keypoints: kps.map((kp, k) => ({ name: names[k], x: kp.x, y: kp.y, score: kp.score })) });
  }
  return poses;
}

/** Valid PoseNet input size: (r - 1) divisible by the output stride. */
export function toValidInputResolution(r, stride) {
  return (r - 1) % stride === 0 ? r : Math.floor(r / stride) * stride + 1;
}

/**
 * Edit the bundled stride-16 MobileNet graph: free the input size, and for stride 8 drop the stride of
 * Conv2d_6's depthwise and dilate every later depthwise by 2 (atrous, same weights); for stride 32 give
 * Conv2d_12's depthwise back its stride 2.
 */
export function patchPoseNetGraph(json, outputStride) {
  for (const node of json.modelTopology.node) {
    if (node.op === 'Placeholder' && node.attr && node.attr.shape) {
      const dims = (node.attr.shape.shape || node.attr.shape).dim;
      if (dims) { dims[1].size = '-1'; dims[2].size = '-1'; }
    }
    const m = /Conv2d_(\d+)_depthwise/.exec(node.name);
    if (!m || node.op !== 'FusedDepthwiseConv2dNative') continue;
    const layer = Number(m[1]);
    if (outputStride === 8) {
      if (layer === 6) node.attr.strides.list.i = ['1', '1', '1', '1'];
      if (layer > 6) node.attr.dilations = { list: { i: ['1', '2', '2', '1'] } };
    } else if (outputStride === 32 && layer === 12) {
      node.attr.strides.list.i = ['1', '2', '2', '1'];
    }
  }
  if (json.signature && json.signature.inputs) {
    for (const v of Object.values(json.signature.inputs)) {
      if (v.tensorShape && v.tensorShape.dim) { v.tensorShape.dim[1].size = '-1'; v.tensorShape.dim[2].size = '-1'; }
    }
  }
}

/**
 * `cfg`: the "posenet" section of /spec/pose_models.json (defaults and output node names, shared with Python).
 * Multi-person decoding drops poses scoring below `minPoseScore` (default: the spec's min_multi_pose_score, as
 * huia.pose.posenet). Single-person video frames (a <video> source or a `timestamp` in ms) are smoothed with the
 * one-euro keypoint filter of /spec/signals.json unless smoothing=false; {still: true} is never smoothed.
 */
export async function createPoseNet(tf, spec, cfg = POSE_MODELS.posenet, {
  outputStride = cfg.output_stride, inputResolution = cfg.input_resolution, multi = false, maxPoses = cfg.max_poses,
  scoreThreshold = cfg.score_threshold, nmsRadius = cfg.nms_radius,
  minPoseScore = multi ? cfg.min_multi_pose_score : 0, smoothing = true,
} = {}) {
  if (!cfg.output_strides.includes(outputStride)) {
    throw new Error(`output stride ${outputStride} is not one of ${cfg.output_strides.join(', ')}`);
  }
  const OUT = cfg.outputs;
  const names = spec.coco17.names;
  const idx = {};
  names.forEach((n, i) => { idx[n] = i; });
  const chain = spec.coco17.pose_chain.map(([a, b]) => [idx[a], idx[b]]);
  const res = toValidInputResolution(inputResolution, outputStride);
  const model = await loadGraphModel(tf, '/models/builtin/posenet.json', { patch: (j) => patchPoseNetGraph(j, outputStride) });
  // Reused across frames: the video frame's RGBA bytes (WebCodecs copy, see rgbaPixelsFast) and the model's input,
  // both consumed synchronously (resize, then execute) right after the frame is read
  const readFrame = frameReader();
  const inputBuf = new Float32Array(res * res * 3);

  async function estimate(source, { flipHorizontal = false } = {}) {
    // DOM sources are padded + resized in JS from RGBA bytes (bit-exact with tf.pad3d + resizeBilinear, without a
    // whole-frame float tensor); tensors go through TF.js. The x / 127.5 - 1 stays in TF.js: two SIMD ops there
    // cost less than the same float32 steps in JS.
    const pixels = source.shape ? null : await readFrame(source, (px) => px);
    const [height, width] = source.shape ? source.shape : [pixels.height, pixels.width];
    // pad to the target aspect (square) then resize, exactly as posenet's padAndResizeTo
    let padT = 0; let padB = 0; let padL = 0; let padR = 0;
    if (width / height < 1) { padL = padR = Math.round(0.5 * (height - width)); } else { padT = padB = Math.round(0.5 * (width - height)); }
    const outs = tf.tidy(() => {
      const resized = pixels
        ? tf.tensor3d(padResizeBilinearRGBA(pixels, { top: padT, bottom: padB, left: padL, right: padR }, res, res,
          inputBuf), [res, res, 3])
        : rgb(tf, tf.image.resizeBilinear(tf.pad3d(source, [[padT, padB], [padL, padR], [0, 0]]), [res, res]));
      const x = tf.expandDims(tf.sub(tf.div(tf.cast(resized, 'float32'), 127.5), 1), 0);
      const [hm, off, fwd, bwd] = model.execute(x, [OUT.heatmap, OUT.offsets, OUT.fwd, OUT.bwd]);
      return [tf.sigmoid(hm), off, fwd, bwd];
    });
    const shapes = outs.map((o) => o.shape);
    const datas = await Promise.all(outs.map((o) => o.data()));
    outs.forEach((o) => o.dispose());
    const maps = datas.map((d, i) => new Map3(d, shapes[i][1], shapes[i][2], shapes[i][3]));
    const stride = outputStride;
    let poses = multi
      ? decodeMultiplePoses(maps[0], maps[1], maps[2], maps[3], stride, names, chain, {
        maxPoseDetections: maxPoses, scoreThreshold, nmsRadius,
        localMaximumRadius: cfg.local_maximum_radius, refineSteps: cfg.offset_refine_steps,
      })
      : [decodeSinglePose(maps[0], maps[1], stride, names)];
    const sy = (height + padT + padB) / res; const sx = (width + padL + padR) / res;
    poses = poses.filter((p) => p.score >= minPoseScore).map((p) => ({
      score: p.score,
      keypoints: p.keypoints.map((k) => {
        const x = k.x * sx - padL;
        return { name: k.name, score: k.score, y: k.y * sy - padT, x: flipHorizontal ? width - 1 - x : x };
      }),
    }));
    return poses;
  }

  return withPoseSmoothing({
    name: 'posenet', inputSize: [res, res], outputStride, minPoseScore, model, estimate, reset() {},
    dispose() { model.dispose(); },
  }, { smoothing: smoothing && !multi });
}
