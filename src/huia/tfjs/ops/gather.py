"""Gather / scatter: GatherV2, GatherNd, ScatterNd."""

from __future__ import annotations

import torch

from huia.tfjs.ops import BuildContext, Op, const_list, register


def _gather(params: torch.Tensor, indices: torch.Tensor, axis: int) -> torch.Tensor:
    axis = axis + params.dim() if axis < 0 else axis
    flat = params.index_select(axis, indices.reshape(-1).long())
    return flat.reshape(params.shape[:axis] + indices.shape + params.shape[axis + 1:])


@register("GatherV2", weights=(0,))
def _gather_v2(ctx: BuildContext) -> Op:
    if int(ctx.node.attr("batch_dims", 0)) != 0:
        raise ctx.error("GatherV2 with batch_dims != 0 is not supported")
    if ctx.is_const(2):
        axis = const_list(ctx, 2)[0]
        return Op(lambda p, i: _gather(p, i, axis), [ctx.input(0), ctx.input(1)])
    return Op(lambda p, i, a: _gather(p, i, int(a)), [ctx.input(0), ctx.input(1), ctx.input(2)])


@register("Gather", weights=(0,))
def _gather_v1(ctx: BuildContext) -> Op:
    return Op(lambda p, i: _gather(p, i, 0), [ctx.input(0), ctx.input(1)])


def _linear_index(indices: torch.Tensor, shape) -> torch.Tensor:
    """indices [..., d] into the first d dims of `shape` -> flat index [...]."""
    d = indices.shape[-1]
    idx = indices.long()
    lin = idx[..., 0]
    for j in range(1, d):
        lin = lin * int(shape[j]) + idx[..., j]
    return lin


@register("GatherNd")
def _gather_nd(ctx: BuildContext) -> Op:
    def fn(params, indices):
        d = indices.shape[-1]
        flat = params.reshape((-1,) + tuple(params.shape[d:]))
        lin = _linear_index(indices, params.shape)
        return flat[lin]
    return Op(fn, [ctx.input(0), ctx.input(1)])


@register("ScatterNd")
def _scatter_nd(ctx: BuildContext) -> Op:
    def fn(indices, updates, shape):
        dims = [int(v) for v in shape.tolist()]
        d = indices.shape[-1]
        out = torch.zeros([int(torch.tensor(dims[:d]).prod())] + dims[d:], dtype=updates.dtype)
        lin = _linear_index(indices, dims).reshape(-1)
        out.index_add_(0, lin, updates.reshape((-1,) + tuple(dims[d:])))
        return out.reshape(dims)
    return Op(fn, [ctx.input(0), ctx.input(1), ctx.input(2)])
