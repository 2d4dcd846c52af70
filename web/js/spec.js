// The keypoint spec (names, edges, colours), signal thresholds and pose-model constants live in web/spec/*.json,
// shared with Python (huia.pose.spec); this module only fetches and caches them. pose_models.json is a static JSON
// module import, so pure functions (decoders, crop maths) can default to its values synchronously, in the browser
// and in Node alike.
import POSE_MODELS_JSON from '../spec/pose_models.json' with { type: 'json' };

/** /spec/pose_models.json: MoveNet crop and filters, PoseNet defaults, BlazePose ROI constants. */
export const POSE_MODELS = POSE_MODELS_JSON;
let specPromise = null;
let signalsPromise = null;
let specCache = null;

function fetchJSON(url) {
  return fetch(url).then((r) => {
    if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
    return r.json();
  });
}

/** Fetch /spec/keypoints.json once. */
export function loadSpec() {
  if (!specPromise) {
    specPromise = fetchJSON('/spec/keypoints.json').then((s) => { specCache = s; return s; });
  }
  return specPromise;
}

/** The spec if already loaded, else null. */
export function getSpec() { return specCache; }

/** Fetch /spec/signals.json once (head-direction and arm-trigger thresholds). */
export function loadSignals() {
  if (!signalsPromise) signalsPromise = fetchJSON('/spec/signals.json');
  return signalsPromise;
}

/** /spec/pose_models.json (MoveNet crop and filters, PoseNet defaults, BlazePose ROI constants): imported
 *  with the module, so already there; a promise for the callers written when it was fetched. */
export function loadPoseModels() {
  return Promise.resolve(POSE_MODELS);
}

