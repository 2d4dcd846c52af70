// The keypoint spec (names, edges, colours) and signal thresholds live in web/spec/*.json, shared with
// Python; this module only fetches and caches them.
let specPromise = null;
let signalsPromise = null;
let specCache = null;

/** Fetch /spec/keypoints.json once. */
export function loadSpec() {
  if (!specPromise) {
    specPromise = fetch('/spec/keypoints.json').then((r) => {
      if (!r.ok) throw new Error(`/spec/keypoints.json: HTTP ${r.status}`);
      return r.json();
    }).then((s) => { specCache = s; return s; });
  }
  return specPromise;
}

/** The spec if already loaded, else null. */
export function getSpec() { return specCache; }

/** Fetch /spec/signals.json once (head-direction and arm-trigger thresholds). */
export function loadSignals() {
  if (!signalsPromise) {
    signalsPromise = fetch('/spec/signals.json').then((r) => {
      if (!r.ok) throw new Error(`/spec/signals.json: HTTP ${r.status}`);
      return r.json();
    });
  }
  return signalsPromise;
}

/** name -> index map for the COCO-17 keypoints. */
export function keypointIndex(spec) {
  const m = {};
  spec.coco17.names.forEach((n, i) => { m[n] = i; });
  return m;
}
