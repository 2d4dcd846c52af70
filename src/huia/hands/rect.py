"""Rotated rectangles in image pixels, and the crop a model sees of one (MediaPipe's calculators, in pixels).

A rect is a float64 array (cx, cy, width, height, rotation): centre and size in input-image pixels, rotation in
radians, clockwise on screen (image y points down). Working in pixels rather than MediaPipe's normalized
coordinates gives the same regions without carrying the image's aspect ratio through every formula.

The crop follows tf.image.transform / MediaPipe's ImageToTensor: output pixel (u, v) samples the image at
centre + R(rotation) . ((u / out_w - 0.5) w, (v / out_h - 0.5) h), bilinear, zero outside the image. A landmark at
crop pixel (u, v) therefore maps back through the very same matrix (`rect_affine`), which is MediaPipe's
LandmarkProjection.
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def normalize_radians(angle: float) -> float:
    """The angle wrapped into [-pi, pi)."""
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


def rotation_between(start, end, target_degrees: float) -> float:
    """The rotation that turns the vector start -> end (image pixels) to `target_degrees` (90 = pointing up)."""
    dx, dy = float(end[0]) - float(start[0]), float(end[1]) - float(start[1])
    return normalize_radians(math.radians(target_degrees) - math.atan2(-dy, dx))


def transform_rect(rect, *, shift_x: float, shift_y: float, scale: float, square_long: bool) -> np.ndarray:
    """MediaPipe's RectTransformation: shift by (shift_x, shift_y) x (w, h) along the rect's own (rotated) axes, make
    it square on its long side, then scale both sides."""
    cx, cy, w, h, rot = (float(v) for v in rect)
    c, s = math.cos(rot), math.sin(rot)
    dx, dy = w * shift_x, h * shift_y
    cx, cy = cx + dx * c - dy * s, cy + dx * s + dy * c
    if square_long:
        w = h = max(w, h)
    return np.array([cx, cy, w * scale, h * scale, rot])


def rect_from_points(points: np.ndarray, rotation: float) -> np.ndarray:
    """The smallest rect with this rotation holding every point ([K, 2] pixels): MediaPipe's
    HandLandmarksToRect (the box is found in the rotated frame around the points' axis-aligned centre)."""
    pts = np.asarray(points, dtype=np.float64)[:, :2]
    centre = (pts.min(axis=0) + pts.max(axis=0)) / 2
    c, s = math.cos(rotation), math.sin(rotation)
    local = (pts - centre) @ np.array([[c, -s], [s, c]])  # rotate by -rotation: into the rect's own axes
    lo, hi = local.min(axis=0), local.max(axis=0)
    mid = (lo + hi) / 2
    cx = centre[0] + mid[0] * c - mid[1] * s
    cy = centre[1] + mid[0] * s + mid[1] * c
    w, h = hi - lo
    return np.array([cx, cy, w, h, rotation])


def rect_affine(rect, out_w: int, out_h: int) -> np.ndarray:
    """2 x 3 matrix: crop pixel (u, v, 1) -> image pixel, for a crop of out_w x out_h."""
    cx, cy, w, h, rot = (float(v) for v in rect)
    c, s = math.cos(rot), math.sin(rot)
    m = np.array([[c * w / out_w, -s * h / out_h, 0.0], [s * w / out_w, c * h / out_h, 0.0]])
    m[:, 2] = np.array([cx, cy]) - m[:, :2] @ np.array([out_w / 2, out_h / 2])
    return m


BORDERS = {"zero": cv2.BORDER_CONSTANT, "replicate": cv2.BORDER_REPLICATE}


def crop_rect(image: np.ndarray, rect, out_w: int, out_h: int | None = None, border: str = "zero") -> np.ndarray:
    """[out_h, out_w, 3] float32 (the image's 0..255 values) of the rotated rect. Outside the image: zero, or with
    border="replicate" the nearest edge pixel (tf.image.transform's fillMode 'constant' / 'nearest')."""
    out_h = out_w if out_h is None else out_h
    src = np.asarray(image)
    if src.dtype != np.float32:
        src = src.astype(np.float32)
    return cv2.warpAffine(src, rect_affine(rect, out_w, out_h), (out_w, out_h),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=BORDERS[border],
                          borderValue=(0, 0, 0))


def project(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """[K, 2] crop pixels -> [K, 2] image pixels through a `rect_affine` matrix."""
    pts = np.asarray(points, dtype=np.float64)[:, :2]
    return pts @ matrix[:, :2].T + matrix[:, 2]


def box_iou(a, b) -> float:
    """IoU of two (x0, y0, x1, y1) boxes."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def rect_box(rect) -> np.ndarray:
    """The rect's unrotated box (x0, y0, x1, y1): what MediaPipe's rect association compares."""
    cx, cy, w, h = (float(v) for v in rect[:4])
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


def associate(rects: list, min_similarity: float) -> list[int]:
    """MediaPipe's AssociationNormRect: rects in increasing priority; one overlapping an earlier kept rect by more
    than `min_similarity` (IoU of the unrotated boxes) replaces it. Returns the indices kept, in order."""
    kept: list[int] = []
    for i, r in enumerate(rects):
        box = rect_box(r)
        kept = [k for k in kept if box_iou(box, rect_box(rects[k])) <= min_similarity]
        kept.append(i)
    return kept
