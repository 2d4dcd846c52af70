"""Elementwise math, comparisons, logic, casts. Broadcasting is NumPy's in both TF and PyTorch."""

from __future__ import annotations

import torch

from huia.tfjs.ops import BuildContext, Op, register, torch_dtype


def _unary(fn):
    def build(ctx: BuildContext) -> Op:
        return Op(fn, [ctx.input(0)])
    return build


def _binary(fn):
    def build(ctx: BuildContext) -> Op:
        return Op(fn, [ctx.input(0), ctx.input(1)])
    return build


def _floordiv(a, b):
    return torch.div(a, b, rounding_mode="floor")


def _div(a, b):
    # TF.js divides int32 tensors with floor division
    if a.dtype.is_floating_point or b.dtype.is_floating_point:
        return a / b
    return torch.div(a, b, rounding_mode="floor")


def _div_no_nan(a, b):
    return torch.where(b == 0, torch.zeros((), dtype=a.dtype), a / torch.where(b == 0, torch.ones_like(b), b))


_BINARY = {
    ("Add", "AddV2"): torch.add,
    ("Sub",): torch.sub,
    ("Mul",): torch.mul,
    ("RealDiv",): torch.true_divide,
    ("Div",): _div,
    ("DivNoNan",): _div_no_nan,
    ("FloorDiv",): _floordiv,
    ("FloorMod", "Mod"): torch.remainder,
    ("Maximum",): torch.maximum,
    ("Minimum",): torch.minimum,
    ("Pow",): torch.pow,
    ("SquaredDifference",): lambda a, b: torch.square(a - b),
    ("Atan2",): torch.atan2,
    ("Equal",): torch.eq,
    ("NotEqual",): torch.ne,
    ("Less",): torch.lt,
    ("LessEqual",): torch.le,
    ("Greater",): torch.gt,
    ("GreaterEqual",): torch.ge,
    ("LogicalAnd",): torch.logical_and,
    ("LogicalOr",): torch.logical_or,
}
for _names, _fn in _BINARY.items():
    # elementwise weights (folded batch-norm scales, biases added after a plain Conv2D) are trainable
    register(*_names, weights=(0, 1) if _names[0] in ("Add", "Sub", "Mul") else ())(_binary(_fn))


def _safe_reciprocal(x):
    return torch.reciprocal(x) if x.dtype.is_floating_point else torch.div(1, x, rounding_mode="floor")


_UNARY = {
    ("Abs",): torch.abs,
    ("Neg",): torch.neg,
    ("Exp",): torch.exp,
    ("Expm1",): torch.expm1,
    ("Log",): torch.log,
    ("Log1p",): torch.log1p,
    ("Sqrt",): torch.sqrt,
    ("Rsqrt",): torch.rsqrt,
    ("Square",): torch.square,
    ("Reciprocal", "Inv"): _safe_reciprocal,
    ("Floor",): torch.floor,
    ("Ceil",): torch.ceil,
    ("Round",): torch.round,  # half to even, as TF
    ("Sign",): torch.sign,
    ("Sin",): torch.sin,
    ("Cos",): torch.cos,
    ("Tan",): torch.tan,
    ("Asin",): torch.asin,
    ("Acos",): torch.acos,
    ("Atan",): torch.atan,
    ("Sinh",): torch.sinh,
    ("Cosh",): torch.cosh,
    ("Asinh",): torch.asinh,
    ("Acosh",): torch.acosh,
    ("Atanh",): torch.atanh,
    ("Erf",): torch.erf,
    ("IsNan",): torch.isnan,
    ("IsInf",): torch.isinf,
    ("IsFinite",): torch.isfinite,
    ("LogicalNot",): torch.logical_not,
    ("ZerosLike",): torch.zeros_like,
    ("OnesLike",): torch.ones_like,
}
for _names, _fn in _UNARY.items():
    register(*_names)(_unary(_fn))


@register("AddN")
def _add_n(ctx: BuildContext) -> Op:
    n = ctx.num_inputs
    if n == 1:
        return Op(lambda x: x, [ctx.input(0)])
    if n == 2:
        return Op(torch.add, [ctx.input(0), ctx.input(1)])

    def fn(*xs):
        y = xs[0] + xs[1]
        for x in xs[2:]:
            y = y + x
        return y
    return Op(fn, [ctx.input(i) for i in range(n)])


@register("Cast")
def _cast(ctx: BuildContext) -> Op:
    dst = ctx.node.attr("DstT", "float32")
    dt = torch_dtype(dst, ctx)
    if dt == torch.bool:
        return Op(lambda x: x != 0, [ctx.input(0)])
    # float -> int truncates toward zero, as TF's Cast
    return Op(lambda x: x if x.dtype == dt else x.to(dt), [ctx.input(0)])


@register("Select", "SelectV2")
def _select(ctx: BuildContext) -> Op:
    v1 = ctx.node.op == "Select"

    def fn(c, a, b):
        if v1 and c.dim() == 1 and a.dim() > 1:  # Select picks whole rows by a vector condition
            c = c.reshape(-1, *([1] * (a.dim() - 1)))
        return torch.where(c, a, b)
    return Op(fn, [ctx.input(0), ctx.input(1), ctx.input(2)])


@register("ClipByValue")
def _clip(ctx: BuildContext) -> Op:
    return Op(lambda x, lo, hi: torch.minimum(torch.maximum(x, lo), hi), [ctx.input(i) for i in range(3)])
