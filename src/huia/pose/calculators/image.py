"""Image resampling with TensorFlow's semantics (what TF.js does in the browser), in numpy.

`resize_bilinear` = tf.image.resizeBilinear(alignCorners=false, halfPixelCenters=false);
`crop_and_resize` = tf.image.cropAndResize(method='bilinear'), normalized boxes, constant extrapolation outside.
Matching these keeps Python and browser keypoints within a pixel of each other on the same frame.
"""

from __future__ import annotations

import numpy as np


def _axis_weights(in_size: int, out_size: int, scale: float, start: float = 0.0):
    src = start + np.arange(out_size, dtype=np.float64) * scale
    lo = np.floor(src).astype(np.int64)
    hi = np.minimum(lo + 1, in_size - 1)
    frac = (src - lo).astype(np.float32)
    lo = np.clip(lo, 0, in_size - 1)
    return src, lo, hi, frac


def resize_bilinear(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """[H, W, C] -> [h, w, C] float32, TF legacy bilinear (source = dst * in/out, no half-pixel shift)."""
    img = np.asarray(image, dtype=np.float32)
    h_in, w_in = img.shape[:2]
    h, w = size
    _, y0, y1, fy = _axis_weights(h_in, h, h_in / h)
    _, x0, x1, fx = _axis_weights(w_in, w, w_in / w)
    return _lerp2d(img, y0, y1, fy, x0, x1, fx)


def _lerp2d(img, y0, y1, fy, x0, x1, fx):
    top = img[y0]
    bot = img[y1]
    fx3 = fx[None, :, None]
    top = top[:, x0] + (top[:, x1] - top[:, x0]) * fx3
    bot = bot[:, x0] + (bot[:, x1] - bot[:, x0]) * fx3
    return top + (bot - top) * fy[:, None, None]


def crop_and_resize(image: np.ndarray, box: tuple[float, float, float, float], size: tuple[int, int],
                    extrapolation_value: float = 0.0) -> np.ndarray:
    """Crop normalized box (y1, x1, y2, x2) of [H, W, C] to [h, w, C] float32 like tf.image.cropAndResize.

    The box may extend beyond the image: those samples get `extrapolation_value`.
    """
    img = np.asarray(image, dtype=np.float32)
    h_in, w_in = img.shape[:2]
    y1, x1, y2, x2 = (float(v) for v in box)
    h, w = size
    if h > 1:
        ys = y1 * (h_in - 1) + np.arange(h) * ((y2 - y1) * (h_in - 1) / (h - 1))
    else:
        ys = np.array([0.5 * (y1 + y2) * (h_in - 1)])
    if w > 1:
        xs = x1 * (w_in - 1) + np.arange(w) * ((x2 - x1) * (w_in - 1) / (w - 1))
    else:
        xs = np.array([0.5 * (x1 + x2) * (w_in - 1)])
    valid_y = (ys >= 0) & (ys <= h_in - 1)
    valid_x = (xs >= 0) & (xs <= w_in - 1)
    y0 = np.clip(np.floor(ys), 0, h_in - 1).astype(np.int64)
    yc = np.clip(np.ceil(ys), 0, h_in - 1).astype(np.int64)
    x0 = np.clip(np.floor(xs), 0, w_in - 1).astype(np.int64)
    xc = np.clip(np.ceil(xs), 0, w_in - 1).astype(np.int64)
    fy = (ys - np.floor(ys)).astype(np.float32)
    fx = (xs - np.floor(xs)).astype(np.float32)
    out = _lerp2d(img, y0, yc, fy, x0, xc, fx)
    if not (valid_y.all() and valid_x.all()):
        out[~valid_y] = extrapolation_value
        out[:, ~valid_x] = extrapolation_value
    return out


def pad_to_aspect(height: int, width: int, target_h: int, target_w: int) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) padding that gives the target aspect ratio, as PoseNet's padAndResizeTo."""
    target_aspect = target_w / target_h
    aspect = width / height
    if aspect < target_aspect:
        p = int(np.floor(0.5 * (target_aspect * height - width) + 0.5))
        return 0, 0, p, p
    p = int(np.floor(0.5 * ((1.0 / target_aspect) * width - height) + 0.5))
    return p, p, 0, 0
