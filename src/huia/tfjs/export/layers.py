"""PyTorch module -> TF.js layers model (``tf.loadLayersModel``): Keras-style layers that TF.js can train further.

Unlike the graph export, nothing is folded: BatchNormalization stays a layer (with its moving statistics and
momentum), Dropout stays a layer, so ``model.fit`` in the browser behaves like the PyTorch training did. Tensors
are NHWC (``channels_last``) like in the graph export. Layer names come from the torch module / fx node names;
weights are named ``<layer>/kernel`` etc., exactly what ``tf.loadLayersModel`` matches on.

Not every torch graph maps to Keras layers: grouped (non-depthwise) convs, bilinear resizing (TF.js's
UpSampling2D uses legacy pixel centers, torch does not), max pooling with non-SAME padding fail with a HuiaError
that says so; the graph export handles those.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from huia.errors import HuiaError
from huia.tfjs.artifacts import DEFAULT_SHARD_BYTES, ModelArtifacts, save_artifacts
from huia.tfjs.export._trace import (NCHW_TO_NHWC_AXIS, Op, check_channel_softmax, flatten_feeds_only_linear,
                                     nhwc_flatten_order, shape_of, torch_pool_out, trace)

TFJS_LAYERS_VERSION = "tfjs-layers 4.22.0"
_GLOROT = {"class_name": "GlorotUniform", "config": {"seed": None}}
_ZEROS = {"class_name": "Zeros", "config": {}}
_ONES = {"class_name": "Ones", "config": {}}
ACTIVATIONS = {"relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh", "silu": "swish", "elu": "elu"}


@dataclass
class _LVal:
    layer: str
    shape: tuple  # torch shape
    squeezed: bool = False  # TF tensor is (N, C) while torch has (N, C, 1, 1) (global average pooling)
    perm: np.ndarray | None = None  # NHWC flatten order for the consuming Dense


class _LayersExporter:
    def __init__(self, traced, input_name: str, output_names: list[str] | None = None):
        self.t = traced
        self.input_name = input_name
        self.output_names = output_names
        self.layers: list[dict] = []
        self.weights: dict[str, np.ndarray] = {}
        self.used: set[str] = {input_name}
        self.env: dict = {}
        self._reshaped: dict[str, str] = {}
        self._by_name: dict[str, dict] = {}

    def unique(self, name: str) -> str:
        # TF.js accepts weight/layer names matching [A-Za-z0-9][-A-Za-z0-9._/]*
        name = re.sub(r"[^-A-Za-z0-9._/]", "_", name).lstrip("_.-/") or "layer"
        base, i = name, 1
        while name in self.used:
            name = f"{base}_{i}"
            i += 1
        self.used.add(name)
        return name

    @staticmethod
    def lname(op: Op) -> str:
        n = op.node
        return str(n.target).replace(".", "_") if n.op == "call_module" else n.name

    def add(self, class_name: str, name: str, config: dict, inputs: list[str], weights: dict | None = None,
            exact=False) -> str:
        name = name if exact else self.unique(name)
        cfg = {"name": name, "trainable": True, "dtype": "float32", **config}
        self.layers.append({"class_name": class_name, "config": cfg, "name": name,
                            "inbound_nodes": [[[i, 0, 0, {}] for i in inputs]] if inputs else []})
        self._by_name[name] = self.layers[-1]
        for k, v in (weights or {}).items():
            self.weights[f"{name}/{k}"] = np.ascontiguousarray(v, dtype=np.float32)
        return name

    def ref(self, node, *, flat_ok=False) -> str:
        """Layer name holding node's value, as a tensor with torch's rank (materializing squeezed pools)."""
        if node not in self.env:
            raise HuiaError(f"internal: node {node.name} was not exported")
        v = self.env[node]
        if v.perm is not None and not flat_ok:
            raise HuiaError(f"internal: permuted flatten {node.name} used by a non-Dense layer")
        if v.squeezed:
            if v.layer not in self._reshaped:
                c = v.shape[1]
                self._reshaped[v.layer] = self.add("Reshape", f"{v.layer}_reshape", {"target_shape": [1, 1, c]},
                                                   [v.layer])
            return self._reshaped[v.layer]
        return v.layer

    def run(self):
        for op in self.t.ops:
            if op.kind == "meta":
                continue
            handler = getattr(self, f"op_{op.kind}", None)
            if handler is None:
                raise HuiaError(f"cannot export {op.where} to a layers model")
            handler(op)
        outputs = [self.ref(n) for n in self.t.outputs]
        if self.output_names is not None:
            outputs = self.rename_outputs(outputs, self.output_names)
        return self.topology(outputs)

    def rename_outputs(self, outputs: list[str], names: list[str]) -> list[str]:
        """Give the output layers the caller's names (their weights follow: ``<name>/kernel``)."""
        if len(names) != len(outputs):
            raise HuiaError(f"output_names has {len(names)} names but the module returns {len(outputs)} tensors")
        if len(set(names)) != len(names) or len(set(outputs)) != len(outputs) or self.input_name in outputs:
            raise HuiaError(f"cannot name outputs {names}: names must be distinct and outputs distinct layers")
        mapping = {}
        for old, new in zip(outputs, names):
            if new != old:
                if new in self.used or not re.fullmatch(r"[A-Za-z0-9][-A-Za-z0-9._/]*", new):
                    raise HuiaError(f"output name {new!r} is taken by another layer or is not a valid TF.js name")
                self.used.add(new)
                mapping[old] = new
        for layer in self.layers:
            layer["name"] = layer["config"]["name"] = mapping.get(layer["name"], layer["name"])
            for inbound in layer["inbound_nodes"]:
                for ref in inbound:
                    ref[0] = mapping.get(ref[0], ref[0])
        self.weights = {(mapping.get(k.split("/")[0], k.split("/")[0]) + "/" + k.split("/", 1)[1]): v
                        for k, v in self.weights.items()}
        return [mapping.get(o, o) for o in outputs]

    def topology(self, outputs: list[str]) -> dict:
        # A plain chain becomes a Sequential model (what TF.js users extend with model.add); anything else Functional.
        chain = len(outputs) == 1 and outputs[0] == self.layers[-1]["name"] and all(
            len(l["inbound_nodes"]) == 1 and len(l["inbound_nodes"][0]) == 1
            and l["inbound_nodes"][0][0][0] == self.layers[i]["name"]
            for i, l in enumerate(self.layers[1:]))
        if chain and len(self.layers) > 1:
            seq = []
            for i, l in enumerate(self.layers[1:]):
                cfg = dict(l["config"])
                if i == 0:
                    cfg["batch_input_shape"] = self.layers[0]["config"]["batch_input_shape"]
                seq.append({"class_name": l["class_name"], "config": cfg})
            model = {"class_name": "Sequential", "config": {"name": "sequential", "layers": seq}}
        else:
            model = {"class_name": "Model", "config": {
                "name": "model", "layers": self.layers, "input_layers": [[self.input_name, 0, 0]],
                "output_layers": [[o, 0, 0] for o in outputs]}}
        return {**model, "keras_version": TFJS_LAYERS_VERSION, "backend": "tensor_flow.js"}

    # ---------------------------------------------------------------- ops
    def op_input(self, op: Op):
        shape = shape_of(op.node)
        if len(shape) == 4:
            tf_shape = [None, shape[2], shape[3], shape[1]]
        elif len(shape) == 2:
            tf_shape = [None, shape[1]]
        else:
            raise HuiaError(f"cannot export: input of shape {list(shape)}; expected (N, C, H, W) or (N, features)")
        name = self.add("InputLayer", self.input_name, {"batch_input_shape": tf_shape, "sparse": False}, [],
                        exact=True)
        self.env[op.node] = _LVal(name, shape)

    def _pad_layer(self, x: str, name: str, pad) -> str:
        (pt, pb), (pl, pr) = pad
        return self.add("ZeroPadding2D", f"{name}_pad", {"padding": [[pt, pb], [pl, pr]],
                                                          "data_format": "channels_last"}, [x])

    def op_conv(self, op: Op):
        p = op.params
        x = self.ref(op.inputs[0])
        w, b = p["weight"], p["bias"]
        groups, cin, cout = p["groups"], p["in_channels"], p["out_channels"]
        kh, kw = w.shape[2:]
        (pt, pb), (pl, pr) = p["pad"]
        (dh, dw), (sh, sw) = p["dilation"], p["stride"]
        name = self.lname(op)
        if pt == pb == pl == pr == 0:
            padding = "valid"
        elif (sh, sw) == (1, 1) and pt == dh * (kh - 1) // 2 and pb == dh * (kh - 1) - pt \
                and pl == dw * (kw - 1) // 2 and pr == dw * (kw - 1) - pl:
            padding = "same"
        else:
            x, padding = self._pad_layer(x, name, p["pad"]), "valid"
        common = {"kernel_size": [kh, kw], "strides": [sh, sw], "padding": padding, "data_format": "channels_last",
                  "dilation_rate": [dh, dw], "activation": "linear", "use_bias": b is not None,
                  "bias_initializer": _ZEROS, "bias_regularizer": None, "activity_regularizer": None,
                  "bias_constraint": None}
        weights = {}
        if groups == 1:
            weights["kernel"] = w.transpose(2, 3, 1, 0)
            cfg = {"filters": cout, **common, "kernel_initializer": _GLOROT, "kernel_regularizer": None,
                   "kernel_constraint": None}
            cls = "Conv2D"
        elif groups == cin and cout % cin == 0:
            mult = cout // cin
            weights["depthwise_kernel"] = w.reshape(cin, mult, kh, kw).transpose(2, 3, 0, 1)
            cfg = {"depth_multiplier": mult, **common, "depthwise_initializer": _GLOROT,
                   "depthwise_regularizer": None, "depthwise_constraint": None}
            cls = "DepthwiseConv2D"
        else:
            raise HuiaError(f"cannot export {op.where} to a layers model: grouped convolution (groups={groups}) has "
                            "no TF.js layer; use the graph export")
        if b is not None:
            weights["bias"] = b
        self.env[op.node] = _LVal(self.add(cls, name, cfg, [x], weights), shape_of(op.node))

    def op_bn(self, op: Op):
        p = op.params
        x = self.ref(op.inputs[0])
        weights = {"moving_mean": p["mean"], "moving_variance": p["var"]}
        if p["affine"]:
            weights.update(gamma=p["gamma"], beta=p["beta"])
        cfg = {"axis": -1, "momentum": 1.0 - p["momentum"], "epsilon": p["eps"], "center": p["affine"],
               "scale": p["affine"], "beta_initializer": _ZEROS, "gamma_initializer": _ONES,
               "moving_mean_initializer": _ZEROS, "moving_variance_initializer": _ONES, "beta_regularizer": None,
               "gamma_regularizer": None, "beta_constraint": None, "gamma_constraint": None}
        self.env[op.node] = _LVal(self.add("BatchNormalization", self.lname(op), cfg, [x], weights), shape_of(op.node))

    def _act(self, fn: str, x: str, name: str, alpha: float | None = None) -> str:
        if fn in ACTIVATIONS:
            return self.add("Activation", name, {"activation": ACTIVATIONS[fn]}, [x])
        if fn == "relu6":
            return self.add("ReLU", name, {"max_value": 6.0}, [x])
        if fn == "leaky_relu":
            return self.add("LeakyReLU", name, {"alpha": alpha}, [x])
        if fn in ("hardsigmoid", "hardswish"):  # clip(x / 6 + 1/2, 0, 1) (* x): no such Keras activation in TF.js
            r = self.add("Rescaling", f"{name}_rescale", {"scale": 1.0 / 6.0, "offset": 0.5}, [x])
            hs = self.add("ReLU", name if fn == "hardsigmoid" else f"{name}_clip", {"max_value": 1.0}, [r])
            return hs if fn == "hardsigmoid" else self.add("Multiply", name, {}, [x, hs])
        raise HuiaError(f"cannot export activation {fn} to a layers model")

    def fuse_activation(self, op: Op, activation: str) -> bool:
        """Put ``activation`` into the producing Dense/Conv layer (Dense(relu) as Keras users write it) when that
        layer's output feeds nothing else."""
        src = op.inputs[0]
        v = self.env.get(src)
        if v is None or v.squeezed or v.perm is not None or src in self.t.outputs or len(self.t.users(src)) != 1:
            return False
        layer = self._by_name.get(v.layer)
        if layer is None or layer["class_name"] not in ("Dense", "Conv2D", "DepthwiseConv2D") \
                or layer["config"]["activation"] != "linear":
            return False
        layer["config"]["activation"] = activation
        self.env[op.node] = _LVal(v.layer, shape_of(op.node))
        return True

    def op_clamp(self, op: Op):
        lo, hi = op.params["min"], op.params["max"]
        if lo != 0:
            raise HuiaError(f"cannot export {op.where} to a layers model: only clamp(min=0, max=...) maps to ReLU")
        x = self.ref(op.inputs[0])
        cfg = {"max_value": float(hi)} if hi is not None else {}
        self.env[op.node] = _LVal(self.add("ReLU", self.lname(op), cfg, [x]), shape_of(op.node))

    def op_act(self, op: Op):
        fn = op.params["fn"]
        if fn in ACTIVATIONS and self.fuse_activation(op, ACTIVATIONS[fn]):
            return
        x = self.ref(op.inputs[0])
        out = self._act(fn, x, self.lname(op), op.params.get("alpha"))
        self.env[op.node] = _LVal(out, shape_of(op.node))

    def op_prelu(self, op: Op):
        alpha = op.params["alpha"]
        shape = shape_of(op.inputs[0])
        if len(shape) not in (2, 4) or alpha.size not in (1, shape[1]):
            raise HuiaError(f"cannot export {op.where}: PReLU with {alpha.size} parameters on shape {list(shape)}")
        c = shape[1]
        per_channel = np.broadcast_to(alpha.reshape(-1), (c,)).astype(np.float32)
        x = self.ref(op.inputs[0])
        if len(shape) == 4:  # one alpha per channel, shared over H and W
            cfg, w = {"shared_axes": [1, 2]}, per_channel.reshape(1, 1, c)
        else:
            cfg, w = {"shared_axes": None}, per_channel
        cfg.update(alpha_initializer=_ZEROS, alpha_regularizer=None, alpha_constraint=None)
        self.env[op.node] = _LVal(self.add("PReLU", self.lname(op), cfg, [x], {"alpha": w}), shape_of(op.node))

    def op_softmax(self, op: Op):
        check_channel_softmax(op)
        if self.fuse_activation(op, "softmax"):
            return
        x = self.ref(op.inputs[0])
        self.env[op.node] = _LVal(self.add("Activation", self.lname(op), {"activation": "softmax"}, [x]),
                                  shape_of(op.node))

    def _pool(self, op: Op, cls: str):
        p = op.params
        x = self.ref(op.inputs[0])
        _, _, h, w = shape_of(op.inputs[0])
        (kh, kw), (sh, sw) = p["kernel"], p["stride"]
        (pt, pb), (pl, pr) = p["pad"]
        oh = torch_pool_out(h, kh, sh, pt, pb, p["ceil_mode"])
        ow = torch_pool_out(w, kw, sw, pl, pr, p["ceil_mode"])
        valid = ((h - kh) // sh + 1, (w - kw) // sw + 1)
        tf_same = (-(-h // sh), -(-w // sw))
        same_pad = (max((tf_same[0] - 1) * sh + kh - h, 0) // 2, max((tf_same[1] - 1) * sw + kw - w, 0) // 2)
        if (pt, pb, pl, pr) == (0, 0, 0, 0) and valid == (oh, ow):
            padding = "valid"
        elif cls == "AveragePooling2D" and p["count_include_pad"] and \
                ((h + pt + pb - kh) // sh + 1, (w + pl + pr - kw) // sw + 1) == (oh, ow):
            x, padding = self._pad_layer(x, self.lname(op), p["pad"]), "valid"  # zeros count in the mean, like torch
        elif tf_same == (oh, ow) and same_pad == (pt, pl) and (cls == "MaxPooling2D" or not p["count_include_pad"]):
            padding = "same"
        elif cls == "MaxPooling2D" and self.nonnegative(op.inputs[0]):
            # e.g. the ResNet stem conv-bn-relu-maxpool(3, 2, 1): after a ReLU, zero padding never wins a max
            pb2 = max(0, (oh - 1) * sh + kh - (h + pt))
            pr2 = max(0, (ow - 1) * sw + kw - (w + pl))
            x, padding = self._pad_layer(x, self.lname(op), ((pt, pb2), (pl, pr2))), "valid"
        else:
            raise HuiaError(f"cannot export {op.where} to a layers model: this padding/ceil_mode has no Keras "
                            "equivalent; use the graph export")
        cfg = {"pool_size": [kh, kw], "strides": [sh, sw], "padding": padding, "data_format": "channels_last"}
        self.env[op.node] = _LVal(self.add(cls, self.lname(op), cfg, [x]), shape_of(op.node))

    def nonnegative(self, node) -> bool:
        """Whether node's values are >= 0 by construction (ReLU-family output, possibly fused or pooled)."""
        op = self.t.by_node.get(node)
        if op is None:
            return False
        if op.kind == "act":
            return op.params["fn"] in ("relu", "relu6", "sigmoid", "hardsigmoid")
        if op.kind in ("softmax", "clamp"):
            return op.kind == "softmax" or (op.params["min"] is not None and op.params["min"] >= 0)
        if op.kind in ("maxpool", "avgpool", "global_avg", "dropout", "identity", "flatten"):
            return self.nonnegative(op.inputs[0])
        return False

    def op_maxpool(self, op):
        self._pool(op, "MaxPooling2D")

    def op_avgpool(self, op):
        self._pool(op, "AveragePooling2D")

    def op_global_avg(self, op: Op):
        x = self.ref(op.inputs[0])
        name = self.add("GlobalAveragePooling2D", self.lname(op), {"data_format": "channels_last"}, [x])
        self.env[op.node] = _LVal(name, shape_of(op.node), squeezed=op.params["keepdim"])

    def op_linear(self, op: Op):
        v = self.env[op.inputs[0]]
        if len(v.shape) != 2:
            raise HuiaError(f"cannot export {op.where}: Linear on a rank-{len(v.shape)} tensor")
        x = self.ref(op.inputs[0], flat_ok=True)
        w = op.params["weight"].T
        if v.perm is not None:
            w = w[v.perm]
        b = op.params["bias"]
        weights = {"kernel": w} | ({"bias": b} if b is not None else {})
        cfg = {"units": int(w.shape[1]), "activation": "linear", "use_bias": b is not None,
               "kernel_initializer": _GLOROT, "bias_initializer": _ZEROS, "kernel_regularizer": None,
               "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None,
               "bias_constraint": None}
        self.env[op.node] = _LVal(self.add("Dense", self.lname(op), cfg, [x], weights), shape_of(op.node))

    def op_dropout(self, op: Op):
        v = self.env[op.inputs[0]]
        x = self.ref(op.inputs[0], flat_ok=True)
        name = self.add("Dropout", self.lname(op), {"rate": op.params["rate"], "noise_shape": None, "seed": None}, [x])
        self.env[op.node] = _LVal(name, shape_of(op.node), perm=v.perm)

    def op_identity(self, op: Op):
        self.env[op.node] = self.env[op.inputs[0]]

    def op_flatten(self, op: Op):
        v = self.env[op.inputs[0]]
        if len(v.shape) == 2:
            self.env[op.node] = v
            return
        if v.squeezed:  # (N, C) already
            self.env[op.node] = _LVal(v.layer, shape_of(op.node))
            return
        _, c, h, w = v.shape
        x = v.layer
        perm = None
        if h * w > 1:
            if flatten_feeds_only_linear(self.t, op.node):
                perm = nhwc_flatten_order(c, h, w)
            else:  # someone needs torch's channel-major order
                x = self.add("Permute", f"{self.lname(op)}_to_nchw", {"dims": [3, 1, 2]}, [x])
        name = self.add("Flatten", self.lname(op), {"data_format": "channels_last"}, [x])
        self.env[op.node] = _LVal(name, shape_of(op.node), perm=perm)

    def _scaled(self, x: str, name: str, scale: float, offset: float) -> str:
        return self.add("Rescaling", name, {"scale": float(scale), "offset": float(offset)}, [x])

    def _binary(self, op: Op):
        a, c = op.inputs
        kind = op.kind
        scal = [v for v in (a, c) if isinstance(v, (int, float))]
        if scal:
            if len(scal) == 2:
                raise HuiaError(f"cannot export {op.where}: no tensor operand")
            x = self.ref(a if not isinstance(a, (int, float)) else c)
            s = float(scal[0])
            if kind == "add":
                out = self._scaled(x, self.lname(op), 1.0, s)
            elif kind == "mul":
                out = self._scaled(x, self.lname(op), s, 0.0)
            elif isinstance(c, (int, float)):  # x - s
                out = self._scaled(x, self.lname(op), 1.0, -s)
            else:  # s - x
                out = self._scaled(x, self.lname(op), -1.0, s)
        else:
            if len(shape_of(a)) != len(shape_of(c)):
                raise HuiaError(f"cannot export {op.where}: operands of different rank")
            xa, xc = self.ref(a), self.ref(c)
            if kind == "sub":
                xc = self._scaled(xc, f"{self.lname(op)}_neg", -1.0, 0.0)
            out = self.add("Multiply" if kind == "mul" else "Add", self.lname(op), {}, [xa, xc])
        self.env[op.node] = _LVal(out, shape_of(op.node))

    op_add = op_sub = op_mul = _binary

    def op_cat(self, op: Op):
        shape = shape_of(op.node)
        dim = op.params["dim"] % len(shape)
        axis = NCHW_TO_NHWC_AXIS[dim] if len(shape) == 4 else dim
        axis = -1 if axis == len(shape) - 1 else axis
        xs = [self.ref(x) for x in op.inputs]
        self.env[op.node] = _LVal(self.add("Concatenate", self.lname(op), {"axis": axis}, xs), shape)

    def op_resize(self, op: Op):
        p = op.params
        _, _, h, w = shape_of(op.inputs[0])
        oh, ow = p["size"]
        if p["mode"] != "nearest" or oh % h or ow % w:
            raise HuiaError(f"cannot export {op.where} to a layers model: only nearest upsampling by whole factors "
                            "maps to UpSampling2D (TF.js's bilinear UpSampling2D uses other pixel centers than "
                            "torch); use the graph export")
        x = self.ref(op.inputs[0])
        cfg = {"size": [oh // h, ow // w], "interpolation": "nearest", "data_format": "channels_last"}
        self.env[op.node] = _LVal(self.add("UpSampling2D", self.lname(op), cfg, [x]), shape_of(op.node))


def _example(input_shape) -> torch.Tensor:
    if isinstance(input_shape, torch.Tensor):
        return input_shape.detach().float()
    shape = tuple(int(d) for d in input_shape)
    if len(shape) not in (2, 4):
        raise HuiaError(f"input_shape {list(shape)} must be the torch shape with batch axis: (N, C, H, W) or "
                        "(N, features)")
    return torch.zeros(shape)


def build_layers_artifacts(module: nn.Module, input_shape, *, metadata: dict | None = None,
                           input_name: str = "input", output_names: list[str] | None = None) -> ModelArtifacts:
    """The in-memory layers model (Keras topology + weights named ``<layer>/<weight>``)."""
    traced = trace(module, _example(input_shape))
    if output_names is None and traced.output_keys is not None:
        output_names = traced.output_keys
    exp = _LayersExporter(traced, input_name, [str(n) for n in output_names] if output_names is not None else None)
    topology = exp.run()
    return ModelArtifacts(format="layers-model", model_topology=topology, weights=exp.weights,
                          user_defined_metadata=dict(metadata) if metadata is not None else None,
                          generated_by=f"torch {torch.__version__}", converted_by="huia")


def export_layers_model(module: nn.Module, input_shape, out_dir, *, quantize: str | None = None,
                        metadata: dict | None = None, input_name: str = "input",
                        output_names: list[str] | None = None, shard_bytes: int = DEFAULT_SHARD_BYTES) -> Path:
    """Write ``module`` as a TF.js layers model; returns the model.json path.

    ``input_shape``: the torch input shape with its batch axis, (N, C, H, W) or (N, features), or an example
    tensor. TF.js sees NHWC input with a free batch axis. ``output_names`` renames the output layers (default:
    the keys when forward returns a dict, else the torch layer names). ``quantize`` as in export_graph_model (TF.js
    dequantizes at load, so a quantized layers model still trains in float32).
    """
    if quantize not in (None, "float32", "uint8", "uint16", "float16"):
        raise HuiaError(f"unknown quantization {quantize!r} (choose uint8, uint16 or float16)")
    art = build_layers_artifacts(module, input_shape, metadata=metadata, input_name=input_name,
                                 output_names=output_names)
    return save_artifacts(art, out_dir, quantize=quantize or "float32", shard_bytes=shard_bytes, quantize_min_size=2)
