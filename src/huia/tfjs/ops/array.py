"""Shape and array ops: reshape, concat, pack, slicing (TF StridedSlice masks), padding, splits, depth<->space."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from huia.tfjs.ops import BuildContext, Op, const_list, register, torch_dtype

ALIAS_OPS = {"Identity", "StopGradient", "Snapshot", "PreventGradient", "EnsureShape", "CheckNumerics"}


def _identity(ctx: BuildContext) -> Op:
    return Op(lambda x: x, [ctx.input(0)])


for _n in ALIAS_OPS:
    register(_n)(_identity)


@register("IdentityN")
def _identity_n(ctx: BuildContext) -> Op:
    n = ctx.num_inputs
    return Op(lambda *xs: tuple(xs), [ctx.input(i) for i in range(n)], n_out=n, multi=True)


def _axis(a: int, rank: int) -> int:
    return a + rank if a < 0 else a


@register("Reshape")
def _reshape(ctx: BuildContext) -> Op:
    if ctx.is_const(1):
        shape = const_list(ctx, 1)
        return Op(lambda x: x.reshape(shape), [ctx.input(0)])
    return Op(lambda x, s: x.reshape([int(v) for v in s.tolist()]), [ctx.input(0), ctx.input(1)])


@register("ExpandDims")
def _expand_dims(ctx: BuildContext) -> Op:
    axis = const_list(ctx, 1)[0]
    return Op(lambda x: x.unsqueeze(_axis(axis, x.dim() + 1)), [ctx.input(0)])


@register("Squeeze")
def _squeeze(ctx: BuildContext) -> Op:
    dims = [int(d) for d in (ctx.node.attr("squeeze_dims") or ctx.node.attr("axis") or [])]
    if not dims:
        return Op(lambda x: x.squeeze(), [ctx.input(0)])
    return Op(lambda x: x.squeeze(tuple(_axis(d, x.dim()) for d in dims)), [ctx.input(0)])


def _concat(ctx: BuildContext, axis_pos: int, data: list[int]) -> Op:
    if ctx.is_const(axis_pos):
        axis = const_list(ctx, axis_pos)[0]
        return Op(lambda *xs: torch.cat(xs, axis), [ctx.input(i) for i in data])
    return Op(lambda a, *xs: torch.cat(xs, int(a)), [ctx.input(axis_pos)] + [ctx.input(i) for i in data])


@register("ConcatV2")
def _concat_v2(ctx: BuildContext) -> Op:
    n = ctx.num_inputs - 1
    return _concat(ctx, n, list(range(n)))


@register("Concat")
def _concat_v1(ctx: BuildContext) -> Op:
    return _concat(ctx, 0, list(range(1, ctx.num_inputs)))


@register("Pack")
def _pack(ctx: BuildContext) -> Op:
    axis = int(ctx.node.attr("axis", 0))
    return Op(lambda *xs: torch.stack(xs, _axis(axis, xs[0].dim() + 1)), [ctx.input(i) for i in range(ctx.num_inputs)])


@register("Unpack")
def _unpack(ctx: BuildContext) -> Op:
    axis = int(ctx.node.attr("axis", 0))
    num = int(ctx.node.attr("num", 1))
    return Op(lambda x: torch.unbind(x, _axis(axis, x.dim())), [ctx.input(0)], n_out=num, multi=True)


@register("Shape")
def _shape(ctx: BuildContext) -> Op:
    return Op(lambda x: torch.tensor(x.shape, dtype=torch.int32), [ctx.input(0)])


@register("ShapeN")
def _shape_n(ctx: BuildContext) -> Op:
    n = ctx.num_inputs
    return Op(lambda *xs: tuple(torch.tensor(x.shape, dtype=torch.int32) for x in xs),
              [ctx.input(i) for i in range(n)], n_out=n, multi=True)


@register("Size")
def _size(ctx: BuildContext) -> Op:
    return Op(lambda x: torch.tensor(x.numel(), dtype=torch.int32), [ctx.input(0)])


@register("Rank")
def _rank(ctx: BuildContext) -> Op:
    return Op(lambda x: torch.tensor(x.dim(), dtype=torch.int32), [ctx.input(0)])


@register("Transpose")
def _transpose(ctx: BuildContext) -> Op:
    if ctx.is_const(1):
        perm = const_list(ctx, 1)
        return Op(lambda x: x.permute(perm), [ctx.input(0)])
    return Op(lambda x, p: x.permute([int(v) for v in p.tolist()]), [ctx.input(0), ctx.input(1)])


def _torch_pads(paddings) -> list[int]:
    """TF paddings [[before, after] per dim] -> F.pad's list (last dim first)."""
    pads = []
    for before, after in reversed(np.asarray(paddings).reshape(-1, 2).tolist()):
        pads += [int(before), int(after)]
    return pads


@register("Pad", "PadV2")
def _pad(ctx: BuildContext) -> Op:
    pads = _torch_pads(ctx.const(1))
    value = float(np.asarray(ctx.const(2)).reshape(-1)[0]) if ctx.node.op == "PadV2" else 0.0
    if not any(pads):
        return Op(lambda x: x, [ctx.input(0)])
    return Op(lambda x: F.pad(x, pads, value=value), [ctx.input(0)])


@register("MirrorPad")
def _mirror_pad(ctx: BuildContext) -> Op:
    paddings = np.asarray(ctx.const(1)).reshape(-1, 2).tolist()
    offset = 0 if ctx.node.attr("mode", "REFLECT").upper() == "SYMMETRIC" else 1

    def fn(x):
        for d, (b, a) in enumerate(paddings):
            if b == 0 and a == 0:
                continue
            n = x.shape[d]
            idx = list(range(b - 1 + offset, offset - 1, -1)) if b else []
            idx += list(range(n))
            idx += [n - 1 - offset - i for i in range(a)]
            x = x.index_select(d, torch.tensor(idx, dtype=torch.long))
        return x
    return Op(fn, [ctx.input(0)])


def _bits(mask: int, n: int) -> list[bool]:
    return [bool(mask >> i & 1) for i in range(n)]


def _apply_index(x: torch.Tensor, index: tuple) -> torch.Tensor:
    """NumPy basic indexing; torch lacks negative steps, so those dims go through index_select."""
    if not any(isinstance(s, slice) and s.step is not None and s.step < 0 for s in index):
        return x[index]
    # expand Ellipsis / None by hand, then apply dim by dim
    n_real = sum(1 for s in index if s is not None and s is not Ellipsis)
    y = x
    expanded = []
    for s in index:
        if s is Ellipsis:
            expanded += [slice(None)] * (x.dim() - n_real)
        else:
            expanded.append(s)
    dim = 0
    for s in expanded:
        if s is None:
            y = y.unsqueeze(dim)
            dim += 1
        elif isinstance(s, int):
            y = y.select(dim, s)
        else:
            idx = torch.arange(*s.indices(y.shape[dim]), dtype=torch.long)
            y = y.index_select(dim, idx)
            dim += 1
    return y


@register("StridedSlice")
def _strided_slice(ctx: BuildContext) -> Op:
    node = ctx.node
    if not (ctx.is_const(1) and ctx.is_const(2) and ctx.is_const(3)):
        raise ctx.error("StridedSlice with non-constant begin/end/strides is not supported")
    begin, end, strides = const_list(ctx, 1), const_list(ctx, 2), const_list(ctx, 3)
    n = len(begin)
    bm, em = _bits(node.attr("begin_mask", 0), n), _bits(node.attr("end_mask", 0), n)
    el, na = _bits(node.attr("ellipsis_mask", 0), n), _bits(node.attr("new_axis_mask", 0), n)
    sh = _bits(node.attr("shrink_axis_mask", 0), n)
    index: list = []
    seen_ellipsis = False
    for i in range(n):
        if el[i]:
            if not seen_ellipsis:
                index.append(Ellipsis)
            seen_ellipsis = True
        elif na[i]:
            index.append(None)
        elif sh[i]:
            index.append(int(begin[i]))
        else:
            if strides[i] == 0:
                raise ctx.error("StridedSlice stride 0")
            index.append(slice(None if bm[i] else begin[i], None if em[i] else end[i], strides[i]))
    idx = tuple(index)
    return Op(lambda x: _apply_index(x, idx), [ctx.input(0)])


@register("Slice")
def _slice(ctx: BuildContext) -> Op:
    def make(begin, size):
        return tuple(slice(b, None if s == -1 else b + s) for b, s in zip(begin, size))
    if ctx.is_const(1) and ctx.is_const(2):
        idx = make(const_list(ctx, 1), const_list(ctx, 2))
        return Op(lambda x: x[idx], [ctx.input(0)])
    return Op(lambda x, b, s: x[make([int(v) for v in b.tolist()], [int(v) for v in s.tolist()])],
              [ctx.input(0), ctx.input(1), ctx.input(2)])


@register("Split")
def _split(ctx: BuildContext) -> Op:
    axis = const_list(ctx, 0)[0]
    num = int(ctx.node.attr("num_split", 1))
    return Op(lambda x: torch.chunk(x, num, _axis(axis, x.dim())), [ctx.input(1)], n_out=num, multi=True)


@register("SplitV")
def _split_v(ctx: BuildContext) -> Op:
    sizes = const_list(ctx, 1)
    axis = const_list(ctx, 2)[0]
    num = int(ctx.node.attr("num_split", len(sizes)))

    def fn(x):
        a = _axis(axis, x.dim())
        sz = list(sizes)
        if -1 in sz:
            k = sz.index(-1)
            sz[k] = x.shape[a] - (sum(sz) + 1)
        return torch.split(x, sz, a)
    return Op(fn, [ctx.input(0)], n_out=num, multi=True)


@register("Fill")
def _fill(ctx: BuildContext) -> Op:
    return Op(lambda s, v: torch.full([int(d) for d in s.tolist()], v.item(), dtype=v.dtype),
              [ctx.input(0), ctx.input(1)])


@register("Range")
def _range(ctx: BuildContext) -> Op:
    dt = torch_dtype(ctx.node.attr("Tidx", "int32"), ctx)
    return Op(lambda a, b, d: torch.arange(a.item(), b.item(), d.item(), dtype=dt),
              [ctx.input(0), ctx.input(1), ctx.input(2)])


@register("Tile")
def _tile(ctx: BuildContext) -> Op:
    if ctx.is_const(1):
        reps = const_list(ctx, 1)
        return Op(lambda x: x.repeat(reps), [ctx.input(0)])
    return Op(lambda x, r: x.repeat([int(v) for v in r.tolist()]), [ctx.input(0), ctx.input(1)])


@register("BroadcastTo")
def _broadcast_to(ctx: BuildContext) -> Op:
    return Op(lambda x, s: x.expand([int(v) for v in s.tolist()]) if x.dim() <= len(s) else x,
              [ctx.input(0), ctx.input(1)])


@register("Reverse", "ReverseV2")
def _reverse(ctx: BuildContext) -> Op:
    axes = const_list(ctx, 1)
    return Op(lambda x: torch.flip(x, [_axis(a, x.dim()) for a in axes]), [ctx.input(0)])


@register("OneHot")
def _one_hot(ctx: BuildContext) -> Op:
    depth = const_list(ctx, 1)[0]
    axis = int(ctx.node.attr("axis", -1))

    def fn(idx, on, off):
        valid = (idx >= 0) & (idx < depth)
        oh = F.one_hot(torch.where(valid, idx, 0).long(), depth).bool() & valid.unsqueeze(-1)
        y = torch.where(oh, on, off)
        return y if axis == -1 else y.movedim(-1, axis)
    return Op(fn, [ctx.input(0), ctx.input(2), ctx.input(3)])


@register("DepthToSpace")
def _depth_to_space(ctx: BuildContext) -> Op:
    """NHWC, DCR order: out[n, h*b + i, w*b + j, c] = in[n, h, w, (i*b + j)*C + c]."""
    b = int(ctx.node.attr("block_size", 2))
    if ctx.node.attr("data_format", "NHWC") != "NHWC":
        raise ctx.error("DepthToSpace supports NHWC only")

    def fn(x):
        n, h, w, c = x.shape
        y = x.reshape(n, h, w, b, b, c // (b * b)).permute(0, 1, 3, 2, 4, 5)
        return y.reshape(n, h * b, w * b, c // (b * b))
    return Op(fn, [ctx.input(0)])


@register("SpaceToDepth")
def _space_to_depth(ctx: BuildContext) -> Op:
    b = int(ctx.node.attr("block_size", 2))

    def fn(x):
        n, h, w, c = x.shape
        y = x.reshape(n, h // b, b, w // b, b, c).permute(0, 1, 3, 2, 4, 5)
        return y.reshape(n, h // b, w // b, b * b * c)
    return Op(fn, [ctx.input(0)])


@register("SparseToDense")
def _sparse_to_dense(ctx: BuildContext) -> Op:
    def fn(indices, shape, values, default):
        dims = [int(v) for v in shape.reshape(-1).tolist()]
        out = torch.full(dims, default.item(), dtype=values.dtype)
        idx = indices.long()
        if idx.dim() < 2:
            idx = idx.reshape(-1, 1)
        vals = values.expand(idx.shape[0]) if values.dim() == 0 else values
        out[tuple(idx.t())] = vals
        return out
    return Op(fn, [ctx.input(i) for i in range(4)])


@register("Where")
def _where(ctx: BuildContext) -> Op:
    """Coordinates of true (non-zero) elements, [N, rank] int32 in row-major order (dynamic shape)."""
    return Op(lambda x: torch.nonzero(x).to(torch.int32), [ctx.input(0)])


@register("SpaceToBatchND")
def _space_to_batch(ctx: BuildContext) -> Op:
    """Older TF graphs express dilated (atrous) convs as SpaceToBatchND -> conv -> BatchToSpaceND."""
    block = const_list(ctx, 1)
    pads = np.asarray(ctx.const(2)).reshape(-1, 2).tolist()
    m = len(block)

    def fn(x):
        tp = [0, 0] * (x.dim() - 1 - m)
        for b, a in reversed(pads):
            tp += [int(b), int(a)]
        x = F.pad(x, tp) if any(tp) else x
        n, rest = x.shape[0], list(x.shape[m + 1:])
        shape = [n]
        for i, b in enumerate(block):
            shape += [x.shape[1 + i] // b, b]
        y = x.reshape(shape + rest)
        # -> [b_1..b_m, n, s_1..s_m, rest]
        perm = [2 + 2 * i for i in range(m)] + [0] + [1 + 2 * i for i in range(m)] + \
            list(range(1 + 2 * m, y.dim()))
        y = y.permute(perm)
        prod = 1
        for b in block:
            prod *= b
        return y.reshape([n * prod] + [x.shape[1 + i] // block[i] for i in range(m)] + rest)
    return Op(fn, [ctx.input(0)])


@register("BatchToSpaceND")
def _batch_to_space(ctx: BuildContext) -> Op:
    block = const_list(ctx, 1)
    crops = np.asarray(ctx.const(2)).reshape(-1, 2).tolist()
    m = len(block)
    prod = 1
    for b in block:
        prod *= b

    def fn(x):
        n = x.shape[0] // prod
        spatial, rest = list(x.shape[1:m + 1]), list(x.shape[m + 1:])
        y = x.reshape(list(block) + [n] + spatial + rest)
        # -> [n, s_1, b_1, ..., s_m, b_m, rest]
        perm = [m]
        for i in range(m):
            perm += [m + 1 + i, i]
        perm += list(range(2 * m + 1, y.dim()))
        y = y.permute(perm).reshape([n] + [s * b for s, b in zip(spatial, block)] + rest)
        index = [slice(None)] + [slice(int(c0), y.shape[1 + i] - int(c1)) for i, (c0, c1) in enumerate(crops)]
        return y[tuple(index)]
    return Op(fn, [ctx.input(0)])


@register("Cumsum")
def _cumsum(ctx: BuildContext) -> Op:
    exclusive = bool(ctx.node.attr("exclusive", False))
    reverse = bool(ctx.node.attr("reverse", False))
    axis0 = const_list(ctx, 1)[0]

    def fn(x):
        a = _axis(axis0, x.dim())
        y = torch.flip(x, [a]) if reverse else x
        c = torch.cumsum(y, a, dtype=x.dtype)
        if exclusive:
            c = c - y
        return torch.flip(c, [a]) if reverse else c
    return Op(fn, [ctx.input(0)])


@register("LinSpace")
def _linspace(ctx: BuildContext) -> Op:
    return Op(lambda a, b, n: torch.linspace(float(a), float(b), int(n)), [ctx.input(0), ctx.input(1), ctx.input(2)])


@register("BroadcastArgs")
def _broadcast_args(ctx: BuildContext) -> Op:
    return Op(lambda a, b: torch.tensor(torch.broadcast_shapes(tuple(a.tolist()), tuple(b.tolist())),
                                        dtype=torch.int32), [ctx.input(0), ctx.input(1)])


@register("Einsum")
def _einsum(ctx: BuildContext) -> Op:
    eq = ctx.node.attr("equation", "")
    return Op(lambda *xs: torch.einsum(eq, *xs), [ctx.input(i) for i in range(ctx.num_inputs)])
