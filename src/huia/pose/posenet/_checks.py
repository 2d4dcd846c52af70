"""Shape checks shared by the PoseNet decoders: wrong tensors get a clear HuiaError, not an IndexError deep inside."""

from __future__ import annotations

import numpy as np

from huia.errors import HuiaError
from huia.pose.spec import pose_model_spec

VALID_OUTPUT_STRIDES: tuple[int, ...] = tuple(pose_model_spec()["posenet"]["output_strides"])


def as_map(name: str, arr, channels: int | None = None, hw: tuple[int, int] | None = None) -> np.ndarray:
    """[H, W, C] float32 (a leading batch of 1 is dropped)."""
    a = np.asarray(arr)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 3:
        raise HuiaError(f"{name}: expected a [height, width, channels] map, got shape {tuple(a.shape)}")
    if channels is not None and a.shape[2] != channels:
        raise HuiaError(f"{name}: expected {channels} channels, got shape {tuple(a.shape)}")
    if hw is not None and a.shape[:2] != hw:
        raise HuiaError(f"{name}: height x width {a.shape[:2]} does not match the heatmap's {hw}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise HuiaError(f"{name}: empty map of shape {tuple(a.shape)}")
    if a.dtype != np.float32:
        a = a.astype(np.float32)
    return a


def check_stride(output_stride) -> int:
    if output_stride not in VALID_OUTPUT_STRIDES:
        *head, last = VALID_OUTPUT_STRIDES
        raise HuiaError(f"output stride must be {', '.join(map(str, head))} or {last}, got {output_stride!r}")
    return int(output_stride)


# posenet 1.x's image scale factor, "a number between 0.2 and 1" (the PoseNet article); the CLI shows the same range
IMAGE_SCALE_FACTOR_RANGE: tuple[float, float] = tuple(pose_model_spec()["posenet"]["image_scale_factor_range"])


def check_scale_factor(factor) -> float:
    lo, hi = IMAGE_SCALE_FACTOR_RANGE
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not lo <= float(factor) <= hi:
        raise HuiaError(f"image_scale_factor must be a number within {lo:g}..{hi:g}, got {factor!r}")
    return float(factor)
