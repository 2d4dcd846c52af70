"""Single-pose PoseNet decoding: per-part argmax of the heatmaps refined by the short-range offsets.

Same arithmetic as @tensorflow-models/posenet 2.2.2 `decodeSinglePose`: the first maximum in row-major order wins,
positions are computed in float32 (`argmax * stride + offset`), the pose score is the mean keypoint score.
"""

from __future__ import annotations

import numpy as np

from huia.pose.posenet._checks import as_map, check_stride
from huia.pose.spec import COCO_NAMES
from huia.pose.types import Keypoint, Pose


def decode_single_pose(heatmap_scores, offsets, output_stride: int) -> Pose:
    """heatmap_scores [H, W, K] (sigmoid already applied), offsets [H, W, 2K] (K y-offsets, then K x-offsets).

    Returns one Pose in model-input pixels.
    """
    stride = check_stride(output_stride)
    scores = as_map("heatmap_scores", heatmap_scores)
    h, w, k = scores.shape
    offs = as_map("offsets", offsets, channels=2 * k, hw=(h, w))
    flat_idx = scores.reshape(h * w, k).argmax(axis=0)  # first occurrence, like tf.argMax
    ys, xs = np.divmod(flat_idx, w)
    parts = np.arange(k)
    kp_scores = scores[ys, xs, parts]
    pos_y = (ys * stride).astype(np.float32) + offs[ys, xs, parts]
    pos_x = (xs * stride).astype(np.float32) + offs[ys, xs, parts + k]
    names = COCO_NAMES if k == len(COCO_NAMES) else [f"part_{i}" for i in range(k)]
    keypoints = [Keypoint(names[i], float(pos_x[i]), float(pos_y[i]), float(kp_scores[i])) for i in range(k)]
    return Pose(keypoints, float(kp_scores.astype(np.float64).sum() / k))
