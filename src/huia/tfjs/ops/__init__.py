"""Op registry for the TF.js graph executor (:mod:`huia.tfjs.graph`).

Each TF op name maps to a *builder* that runs once, at load: it reads the node's attributes and constant inputs
(axes, shapes, paddings, weights) and returns an :class:`Op` — a plain closure over torch tensors plus the value
slots it reads. Doing the attribute parsing, weight re-layout and shape arithmetic at load is what keeps the
per-inference cost down to one Python call per node.

A builder receives a :class:`BuildContext` (implemented by the executor):

- ``ctx.node``: the :class:`Node` (``name``, ``op``, ``inputs``, ``attr(key, default)``)
- ``ctx.num_inputs``, ``ctx.is_const(i)``, ``ctx.const(i) -> np.ndarray`` (load-time value of input i)
- ``ctx.static_shape(i)``: shape of a constant or weight input (weights may be trainable parameters)
- ``ctx.input(i) -> slot``: read input i at run time
- ``ctx.prep(i, fn) -> slot``: read ``fn(input i)``; computed once at load when input i is constant (weight
  re-layout), every run when it is a trainable parameter (so autograd sees it)
- ``ctx.error(msg) -> HuiaError`` naming the node

Values are torch tensors in TF's own logical layout (NHWC); TF int32/int64/uint8 become torch int32, bool stays bool.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import numpy as np
import torch

from huia.errors import HuiaError

# TF DataType enum names -> the dtype TF.js (and so huia) computes in. TF.js has no int64/uint8/float16 tensors.
TF_DTYPES = {
    "DT_FLOAT": "float32", "DT_HALF": "float32", "DT_DOUBLE": "float32", "DT_BFLOAT16": "float32",
    "DT_INT32": "int32", "DT_INT64": "int32", "DT_INT16": "int32", "DT_INT8": "int32", "DT_UINT8": "int32",
    "DT_UINT16": "int32", "DT_UINT32": "int32", "DT_UINT64": "int32", "DT_BOOL": "bool",
    "DT_STRING": "string", "DT_COMPLEX64": "complex64", "DT_RESOURCE": "resource", "DT_VARIANT": "variant",
}
TORCH_DTYPES = {"float32": torch.float32, "int32": torch.int32, "bool": torch.bool}
NUMPY_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}


def decode_attr(value: dict) -> Any:
    """One AttrValue of the model.json (protobuf JSON) -> a Python value."""
    if not isinstance(value, dict) or not value:
        return None
    if "list" in value:
        lst = value["list"] or {}
        for key in ("i", "f", "b", "s", "type", "shape"):
            if key in lst:
                return [decode_attr({key: v}) for v in lst[key]]
        return []
    if "s" in value:
        return base64.b64decode(value["s"]).decode("utf-8", "replace")
    if "i" in value:
        return int(value["i"])
    if "f" in value:
        return float(value["f"])
    if "b" in value:
        return bool(value["b"])
    if "type" in value:
        return TF_DTYPES.get(value["type"], value["type"])
    if "shape" in value:
        shape = value["shape"] or {}
        if shape.get("unknownRank"):
            return None
        return [int(d.get("size", -1)) for d in shape.get("dim", [])]
    return value  # tensor / func: left raw


@dataclass
class Node:
    name: str
    op: str
    inputs: list[str]          # data inputs ("name" or "name:k"); control inputs ("^name") are dropped
    raw_attr: dict = field(default_factory=dict)

    def attr(self, key: str, default: Any = None) -> Any:
        v = decode_attr(self.raw_attr.get(key)) if key in self.raw_attr else None
        return default if v is None else v

    @classmethod
    def from_json(cls, d: dict) -> "Node":
        ins = [i for i in d.get("input", []) if not i.startswith("^")]
        return cls(name=d["name"], op=d["op"], inputs=ins, raw_attr=d.get("attr", {}) or {})


@dataclass
class Op:
    """What a builder returns: ``fn(*values of inputs)`` -> a tensor, or a tuple of ``n_out`` tensors
    (``multi=True`` says the result is a tuple even when n_out is 1, e.g. Unpack with num=1)."""
    fn: Callable
    inputs: list[int]
    n_out: int = 1
    multi: bool | None = None

    def __post_init__(self):
        if self.multi is None:
            self.multi = self.n_out > 1


class BuildContext(Protocol):
    node: Node
    num_inputs: int

    def is_const(self, i: int) -> bool: ...
    def const(self, i: int) -> np.ndarray: ...
    def static_shape(self, i: int) -> tuple[int, ...]: ...
    def input(self, i: int) -> int: ...
    def prep(self, i: int, fn: Callable) -> int: ...
    def error(self, msg: str) -> HuiaError: ...


Builder = Callable[[BuildContext], Op]
OPS: dict[str, Builder] = {}
# Ops that read a weight tensor as input i (conv filters, biases, matmul kernels): with trainable=True the float
# constants feeding these positions (and dense elementwise constants such as folded batch-norm scales) become
# nn.Parameters. op -> input positions.
WEIGHT_INPUTS: dict[str, tuple[int, ...]] = {}


def register(*names: str, weights: tuple[int, ...] = ()):
    def deco(fn: Builder) -> Builder:
        for n in names:
            OPS[n] = fn
            if weights:
                WEIGHT_INPUTS[n] = weights
        return fn
    return deco


def const_list(ctx: BuildContext, i: int) -> list[int]:
    return [int(v) for v in np.asarray(ctx.const(i)).reshape(-1)]


def torch_dtype(name: str, ctx: BuildContext | None = None) -> torch.dtype:
    try:
        return TORCH_DTYPES[name]
    except KeyError:
        if ctx is not None:
            raise ctx.error(f"dtype {name} is not supported") from None
        raise HuiaError(f"dtype {name} is not supported") from None


# Import the op families so they register themselves.
from huia.tfjs.ops import array, conv, gather, image, math, nn, reduction, topk  # noqa: E402,F401
