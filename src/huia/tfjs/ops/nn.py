"""Activations, bias/batch-norm, matmul and softmax."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from huia.tfjs.ops import BuildContext, Op, register


def activation(name: str, alpha: float = 0.2):
    """Fused activation by TF name -> fn(y, extra_alpha_tensor_or_None). Applied in place: y is always a fresh
    conv/matmul result, and autograd supports these in-place forms."""
    name = name.lower()
    if name in ("", "linear", "identity"):
        return None
    if name == "relu":
        return lambda y, a=None: torch.relu_(y)
    if name == "relu6":
        return lambda y, a=None: F.hardtanh_(y, 0.0, 6.0)
    if name == "elu":
        return lambda y, a=None: F.elu_(y)
    if name == "sigmoid":
        return lambda y, a=None: torch.sigmoid_(y)
    if name == "tanh":
        return lambda y, a=None: torch.tanh_(y)
    if name == "leakyrelu":
        return lambda y, a=None: F.leaky_relu_(y, alpha)
    if name == "prelu":
        return lambda y, a: torch.where(y < 0, y * a, y)
    return None


FUSED_ACTIVATIONS = {"relu", "relu6", "elu", "sigmoid", "tanh", "leakyrelu", "prelu"}


def parse_fused(ctx: BuildContext, first_extra: int):
    """Decode ``fused_ops`` of _FusedConv2D / FusedDepthwiseConv2dNative / _FusedMatMul.

    Returns (bias_slot or None, bn_slots or None, act_fn or None, alpha_slot or None)."""
    node = ctx.node
    fused = [s.lower() for s in node.attr("fused_ops", [])]
    bias = bn = act = alpha_slot = None
    idx = first_extra
    rest = list(fused)
    if rest and rest[0] == "biasadd":
        bias = ctx.input(idx)
        idx += 1
        rest.pop(0)
    elif rest and rest[0] in ("fusedbatchnorm", "fusedbatchnormv3"):
        bn = [ctx.input(idx + k) for k in range(4)]
        idx += 4
        rest.pop(0)
    if rest:
        name = rest.pop(0)
        if name not in FUSED_ACTIVATIONS:
            raise ctx.error(f"fused op {name!r} is not supported")
        act = activation(name, float(node.attr("leakyrelu_alpha", 0.2)))
        if name == "prelu":
            alpha_slot = ctx.input(idx)
            idx += 1
    if rest:
        raise ctx.error(f"unsupported fused_ops {fused}")
    return bias, bn, act, alpha_slot


def batch_norm(y, scale, offset, mean, var, eps):
    inv = torch.rsqrt(var + eps) * scale
    return y * inv + (offset - mean * inv)


def _unary(fn):
    def build(ctx: BuildContext) -> Op:
        return Op(fn, [ctx.input(0)])
    return build


register("Relu")(_unary(torch.relu))
register("Relu6")(_unary(lambda x: F.hardtanh(x, 0.0, 6.0)))
register("Elu")(_unary(F.elu))
register("Selu")(_unary(F.selu))
register("Sigmoid")(_unary(torch.sigmoid))
register("Tanh")(_unary(torch.tanh))
register("Softplus")(_unary(F.softplus))
register("Softsign")(_unary(F.softsign))


@register("LeakyRelu")
def _leaky(ctx: BuildContext) -> Op:
    alpha = float(ctx.node.attr("alpha", 0.2))
    return Op(lambda x: F.leaky_relu(x, alpha), [ctx.input(0)])


@register("Prelu", weights=(1,))
def _prelu(ctx: BuildContext) -> Op:
    return Op(lambda x, a: torch.where(x < 0, x * a, x), [ctx.input(0), ctx.input(1)])


@register("Softmax")
def _softmax(ctx: BuildContext) -> Op:
    return Op(lambda x: torch.softmax(x, -1), [ctx.input(0)])


@register("LogSoftmax")
def _log_softmax(ctx: BuildContext) -> Op:
    return Op(lambda x: torch.log_softmax(x, -1), [ctx.input(0)])


@register("BiasAdd", weights=(1,))
def _bias_add(ctx: BuildContext) -> Op:
    if ctx.node.attr("data_format", "NHWC") == "NCHW":
        return Op(lambda x, b: x + b.reshape(-1, *([1] * (x.dim() - 2))), [ctx.input(0), ctx.input(1)])
    return Op(torch.add, [ctx.input(0), ctx.input(1)])


@register("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3", weights=(1, 2, 3, 4))
def _fused_bn(ctx: BuildContext) -> Op:
    eps = float(ctx.node.attr("epsilon", 1e-3))
    if ctx.node.attr("data_format", "NHWC") != "NHWC":
        raise ctx.error("FusedBatchNorm supports data_format NHWC only")
    n_out = 6 if ctx.node.op == "FusedBatchNormV3" else 5

    def fn(x, s, o, m, v):
        y = batch_norm(x, s, o, m, v, eps)
        return (y,) + (m, v, m, v, m)[: n_out - 1]
    return Op(fn, [ctx.input(i) for i in range(5)], n_out=n_out)


def _matmul_fn(ta: bool, tb: bool):
    if not ta and not tb:
        return torch.matmul
    return lambda a, b: torch.matmul(a.transpose(-1, -2) if ta else a, b.transpose(-1, -2) if tb else b)


@register("MatMul", weights=(1,))
def _matmul(ctx: BuildContext) -> Op:
    mm = _matmul_fn(bool(ctx.node.attr("transpose_a", False)), bool(ctx.node.attr("transpose_b", False)))
    return Op(mm, [ctx.input(0), ctx.input(1)])


@register("BatchMatMul", "BatchMatMulV2", "BatchMatMulV3")
def _batch_matmul(ctx: BuildContext) -> Op:
    mm = _matmul_fn(bool(ctx.node.attr("adj_x", False)), bool(ctx.node.attr("adj_y", False)))
    return Op(mm, [ctx.input(0), ctx.input(1)])


@register("_FusedMatMul", weights=(1, 2))
def _fused_matmul(ctx: BuildContext) -> Op:
    ta, tb = bool(ctx.node.attr("transpose_a", False)), bool(ctx.node.attr("transpose_b", False))
    bias, bn, act, alpha = parse_fused(ctx, 2)
    if bn is not None:
        raise ctx.error("_FusedMatMul with FusedBatchNorm is not supported")
    a_in = ctx.input(0)
    # Pre-transpose the kernel once so the run is a single addmm.
    w_in = ctx.prep(1, (lambda w: w.t()) if tb else (lambda w: w))
    ins = [a_in, w_in] + ([bias] if bias is not None else []) + ([alpha] if alpha is not None else [])

    def fn(a, w, *extra):
        if ta:
            a = a.transpose(-1, -2)
        if bias is not None:
            y = torch.addmm(extra[0], a, w) if a.dim() == 2 else torch.matmul(a, w) + extra[0]
        else:
            y = torch.matmul(a, w)
        if act is not None:
            y = act(y, extra[-1] if alpha is not None else None)
        return y
    return Op(fn, ins)
