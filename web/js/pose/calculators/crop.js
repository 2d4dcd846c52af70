// MoveNet's body-centred crop: the square the next frame is cropped to, found from this frame's
// keypoints (normalised 0..1 coordinates, boxes as {yMin, xMin, yMax, xMax, height, width}).
// `cfg` is the "movenet" section of /spec/pose_models.json (min_crop_keypoint_score, torso_expansion,
// body_expansion), shared with huia.pose.calculators.crop.
import { POSE_MODELS } from '../../spec.js';

const TORSO = ['left_shoulder', 'right_shoulder', 'left_hip', 'right_hip'];

function box(yMin, xMin, h, w) {
  return { yMin, xMin, yMax: yMin + h, xMax: xMin + w, height: h, width: w };
}

/**
 * Crop used without tracking. firstFrame: centre square of the image (best guess before any pose);
 * otherwise the full image padded to a square.
 */
export function initCropRegion(firstFrame, { width, height }) {
  const wide = width > height;
  // A: full height, centred square columns; B: full width, centred square rows (padded when tall/wide).
  if (firstFrame === wide) return box(0, (width / 2 - height / 2) / width, 1, height / width);
  return box((height / 2 - width / 2) / height, 0, width / height, 1);
}

export function torsoVisible(kp, idx, cfg = POSE_MODELS.movenet) {
  const ok = (n) => kp[idx[n]].score > cfg.min_crop_keypoint_score;
  return (ok('left_hip') || ok('right_hip')) && (ok('left_shoulder') || ok('right_shoulder'));
}

/** Square around the hips' midpoint sized from the torso and body extent; falls back to initCropRegion. */
export function determineNextCropRegion(current, kp, idx, names, size, cfg = POSE_MODELS.movenet) {
  const { width, height } = size;
  if (!torsoVisible(kp, idx, cfg)) return initCropRegion(current == null, size);
  const P = {};
  for (const n of names) P[n] = [kp[idx[n]].y * height, kp[idx[n]].x * width];
  const cy = (P.left_hip[0] + P.right_hip[0]) / 2;
  const cx = (P.left_hip[1] + P.right_hip[1]) / 2;
  let torsoY = 0; let torsoX = 0; let bodyY = 0; let bodyX = 0;
  for (const n of TORSO) {
    torsoY = Math.max(torsoY, Math.abs(cy - P[n][0]));
    torsoX = Math.max(torsoX, Math.abs(cx - P[n][1]));
  }
  for (const n of names) {
    if (kp[idx[n]].score < cfg.min_crop_keypoint_score) continue;
    bodyY = Math.max(bodyY, Math.abs(cy - P[n][0]));
    bodyX = Math.max(bodyX, Math.abs(cx - P[n][1]));
  }
  const te = cfg.torso_expansion; const be = cfg.body_expansion;
  let half = Math.max(torsoX * te, torsoY * te, bodyY * be, bodyX * be);
  half = Math.min(half, Math.max(cx, width - cx, cy, height - cy));
  if (half > Math.max(width, height) / 2) return initCropRegion(current == null, size);
  const y0 = cy - half; const x0 = cx - half; const len = 2 * half;
  const yMin = y0 / height; const xMin = x0 / width;
  const yMax = (y0 + len) / height; const xMax = (x0 + len) / width;
  return { yMin, xMin, yMax, xMax, height: yMax - yMin, width: xMax - xMin };
}
