"""Drawing poses: skeleton images (training data for pose classifiers, as in the Huia article) and overlays.

Colours come from web/spec/keypoints.json (limb colour by body part, one joint colour), so the browser draws the
same skeletons. Only drawing lives here; nothing is computed about the pose.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from huia.pose.spec import keypoint_spec
from huia.pose.types import Pose

_SHIFT = 4  # cv2 sub-pixel drawing: coordinates in 1/16 px
DRAW_MIN_SCORE: float = keypoint_spec().draw_min_score  # keypoints.json "draw_min_score"


def _as_array(pose_or_array) -> np.ndarray:
    if isinstance(pose_or_array, Pose):
        return pose_or_array.to_array()
    a = np.asarray(pose_or_array, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] not in (2, 3):
        raise ValueError(f"expected a Pose or a [K, 2|3] keypoint array, got shape {a.shape}")
    if a.shape[1] == 2:
        a = np.concatenate([a, np.ones((len(a), 1))], axis=1)
    return a


def _fit(kp: np.ndarray, size: tuple[int, int], margin: float, min_score: float) -> np.ndarray:
    """Scale and centre the confident keypoints to fill the canvas (keeps aspect), so skeleton images of people
    at different distances from the camera look alike."""
    h, w = size
    ok = kp[:, 2] >= min_score
    if ok.sum() < 2:
        return kp
    lo = kp[ok, :2].min(axis=0)
    hi = kp[ok, :2].max(axis=0)
    span = np.maximum(hi - lo, 1e-6)
    avail = np.array([w, h], dtype=np.float64) * (1 - 2 * margin)
    scale = float(np.min(avail / span))
    out = kp.copy()
    out[:, :2] = (kp[:, :2] - (lo + hi) / 2) * scale + np.array([w, h]) / 2
    return out


def draw_skeleton(canvas: np.ndarray, pose_or_array, *, thickness: int = 4, joint_radius: int | None = None,
                  min_score: float = DRAW_MIN_SCORE, names: Sequence[str] | None = None) -> np.ndarray:
    """Draw one pose in place on an RGB uint8 canvas and return it. Limbs whose two ends are below `min_score`
    are skipped. Works for COCO-17 poses (the limb list of keypoints.json), matched by keypoint name."""
    spec = keypoint_spec()
    kp = _as_array(pose_or_array)
    if isinstance(pose_or_array, Pose):
        names = pose_or_array.names
    names = list(names) if names is not None else list(spec.names[: len(kp)])
    index = {n: i for i, n in enumerate(names)}
    joint_radius = max(1, int(round(thickness * 0.9))) if joint_radius is None else joint_radius
    finite = np.isfinite(kp[:, :2]).all(axis=1)
    pts = np.round(np.nan_to_num(kp[:, :2]) * (1 << _SHIFT)).astype(np.int64)
    for (a, b), color in zip(spec.edges, spec.edge_colors):
        ia, ib = index.get(spec.names[a]), index.get(spec.names[b])
        if ia is None or ib is None or not (finite[ia] and finite[ib]):
            continue
        if kp[ia, 2] < min_score or kp[ib, 2] < min_score:
            continue
        cv2.line(canvas, tuple(int(v) for v in pts[ia]), tuple(int(v) for v in pts[ib]),
                 tuple(int(c) for c in color), int(thickness), cv2.LINE_AA, _SHIFT)
    joint = tuple(int(c) for c in spec.joint_color)
    for i in range(len(kp)):
        if finite[i] and kp[i, 2] >= min_score:
            cv2.circle(canvas, tuple(int(v) for v in pts[i]), int(joint_radius) << _SHIFT, joint, -1, cv2.LINE_AA,
                       _SHIFT)
    return canvas


def render_skeleton(pose_or_array, size: tuple[int, int] = (224, 224), *, thickness: int = 4,
                    joint_radius: int | None = None, background=(0, 0, 0), min_score: float = DRAW_MIN_SCORE,
                    fit: bool = False, margin: float = 0.08, image_size: tuple[int, int] | None = None) -> np.ndarray:
    """A new RGB uint8 image of `size` (H, W) with the skeleton drawn in colour.

    Keypoints are in image pixels of `image_size` (H, W) and get rescaled to `size`; with `fit=True` the skeleton
    is instead scaled and centred to fill the canvas (pose-classifier training images).
    """
    h, w = int(size[0]), int(size[1])
    if h <= 0 or w <= 0:
        raise ValueError(f"render_skeleton: bad size {size}")
    canvas = np.empty((h, w, 3), dtype=np.uint8)
    canvas[:] = np.asarray(background, dtype=np.uint8)
    kp = _as_array(pose_or_array)
    names = pose_or_array.names if isinstance(pose_or_array, Pose) else None
    if fit:
        kp = _fit(kp, (h, w), margin, min_score)
    elif image_size is not None:
        kp = kp.copy()
        kp[:, 0] *= w / image_size[1]
        kp[:, 1] *= h / image_size[0]
    return draw_skeleton(canvas, kp, thickness=thickness, joint_radius=joint_radius, min_score=min_score,
                         names=names)


def draw_poses(image: np.ndarray, poses: Sequence[Pose], *, thickness: int | None = None,
               min_score: float = DRAW_MIN_SCORE, boxes: bool = True) -> np.ndarray:
    """Overlay poses on a copy of an RGB image (thickness scales with the image by default)."""
    out = np.ascontiguousarray(image, dtype=np.uint8).copy()
    if thickness is None:
        thickness = max(2, int(round(max(out.shape[:2]) / 160)))
    for pose in poses:
        draw_skeleton(out, pose, thickness=thickness, min_score=min_score)
        if boxes and pose.box is not None and np.all(np.isfinite(pose.box)):
            x0, y0, x1, y1 = (int(round(v)) for v in pose.box)
            cv2.rectangle(out, (x0, y0), (x1, y1), (255, 215, 0), max(1, thickness // 2))
    return out
