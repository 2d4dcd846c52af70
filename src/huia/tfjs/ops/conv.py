"""Convolutions and pooling in TF's NHWC layout on PyTorch.

Why no copies: a contiguous NHWC tensor permuted to NCHW is exactly a channels_last NCHW tensor, which oneDNN
convolves fast and returns channels_last; permuting that back is again a contiguous NHWC tensor. Filters are
re-laid out once at load (HWIO -> OIHW channels_last). TF's SAME padding puts the odd pixel after
(pad_before = total // 2), which PyTorch's symmetric padding cannot express, so those convs pad explicitly first.

At inference (no autograd) convs go straight to oneDNN with the fused activation as a post-op
(torch.ops.mkldnn._convolution_pointwise, what Inductor emits): this halves PoseNet's CPU time versus F.conv2d +
clamp, mostly because PyTorch sends single-threaded 1x1 convs to a slow im2col path. With autograd on, plain
F.conv2d (and one GEMM for 1x1 convs) keep gradients working; both paths are checked against each other.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from huia.tfjs.ops import BuildContext, Op, register
from huia.tfjs.ops.nn import batch_norm, parse_fused


def same_pads(size: int, k: int, s: int, d: int) -> tuple[int, int]:
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def _spatial(attr_list, fmt: str, default: int = 1) -> tuple[int, int]:
    if not attr_list:
        return default, default
    if len(attr_list) == 2:
        return int(attr_list[0]), int(attr_list[1])
    return (int(attr_list[1]), int(attr_list[2])) if fmt == "NHWC" else (int(attr_list[2]), int(attr_list[3]))


class _Padder:
    """Works out (symmetric conv padding, explicit pre-pad or None) for an input size, cached per size."""

    def __init__(self, ctx: BuildContext, k: tuple[int, int], stride, dil, fmt: str):
        node = ctx.node
        self.mode = node.attr("padding", "VALID")
        self.k, self.s, self.d, self.fmt = k, stride, dil, fmt
        self.cache: dict = {}
        if self.mode == "EXPLICIT":
            p = [int(v) for v in node.attr("explicit_paddings", [])]
            if len(p) != 8:
                raise ctx.error("EXPLICIT padding needs 8 explicit_paddings")
            (t, b, l_, r) = (p[2], p[3], p[4], p[5]) if fmt == "NHWC" else (p[4], p[5], p[6], p[7])
            self.fixed = (t, b, l_, r)
        elif self.mode == "VALID":
            self.fixed = (0, 0, 0, 0)
        elif self.mode == "SAME":
            self.fixed = None
        else:
            raise ctx.error(f"padding {self.mode!r} is not supported")

    def __call__(self, h: int, w: int):
        key = (h, w)
        got = self.cache.get(key)
        if got is None:
            if self.fixed is not None:
                t, b, l_, r = self.fixed
            else:
                t, b = same_pads(h, self.k[0], self.s[0], self.d[0])
                l_, r = same_pads(w, self.k[1], self.s[1], self.d[1])
            if t == b and l_ == r:
                got = ((t, l_), None)
            else:
                got = ((0, 0), (t, b, l_, r))
            self.cache[key] = got
        return got


def _onednn_fused():
    """torch.ops.mkldnn._convolution_pointwise: oneDNN conv with the activation fused in (what Inductor emits on
    CPU). Inference only (no autograd); None when this PyTorch build lacks it."""
    global _FUSED
    if _FUSED is None:
        _FUSED = False
        try:
            op = torch.ops.mkldnn._convolution_pointwise
            x = torch.ones(1, 2, 3, 3).contiguous(memory_format=torch.channels_last)
            w = torch.ones(2, 2, 1, 1).contiguous(memory_format=torch.channels_last)
            with torch.no_grad():
                y = op(x, w, None, [0, 0], [1, 1], [1, 1], 1, "hardtanh", [0.0, 1.0], "")
            if torch.equal(y, torch.ones_like(y)):
                _FUSED = op
        except (AttributeError, RuntimeError):
            pass
    return _FUSED or None


_FUSED = None
# TF fused activation -> (oneDNN post-op name, scalars); others run as a separate op after the conv
_ONEDNN_ACT = {None: ("none", []), "relu": ("relu", []), "relu6": ("hardtanh", [0.0, 6.0]),
               "sigmoid": ("sigmoid", []), "tanh": ("tanh", [])}


def _conv(ctx: BuildContext, depthwise: bool, fused: bool) -> Op:
    node = ctx.node
    fmt = node.attr("data_format", "NHWC")
    if fmt not in ("NHWC", "NCHW"):
        raise ctx.error(f"data_format {fmt} is not supported")
    stride = _spatial(node.attr("strides"), fmt)
    dil = _spatial(node.attr("dilations"), fmt)
    kshape = ctx.static_shape(1)
    kh, kw = kshape[0], kshape[1]
    if depthwise:
        cin, mult = kshape[2], kshape[3]
        groups, cout = cin, cin * mult
        w_slot = ctx.prep(1, lambda w: w.reshape(kh, kw, cin * mult).permute(2, 0, 1).unsqueeze(1)
                          .contiguous(memory_format=torch.channels_last))
    else:
        groups, cin, cout = 1, kshape[2], kshape[3]
        w_slot = ctx.prep(1, lambda w: w.permute(3, 2, 0, 1).contiguous(memory_format=torch.channels_last))
    padder = _Padder(ctx, (kh, kw), stride, dil, fmt)
    bias, bn, act, alpha = parse_fused(ctx, 2) if fused else (None, None, None, None)
    act_name = None
    if fused:
        names = [s.lower() for s in node.attr("fused_ops", [])]
        act_name = next((n for n in names if n not in ("biasadd", "fusedbatchnorm", "fusedbatchnormv3")), None)
    eps = float(node.attr("epsilon", 1e-3))
    ins = [ctx.input(0), w_slot] + ([bias] if bias is not None else []) + (bn or []) + \
          ([alpha] if alpha is not None else [])
    nhwc = fmt == "NHWC"
    has_bias = bias is not None
    onednn = _onednn_fused() if nhwc and bn is None else None
    post = _ONEDNN_ACT.get(act_name)
    after = act if post is None else None         # activation oneDNN cannot fuse: applied afterwards
    post_name, post_scalars = post or ("none", [])
    gemm = not depthwise and kh == kw == 1 and stride == (1, 1) and \
        (padder.mode in ("SAME", "VALID") or padder.fixed == (0, 0, 0, 0))
    stride_l, dil_l = list(stride), list(dil)

    def fn(x, w, *extra):
        b = extra[0] if has_bias else None
        if onednn is not None and not torch.is_grad_enabled():
            pad, pre = padder(x.shape[1], x.shape[2])
            if pre is not None:
                t, bt, l_, r = pre
                x = F.pad(x, (0, 0, l_, r, t, bt))
            y = onednn(x.permute(0, 3, 1, 2), w, b, list(pad), stride_l, dil_l, groups, post_name, post_scalars, "")
            y = y.permute(0, 2, 3, 1)
            if after is not None:
                y = after(y, extra[-1] if alpha is not None else None)
            return y
        if gemm and nhwc:
            # 1x1 stride-1 conv = one GEMM on the [N*H*W, Cin] view (autograd-friendly, no layout change)
            x2 = x.reshape(-1, cin)
            w2 = w.reshape(cout, cin).t()
            y = (torch.addmm(b, x2, w2) if b is not None else torch.mm(x2, w2)).view(*x.shape[:-1], cout)
        else:
            h, wd = (x.shape[1], x.shape[2]) if nhwc else (x.shape[2], x.shape[3])
            pad, pre = padder(h, wd)
            if pre is not None:
                t, bt, l_, r = pre
                x = F.pad(x, (0, 0, l_, r, t, bt)) if nhwc else F.pad(x, (l_, r, t, bt))
            y = F.conv2d(x.permute(0, 3, 1, 2) if nhwc else x, w, b, stride, pad, dil, groups)
            if nhwc:
                y = y.permute(0, 2, 3, 1)
        if bn is not None:
            s_, o, m, v = extra[:4]
            y = batch_norm(y, s_, o, m, v, eps) if nhwc else \
                batch_norm(y.permute(0, 2, 3, 1), s_, o, m, v, eps).permute(0, 3, 1, 2)
        if act is not None:
            a = extra[-1] if alpha is not None else None
            if a is not None and not nhwc:
                y = act(y.permute(0, 2, 3, 1), a).permute(0, 3, 1, 2)
            else:
                y = act(y, a)
        return y
    return Op(fn, ins)


@register("Conv2D", weights=(1,))
def _conv2d(ctx):
    return _conv(ctx, depthwise=False, fused=False)


@register("_FusedConv2D", weights=(1, 2, 3, 4, 5))
def _fused_conv2d(ctx):
    return _conv(ctx, depthwise=False, fused=True)


@register("DepthwiseConv2dNative", weights=(1,))
def _dw(ctx):
    return _conv(ctx, depthwise=True, fused=False)


@register("FusedDepthwiseConv2dNative", weights=(1, 2, 3, 4, 5))
def _fused_dw(ctx):
    return _conv(ctx, depthwise=True, fused=True)


@register("Conv2DBackpropInput", weights=(1,))
def _conv_transpose(ctx: BuildContext) -> Op:
    """Transposed convolution: inputs (output size, filter [kh, kw, out_c, in_c], x)."""
    node = ctx.node
    fmt = node.attr("data_format", "NHWC")
    if fmt != "NHWC":
        raise ctx.error("Conv2DBackpropInput supports NHWC only")
    stride = _spatial(node.attr("strides"), fmt)
    dil = _spatial(node.attr("dilations"), fmt)
    kshape = ctx.static_shape(1)
    kh, kw = int(kshape[0]), int(kshape[1])
    mode = node.attr("padding", "VALID")
    w_slot = ctx.prep(1, lambda w: w.permute(3, 2, 0, 1).contiguous())

    def fn(size, w, x):
        out_h, out_w = [int(v) for v in size.tolist()][1:3]
        if mode == "SAME":
            t, _ = same_pads(out_h, kh, stride[0], dil[0])
            l_, _ = same_pads(out_w, kw, stride[1], dil[1])
        elif mode == "EXPLICIT":
            p = [int(v) for v in node.attr("explicit_paddings", [])]
            t, l_ = p[2], p[4]
        else:
            t = l_ = 0
        y = F.conv_transpose2d(x.permute(0, 3, 1, 2), w, None, stride, 0, 0, 1, dil)
        y = y[:, :, t:t + out_h, l_:l_ + out_w]
        if y.shape[2] < out_h or y.shape[3] < out_w:
            y = F.pad(y, (0, out_w - y.shape[3], 0, out_h - y.shape[2]))
        return y.permute(0, 2, 3, 1).contiguous()
    return Op(fn, [ctx.input(0), w_slot, ctx.input(2)])


def _pool(ctx: BuildContext, kind: str) -> Op:
    node = ctx.node
    fmt = node.attr("data_format", "NHWC")
    if fmt != "NHWC":
        raise ctx.error(f"{node.op} supports NHWC only")
    k = _spatial(node.attr("ksize"), fmt)
    s = _spatial(node.attr("strides"), fmt)
    padder = _Padder(ctx, k, s, (1, 1), fmt)

    def fn(x):
        pad, pre = padder(x.shape[1], x.shape[2])
        xc = x.permute(0, 3, 1, 2)
        if kind == "max":
            if pre is not None:
                t, b, l_, r = pre
                xc = F.pad(xc, (l_, r, t, b), value=-math.inf)
            y = F.max_pool2d(xc, k, s, pad)
        else:
            if pre is None:
                y = F.avg_pool2d(xc, k, s, pad, count_include_pad=False)
            else:
                t, b, l_, r = pre
                ones = torch.ones_like(xc[:1, :1])
                num = F.avg_pool2d(F.pad(xc, (l_, r, t, b)), k, s, 0)
                den = F.avg_pool2d(F.pad(ones, (l_, r, t, b)), k, s, 0)
                y = num / den
        return y.permute(0, 2, 3, 1)
    return Op(fn, [ctx.input(0)])


@register("MaxPool")
def _maxpool(ctx):
    return _pool(ctx, "max")


@register("AvgPool")
def _avgpool(ctx):
    return _pool(ctx, "avg")
