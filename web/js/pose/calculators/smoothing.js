// Keypoint smoothing on video for the pose models that do not track a crop (PoseNet single-pose, BlazePose):
// the one-euro filter of filters.js (the one MoveNet uses) in image pixels, with the constants of
// /spec/signals.json "keypoint_smoothing" -- the same filter, parameters and clock as huia.pose's
// KeypointSmoother (src/huia/pose/calculators/filters.py), so Python and the browser smooth alike.
import SIGNALS from '../../../spec/signals.json' with { type: 'json' };
import { KeypointsOneEuroFilter, oneEuroConfig } from './filters.js';

/** signals.json "keypoint_smoothing" (pixels; cut-offs in Hz, beta per px/s, frequency = first guess in Hz). */
export const KEYPOINT_SMOOTHING = SIGNALS.keypoint_smoothing;

/**
 * The frame clock in microseconds: an explicit `timestamp` (ms), else a <video>'s currentTime, else null (a lone
 * image: nothing to smooth against). Python uses the frame time in seconds (huia.pose.video: index / fps).
 */
export function frameTimeUs(source, timestamp = null) {
  if (timestamp != null) return timestamp * 1000;
  if (typeof HTMLVideoElement !== 'undefined' && source instanceof HTMLVideoElement) return source.currentTime * 1e6;
  return null;
}

/** One pose's keypoints (x, y) through per-axis one-euro filters; scores and other fields pass through. */
export class PoseSmoother {
  constructor(cfg = KEYPOINT_SMOOTHING) { this.filter = new KeypointsOneEuroFilter(oneEuroConfig(cfg)); }
  apply(pose, us) { return { ...pose, keypoints: this.filter.apply(pose.keypoints, us) }; }
  reset() { this.filter.reset(); }
}

/**
 * Give a single-person estimator video smoothing (in place): estimate(source, {timestamp, still, ...}) smooths
 * its pose when a frame time is known and `still` is not set; losing the person resets the filter (as
 * huia.pose.blazepose does). Returns the estimator.
 */
export function withPoseSmoothing(estimator, { smoothing = true, cfg = KEYPOINT_SMOOTHING } = {}) {
  if (!smoothing) return estimator;
  const smoother = new PoseSmoother(cfg);
  const estimate = estimator.estimate;
  const reset = estimator.reset;
  estimator.estimate = async (source, opts = {}) => {
    const poses = await estimate(source, opts);
    if (opts.still) return poses;
    if (!poses.length) { smoother.reset(); return poses; }
    const us = frameTimeUs(source, opts.timestamp);
    return us == null ? poses : [smoother.apply(poses[0], us), ...poses.slice(1)];
  };
  estimator.reset = () => { smoother.reset(); if (reset) reset(); };
  estimator.smoother = smoother;
  return estimator;
}
