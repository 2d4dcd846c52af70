"""Drawing poses: skeleton images (training data for pose classifiers, as in the Huia article) and overlays.

Colours come from web/spec/keypoints.json (limb colour by body part, one joint colour), so the browser draws the
same skeletons. Only drawing lives here; nothing is computed about the pose.

Skeleton images (`render_skeleton`) are a classifier's INPUT, and the Huia page renders them again live from the
webcam's keypoints (web/js/huia/skeleton.js), so they use a rasterizer simple enough to be the same arithmetic in
both languages: each limb is a capsule and each joint a disc, a pixel's coverage is clamp(r + 0.5 - distance, 0, 1)
(distance from the integer pixel position to the segment, in float64), blended in spec order on a float64 canvas
and rounded once at the end. The two produce bit-identical images (tests/browser/test_huia_skeleton.py).
Overlays on photos (`draw_poses`) keep OpenCV's anti-aliased lines. Line width, joint radius, background and fit
margin of skeleton images are keypoints.json "skeleton_image".
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from huia.pose.spec import keypoint_spec
from huia.pose.types import Pose

_SHIFT = 4  # cv2 sub-pixel drawing: coordinates in 1/16 px
DRAW_MIN_SCORE: float = keypoint_spec().draw_min_score  # keypoints.json "draw_min_score"


def skeleton_image_spec() -> dict:
    """keypoints.json "skeleton_image": thickness, joint_radius, margin, background (shared with the browser)."""
    from huia.pose.spec import _read_json

    return {k: v for k, v in _read_json("keypoints.json")["skeleton_image"].items() if not k.startswith("_")}


_SK = skeleton_image_spec()


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


def _stamp(canvas: np.ndarray, a, b, radius: float, color) -> None:
    """Blend a capsule (segment a-b, `radius`) into a float64 canvas with coverage clamp(radius + 0.5 - d, 0, 1).
    Mirrored operation for operation by web/js/huia/skeleton.js (same IEEE float64 results)."""
    h, w = canvas.shape[:2]
    ax, ay, bx, by = float(a[0]), float(a[1]), float(b[0]), float(b[1])
    x0, x1 = max(0, int(np.ceil(min(ax, bx) - radius - 1))), min(w - 1, int(np.floor(max(ax, bx) + radius + 1)))
    y0, y1 = max(0, int(np.ceil(min(ay, by) - radius - 1))), min(h - 1, int(np.floor(max(ay, by) + radius + 1)))
    if x0 > x1 or y0 > y1:
        return
    xs = np.arange(x0, x1 + 1, dtype=np.float64)[None, :]
    ys = np.arange(y0, y1 + 1, dtype=np.float64)[:, None]
    dx, dy = bx - ax, by - ay
    len2 = dx * dx + dy * dy
    t = np.clip(((xs - ax) * dx + (ys - ay) * dy) / len2, 0.0, 1.0) if len2 > 0 else np.zeros((1, 1))
    ex = xs - (ax + t * dx)
    ey = ys - (ay + t * dy)
    cov = np.clip(radius + 0.5 - np.sqrt(ex * ex + ey * ey), 0.0, 1.0)
    region = canvas[y0:y1 + 1, x0:x1 + 1]
    region += cov[..., None] * (np.asarray(color, np.float64) - region)


def rasterize_skeleton(kp: np.ndarray, size: tuple[int, int], *, thickness: float, joint_radius: float,
                       min_score: float, background=(0, 0, 0), names: Sequence[str] | None = None) -> np.ndarray:
    """[K, 3] keypoints already in canvas pixels -> RGB uint8 skeleton image (limbs in spec order, then joints)."""
    spec = keypoint_spec()
    h, w = int(size[0]), int(size[1])
    canvas = np.empty((h, w, 3), np.float64)
    canvas[:] = np.asarray(background, np.float64)
    names = list(names) if names is not None else list(spec.names[: len(kp)])
    index = {n: i for i, n in enumerate(names)}
    ok = np.isfinite(kp[:, :2]).all(axis=1) & (kp[:, 2] >= min_score)
    for (a, b), color in zip(spec.edges, spec.edge_colors):
        ia, ib = index.get(spec.names[a]), index.get(spec.names[b])
        if ia is not None and ib is not None and ok[ia] and ok[ib]:
            _stamp(canvas, kp[ia], kp[ib], thickness / 2, color)
    for i in range(len(kp)):
        if ok[i]:
            _stamp(canvas, kp[i], kp[i], joint_radius, spec.joint_color)
    return np.floor(canvas + 0.5).astype(np.uint8)


def render_skeleton(pose_or_array, size: tuple[int, int] = (224, 224), *, thickness: float = _SK["thickness"],
                    joint_radius: float | None = None, background=tuple(_SK["background"]),
                    min_score: float = DRAW_MIN_SCORE, fit: bool = False, margin: float = _SK["margin"],
                    image_size: tuple[int, int] | None = None) -> np.ndarray:
    """A new RGB uint8 image of `size` (H, W) with the skeleton drawn in colour (the portable rasterizer above).

    Keypoints are in image pixels of `image_size` (H, W) and get rescaled to `size`; with `fit=True` the skeleton
    is instead scaled and centred to fill the canvas (pose-classifier training images). `joint_radius` defaults to
    the spec's when `thickness` is the spec's, else 0.9 x thickness.
    """
    h, w = int(size[0]), int(size[1])
    if h <= 0 or w <= 0:
        raise ValueError(f"render_skeleton: bad size {size}")
    if joint_radius is None:
        joint_radius = _SK["joint_radius"] if thickness == _SK["thickness"] else max(1.0, round(thickness * 0.9))
    kp = _as_array(pose_or_array)
    names = pose_or_array.names if isinstance(pose_or_array, Pose) else None
    if fit:
        kp = _fit(kp, (h, w), margin, min_score)
    elif image_size is not None:
        kp = kp.copy()
        kp[:, 0] *= w / image_size[1]
        kp[:, 1] *= h / image_size[0]
    return rasterize_skeleton(kp, (h, w), thickness=thickness, joint_radius=joint_radius, min_score=min_score,
                              background=background, names=names)


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
