"""Image resizing with TF's exact sampling rules.

TF has three bilinear modes. half_pixel_centers and align_corners match torch.nn.functional.interpolate
(align_corners False / True); the legacy mode (neither flag: src = dst * in/out, no half-pixel shift) has no
PyTorch equivalent, so it is done here with two gathers and lerps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from huia.tfjs.ops import BuildContext, Op, const_list, register


def _scale(n_in: int, n_out: int, align_corners: bool) -> float:
    if align_corners and n_out > 1:
        return (n_in - 1) / (n_out - 1)
    return n_in / n_out


def _lerp_axis(n_in: int, n_out: int, align_corners: bool, half_pixel: bool):
    s = _scale(n_in, n_out, align_corners)
    pos = torch.arange(n_out, dtype=torch.float64)
    src = ((pos + 0.5) * s - 0.5).clamp(min=0) if half_pixel else pos * s
    lo = src.floor()
    frac = (src - lo).to(torch.float32)
    lo = lo.long().clamp(max=n_in - 1)
    hi = torch.minimum(src.ceil().long(), torch.tensor(n_in - 1))
    return lo, hi, frac


def resize_bilinear(x: torch.Tensor, h: int, w: int, align_corners: bool, half_pixel: bool) -> torch.Tensor:
    """x NHWC float -> NHWC [N, h, w, C]."""
    if x.shape[1] == h and x.shape[2] == w:
        return x
    if half_pixel and not align_corners or align_corners and not half_pixel:
        y = F.interpolate(x.permute(0, 3, 1, 2), size=(h, w), mode="bilinear", align_corners=align_corners)
        return y.permute(0, 2, 3, 1)
    ylo, yhi, yf = _lerp_axis(x.shape[1], h, align_corners, half_pixel)
    xlo, xhi, xf = _lerp_axis(x.shape[2], w, align_corners, half_pixel)
    top, bot = x.index_select(1, ylo), x.index_select(1, yhi)
    rows = top + (bot - top) * yf.reshape(1, -1, 1, 1)
    left, right = rows.index_select(2, xlo), rows.index_select(2, xhi)
    return left + (right - left) * xf.reshape(1, 1, -1, 1)


def _nearest_axis(n_in: int, n_out: int, align_corners: bool, half_pixel: bool) -> torch.Tensor:
    s = _scale(n_in, n_out, align_corners)
    pos = torch.arange(n_out, dtype=torch.float64)
    src = (pos + 0.5) * s if half_pixel else pos * s
    idx = src.round() if align_corners else src.floor()
    return idx.long().clamp(0, n_in - 1)


def resize_nearest(x: torch.Tensor, h: int, w: int, align_corners: bool, half_pixel: bool) -> torch.Tensor:
    yi = _nearest_axis(x.shape[1], h, align_corners, half_pixel)
    xi = _nearest_axis(x.shape[2], w, align_corners, half_pixel)
    return x.index_select(1, yi).index_select(2, xi)


def _resize(fn, to_float: bool):
    def build(ctx: BuildContext) -> Op:
        ac = bool(ctx.node.attr("align_corners", False))
        hp = bool(ctx.node.attr("half_pixel_centers", False))

        def run(x, h, w):
            if to_float and not x.dtype.is_floating_point:
                x = x.float()
            return fn(x, h, w, ac, hp)
        if ctx.is_const(1):
            h, w = const_list(ctx, 1)
            return Op(lambda x: run(x, h, w), [ctx.input(0)])
        return Op(lambda x, s: run(x, int(s[0]), int(s[1])), [ctx.input(0), ctx.input(1)])
    return build


register("ResizeBilinear")(_resize(resize_bilinear, True))
register("ResizeNearestNeighbor")(_resize(resize_nearest, False))
