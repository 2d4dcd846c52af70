"""PyTorch module -> TF.js graph model (``tf.loadGraphModel``), without TensorFlow.

Layout: TF.js convolutions are NHWC, torch is NCHW. The exported model takes an NHWC float32 input; every rank-4
tensor inside (and every rank-4 output) is NHWC; conv kernels become HWIO (depthwise: H W C multiplier), concat /
softmax axes are remapped, and a Linear fed by a flattened conv map gets its weight rows permuted so that no
transpose runs in the browser. Batch norm is folded into the preceding conv/linear and activations are fused into
``_FusedConv2D`` / ``FusedDepthwiseConv2dNative`` / ``_FusedMatMul`` where TF.js can fuse them.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from huia.errors import HuiaError
from huia.tfjs.artifacts import DEFAULT_SHARD_BYTES, ModelArtifacts, credit, save_artifacts
from huia.tfjs.export._trace import (NCHW_TO_NHWC_AXIS, Op, check_channel_softmax, flatten_feeds_only_linear,
                                     nhwc_flatten_order, shape_of, torch_pool_out, trace)

# Activations TF.js can fuse into a conv / matmul (fused_ops[1]) and their TF op names.
FUSABLE = {"relu": "Relu", "relu6": "Relu6", "sigmoid": "Sigmoid", "leaky_relu": "LeakyRelu"}
SIMPLE_ACT = {"relu": "Relu", "relu6": "Relu6", "sigmoid": "Sigmoid", "tanh": "Tanh", "elu": "Elu", "sqrt": "Sqrt"}
REDUCE_OPS = {"max": "Max", "sum": "Sum"}
FLOAT32_LOWEST = np.finfo(np.float32).min  # "minus infinity" for max-pool padding that survives quantization
TF_PRODUCER = 1482


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def _ints(v) -> dict:
    return {"list": {"i": [str(int(i)) for i in v]}}


def _shape_attr(shape) -> dict:
    return {"dim": [{"size": str(int(d))} for d in shape]}


T_FLOAT = {"type": "DT_FLOAT"}


@dataclass
class _Val:
    ref: str  # TF tensor name ("node" or "node:1")
    shape: tuple  # torch shape (NCHW for rank 4)
    perm: np.ndarray | None = None  # NHWC-flatten order, absorbed by the consuming Linear


class _Builder:
    def __init__(self, reserved: set[str]):
        self.nodes: list[dict] = []
        self.weights: dict[str, np.ndarray] = {}
        self.used: set[str] = set(reserved)
        self._scalars: dict[float, str] = {}
        self.params: set[str] = set()

    def unique(self, name: str) -> str:
        base, i = name, 1
        while name in self.used:
            name = f"{base}_{i}"
            i += 1
        self.used.add(name)
        return name

    def node(self, name: str, op: str, inputs: list[str], attr: dict | None = None, *, exact=False) -> str:
        if not exact:
            name = self.unique(name)
        self.nodes.append({"name": name, "op": op, "input": list(inputs), "attr": attr or {}})
        return name

    def const(self, name: str, arr: np.ndarray) -> str:
        arr = np.ascontiguousarray(arr)
        if arr.dtype.kind == "f":
            arr, dt = arr.astype(np.float32), "DT_FLOAT"
        elif arr.dtype.kind in "iu":
            arr, dt = arr.astype(np.int32), "DT_INT32"
        else:
            raise HuiaError(f"internal: const {name} has dtype {arr.dtype}")
        name = self.unique(name)
        self.weights[name] = arr
        self.node(name, "Const", [], {"value": {"tensor": {"dtype": dt, "tensorShape": _shape_attr(arr.shape)}},
                                      "dtype": {"type": dt}}, exact=True)
        return name

    def param(self, name: str, arr: np.ndarray) -> str:
        """A learned weight (kernel, bias, folded BN, PReLU alpha): the only constants quantization touches;
        scalars, pooling divisors and buffers such as normalization mean/std stay exact."""
        name = self.const(name, arr)
        self.params.add(name)
        return name

    def scalar(self, value: float) -> str:
        value = float(value)
        if value not in self._scalars:
            self._scalars[value] = self.const(f"const/scalar_{len(self._scalars)}", np.array(value, np.float32))
        return self._scalars[value]


def _base_name(op: Op) -> str:
    n = op.node
    return str(n.target).replace(".", "/") if n.op == "call_module" else n.name


def _avg_divisors(size: int, k: int, s: int, p: int, out: int, include_pad: bool) -> np.ndarray:
    """torch's average-pooling divisor along one axis, per output position (see ATen AvgPoolKernel)."""
    d = []
    for o in range(out):
        start = o * s - p
        end = min(start + k, size + p)
        d.append(end - start if include_pad else min(end, size) - max(start, 0))
    return np.array(d, np.float64)


class _GraphExporter:
    def __init__(self, traced, input_names: list[str], output_names: list[str]):
        self.t = traced
        self.b = _Builder({*input_names, *output_names})
        self.env: dict = {}
        self.done: set = set()  # fx nodes already emitted as part of a fused op
        self.input_names = input_names
        self.input_shapes: dict[str, list[int]] = {}
        self.output_names = output_names

    # ---------------------------------------------------------------- helpers
    def val(self, node) -> _Val:
        if node not in self.env:
            raise HuiaError(f"internal: node {node.name} was not exported")
        return self.env[node]

    def op_const(self, op: Op):
        v = op.params["value"]
        tf_value = v.transpose(0, 2, 3, 1) if v.ndim == 4 else v
        self.env[op.node] = _Val(self.b.const(str(op.node.target).replace(".", "/"), tf_value), v.shape)

    def op_clamp(self, op: Op):
        lo = op.params["min"] if op.params["min"] is not None else float(np.finfo(np.float32).min)
        hi = op.params["max"] if op.params["max"] is not None else float(np.finfo(np.float32).max)
        out = self.b.node(f"{_base_name(op)}/ClipByValue", "ClipByValue",
                          [self.operand(op.inputs[0]), self.b.scalar(lo), self.b.scalar(hi)], {"T": T_FLOAT})
        self.env[op.node] = _Val(out, shape_of(op.node))

    def operand(self, x, rank: int | None = None) -> str:
        """A tensor reference for x (fx node or python scalar)."""
        if isinstance(x, (int, float)):
            return self.b.scalar(float(x))
        v = self.val(x)
        if v.perm is not None:
            raise HuiaError(f"internal: permuted flatten {x.name} used by a non-Linear op")
        return v.ref

    def sole_user(self, node, kinds) -> Op | None:
        """The one consumer of ``node`` if it has exactly one and it is of a fusable kind (and node is no output)."""
        if node in self.t.outputs:
            return None
        users = self.t.users(node)
        if len(users) == 1 and users[0].kind in kinds:
            return users[0]
        return None

    def fold_and_fuse(self, op: Op):
        """Fold a following BatchNorm and find a fusable activation. Returns (last fx node, scale, shift, act op)."""
        last, scale, shift, act = op.node, None, None, None
        bn = self.sole_user(last, ("bn",))
        if bn is not None:
            scale, shift = bn.params["scale"], bn.params["shift"]
            self.done.add(bn.node)
            last = bn.node
        a = self.sole_user(last, ("act",))
        if a is not None and a.params["fn"] in FUSABLE:
            act = a
            self.done.add(a.node)
            last = a.node
        return last, scale, shift, act

    @staticmethod
    def fused_attrs(act: Op | None) -> dict:
        ops = ["BiasAdd"] + ([FUSABLE[act.params["fn"]]] if act is not None else [])
        attr = {"T": T_FLOAT, "fused_ops": {"list": {"s": [_b64(o) for o in ops]}}, "num_args": {"i": "1"},
                "epsilon": {"f": 0.0}}
        if act is not None and act.params["fn"] == "leaky_relu":
            attr["leakyrelu_alpha"] = {"f": act.params["alpha"]}
        return attr

    # ---------------------------------------------------------------- ops
    def run(self):
        for op in self.t.ops:
            if op.node in self.done or op.kind == "meta":
                continue
            handler = getattr(self, f"op_{op.kind}", None)
            if handler is None:
                raise HuiaError(f"cannot export {op.where} to a graph model")
            handler(op)
        return self.finish()

    def op_input(self, op: Op):
        shape = shape_of(op.node)
        if len(shape) == 4:
            tf_shape = [-1, shape[2], shape[3], shape[1]]
        elif len(shape) == 2:
            tf_shape = [-1, shape[1]]
        else:
            raise HuiaError(f"cannot export: input of shape {list(shape)}; expected (N, C, H, W) or (N, features)")
        name = self.input_names[self.t.inputs.index(op.node)]
        self.b.node(name, "Placeholder", [], {"dtype": T_FLOAT, "shape": {"shape": _shape_attr(tf_shape)}}, exact=True)
        self.env[op.node] = _Val(name, shape)
        self.input_shapes[name] = tf_shape

    def op_conv(self, op: Op):
        p = op.params
        x = self.val(op.inputs[0])
        if len(x.shape) != 4:
            raise HuiaError(f"cannot export {op.where}: input is rank {len(x.shape)}")
        w = p["weight"].astype(np.float64)
        b = (p["bias"] if p["bias"] is not None else np.zeros(p["out_channels"], np.float32)).astype(np.float64)
        last, scale, shift, act = self.fold_and_fuse(op)
        if scale is not None:
            w = w * scale.astype(np.float64)[:, None, None, None]
            b = b * scale + shift
        w, b = w.astype(np.float32), b.astype(np.float32)
        name = _base_name(op)
        (pt, pb), (pl, pr) = p["pad"]
        sh, sw = p["stride"]
        dh, dw = p["dilation"]
        kh, kw = w.shape[2:]
        attr = {"strides": _ints([1, sh, sw, 1]), "dilations": _ints([1, dh, dw, 1]),
                "data_format": {"s": _b64("NHWC")}}
        if pt == pb == pl == pr == 0:
            attr["padding"] = {"s": _b64("VALID")}
        elif (sh, sw) == (1, 1) and pt == dh * (kh - 1) // 2 and pb == dh * (kh - 1) - pt \
                and pl == dw * (kw - 1) // 2 and pr == dw * (kw - 1) - pl:
            attr["padding"] = {"s": _b64("SAME")}
        else:
            attr["padding"] = {"s": _b64("EXPLICIT")}
            attr["explicit_paddings"] = _ints([0, 0, pt, pb, pl, pr, 0, 0])
        groups, cin, cout = p["groups"], p["in_channels"], p["out_channels"]
        fused = self.fused_attrs(act)
        bias = self.b.param(f"{name}/bias", b)
        if groups == 1:
            kernel = self.b.param(f"{name}/kernel", w.transpose(2, 3, 1, 0))  # OIHW -> HWIO
            out = self.b.node(f"{name}/Conv2D", "_FusedConv2D", [x.ref, kernel, bias], {**attr, **fused})
        elif groups == cin and cout % cin == 0:
            mult = cout // cin
            kernel = self.b.param(f"{name}/depthwise_kernel",
                                  w.reshape(cin, mult, kh, kw).transpose(2, 3, 0, 1))  # -> H W C multiplier
            out = self.b.node(f"{name}/depthwise", "FusedDepthwiseConv2dNative", [x.ref, kernel, bias],
                              {**attr, **fused})
        else:  # grouped: split channels, one conv per group, concat; TF.js has no grouped conv2d
            split = self.b.node(f"{name}/split", "Split", [self.b.const(f"{name}/split_axis", np.array(3, np.int32)),
                                                            x.ref], {"num_split": {"i": str(groups)}, "T": T_FLOAT})
            og = cout // groups
            parts = []
            for g in range(groups):
                kg = self.b.param(f"{name}/kernel_g{g}", w[g * og:(g + 1) * og].transpose(2, 3, 1, 0))
                parts.append(self.b.node(f"{name}/Conv2D_g{g}", "Conv2D", [f"{split}:{g}", kg], {**attr, "T": T_FLOAT}))
            axis = self.b.const(f"{name}/concat_axis", np.array(3, np.int32))
            cat = self.b.node(f"{name}/concat", "ConcatV2", parts + [axis], {"N": {"i": str(groups)}, "T": T_FLOAT})
            out = self.b.node(f"{name}/BiasAdd", "BiasAdd", [cat, bias], {"T": T_FLOAT})
            if act is not None:
                out = self._act(act, out, name)
        self.env[last] = _Val(out, shape_of(last))

    def op_linear(self, op: Op):
        x = self.val(op.inputs[0])
        if len(x.shape) != 2:
            raise HuiaError(f"cannot export {op.where}: Linear on a rank-{len(x.shape)} tensor "
                            "(flatten or pool the feature map first)")
        w = op.params["weight"].astype(np.float64).T  # [in, out]
        b = (op.params["bias"] if op.params["bias"] is not None else np.zeros(w.shape[1])).astype(np.float64)
        if x.perm is not None:
            w = w[x.perm]
        last, scale, shift, act = self.fold_and_fuse(op)
        if scale is not None:
            w = w * scale[None, :]
            b = b * scale + shift
        name = _base_name(op)
        kernel = self.b.param(f"{name}/kernel", w.astype(np.float32))
        bias = self.b.param(f"{name}/bias", b.astype(np.float32))
        out = self.b.node(f"{name}/MatMul", "_FusedMatMul", [x.ref, kernel, bias],
                          {"transpose_a": {"b": False}, "transpose_b": {"b": False}, **self.fused_attrs(act)})
        self.env[last] = _Val(out, shape_of(last))

    def op_bn(self, op: Op):
        x = self.val(op.inputs[0])
        name = _base_name(op)
        mul = self.b.node(f"{name}/mul", "Mul", [x.ref, self.b.param(f"{name}/scale", op.params["scale"])],
                          {"T": T_FLOAT})
        out = self.b.node(f"{name}/add", "AddV2", [mul, self.b.param(f"{name}/shift", op.params["shift"])],
                          {"T": T_FLOAT})
        self.env[op.node] = _Val(out, shape_of(op.node))

    def _act(self, op: Op, ref: str, name: str) -> str:
        fn = op.params["fn"]
        b = self.b
        if fn in SIMPLE_ACT:
            return b.node(f"{name}/{SIMPLE_ACT[fn]}", SIMPLE_ACT[fn], [ref], {"T": T_FLOAT})
        if fn == "leaky_relu":
            return b.node(f"{name}/LeakyRelu", "LeakyRelu", [ref], {"T": T_FLOAT, "alpha": {"f": op.params["alpha"]}})
        if fn in ("hardswish", "hardsigmoid"):  # relu6(x + 3) / 6 (* x)
            shifted = b.node(f"{name}/add3", "AddV2", [ref, b.scalar(3.0)], {"T": T_FLOAT})
            r6 = b.node(f"{name}/Relu6", "Relu6", [shifted], {"T": T_FLOAT})
            hs = b.node(f"{name}/div6", "Mul", [r6, b.scalar(1.0 / 6.0)], {"T": T_FLOAT})
            if fn == "hardsigmoid":
                return hs
            return b.node(f"{name}/mul", "Mul", [ref, hs], {"T": T_FLOAT})
        if fn == "silu":
            sg = b.node(f"{name}/Sigmoid", "Sigmoid", [ref], {"T": T_FLOAT})
            return b.node(f"{name}/mul", "Mul", [ref, sg], {"T": T_FLOAT})
        raise HuiaError(f"cannot export activation {fn} at {op.where}")

    def op_act(self, op: Op):
        x = op.inputs[0]
        self.env[op.node] = _Val(self._act(op, self.operand(x), _base_name(op)), shape_of(op.node))

    def op_prelu(self, op: Op):
        alpha = op.params["alpha"]
        shape = shape_of(op.inputs[0])
        if alpha.size > 1 and (len(shape) < 2 or alpha.size != shape[1]):
            raise HuiaError(f"cannot export {op.where}: PReLU with {alpha.size} parameters on shape {list(shape)}")
        name = _base_name(op)
        a = self.b.param(f"{name}/alpha", alpha.reshape(-1) if alpha.size > 1 else alpha.reshape(()))
        out = self.b.node(f"{name}/Prelu", "Prelu", [self.operand(op.inputs[0]), a], {"T": T_FLOAT})
        self.env[op.node] = _Val(out, shape_of(op.node))

    def op_softmax(self, op: Op):
        check_channel_softmax(op)
        out = self.b.node(f"{_base_name(op)}/Softmax", "Softmax", [self.operand(op.inputs[0])], {"T": T_FLOAT})
        self.env[op.node] = _Val(out, shape_of(op.node))

    def _pool(self, op: Op, tf_op: str):
        p = op.params
        x = self.val(op.inputs[0])
        _, _, h, w = x.shape
        name = _base_name(op)
        (kh, kw), (sh, sw) = p["kernel"], p["stride"]
        (pt, pb), (pl, pr) = p["pad"]
        oh = torch_pool_out(h, kh, sh, pt, pb, p["ceil_mode"])
        ow = torch_pool_out(w, kw, sw, pl, pr, p["ceil_mode"])
        # bottom/right padding so that TF's VALID pooling yields torch's output size (ceil_mode adds some)
        pb2 = max(0, (oh - 1) * sh + kh - (h + pt))
        pr2 = max(0, (ow - 1) * sw + kw - (w + pl))
        ref = x.ref
        padding = "VALID"
        if pt or pb2 or pl or pr2:
            pads = np.array([[0, 0], [pt, pb2], [pl, pr2], [0, 0]], np.int32)
            if tf_op == "MaxPool":
                ref = self.b.node(f"{name}/pad", "PadV2", [ref, self.b.const(f"{name}/paddings", pads),
                                                           self.b.scalar(FLOAT32_LOWEST)], {"T": T_FLOAT})
            else:
                ref = self.b.node(f"{name}/pad", "Pad", [ref, self.b.const(f"{name}/paddings", pads)], {"T": T_FLOAT})
        out = self.b.node(f"{name}/{tf_op}", tf_op, [ref], {"T": T_FLOAT, "ksize": _ints([1, kh, kw, 1]),
                                                             "strides": _ints([1, sh, sw, 1]),
                                                             "padding": {"s": _b64(padding)},
                                                             "data_format": {"s": _b64("NHWC")}})
        if shape_of(op.node)[2:] != (oh, ow):
            raise HuiaError(f"internal: pooling size mismatch at {op.where}")
        if tf_op == "AvgPool":
            # TF divided every window by kh*kw; torch divides by the window's size within the padded input
            # (count_include_pad) or within the input, so rescale where they differ (borders, ceil_mode windows)
            div = np.outer(_avg_divisors(h, kh, sh, pt, oh, p["count_include_pad"]),
                           _avg_divisors(w, kw, sw, pl, ow, p["count_include_pad"]))
            if np.any(div != kh * kw):
                fix = (kh * kw / div).astype(np.float32).reshape(1, oh, ow, 1)
                out = self.b.node(f"{name}/divisor", "Mul", [out, self.b.const(f"{name}/divisor_fix", fix)],
                                  {"T": T_FLOAT})
        self.env[op.node] = _Val(out, shape_of(op.node))

    def op_maxpool(self, op: Op):
        self._pool(op, "MaxPool")

    def op_avgpool(self, op: Op):
        self._pool(op, "AvgPool")

    def op_global_avg(self, op: Op):
        name = _base_name(op)
        axes = self.b.const(f"{name}/axes", np.array([1, 2], np.int32))
        out = self.b.node(f"{name}/Mean", "Mean", [self.operand(op.inputs[0]), axes],
                          {"T": T_FLOAT, "Tidx": {"type": "DT_INT32"}, "keep_dims": {"b": op.params["keepdim"]}})
        self.env[op.node] = _Val(out, shape_of(op.node))

    def op_identity(self, op: Op):
        self.env[op.node] = self.val(op.inputs[0])

    op_dropout = op_identity

    def op_flatten(self, op: Op):
        x = self.val(op.inputs[0])
        name = _base_name(op)
        if len(x.shape) == 2:
            self.env[op.node] = x
            return
        if len(x.shape) != 4:
            raise HuiaError(f"cannot export {op.where}: flatten of a rank-{len(x.shape)} tensor")
        _, c, h, w = x.shape
        shape = self.b.const(f"{name}/shape", np.array([-1, c * h * w], np.int32))
        if h * w == 1:
            self.env[op.node] = _Val(self.b.node(f"{name}/Reshape", "Reshape", [x.ref, shape], {"T": T_FLOAT}),
                                     shape_of(op.node))
        elif flatten_feeds_only_linear(self.t, op.node):
            self.env[op.node] = _Val(self.b.node(f"{name}/Reshape", "Reshape", [x.ref, shape], {"T": T_FLOAT}),
                                     shape_of(op.node), perm=nhwc_flatten_order(c, h, w))
        else:  # someone needs torch's channel-major order: transpose back to NCHW first
            perm = self.b.const(f"{name}/perm", np.array([0, 3, 1, 2], np.int32))
            tr = self.b.node(f"{name}/Transpose", "Transpose", [x.ref, perm],
                             {"T": T_FLOAT, "Tperm": {"type": "DT_INT32"}})
            self.env[op.node] = _Val(self.b.node(f"{name}/Reshape", "Reshape", [tr, shape], {"T": T_FLOAT}),
                                     shape_of(op.node))

    def _binary(self, op: Op, tf_op: str):
        a, c = op.inputs
        ranks = {len(shape_of(v)) for v in (a, c) if not isinstance(v, (int, float)) and math.prod(shape_of(v)) > 1}
        if len(ranks) > 1 and 4 in ranks:  # NCHW vs NHWC broadcasting only agrees between tensors of the same rank
            raise HuiaError(f"cannot export {op.where}: operands of different rank {sorted(ranks)}")
        batch = shape_of(op.node)[0]
        for v in (a, c):
            if not isinstance(v, (int, float)) and len(shape_of(v)) == 4 and shape_of(v)[0] not in (1, batch):
                raise HuiaError(f"cannot export {op.where}: unsupported broadcast")
        out = self.b.node(f"{_base_name(op)}/{tf_op}", tf_op, [self.operand(a), self.operand(c)], {"T": T_FLOAT})
        self.env[op.node] = _Val(out, shape_of(op.node))

    def op_add(self, op):
        self._binary(op, "AddV2")

    def op_sub(self, op):
        self._binary(op, "Sub")

    def op_mul(self, op):
        self._binary(op, "Mul")

    def op_div(self, op):
        self._binary(op, "RealDiv")

    def op_matmul(self, op: Op):
        a, c = op.inputs
        out = self.b.node(f"{_base_name(op)}/MatMul", "MatMul", [self.operand(a), self.operand(c)],
                          {"T": T_FLOAT, "transpose_a": {"b": False}, "transpose_b": {"b": False}})
        self.env[op.node] = _Val(out, shape_of(op.node))

    def op_reduce(self, op: Op):
        name = _base_name(op)
        tf_op = REDUCE_OPS[op.params["fn"]]
        axes = self.b.const(f"{name}/axes", np.array(op.params["axes"], np.int32))
        out = self.b.node(f"{name}/{tf_op}", tf_op, [self.operand(op.inputs[0]), axes],
                          {"T": T_FLOAT, "Tidx": {"type": "DT_INT32"}, "keep_dims": {"b": op.params["keepdim"]}})
        self.env[op.node] = _Val(out, shape_of(op.node))

    def op_cat(self, op: Op):
        shape = shape_of(op.node)
        dim = op.params["dim"] % len(shape)
        axis = NCHW_TO_NHWC_AXIS[dim] if len(shape) == 4 else dim
        name = _base_name(op)
        refs = [self.operand(x) for x in op.inputs]
        out = self.b.node(f"{name}/concat", "ConcatV2", refs + [self.b.const(f"{name}/axis", np.array(axis, np.int32))],
                          {"T": T_FLOAT, "N": {"i": str(len(refs))}, "Tidx": {"type": "DT_INT32"}})
        self.env[op.node] = _Val(out, shape)

    def op_resize(self, op: Op):
        p = op.params
        name = _base_name(op)
        size = self.b.const(f"{name}/size", np.array(p["size"], np.int32))
        if p["mode"] == "bilinear":
            tf_op, align, half = "ResizeBilinear", p["align_corners"], not p["align_corners"]
        else:
            tf_op, align, half = "ResizeNearestNeighbor", False, p["mode"] == "nearest-exact"
        out = self.b.node(f"{name}/{tf_op}", tf_op, [self.operand(op.inputs[0]), size],
                          {"T": T_FLOAT, "align_corners": {"b": align}, "half_pixel_centers": {"b": half}})
        self.env[op.node] = _Val(out, shape_of(op.node))

    def finish(self):
        outputs = {}
        for name, node in zip(self.output_names, self.t.outputs):
            v = self.val(node)
            if v.perm is not None:
                raise HuiaError("internal: permuted flatten as output")
            self.b.node(name, "Identity", [v.ref], {"T": T_FLOAT}, exact=True)
            shape = v.shape
            tf_shape = [-1, shape[2], shape[3], shape[1]] if len(shape) == 4 else [-1, *shape[1:]]
            outputs[name] = {"name": f"{name}:0", "dtype": "DT_FLOAT", "tensorShape": _shape_attr(tf_shape)}
        signature = {"inputs": {n: {"name": f"{n}:0", "dtype": "DT_FLOAT", "tensorShape": _shape_attr(s)}
                                for n, s in self.input_shapes.items()},
                     "outputs": outputs}
        topology = {"node": self.b.nodes, "library": {}, "versions": {"producer": TF_PRODUCER}}
        return topology, self.b.weights, signature, self.b.params


RESERVED_METADATA = ("signature", "structuredOutputKeys")  # TF.js reads these from userDefinedMetadata


def _check_metadata(metadata: dict | None) -> dict | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise HuiaError(f"metadata must be a dict, got {type(metadata).__name__}")
    bad = [k for k in RESERVED_METADATA if k in metadata]
    if bad:
        raise HuiaError(f"metadata keys {bad} are reserved: tf.loadGraphModel would take them as the model's "
                        "signature/outputs")
    return dict(metadata)


def build_graph_artifacts(module: nn.Module, example_input: torch.Tensor | tuple[torch.Tensor, ...], *,
                          metadata: dict | None = None, input_name: str | list[str] = "input",
                          output_names: list[str] | None = None, quantize: str | None = None) -> ModelArtifacts:
    """The in-memory graph model (for callers that want to inspect or post-process before saving).
    ``quantize`` marks the learned weights for quantization by a later ``save_artifacts(art, dir)``.
    A module with several tensor inputs takes a tuple of examples and a list of input names."""
    if quantize == "float32":
        quantize = None
    if quantize not in (None, "uint8", "uint16", "float16"):
        raise HuiaError(f"unknown quantization {quantize!r} (choose uint8, uint16 or float16)")
    input_names = [input_name] if isinstance(input_name, str) else [str(n) for n in input_name]
    traced = trace(module, example_input, max_inputs=len(input_names))
    if len(traced.inputs) != len(input_names):
        raise HuiaError(f"the module takes {len(traced.inputs)} inputs but {len(input_names)} input names were given")
    n_out = len(traced.outputs)
    if output_names is None:
        output_names = traced.output_keys or (["output"] if n_out == 1 else [f"output_{i}" for i in range(n_out)])
    output_names = [str(n) for n in output_names]
    if len(output_names) != n_out:
        raise HuiaError(f"output_names has {len(output_names)} names but the module returns {n_out} tensors")
    names = [*input_names, *output_names]
    if len(set(names)) != len(names) or any(not n or ":" in n or "/" in n for n in names):
        raise HuiaError(f"input/output names must be distinct and contain no ':' or '/': {names}")
    topology, weights, signature, params = _GraphExporter(traced, input_names, output_names).run()
    # quantization applies to learned weights only; save_artifacts(art, dir) (quantize=None) honours this
    quant = {name: {"dtype": quantize} for name in params if weights[name].size >= 2} if quantize else {}
    return ModelArtifacts(format="graph-model", model_topology=topology, weights=weights, signature=signature,
                          quantization=quant, user_defined_metadata=_check_metadata(metadata),
                          generated_by=f"torch {torch.__version__}", converted_by="huia")


def export_graph_model(module: nn.Module, example_input: torch.Tensor, out_dir, *, quantize: str | None = None,
                       metadata: dict | None = None, input_name: str = "input", output_names: list[str] | None = None,
                       shard_bytes: int = DEFAULT_SHARD_BYTES) -> Path:
    """Write ``module`` as a TF.js graph model to ``out_dir`` (model.json + group1-shard*.bin); returns model.json.

    ``example_input`` is a torch NCHW (or (N, features)) tensor; in TF.js the input is NHWC float32 named
    ``input_name`` with a free batch axis, and rank-4 outputs come out NHWC. ``quantize``: None (float32),
    "uint8", "uint16" or "float16" for the learned weights (kernels, biases, folded batch norm, PReLU alphas);
    scalars, pooling divisors and constant buffers (e.g. normalization mean/std) stay float32. ``metadata`` is stored as
    userDefinedMetadata (JSON-serializable).
    """
    if quantize not in (None, "float32", "uint8", "uint16", "float16"):
        raise HuiaError(f"unknown quantization {quantize!r} (choose uint8, uint16 or float16)")
    art = build_graph_artifacts(module, example_input, metadata=metadata, input_name=input_name,
                                output_names=output_names, quantize=quantize)
    return save_artifacts(art, out_dir, quantize=None, shard_bytes=shard_bytes)


def _split_ref(ref: str) -> tuple[str, str]:
    """'^name' / 'name:1' -> ('name', suffix) with the suffix kept verbatim (':1' or '')."""
    ref = ref.lstrip("^")
    name, sep, idx = ref.partition(":")
    return name, (sep + idx) if sep else ""


def prune_graph(art: ModelArtifacts, outputs: list[str]) -> ModelArtifacts:
    """Keep only the nodes (and weights) the given output nodes depend on."""
    nodes = {n["name"]: n for n in art.model_topology["node"]}
    keep, stack = set(), [_split_ref(o)[0] for o in outputs]
    while stack:
        name = stack.pop()
        if name in keep:
            continue
        if name not in nodes:
            raise HuiaError(f"graph node {name!r} does not exist")
        keep.add(name)
        stack.extend(_split_ref(i)[0] for i in nodes[name].get("input", []))
    topo = dict(art.model_topology)
    topo["node"] = [n for n in art.model_topology["node"] if n["name"] in keep]
    return ModelArtifacts(format=art.format, model_topology=topo,
                          weights={k: v for k, v in art.weights.items() if k in keep},
                          quantization={k: v for k, v in art.quantization.items() if k in keep},
                          signature=art.signature, user_defined_metadata=art.user_defined_metadata,
                          generated_by=art.generated_by, converted_by=art.converted_by, extra=dict(art.extra))


def _base_signature(base: ModelArtifacts) -> tuple[dict, dict]:
    """(inputs, outputs) of a graph model: TF.js prefers the metadata's signature, then the top-level one, then
    the placeholders."""
    sig = (base.user_defined_metadata or {}).get("signature") or base.signature or {}
    inputs = dict(sig.get("inputs") or {})
    if not inputs:
        inputs = {n["name"]: {"name": f"{n['name']}:0", "dtype": n.get("attr", {}).get("dtype", T_FLOAT)["type"]}
                  for n in base.model_topology["node"] if n["op"].startswith("Placeholder")}
    return inputs, dict(sig.get("outputs") or {})


def _graft(base: ModelArtifacts, part: ModelArtifacts, prefix: str, feeds: dict[str, str], keep: set[str]
           ) -> tuple[list[dict], dict, dict]:
    """``part``'s nodes renamed ``prefix/name`` (names in ``keep`` stay) with its placeholders replaced by the base
    refs in ``feeds``: (new nodes, renamed weights, renamed quantization marks)."""
    base_nodes = {n["name"] for n in base.model_topology["node"]}
    rename = {n["name"]: (n["name"] if n["name"] in keep else f"{prefix}/{n['name']}")
              for n in part.model_topology["node"] if n["name"] not in feeds}
    clash = sorted(set(rename.values()) & base_nodes)
    if clash:
        raise HuiaError(f"node names clash with the base graph: {clash[:5]} (choose another prefix/output_names)",
                        base.path)
    nodes = []
    for n in part.model_topology["node"]:
        if n["name"] in feeds:
            continue
        inputs = []
        for ref in n.get("input", []):
            name, suffix = _split_ref(ref)
            inputs.append(feeds[name] if name in feeds else rename[name] + suffix)
        nodes.append({**n, "name": rename[n["name"]], "input": inputs})
    return (nodes, {rename[k]: v for k, v in part.weights.items()},
            {rename[k]: v for k, v in part.quantization.items()})


def _merged_metadata(base: ModelArtifacts, metadata: dict | None) -> dict | None:
    if metadata is None:  # keep the base's metadata, minus what described the base's inputs/outputs
        return {k: v for k, v in (base.user_defined_metadata or {}).items() if k not in RESERVED_METADATA} or None
    return _check_metadata(metadata)


def append_graph_head(base: ModelArtifacts, feature_node: str | list[str], head: nn.Module,
                      head_example: torch.Tensor | tuple[torch.Tensor, ...], *,
                      output_names: list[str] | None = None, prefix: str = "head", keep_base_outputs: bool = False,
                      metadata: dict | None = None, quantize: str | None = None) -> ModelArtifacts:
    """Graft a PyTorch ``head`` onto an existing TF.js graph model (e.g. a bundled backbone): one graph model,
    input = the base's inputs, outputs = the head's (plus the base's with keep_base_outputs).

    ``feature_node`` is the base node ('name' or 'name:1') whose output feeds the head, or a list of nodes for a
    head with several inputs (e.g. pooled features and landmarks); ``head_example`` is an example head input in
    torch layout (NCHW for a feature map; the base's NHWC map is used as is), a tuple for several inputs. Nodes
    the new outputs do not need are pruned. ``quantize`` marks the head's learned weights; the base keeps its own
    storage. Save the result with ``huia.tfjs.save_artifacts(art, out_dir)`` (or quantize="uint8" etc. there to
    re-quantize every float weight).
    """
    if not base.is_graph_model:
        raise HuiaError("append_graph_head needs a graph model as the base", base.path)
    features = [feature_node] if isinstance(feature_node, str) else list(feature_node)
    base_nodes = {n["name"] for n in base.model_topology["node"]}
    for f in features:
        if _split_ref(f)[0] not in base_nodes:
            raise HuiaError(f"feature node {f!r} is not in the base graph", base.path)
    placeholders = [f"__huia_head_input_{i}__" for i in range(len(features))]
    head_art = build_graph_artifacts(head, head_example, input_name=placeholders if len(features) > 1
                                     else placeholders[0], output_names=output_names, quantize=quantize)
    out_names = list(head_art.signature["outputs"])
    new_nodes, new_weights, new_quant = _graft(base, head_art, prefix, dict(zip(placeholders, features)),
                                               set(out_names))
    topo = dict(base.model_topology)
    topo["node"] = list(base.model_topology["node"]) + new_nodes
    inputs, base_outputs = _base_signature(base)
    outputs = base_outputs if keep_base_outputs else {}
    outputs.update(head_art.signature["outputs"])
    merged = ModelArtifacts(format="graph-model", model_topology=topo, weights={**base.weights, **new_weights},
                            quantization={**base.quantization, **new_quant},
                            signature={"inputs": inputs, "outputs": outputs},
                            user_defined_metadata=_merged_metadata(base, metadata), generated_by=credit(base.generated_by, "built on"),
                            converted_by="huia")
    return prune_graph(merged, [v["name"] for v in outputs.values()] + [v["name"] for v in inputs.values()])


def prepend_graph_module(base: ModelArtifacts, module: nn.Module, example_input: torch.Tensor, *,
                         input_name: str = "input", prefix: str = "pre", metadata: dict | None = None,
                         quantize: str | None = None) -> ModelArtifacts:
    """Put a PyTorch ``module`` (e.g. pixel normalization) in front of a one-input TF.js graph model: the new
    graph's input is ``input_name`` (the module's input, NHWC in TF.js), the base's placeholder becomes an
    Identity of the module's output, so the base graph runs unchanged on the prepared tensor."""
    if not base.is_graph_model:
        raise HuiaError("prepend_graph_module needs a graph model as the base", base.path)
    nodes = [dict(n) for n in base.model_topology["node"]]
    holders = [n for n in nodes if n["op"].startswith("Placeholder")]
    if len(holders) != 1:
        raise HuiaError(f"prepend_graph_module needs a base with one input, it has {len(holders)}", base.path)
    old = holders[0]["name"]
    if input_name == old or input_name in {n["name"] for n in nodes}:  # e.g. PoseNet's input is called "image"
        new = f"{prefix}/{old}"
        for n in nodes:
            n["input"] = [new + ref[len(old):] if _split_ref(ref)[0] == old else ref for ref in n.get("input", [])]
        holders[0]["name"] = old = new
    out = "__huia_pre_output__"
    pre = build_graph_artifacts(module, example_input, input_name=input_name, output_names=[out],
                                quantize=quantize)
    pre_inputs = pre.signature["inputs"]
    ident = next(n for n in pre.model_topology["node"] if n["name"] == out)
    pre_nodes = [n for n in pre.model_topology["node"] if n["name"] != out]
    pre = ModelArtifacts(format=pre.format, model_topology={**pre.model_topology, "node": pre_nodes},
                         weights=pre.weights, quantization=pre.quantization)
    work = ModelArtifacts(format=base.format, model_topology={**base.model_topology, "node": nodes},
                          weights=base.weights, path=base.path)
    new_nodes, new_weights, new_quant = _graft(work, pre, prefix, {}, {input_name})
    src = ident["input"][0]
    src = src if _split_ref(src)[0] == input_name else f"{prefix}/{src}"
    i = next(k for k, n in enumerate(nodes) if n["name"] == old)
    nodes[i] = {"name": old, "op": "Identity", "input": [src], "attr": {"T": T_FLOAT}}
    _, outputs = _base_signature(base)
    if not outputs:
        raise HuiaError("prepend_graph_module needs a base whose signature names its outputs", base.path)
    return ModelArtifacts(format="graph-model", model_topology={**base.model_topology, "node": new_nodes + nodes},
                          weights={**base.weights, **new_weights}, quantization={**base.quantization, **new_quant},
                          signature={"inputs": pre_inputs, "outputs": outputs},
                          user_defined_metadata=_merged_metadata(base, metadata), generated_by=credit(base.generated_by, "built on"),
                          converted_by="huia")
