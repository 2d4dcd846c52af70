// One entry point for every pose model the studio offers.
// Pose = {score, keypoints: [{name, x, y, score}]} in source pixels (COCO-17 names from /spec/keypoints.json).
import { POSE_MODELS as MODELS_SPEC, loadPoseModels, loadSpec } from '../spec.js';

/** The pose models the studio offers, in /spec/pose_models.json "studio_models" (Python's registry has them all). */
export const POSE_MODELS = MODELS_SPEC.studio_models.map((m) => m.name);

/** Fill a <select> with the studio's pose models (one list for every page, with their labels). */
export function fillPoseModelSelect(select) {
  select.replaceChildren(...MODELS_SPEC.studio_models.map((m) => {
    const o = document.createElement('option');
    o.value = m.name;
    o.textContent = m.label;
    return o;
  }));
}

/**
 * createPoseEstimator(tf, {model, ...options}) -> {name, estimate(source, {flipHorizontal, timestamp, still}),
 * reset(), dispose()}.
 * Options: movenet, blazepose: smoothing; posenet: outputStride (8|16|32), inputResolution, multi, maxPoses,
 * scoreThreshold, nmsRadius, minPoseScore, smoothing (defaults in /spec/pose_models.json, shared with huia.pose). BlazePose poses also
 * carry `keypoints33` (all landmarks, with z).
 * `source` is a <video>, <canvas>, <img>, ImageData or an int32/float [H,W,3] tensor.
 */
// model name -> (tf, spec, models, opts) => estimator. A new pose model is one module plus one entry here.
const FACTORIES = {
  'movenet-lightning': movenet('lightning'),
  'movenet-thunder': movenet('thunder'),
  posenet: async (tf, spec, models, opts) => {
    const { createPoseNet } = await import('./posenet.js');
    return createPoseNet(tf, spec, models.posenet, opts);
  },
  blazepose: async (tf, spec, models, opts) => {
    const [{ createBlazePose }, { withPoseSmoothing }] = await Promise.all([
      import('./blazepose.js'), import('./calculators/smoothing.js')]);
    // video smoothing as huia.pose.blazepose (one-euro, /spec/signals.json "keypoint_smoothing")
    return withPoseSmoothing(await createBlazePose(tf, spec, models.blazepose, opts), opts);
  },
};

function movenet(variant) {
  return async (tf, spec, models, opts) => {
    const { createMoveNet } = await import('./movenet.js');
    return createMoveNet(tf, spec.coco17.names, models.movenet, { variant, ...opts });
  };
}

export async function createPoseEstimator(tf, { model = 'movenet-lightning', ...opts } = {}) {
  const factory = Object.hasOwn(FACTORIES, model) ? FACTORIES[model] : null;
  if (!factory) throw new Error(`unknown pose model "${model}" (choose one of ${POSE_MODELS.join(', ')})`);
  const [spec, models] = await Promise.all([loadSpec(), loadPoseModels()]);
  return factory(tf, spec, models, opts);
}
