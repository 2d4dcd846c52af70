"""Reductions over constant axes: Mean (global average pooling), Sum, Max, Min, Prod, All, Any, ArgMax/ArgMin."""

from __future__ import annotations

import torch

from huia.tfjs.ops import BuildContext, Op, const_list, register, torch_dtype


def _norm_axes(axes: list[int], rank: int) -> tuple[int, ...]:
    return tuple(sorted({a + rank if a < 0 else a for a in axes}))


def _reduce(kind: str):
    def build(ctx: BuildContext) -> Op:
        axes = const_list(ctx, 1)
        keep = bool(ctx.node.attr("keep_dims", False))

        def fn(x):
            dims = _norm_axes(axes, x.dim())
            if not dims:
                return x
            if kind == "mean":
                if x.dtype.is_floating_point:
                    return x.mean(dims, keepdim=keep)
                n = 1
                for d in dims:
                    n *= x.shape[d]
                return torch.div(x.sum(dims, keepdim=keep), n, rounding_mode="trunc").to(x.dtype)
            if kind == "sum":
                return x.sum(dims, keepdim=keep, dtype=x.dtype)
            if kind == "max":
                return torch.amax(x, dims, keepdim=keep)
            if kind == "min":
                return torch.amin(x, dims, keepdim=keep)
            if kind == "prod":
                y = x
                for d in sorted(dims, reverse=True):
                    y = y.prod(d, keepdim=keep, dtype=x.dtype)
                return y
            if kind == "all":
                y = x
                for d in sorted(dims, reverse=True):
                    y = y.all(d, keepdim=keep)
                return y
            y = x
            for d in sorted(dims, reverse=True):
                y = y.any(d, keepdim=keep)
            return y
        return Op(fn, [ctx.input(0)])
    return build


for _op, _kind in [("Mean", "mean"), ("Sum", "sum"), ("Max", "max"), ("Min", "min"), ("Prod", "prod"),
                   ("All", "all"), ("Any", "any")]:
    register(_op)(_reduce(_kind))


def _arg(kind: str):
    def build(ctx: BuildContext) -> Op:
        axis = const_list(ctx, 1)[0]
        dt = torch_dtype(ctx.node.attr("output_type", "int32"), ctx)
        f = torch.argmax if kind == "max" else torch.argmin  # first index on ties, as TF

        def fn(x):
            return f(x, axis + x.dim() if axis < 0 else axis).to(dt)
        return Op(fn, [ctx.input(0)])
    return build


register("ArgMax")(_arg("max"))
register("ArgMin")(_arg("min"))
