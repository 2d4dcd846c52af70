"""Crop-region tracking for single-person video (MoveNet's recipe): look where the body was in the last frame.

The next crop is a square centred on the hips, big enough for the torso (x TORSO_EXPANSION) and the confident
keypoints (x BODY_EXPANSION), never bigger than needed to reach the image border; without a visible torso the model
sees the whole frame padded to a square. Boxes are normalized (y_min, x_min, y_max, x_max) relative to the image,
as tf.image.cropAndResize wants them.
"""

from __future__ import annotations

import numpy as np

from huia.pose.spec import keypoint_spec, pose_model_spec

# shared with web/js/pose/calculators/crop.js (web/spec/pose_models.json "movenet")
_SPEC = pose_model_spec()["movenet"]
MIN_CROP_KEYPOINT_SCORE: float = _SPEC["min_crop_keypoint_score"]
TORSO_EXPANSION: float = _SPEC["torso_expansion"]
BODY_EXPANSION: float = _SPEC["body_expansion"]


def init_crop_region(first_frame: bool, height: int, width: int) -> np.ndarray:
    """First frame: the centred square (best guess, uses all pixels along the short side); afterwards, when the
    person was lost: the whole image padded to a square."""
    if first_frame:
        if width > height:
            bh, bw, y0, x0 = 1.0, height / width, 0.0, (width / 2 - height / 2) / width
        else:
            bh, bw, y0, x0 = width / height, 1.0, (height / 2 - width / 2) / height, 0.0
    else:
        if width > height:
            bh, bw, y0, x0 = width / height, 1.0, (height / 2 - width / 2) / height, 0.0
        else:
            bh, bw, y0, x0 = 1.0, height / width, 0.0, (width / 2 - height / 2) / width
    return np.array([y0, x0, y0 + bh, x0 + bw], dtype=np.float64)


def torso_visible(scores: np.ndarray, min_score: float = MIN_CROP_KEYPOINT_SCORE) -> bool:
    ids = keypoint_spec().ids
    return bool((scores[ids["left_hip"]] > min_score or scores[ids["right_hip"]] > min_score)
                and (scores[ids["left_shoulder"]] > min_score or scores[ids["right_shoulder"]] > min_score))


def next_crop_region(current: np.ndarray | None, yx_norm: np.ndarray, scores: np.ndarray, height: int,
                     width: int, min_score: float = MIN_CROP_KEYPOINT_SCORE) -> np.ndarray:
    """yx_norm [17, 2] keypoints normalized to the image (y / H, x / W). Returns the next normalized crop box."""
    if not torso_visible(scores, min_score):
        return init_crop_region(current is None, height, width)
    ids = keypoint_spec().ids
    pts = yx_norm * np.array([height, width], dtype=np.float64)
    center = (pts[ids["left_hip"]] + pts[ids["right_hip"]]) / 2
    torso = pts[[ids["left_shoulder"], ids["right_shoulder"], ids["left_hip"], ids["right_hip"]]]
    torso_range = np.abs(center - torso).max(axis=0)  # (y, x)
    confident = scores >= min_score
    body_range = np.abs(center - pts[confident]).max(axis=0) if confident.any() else np.zeros(2)
    half = max(torso_range[1] * TORSO_EXPANSION, torso_range[0] * TORSO_EXPANSION,
               body_range[0] * BODY_EXPANSION, body_range[1] * BODY_EXPANSION)
    cy, cx = center
    half = min(half, max(cx, width - cx, cy, height - cy))
    if half > max(width, height) / 2:
        return init_crop_region(current is None, height, width)
    y0, x0 = cy - half, cx - half
    return np.array([y0 / height, x0 / width, (y0 + 2 * half) / height, (x0 + 2 * half) / width])
