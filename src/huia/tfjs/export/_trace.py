"""Turn a PyTorch module into a list of normalized ops (shared by the graph and the layers exporter).

Why torch.fx: it gives the real data flow of a module (residual adds, concats, custom ``forward``s) without
running a tracer through every tensor op, and it stops at ``torch.nn`` leaf modules, which is exactly the level
at which TF.js ops and Keras layers exist. Shapes of every intermediate tensor come from one example input.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F

from huia.errors import HuiaError

# torch NCHW axis -> TF NHWC axis (rank-4 tensors); rank-2 tensors keep their axes.
NCHW_TO_NHWC_AXIS = {0: 0, 1: 3, 2: 1, 3: 2}


@dataclass
class Op:
    """One step of the traced module: ``kind`` is a small vocabulary both exporters understand."""

    node: torch.fx.Node
    kind: str
    inputs: list = field(default_factory=list)  # fx.Node (tensor) or python scalars
    params: dict = field(default_factory=dict)
    module: nn.Module | None = None

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def where(self) -> str:
        """Readable location for error messages: the module path or the function name."""
        n = self.node
        if n.op == "call_module":
            return f"module {n.target!r} ({type(self.module).__name__})"
        if n.op == "call_function":
            return f"function {getattr(n.target, '__name__', n.target)} (node {n.name})"
        return f"{n.op} {n.target} (node {n.name})"


def shape_of(node: torch.fx.Node) -> tuple[int, ...]:
    meta = node.meta.get("tensor_meta")
    if meta is None or not hasattr(meta, "shape"):
        raise HuiaError(f"cannot export: node {node.name} ({node.op} {node.target}) does not produce one tensor")
    return tuple(int(d) for d in meta.shape)


def is_tensor(node: Any) -> bool:
    return isinstance(node, torch.fx.Node) and hasattr(node.meta.get("tensor_meta"), "shape")


def _arg(node: torch.fx.Node, i: int, name: str, default=None):
    if len(node.args) > i:
        return node.args[i]
    return node.kwargs.get(name, default)


def _pair(v) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            return int(v[0]), int(v[0])
        return int(v[0]), int(v[1])
    return int(v), int(v)


ACTIVATION_MODULES = {
    nn.ReLU: "relu", nn.ReLU6: "relu6", nn.Sigmoid: "sigmoid", nn.Hardswish: "hardswish",
    nn.Hardsigmoid: "hardsigmoid", nn.Tanh: "tanh", nn.SiLU: "silu",
}
ACTIVATION_FUNCTIONS = {
    F.relu: "relu", torch.relu: "relu", F.relu6: "relu6", torch.sigmoid: "sigmoid", F.sigmoid: "sigmoid",
    F.hardswish: "hardswish", F.hardsigmoid: "hardsigmoid", torch.tanh: "tanh", F.tanh: "tanh", F.silu: "silu",
    torch.sqrt: "sqrt",
}
ACTIVATION_METHODS = {"relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh", "sqrt": "sqrt"}
REDUCE_FUNCTIONS = {torch.amax: "max", torch.sum: "sum"}
REDUCE_METHODS = {"amax": "max", "sum": "sum"}
PASSTHROUGH_METHODS = {"contiguous", "clone", "float"}

SUPPORTED_HINT = ("supported: Conv2d (incl. depthwise/grouped), BatchNorm1d/2d, ReLU, ReLU6, Sigmoid, Hardswish, "
                  "Hardsigmoid, LeakyReLU, PReLU, ELU, Tanh, SiLU, Softmax, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Linear, "
                  "Dropout, Flatten, Upsample/interpolate, Identity, add/sub/mul/div, clamp, cat, mean over H,W, "
                  "sqrt, matmul and amax/sum over features of (batch, features) tensors, constant buffers as operands")


def _conv_params(m: nn.Conv2d, in_shape) -> dict:
    if m.padding_mode != "zeros":
        raise HuiaError(f"Conv2d padding_mode={m.padding_mode!r} is not supported (only 'zeros')")
    kh, kw = m.kernel_size
    dh, dw = m.dilation
    if isinstance(m.padding, str):
        if m.padding == "valid":
            pad = ((0, 0), (0, 0))
        else:  # 'same' (stride 1 only in torch): extra pixel goes to the end, like TF
            th, tw = dh * (kh - 1), dw * (kw - 1)
            pad = ((th // 2, th - th // 2), (tw // 2, tw - tw // 2))
    else:
        ph, pw = m.padding
        pad = ((ph, ph), (pw, pw))
    return dict(weight=m.weight.detach().float().cpu().numpy(),
                bias=None if m.bias is None else m.bias.detach().float().cpu().numpy(),
                stride=tuple(m.stride), pad=pad, dilation=(dh, dw), groups=m.groups,
                in_channels=m.in_channels, out_channels=m.out_channels)


def _bn_params(m) -> dict:
    if m.running_mean is None or m.running_var is None:
        raise HuiaError(f"{type(m).__name__} without running stats (track_running_stats=False) cannot be exported")
    mean = m.running_mean.detach().float().cpu().numpy()
    var = m.running_var.detach().float().cpu().numpy()
    gamma = m.weight.detach().float().cpu().numpy() if m.affine else np.ones_like(mean)
    beta = m.bias.detach().float().cpu().numpy() if m.affine else np.zeros_like(mean)
    scale = (gamma / np.sqrt(var.astype(np.float64) + m.eps)).astype(np.float32)
    shift = (beta - mean * scale).astype(np.float32)
    return dict(scale=scale, shift=shift, mean=mean, var=var, gamma=gamma, beta=beta, eps=float(m.eps),
                affine=bool(m.affine), momentum=0.1 if m.momentum is None else float(m.momentum))


def _pool_params(kind, kernel, stride, padding, dilation=1, ceil_mode=False, count_include_pad=True,
                 divisor_override=None) -> dict:
    k = _pair(kernel)
    s = _pair(stride if stride not in (None, [], ()) else kernel)
    p = _pair(padding)
    if _pair(dilation) != (1, 1):
        raise HuiaError(f"{kind} with dilation {dilation} is not supported")
    if divisor_override is not None:
        raise HuiaError("AvgPool2d divisor_override is not supported")
    return dict(kernel=k, stride=s, pad=((p[0], p[0]), (p[1], p[1])), ceil_mode=bool(ceil_mode),
                count_include_pad=bool(count_include_pad))


def _resize_params(node, in_shape, out_shape, mode, align_corners, scale_factor, recompute) -> dict:
    if mode not in ("nearest", "bilinear", "nearest-exact"):
        raise HuiaError(f"cannot export: interpolate/upsample mode {mode!r} at node {node.name} "
                        "(supported: nearest, nearest-exact, bilinear)")
    if len(in_shape) != 4:
        raise HuiaError(f"cannot export: resize of a rank-{len(in_shape)} tensor at node {node.name}")
    ih, iw, oh, ow = in_shape[2], in_shape[3], out_shape[2], out_shape[3]
    if scale_factor is not None and not recompute and not (mode == "bilinear" and align_corners):
        sf = _pair_f(scale_factor)
        # torch then maps coordinates with 1/scale_factor, TF with in/out: equal only when in*sf is whole
        if abs(1.0 / sf[0] - ih / oh) > 1e-9 or abs(1.0 / sf[1] - iw / ow) > 1e-9:
            raise HuiaError(f"cannot export: resize by scale_factor {scale_factor} at node {node.name} does not "
                            f"give a whole output size ({ih}x{iw} -> {oh}x{ow}); pass size= instead")
    return dict(mode=mode, align_corners=bool(align_corners), size=(oh, ow))


def _pair_f(v) -> tuple[float, float]:
    if isinstance(v, (tuple, list)):
        return float(v[0]), float(v[-1])
    return float(v), float(v)


def _describe_module(node, m, gm) -> Op:
    x = node.args[0] if node.args else None
    for cls, act in ACTIVATION_MODULES.items():
        if type(m) is cls:
            return Op(node, "act", [x], dict(fn=act), m)
    if isinstance(m, nn.LeakyReLU):
        return Op(node, "act", [x], dict(fn="leaky_relu", alpha=float(m.negative_slope)), m)
    if isinstance(m, nn.Hardtanh) and float(m.min_val) == 0.0 and float(m.max_val) == 6.0:
        return Op(node, "act", [x], dict(fn="relu6"), m)
    if isinstance(m, nn.ELU):
        if float(m.alpha) != 1.0:
            raise HuiaError(f"cannot export module {node.target!r}: ELU(alpha={m.alpha}) (TF.js's elu has alpha 1)")
        return Op(node, "act", [x], dict(fn="elu"), m)
    if isinstance(m, nn.PReLU):
        return Op(node, "prelu", [x], dict(alpha=m.weight.detach().float().cpu().numpy()), m)
    if isinstance(m, nn.Softmax):
        return Op(node, "softmax", [x], dict(dim=m.dim), m)
    if isinstance(m, nn.Conv2d):
        return Op(node, "conv", [x], _conv_params(m, shape_of(x)), m)
    if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
        return Op(node, "bn", [x], _bn_params(m), m)
    if isinstance(m, nn.MaxPool2d):
        if m.return_indices:
            raise HuiaError(f"MaxPool2d(return_indices=True) at {node.target!r} is not supported")
        return Op(node, "maxpool", [x], _pool_params("MaxPool2d", m.kernel_size, m.stride, m.padding, m.dilation,
                                                     m.ceil_mode), m)
    if isinstance(m, nn.AvgPool2d):
        return Op(node, "avgpool", [x], _pool_params("AvgPool2d", m.kernel_size, m.stride, m.padding, 1,
                                                     m.ceil_mode, m.count_include_pad, m.divisor_override), m)
    if isinstance(m, nn.AdaptiveAvgPool2d):
        return _adaptive(node, x, m.output_size, m)
    if isinstance(m, nn.Linear):
        return Op(node, "linear", [x], dict(weight=m.weight.detach().float().cpu().numpy(),
                                            bias=None if m.bias is None else m.bias.detach().float().cpu().numpy()), m)
    if isinstance(m, (nn.Dropout, nn.Dropout2d, nn.AlphaDropout)):
        return Op(node, "dropout", [x], dict(rate=float(m.p)), m)
    if isinstance(m, nn.Identity):
        return Op(node, "identity", [x], {}, m)
    if isinstance(m, nn.Flatten):
        return _flatten(node, x, m.start_dim, m.end_dim, m)
    if isinstance(m, nn.Upsample):  # includes UpsamplingNearest2d / UpsamplingBilinear2d
        return Op(node, "resize", [x], _resize_params(node, shape_of(x), shape_of(node), m.mode, m.align_corners,
                                                      m.scale_factor, getattr(m, "recompute_scale_factor", None)), m)
    raise HuiaError(f"cannot export module {node.target!r}: {type(m).__name__} is not supported ({SUPPORTED_HINT})")


def _adaptive(node, x, output_size, m=None) -> Op:
    ih, iw = shape_of(x)[2:]
    oh, ow = _pair(output_size if output_size is not None else (ih, iw))
    oh, ow = oh or ih, ow or iw
    if (oh, ow) == (1, 1):
        return Op(node, "global_avg", [x], dict(keepdim=True), m)
    if ih % oh or iw % ow:
        raise HuiaError(f"cannot export AdaptiveAvgPool2d({output_size}) at node {node.name}: input {ih}x{iw} is "
                        f"not a multiple of the output size")
    k = (ih // oh, iw // ow)
    return Op(node, "avgpool", [x], dict(kernel=k, stride=k, pad=((0, 0), (0, 0)), ceil_mode=False,
                                         count_include_pad=True), m)


def _flatten(node, x, start, end, m=None) -> Op:
    rank = len(shape_of(x))
    start = start % rank
    end = end % rank
    if start != 1 or end != rank - 1:
        if rank == 2 and start == end:
            return Op(node, "identity", [x], {}, m)
        raise HuiaError(f"cannot export flatten(start_dim={start}, end_dim={end}) of a rank-{rank} tensor at node "
                        f"{node.name}: only flatten(1) (keep the batch axis) is supported")
    return Op(node, "flatten", [x], {}, m)


def _binary(node, kind) -> Op:
    a, b = node.args[0], node.args[1]
    alpha = node.kwargs.get("alpha", 1)
    if alpha != 1:
        raise HuiaError(f"cannot export {kind} with alpha={alpha} at node {node.name}")
    for v in (a, b):
        if not (is_tensor(v) or isinstance(v, (int, float))):
            raise HuiaError(f"cannot export {kind} of {type(v).__name__} at node {node.name}")
    return Op(node, kind, [a, b], {})


def _describe_call(node, gm) -> Op:
    t = node.target
    if node.op == "call_method":
        x = node.args[0]
        if t in ACTIVATION_METHODS:
            return Op(node, "act", [x], dict(fn=ACTIVATION_METHODS[t]))
        if t in PASSTHROUGH_METHODS:
            return Op(node, "identity", [x], {})
        if t in ("size", "dim"):
            return Op(node, "meta", [], {})
        if t == "flatten":
            return _flatten(node, x, _arg(node, 1, "start_dim", 0), _arg(node, 2, "end_dim", -1))
        if t in ("view", "reshape"):
            return _reshape(node, x)
        if t == "mean":
            return _mean(node, x, _arg(node, 1, "dim", None), _arg(node, 2, "keepdim", False))
        if t == "softmax":
            return Op(node, "softmax", [x], dict(dim=_arg(node, 1, "dim", None)))
        if t in ("add", "add_"):
            return _binary(node, "add")
        if t in ("mul", "mul_"):
            return _binary(node, "mul")
        if t in ("sub", "sub_"):
            return _binary(node, "sub")
        if t in ("div", "div_"):
            b = node.args[1]
            return Op(node, "mul", [x, 1.0 / float(b)], {}) if isinstance(b, (int, float)) else _binary(node, "div")
        if t in ("clamp", "clip", "clamp_"):
            return _clamp(node, x, _arg(node, 1, "min"), _arg(node, 2, "max"))
        if t == "clamp_min":
            return _clamp(node, x, _arg(node, 1, "min"), None)
        if t == "matmul":
            return _matmul(node, x, node.args[1])
        if t in REDUCE_METHODS:
            return _reduce(node, x, REDUCE_METHODS[t], _arg(node, 1, "dim"), _arg(node, 2, "keepdim", False))
        raise HuiaError(f"cannot export tensor method .{t}() at node {node.name} ({SUPPORTED_HINT})")
    # call_function
    if t in ACTIVATION_FUNCTIONS:
        return Op(node, "act", [node.args[0]], dict(fn=ACTIVATION_FUNCTIONS[t]))
    if t is F.leaky_relu:
        alpha = float(_arg(node, 1, "negative_slope", 0.01))
        return Op(node, "act", [node.args[0]], dict(fn="leaky_relu", alpha=alpha))
    if t is F.hardtanh and _arg(node, 1, "min_val", -1.0) == 0 and _arg(node, 2, "max_val", 1.0) == 6:
        return Op(node, "act", [node.args[0]], dict(fn="relu6"))
    if t in (F.softmax, torch.softmax):
        return Op(node, "softmax", [node.args[0]], dict(dim=_arg(node, 1, "dim", None)))
    if t in (operator.add, operator.iadd, torch.add):
        return _binary(node, "add")
    if t in (operator.mul, operator.imul, torch.mul):
        return _binary(node, "mul")
    if t in (operator.sub, operator.isub, torch.sub):
        return _binary(node, "sub")
    if t in (operator.truediv, operator.itruediv, torch.div, torch.true_divide):
        a, b = node.args[0], node.args[1]
        if node.kwargs.get("rounding_mode") is not None:
            raise HuiaError(f"cannot export division with rounding_mode at node {node.name}")
        if isinstance(b, (int, float)):
            if b == 0:
                raise HuiaError(f"cannot export division by zero at node {node.name}")
            return Op(node, "mul", [a, 1.0 / float(b)], {})
        return _binary(node, "div")
    if t in (torch.clamp, torch.clip):
        return _clamp(node, node.args[0], _arg(node, 1, "min"), _arg(node, 2, "max"))
    if t in (torch.matmul, operator.matmul, torch.mm):
        return _matmul(node, node.args[0], node.args[1])
    if t in REDUCE_FUNCTIONS:
        return _reduce(node, node.args[0], REDUCE_FUNCTIONS[t], _arg(node, 1, "dim"), _arg(node, 2, "keepdim", False))
    if t is torch.cat or t is torch.concat:
        tensors = list(_arg(node, 0, "tensors"))
        return Op(node, "cat", tensors, dict(dim=_arg(node, 1, "dim", 0)))
    if t is torch.flatten:
        return _flatten(node, node.args[0], _arg(node, 1, "start_dim", 0), _arg(node, 2, "end_dim", -1))
    if t is torch.reshape:
        return _reshape(node, node.args[0])
    if t is torch.mean:
        return _mean(node, node.args[0], _arg(node, 1, "dim", None), _arg(node, 2, "keepdim", False))
    if t is F.dropout:
        return Op(node, "dropout", [node.args[0]], dict(rate=float(_arg(node, 1, "p", 0.5))))
    if t is F.adaptive_avg_pool2d:
        return _adaptive(node, node.args[0], _arg(node, 1, "output_size"))
    if t is F.max_pool2d:
        x = node.args[0]
        if _arg(node, 6, "return_indices", False):
            raise HuiaError(f"max_pool2d(return_indices=True) at node {node.name} is not supported")
        return Op(node, "maxpool", [x], _pool_params("max_pool2d", _arg(node, 1, "kernel_size"),
                                                     _arg(node, 2, "stride"), _arg(node, 3, "padding", 0),
                                                     _arg(node, 4, "dilation", 1), _arg(node, 5, "ceil_mode", False)))
    if t is F.avg_pool2d:
        x = node.args[0]
        return Op(node, "avgpool", [x], _pool_params("avg_pool2d", _arg(node, 1, "kernel_size"),
                                                     _arg(node, 2, "stride"), _arg(node, 3, "padding", 0), 1,
                                                     _arg(node, 4, "ceil_mode", False),
                                                     _arg(node, 5, "count_include_pad", True),
                                                     _arg(node, 6, "divisor_override")))
    if t is F.interpolate:
        x = node.args[0]
        if _arg(node, 6, "antialias", False):
            raise HuiaError(f"interpolate(antialias=True) at node {node.name} is not supported")
        mode = _arg(node, 3, "mode", "nearest")
        params = _resize_params(node, shape_of(x), shape_of(node), mode, _arg(node, 4, "align_corners", None),
                                _arg(node, 2, "scale_factor"), _arg(node, 5, "recompute_scale_factor"))
        return Op(node, "resize", [x], params)
    if t is getattr:
        return Op(node, "meta", [], {})
    name = getattr(t, "__name__", str(t))
    raise HuiaError(f"cannot export function {name} at node {node.name} ({SUPPORTED_HINT})")


def _get_attr(gm, target: str) -> torch.Tensor:
    obj = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    if not isinstance(obj, torch.Tensor):
        raise HuiaError(f"cannot export: forward uses attribute {target!r} of type {type(obj).__name__}")
    return obj


def _clamp(node, x, lo, hi) -> Op:
    for v in (lo, hi):
        if v is not None and not isinstance(v, (int, float)):
            raise HuiaError(f"cannot export clamp with tensor bounds at node {node.name}")
    if lo == 0 and hi is None:
        return Op(node, "act", [x], dict(fn="relu"))
    if lo == 0 and hi == 6:
        return Op(node, "act", [x], dict(fn="relu6"))
    return Op(node, "clamp", [x], dict(min=lo, max=hi))


def _reshape(node, x) -> Op:
    ins, outs = shape_of(x), shape_of(node)
    if len(outs) == 2 and outs[0] == ins[0] and math.prod(ins[1:]) == outs[1]:
        return _flatten(node, x, 1, -1)
    if ins == outs:
        return Op(node, "identity", [x], {})
    raise HuiaError(f"cannot export view/reshape {ins} -> {outs} at node {node.name}: only flattening to "
                    "(batch, features) is supported")


def _matmul(node, a, b) -> Op:
    """(batch, n) @ constant (n, m): a fixed linear map held in a buffer (e.g. landmark normalization). A
    right operand that depends on the input would tie the batch size to the model."""
    ok = all(is_tensor(v) and len(shape_of(v)) == 2 for v in (a, b)) and b.op == "get_attr"
    if not ok:
        raise HuiaError(f"cannot export function matmul at node {node.name}: only (batch, n) @ a constant (n, m) "
                        "buffer is supported")
    return Op(node, "matmul", [a, b], {})


def _reduce(node, x, fn, dim, keepdim) -> Op:
    rank = len(shape_of(x))
    dims = sorted(d % rank for d in ((dim,) if isinstance(dim, int) else (dim or ())))
    if rank != 2 or dims != [1]:
        raise HuiaError(f"cannot export {fn} over dims {dim} of a rank-{rank} tensor at node {node.name} "
                        "(only over the features of a (batch, features) tensor)")
    return Op(node, "reduce", [x], dict(fn=fn, axes=dims, keepdim=bool(keepdim)))


def _mean(node, x, dim, keepdim) -> Op:
    rank = len(shape_of(x))
    dims = sorted(d % rank for d in ((dim,) if isinstance(dim, int) else (dim or ())))
    if rank == 4 and dims == [2, 3]:
        return Op(node, "global_avg", [x], dict(keepdim=bool(keepdim)))
    raise HuiaError(f"cannot export mean over dims {dim} of a rank-{rank} tensor at node {node.name} "
                    "(only the spatial mean over dims (2, 3))")


@dataclass
class _TensorMeta:
    shape: tuple


class _ShapeRecorder(torch.fx.Interpreter):
    """Runs the graph and stores each tensor result's shape in ``node.meta["tensor_meta"]`` (like fx's ShapeProp,
    which prints a traceback on failure and cannot run on the meta device with another module's graph)."""

    def run_node(self, n):
        result = super().run_node(n)
        if isinstance(result, torch.Tensor):
            n.meta["tensor_meta"] = _TensorMeta(tuple(int(d) for d in result.shape))
        return result


def _propagate_shapes(gm: torch.fx.GraphModule, examples: tuple[torch.Tensor, ...]) -> None:
    """One real forward pass on a single sample (the exported model has a free batch axis anyway). The meta
    device would skip the arithmetic but costs seconds of one-time imports, more than a small model's forward."""
    if all(e.ndim > 0 and e.shape[0] > 1 for e in examples):
        try:
            _ShapeRecorder(gm).run(*(e[:1] for e in examples))
            return
        except Exception:  # noqa: BLE001 - a module that mixes the batch axis: use the example as given
            for n in gm.graph.nodes:
                n.meta.pop("tensor_meta", None)
    _ShapeRecorder(gm).run(*examples)


@dataclass
class Traced:
    ops: list[Op]
    by_node: dict  # fx.Node -> Op
    inputs: list[torch.fx.Node]
    outputs: list[torch.fx.Node]
    output_keys: list[str] | None  # dict keys when forward returns a dict

    def users(self, node) -> list[Op]:
        return [self.by_node[u] for u in node.users if u in self.by_node]


def trace(module: nn.Module, example: torch.Tensor | tuple[torch.Tensor, ...], *, max_inputs: int = 1) -> Traced:
    """Symbolically trace ``module`` (in eval mode), propagate shapes from ``example`` (a tensor, or a tuple of
    tensors for a module with several inputs) and normalize every node."""
    examples = tuple(example) if isinstance(example, (tuple, list)) else (example,)
    if not isinstance(module, nn.Module):
        raise HuiaError(f"expected a torch.nn.Module, got {type(module).__name__}")
    modes = [(m, m.training) for m in module.modules()]  # restored exactly: submodules may differ from the root
    module.eval()
    try:
        try:
            gm = torch.fx.symbolic_trace(module)
        except Exception as exc:  # fx raises many types; give the user one line
            raise HuiaError(f"cannot export {type(module).__name__}: torch.fx could not trace it "
                            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                            "data-dependent control flow is not supported") from None
        with torch.no_grad():
            try:
                _propagate_shapes(gm, tuple(e.float() for e in examples))
            except Exception as exc:
                cause = exc.__cause__ or exc
                raise HuiaError(f"cannot export {type(module).__name__}: running it on inputs of shape "
                                f"{[list(e.shape) for e in examples]} failed ({type(cause).__name__}: "
                                f"{str(cause).splitlines()[0] if str(cause) else ''})") from None
    finally:
        for m, training in modes:
            m.training = training
    ops, by_node, inputs = [], {}, []
    outputs, keys = [], None
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            if not is_tensor(node):
                raise HuiaError(f"cannot export: forward argument {node.target!r} is not a tensor")
            inputs.append(node)
            op = Op(node, "input")
        elif node.op == "output":
            out = node.args[0]
            if isinstance(out, dict):
                keys = [str(k) for k in out]
                outs = list(out.values())
            elif isinstance(out, (tuple, list)):
                outs = list(out)
            else:
                outs = [out]
            for o in outs:
                if not is_tensor(o):
                    raise HuiaError(f"cannot export: forward returns {type(o).__name__}, expected tensors")
            outputs = outs
            continue
        elif node.op == "get_attr":  # a buffer/parameter used as a constant operand (e.g. normalization mean/std)
            value = _get_attr(gm, node.target)
            op = Op(node, "const", [], dict(value=value.detach().float().cpu().numpy()))
        elif node.op == "call_module":
            op = _describe_module(node, gm.get_submodule(node.target), gm)
        else:
            op = _describe_call(node, gm)
        ops.append(op)
        by_node[node] = op
    if not 1 <= len(inputs) <= max_inputs or len(inputs) != len(examples):
        want = "exactly one is" if max_inputs == 1 else f"1 to {max_inputs} are"
        raise HuiaError(f"cannot export: the module takes {len(inputs)} tensor inputs and {len(examples)} examples "
                        f"were given; {want} supported")
    return Traced(ops, by_node, inputs, outputs, keys)


def flatten_feeds_only_linear(traced: Traced, node) -> bool:
    """True when every consumer of a flattened conv map (looking through dropout/identity) is a Linear, so the
    NHWC flatten order can be absorbed by permuting the Linear's weight rows instead of transposing at run time."""
    users = traced.users(node)
    if not users or node in traced.outputs:
        return False
    for op in users:
        if op.kind in ("dropout", "identity"):
            if not flatten_feeds_only_linear(traced, op.node):
                return False
        elif op.kind != "linear":
            return False
    return True


def check_channel_softmax(op: Op) -> None:
    """Both TF.js formats export softmax over channels only (NCHW dim 1 is NHWC's last axis)."""
    shape = shape_of(op.inputs[0])
    dim = op.params["dim"]
    dim = 1 if dim is None else dim % len(shape)
    if not (dim == 1 and len(shape) in (2, 4)):
        raise HuiaError(f"cannot export softmax over dim {op.params['dim']} of a rank-{len(shape)} tensor at "
                        f"{op.where} (only over channels)")


def nhwc_flatten_order(c: int, h: int, w: int) -> np.ndarray:
    """For position j of an NHWC flatten, the index of the same value in torch's NCHW flatten."""
    return np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)


def torch_pool_out(size: int, k: int, s: int, p_before: int, p_after: int, ceil_mode: bool) -> int:
    """Output length of a torch pooling window along one axis (with torch's ceil_mode rule)."""
    span = size + p_before + p_after - k
    if ceil_mode:
        out = -(-span // s) + 1
        if (out - 1) * s >= size + p_before:  # the last window must start inside the input or left padding
            out -= 1
        return out
    return span // s + 1
