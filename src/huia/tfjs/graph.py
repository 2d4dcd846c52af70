"""Run TF.js graph models (model.json + shards) on PyTorch, without TensorFlow.

The graph is compiled once at load: nodes are put in topological order, constant sub-graphs are folded, weights are
re-laid out for PyTorch, and every remaining node becomes one closure over torch tensors (see
:mod:`huia.tfjs.ops`). A run is then a flat loop over the closures needed for the requested outputs (plans are
cached per output set), freeing each intermediate after its last use. Tensors keep TF's logical NHWC layout, which
PyTorch convolutions consume as zero-copy channels_last views.

``trainable=True`` turns the float weights (conv / matmul kernels, biases, folded batch-norm scales) into
``nn.Parameter``s in their TF layout, so gradients flow through the graph and :meth:`GraphModel.to_artifacts` writes
the fine-tuned values back under the same names.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import dataclasses
import difflib
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from huia.errors import HuiaError
from huia.tfjs.artifacts import ModelArtifacts, load_artifacts
from huia.tfjs.ops import NUMPY_DTYPES, OPS, TF_DTYPES, TORCH_DTYPES, WEIGHT_INPUTS, Node, Op
from huia.tfjs.ops.array import ALIAS_OPS

SOURCE_OPS = {"Const", "Placeholder", "PlaceholderWithDefault", "NoOp"}
CONTROL_FLOW_OPS = {"Enter", "Exit", "Merge", "Switch", "LoopCond", "NextIteration", "If", "StatelessIf", "While",
                    "StatelessWhile"}


_ALLOCATOR_TUNED = False


def _tune_allocator() -> None:
    """Keep freed activation buffers in the heap instead of returning them to the OS.

    glibc serves allocations above its (dynamic) mmap threshold with fresh mmaps and trims freed heap tops, so
    every inference page-faults its large activations anew (~3,500 faults, a fifth of PoseNet's run time on 2
    cores). Raising both thresholds once makes repeated inference reuse the same memory. glibc only; harmless
    elsewhere."""
    global _ALLOCATOR_TUNED
    if _ALLOCATOR_TUNED:
        return
    _ALLOCATOR_TUNED = True
    try:
        import ctypes
        import sys
        if not sys.platform.startswith("linux"):
            return
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        libc.mallopt(m_mmap_threshold, 256 << 20)
        libc.mallopt(m_trim_threshold, 512 << 20)
    except (OSError, AttributeError):
        pass


def unsupported_ops(topology: dict) -> list[str]:
    """Op names in a graph topology that huia cannot run (sorted)."""
    ops = {n.get("op") for n in topology.get("node", [])}
    return sorted(o for o in ops if o not in OPS and o not in SOURCE_OPS)


def _split_ref(ref: str) -> tuple[str, int]:
    """'node' -> ('node', 0); 'node:2' -> ('node', 2)."""
    name, sep, idx = ref.rpartition(":")
    if sep and idx.isdigit():
        return name, int(idx)
    return ref, 0


# Largest constant a graph may create while loading (2^28 elements: 1 GiB of float32). A model.json of a few hundred
# bytes can ask for a 20000x20000 Fill, folded at load even when no output needs it; real models stay far below.
MAX_CONST_ELEMENTS = 1 << 28


def _check_const_size(shape, what: str) -> None:
    dims = [int(d) for d in np.asarray(shape).reshape(-1)]
    if any(d < 0 for d in dims):
        raise ValueError(f"{what} has a negative dimension {dims}")
    size = 1
    for d in dims:
        size *= d
    if size > MAX_CONST_ELEMENTS:
        raise ValueError(f"{what} would hold {size:,} elements (huia's limit for constants: {MAX_CONST_ELEMENTS:,})")


def _decode_const_attr(node: Node) -> np.ndarray | None:
    """Small constants stored in the node's `value` attr instead of the weights manifest."""
    t = (node.raw_attr.get("value") or {}).get("tensor")
    if not t:
        return None
    dtype = TF_DTYPES.get(t.get("dtype", "DT_FLOAT"), "float32")
    if dtype not in NUMPY_DTYPES:
        return None
    shape = [int(d.get("size", 0)) for d in (t.get("tensorShape") or {}).get("dim", [])]
    _check_const_size(shape, "its value")
    if "tensorContent" in t:
        raw = base64.b64decode(t["tensorContent"])
        src = {"float32": "<f4", "int32": "<i4", "bool": "u1"}[dtype]
        if t.get("dtype") == "DT_INT64":
            src = "<i8"
        arr = np.frombuffer(raw, dtype=src)
    else:
        vals = t.get("floatVal") or t.get("intVal") or t.get("int64Val") or t.get("boolVal") or []
        arr = np.asarray(vals)
    arr = arr.astype(NUMPY_DTYPES[dtype])
    size = int(np.prod(shape)) if shape else 1
    if arr.size == 1 and size != 1:
        arr = np.full(size, arr.reshape(-1)[0], dtype=arr.dtype)
    return arr.reshape(shape) if arr.size == size else None


def _guard_folded_size(ctx: "_Ctx") -> None:
    """Before folding an op that makes a tensor from a shape (Fill, BroadcastTo, Tile, Range), refuse a result
    larger than MAX_CONST_ELEMENTS: computing it first would allocate it."""
    op = ctx.node.op
    try:
        if op == "Fill" and ctx.is_const(0):
            _check_const_size(ctx.const(0), "its output")
        elif op == "BroadcastTo" and ctx.is_const(1):
            _check_const_size(ctx.const(1), "its output")
        elif op == "Tile" and ctx.is_const(1):
            _check_const_size(np.asarray(ctx.static_shape(0)) * np.asarray(ctx.const(1)).reshape(-1), "its output")
        elif op == "Range" and ctx.is_const(0) and ctx.is_const(1) and ctx.is_const(2):
            start, limit, delta = (float(np.asarray(ctx.const(i)).reshape(-1)[0]) for i in range(3))
            if delta and np.isfinite([start, limit, delta]).all():
                _check_const_size([max(0, int(np.ceil((limit - start) / delta)))], "its output")
    except ValueError as exc:
        raise ctx.error(str(exc)) from None


def _to_torch(arr: np.ndarray) -> torch.Tensor:
    arr = np.asarray(arr)
    if arr.dtype == np.bool_:
        return torch.from_numpy(arr.copy())
    if np.issubdtype(arr.dtype, np.integer):
        return torch.from_numpy(arr.astype(np.int32))
    return torch.from_numpy(arr.astype(np.float32))


@dataclasses.dataclass
class _Step:
    fn: Callable
    ins: tuple[int, ...]
    outs: tuple[int, ...]
    name: str
    multi: bool = False


class _Ctx:
    """The BuildContext handed to op builders (see huia.tfjs.ops)."""

    def __init__(self, model: "GraphModel", node: Node):
        self.model, self.node = model, node
        self.slots = [model._slot_of_ref(ref, node) for ref in node.inputs]
        self.num_inputs = len(self.slots)

    def error(self, msg: str) -> HuiaError:
        return HuiaError(f"node {self.node.name!r} ({self.node.op}): {msg}", self.model.path)

    def _slot(self, i: int) -> int:
        if i >= self.num_inputs:
            raise self.error(f"expects at least {i + 1} inputs, has {self.num_inputs}")
        return self.slots[i]

    def input(self, i: int) -> int:
        return self._slot(i)

    def is_const(self, i: int) -> bool:
        return i < self.num_inputs and self.slots[i] in self.model._consts

    def const(self, i: int) -> np.ndarray:
        s = self._slot(i)
        if s not in self.model._consts:
            raise self.error(f"input {i} ({self.node.inputs[i]!r}) must be a constant")
        return self.model._consts[s].numpy()

    def static_shape(self, i: int) -> tuple[int, ...]:
        s = self._slot(i)
        if s in self.model._consts:
            return tuple(self.model._consts[s].shape)
        if s in self.model._param_slots:
            return tuple(self.model.weights[self.model._param_slots[s]].shape)
        raise self.error(f"input {i} ({self.node.inputs[i]!r}) must be a constant or a weight")

    def prep(self, i: int, fn: Callable) -> int:
        s = self._slot(i)
        new = self.model._new_slot()
        if s in self.model._consts:
            with torch.no_grad():
                self.model._consts[new] = fn(self.model._consts[s])
        else:
            self.model._steps.append(_Step(fn, (s,), (new,), self.node.name + "/prep"))
        return new


class GraphModel(nn.Module):
    """A TF.js graph model as a torch module: ``model(x)`` or ``model({name: x}, outputs=[...])`` -> dict.

    numpy in -> numpy out (run under inference mode); torch in -> torch out (autograd works).
    """

    def __init__(self, artifacts: ModelArtifacts, *, trainable: bool = False):
        super().__init__()
        _tune_allocator()
        self.path = artifacts.path
        self.trainable = bool(trainable)
        self._artifacts = artifacts
        topo = artifacts.model_topology or {}
        if not isinstance(topo, dict) or not topo.get("node"):
            raise HuiaError("not a graph model (modelTopology has no nodes)", self.path)
        try:
            nodes = [Node.from_json(d) for d in topo["node"]]
        except (KeyError, TypeError) as exc:
            raise HuiaError(f"malformed graph node ({exc})", self.path) from None
        missing = unsupported_ops(topo)
        if missing:
            cf = " (TF control flow is not supported)" if set(missing) & (CONTROL_FLOW_OPS | {"TensorListReserve"}) else ""
            raise HuiaError(f"unsupported TF.js ops: {', '.join(missing)}{cf}", self.path)
        self._nodes = {n.name: n for n in nodes}
        self._order = self._toposort(nodes)

        self._nslots = 0
        self._consts: dict[int, torch.Tensor] = {}
        self._param_slots: dict[int, str] = {}     # slot -> parameter key
        self._param_names: dict[str, str] = {}     # weight (Const node) name -> parameter key
        self._steps: list[_Step] = []
        self._node_slots: dict[str, list[int]] = {}
        self._inputs: dict[str, int] = {}          # placeholder name -> slot
        self._defaults: dict[int, int] = {}        # PlaceholderWithDefault slot -> default slot
        self.weights = nn.ParameterDict()
        self._input_specs: dict[str, tuple[tuple[int, ...] | None, str]] = {}

        sig = artifacts.signature or {}
        self.signature_inputs = {k: _split_ref(v.get("name", k))[0] for k, v in (sig.get("inputs") or {}).items()}
        self.signature_outputs = {k: v.get("name", k) for k, v in (sig.get("outputs") or {}).items()}

        trainable_consts = self._trainable_consts() if trainable else set()
        for node in self._order:
            self._build_node(node, trainable_consts, artifacts.weights)
        self.input_names = list(self._inputs)
        self.output_names = self._default_outputs()
        self._plans: dict[tuple[int, ...], list] = {}

    # ---- building -------------------------------------------------------------------------------------------
    def _new_slot(self) -> int:
        self._nslots += 1
        return self._nslots - 1

    def _slot_of_ref(self, ref: str, node: Node) -> int:
        name, k = _split_ref(ref)
        slots = self._node_slots.get(name)
        if slots is None:
            if name not in self._nodes:
                raise HuiaError(f"node {node.name!r} reads {ref!r}, which is not in the graph", self.path)
            raise HuiaError(f"node {node.name!r} reads {ref!r}, which produces no value", self.path)
        if k >= len(slots):
            raise HuiaError(f"node {node.name!r} reads output {k} of {name!r}, which has {len(slots)}", self.path)
        return slots[k]

    def _toposort(self, nodes: list[Node]) -> list[Node]:
        order, state = [], {}
        for root in nodes:
            if root.name in state:
                continue
            stack = [(root, 0)]
            state[root.name] = 1
            while stack:
                node, i = stack.pop()
                if i < len(node.inputs):
                    stack.append((node, i + 1))
                    dep = _split_ref(node.inputs[i])[0]
                    child = self._nodes.get(dep)
                    if child is None:
                        raise HuiaError(f"node {node.name!r} reads {node.inputs[i]!r}, which is not in the graph",
                                        self.path)
                    st = state.get(dep)
                    if st == 1:
                        raise HuiaError(f"graph has a cycle through {dep!r}", self.path)
                    if st is None:
                        state[dep] = 1
                        stack.append((child, 0))
                else:
                    state[node.name] = 2
                    order.append(node)
        return order

    def _trainable_consts(self) -> set[str]:
        """Float Const nodes read as weights by a node that also has run-time inputs."""
        static: set[str] = set()
        for node in self._order:
            if node.op == "Const" or (node.op not in SOURCE_OPS and node.inputs and
                                      all(_split_ref(r)[0] in static for r in node.inputs)):
                static.add(node.name)
        out = set()
        w = self._artifacts.weights
        for node in self._order:
            pos = WEIGHT_INPUTS.get(node.op)
            if not pos or node.name in static:
                continue
            elementwise = node.op not in ("Conv2D", "_FusedConv2D", "DepthwiseConv2dNative",
                                          "FusedDepthwiseConv2dNative", "MatMul", "_FusedMatMul",
                                          "Conv2DBackpropInput", "BiasAdd", "FusedBatchNorm", "FusedBatchNormV3",
                                          "FusedBatchNormV2", "Prelu", "GatherV2", "Gather")
            for p in pos:
                if p >= len(node.inputs):
                    continue
                name = _split_ref(node.inputs[p])[0]
                src = self._nodes[name]
                if src.op != "Const" or name not in w:
                    continue
                arr = w[name]
                if not np.issubdtype(arr.dtype, np.floating):
                    continue
                if elementwise and arr.size <= 1:
                    continue  # scalars such as hard-swish's 3 and 1/6 are structure, not weights
                out.add(name)
        return out

    def _build_node(self, node: Node, trainable_consts: set[str], weights: dict) -> None:
        """Build one node; malformed attributes (a Placeholder shape of "abc", a Const whose tensorContent is not
        base64, a constant too large) are one line naming the node, not a traceback."""
        try:
            self._build_node_unchecked(node, trainable_consts, weights)
        except HuiaError:
            raise
        except (ValueError, TypeError, AttributeError, KeyError, OverflowError) as exc:
            raise HuiaError(f"node {node.name!r} ({node.op}): {exc}", self.path) from None

    def _build_node_unchecked(self, node: Node, trainable_consts: set[str], weights: dict) -> None:
        op = node.op
        if op == "NoOp":
            self._node_slots[node.name] = []
            return
        if op == "Const":
            arr = weights.get(node.name)
            if arr is None:
                arr = _decode_const_attr(node)
            if arr is None:
                raise HuiaError(f"constant {node.name!r} has no value in the weights manifest", self.path)
            slot = self._new_slot()
            if node.name in trainable_consts:
                key = node.name.replace(".", "_") or "_"
                while key in self.weights:
                    key += "_"
                self.weights[key] = nn.Parameter(torch.tensor(np.asarray(arr, dtype=np.float32)))
                self._param_slots[slot] = key
                self._param_names[node.name] = key
            else:
                self._consts[slot] = _to_torch(arr)
            self._node_slots[node.name] = [slot]
            return
        if op in ("Placeholder", "PlaceholderWithDefault"):
            slot = self._new_slot()
            self._inputs[node.name] = slot
            shape = node.attr("shape")
            dtype = node.attr("dtype", "float32")
            for key, ref in (self._artifacts.signature or {}).get("inputs", {}).items():
                if _split_ref(ref.get("name", key))[0] == node.name:
                    dims = (ref.get("tensorShape") or {}).get("dim")
                    if dims is not None:
                        shape = [int(d.get("size", -1)) for d in dims]
                    dtype = TF_DTYPES.get(ref.get("dtype"), dtype)
            if dtype not in TORCH_DTYPES:
                raise HuiaError(f"input {node.name!r} has dtype {dtype}, which huia cannot feed", self.path)
            self._input_specs[node.name] = (None if shape is None else tuple(shape), dtype)
            if op == "PlaceholderWithDefault" and node.inputs:
                self._defaults[slot] = self._slot_of_ref(node.inputs[0], node)
            self._node_slots[node.name] = [slot]
            return
        if op in ALIAS_OPS and len(node.inputs) == 1:
            self._node_slots[node.name] = [self._slot_of_ref(node.inputs[0], node)]
            return
        ctx = _Ctx(self, node)
        try:
            built: Op = OPS[op](ctx)
        except HuiaError:
            raise
        except Exception as exc:  # noqa: BLE001 - malformed attributes or weights: one line naming the node
            raise ctx.error(f"cannot be built: {type(exc).__name__}: {exc}") from None
        outs = tuple(self._new_slot() for _ in range(built.n_out))
        self._node_slots[node.name] = list(outs)
        ins = tuple(built.inputs)
        if all(s in self._consts for s in ins):
            _guard_folded_size(ctx)
            try:
                with torch.no_grad():
                    r = built.fn(*[self._consts[s] for s in ins])
            except Exception as exc:  # noqa: BLE001 - report which node failed, in one line
                raise ctx.error(f"failed on its constant inputs: {exc}") from None
            rs = r if built.multi else (r,)
            for s, v in zip(outs, rs):
                if isinstance(v, torch.Tensor) and v.numel() > MAX_CONST_ELEMENTS:  # (a broadcast view costs nothing
                    raise ctx.error(f"would create a constant of {v.numel():,} elements "  # until it is copied)
                                    f"(huia's limit: {MAX_CONST_ELEMENTS:,})")
                self._consts[s] = v
        else:
            self._steps.append(_Step(built.fn, ins, outs, node.name, built.multi))

    def _default_outputs(self) -> list[str]:
        if self.signature_outputs:
            # as TF.js's GraphModel.outputNodes: the signature keys (converter-made ones are "node:0")
            out = []
            for key in self.signature_outputs:
                name, k = _split_ref(key)
                out.append(name if k == 0 else key)
            return out
        used = {_split_ref(r)[0] for n in self._order for r in n.inputs}
        return [n.name for n in self._order if n.name not in used and n.op not in ("Const", "NoOp")]

    # ---- introspection --------------------------------------------------------------------------------------
    @property
    def input_specs(self) -> dict[str, tuple[tuple[int, ...] | None, str]]:
        """input name -> (shape with -1 for free dims, or None; dtype 'float32' | 'int32' | 'bool')."""
        return dict(self._input_specs)

    @property
    def artifacts(self) -> ModelArtifacts:
        """The artifacts this model was built from (weights as loaded; see to_artifacts for current values)."""
        return self._artifacts

    @property
    def weight_params(self) -> dict[str, nn.Parameter]:
        """TF weight (Const node) name -> its nn.Parameter (empty unless trainable=True)."""
        return {name: self.weights[key] for name, key in self._param_names.items()}

    @property
    def node_names(self) -> list[str]:
        return [n.name for n in self._order]

    def ops(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for n in self._order:
            counts[n.op] = counts.get(n.op, 0) + 1
        return counts

    def extra_repr(self) -> str:
        return (f"path={self.path}, inputs={self.input_specs}, outputs={self.output_names}, "
                f"steps={len(self._steps)}, trainable={self.trainable}")

    # ---- running ----------------------------------------------------------------------------------------------
    def _resolve_output(self, name: str) -> int:
        ref = self.signature_outputs.get(name) or self.signature_outputs.get(name + ":0") or name
        node, k = _split_ref(ref)
        slots = self._node_slots.get(node)
        if slots is None and node != ref:
            slots, k = self._node_slots.get(ref), 0
        if slots is None:
            close = difflib.get_close_matches(name, list(self._node_slots) + list(self.signature_outputs), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise HuiaError(f"model has no node or output named {name!r}{hint}", self.path)
        if k >= len(slots):
            raise HuiaError(f"node {node!r} has {len(slots)} output(s), asked for output {k}", self.path)
        return slots[k]

    def _plan(self, out_slots: tuple[int, ...]) -> list:
        plan = self._plans.get(out_slots)
        if plan is not None:
            return plan
        needed = set(out_slots)
        for d, s in self._defaults.items():
            if d in needed:
                needed.add(s)
        chosen = []
        for step in reversed(self._steps):
            if any(o in needed for o in step.outs):
                chosen.append(step)
                needed.update(step.ins)
                for i in step.ins:
                    if i in self._defaults:
                        needed.add(self._defaults[i])
        chosen.reverse()
        keep = set(out_slots) | set(self._consts) | set(self._param_slots) | set(self._inputs.values())
        last: dict[int, int] = {}
        for i, step in enumerate(chosen):
            for s in step.ins:
                last[s] = i
        frees: list[list[int]] = [[] for _ in chosen]
        for s, i in last.items():
            if s not in keep:
                frees[i].append(s)
        for i, step in enumerate(chosen):  # outputs nobody reads (e.g. the unused half of a split)
            for o in step.outs:
                if o not in last and o not in keep:
                    frees[i].append(o)
        plan = [(st.fn, st.ins, st.outs if st.multi else st.outs[0], st.multi, tuple(fr), st.name)
                for st, fr in zip(chosen, frees)]
        self._plans[out_slots] = plan
        return plan

    def _feeds(self, inputs: Any) -> tuple[dict[int, torch.Tensor], bool]:
        if isinstance(inputs, dict):
            items = list(inputs.items())
        elif isinstance(inputs, (list, tuple)) and len(inputs) == len(self.input_names) and \
                all(isinstance(a, (np.ndarray, torch.Tensor)) for a in inputs) and len(inputs) > 1:
            items = list(zip(self.input_names, inputs))
        else:
            if len(self.input_names) != 1:
                raise HuiaError(f"model has {len(self.input_names)} inputs ({', '.join(self.input_names)}): "
                                f"pass a dict name -> array", self.path)
            items = [(self.input_names[0], inputs)]
        feeds: dict[int, torch.Tensor] = {}
        any_numpy = False
        for key, value in items:
            name = self.signature_inputs.get(key, _split_ref(str(key))[0])
            if name not in self._inputs:
                raise HuiaError(f"model has no input named {key!r} (inputs: {', '.join(self.input_names)})",
                                self.path)
            feeds[self._inputs[name]] = self._convert_input(name, value)
            any_numpy = any_numpy or not isinstance(value, torch.Tensor)
        for name, slot in self._inputs.items():
            if slot not in feeds and slot not in self._defaults:
                raise HuiaError(f"input {name!r} was not given", self.path)
        return feeds, any_numpy

    def _convert_input(self, name: str, value: Any) -> torch.Tensor:
        shape, dtype = self._input_specs[name]
        want = TORCH_DTYPES[dtype]
        if isinstance(value, torch.Tensor):
            t = value
            if t.dtype.is_complex:
                raise HuiaError(f"input {name!r} must be real numbers ({dtype}), got {t.dtype}", self.path)
        else:
            arr = np.asarray(value)
            if arr.dtype.kind not in "biuf":
                raise HuiaError(f"input {name!r} must be a numeric array ({dtype}), got dtype {arr.dtype}",
                                self.path)
            t = torch.from_numpy(np.ascontiguousarray(arr))
        if t.dtype != want:
            if want == torch.bool:
                t = t != 0
            elif not want.is_floating_point and t.dtype.is_floating_point:
                t = torch.round(t).to(want)  # float pixels for an int32 image input: nearest integer
            else:
                t = t.to(want)
        if shape is not None:
            got = tuple(t.shape)
            if len(got) != len(shape) or any(s >= 0 and s != g for s, g in zip(shape, got)):
                spec = "x".join("?" if s < 0 else str(s) for s in shape)
                raise HuiaError(f"input {name!r} must have shape {spec} ({dtype}), got "
                                f"{'x'.join(map(str, got)) or 'a scalar'}", self.path)
        return t

    def forward(self, inputs: Any, outputs: list[str] | str | None = None) -> dict[str, Any]:
        feeds, to_numpy = self._feeds(inputs)
        if isinstance(outputs, str):
            outputs = [outputs]
        names = list(outputs) if outputs else list(self.output_names)
        out_slots = tuple(self._resolve_output(n) for n in names)
        plan = self._plan(out_slots)
        if to_numpy:
            mode = torch.inference_mode()
        elif torch.is_grad_enabled() and (any(t.requires_grad for t in feeds.values()) or
                                          any(p.requires_grad for p in self.weights.values())):
            mode = contextlib.nullcontext()
        else:
            mode = torch.no_grad()
        with mode:
            env = self._run(plan, feeds)
        result = {}
        for n, s in zip(names, out_slots):
            v = env[s]
            key = _split_ref(n)[0] if _split_ref(n)[1] == 0 else n
            if to_numpy:
                v = v.detach().numpy()
                if s in self._consts or s in self._param_slots:
                    v = v.copy()
            result[key] = v
        return result

    def _run(self, plan: list, feeds: dict[int, torch.Tensor]) -> list:
        env: list = [None] * self._nslots
        for s, v in self._consts.items():
            env[s] = v
        for s, key in self._param_slots.items():
            env[s] = self.weights[key]
        for s, d in self._defaults.items():
            env[s] = env[d]
        for s, v in feeds.items():
            env[s] = v
        for fn, ins, out, multi, frees, name in plan:
            try:
                r = fn(*[env[i] for i in ins])
            except HuiaError:
                raise
            except Exception as exc:  # noqa: BLE001 - name the node that failed, in one line
                msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise HuiaError(f"node {name!r} failed: {msg}", self.path) from exc
            if multi:
                for o, v in zip(out, r):
                    env[o] = v
            else:
                env[out] = r
            for s in frees:
                env[s] = None
        return env

    # ---- saving -----------------------------------------------------------------------------------------------
    def to_artifacts(self) -> ModelArtifacts:
        """The model with its current weight values, ready for ``save_artifacts``. Weights that changed lose their
        stored quantization range (re-quantized afresh with the same dtype on save)."""
        art = self._artifacts
        weights = dict(art.weights)
        quant = dict(art.quantization)
        for name, key in self._param_names.items():
            new = self.weights[key].detach().cpu().numpy().astype(np.float32).copy()
            if not np.array_equal(new, weights[name]) and name in quant:
                quant[name] = {"dtype": quant[name]["dtype"]}
            weights[name] = new
        return dataclasses.replace(art, model_topology=copy.deepcopy(art.model_topology), weights=weights,
                                   quantization=quant)


def set_input_shapes(artifacts: ModelArtifacts, shapes: dict[str, list[int] | tuple[int, ...]]) -> ModelArtifacts:
    """A copy of a graph model whose inputs declare new shapes (placeholder attr and signature), e.g. PoseNet at
    257x257: fully convolutional models run at any size, but TF.js (and huia) check inputs against the declared
    shape. -1 marks a free dimension."""
    topo = copy.deepcopy(artifacts.model_topology)
    sig = copy.deepcopy(artifacts.signature)
    found = set()
    for node in topo.get("node", []):
        if node.get("op") in ("Placeholder", "PlaceholderWithDefault") and node["name"] in shapes:
            dims = [{"size": str(int(d))} for d in shapes[node["name"]]]
            node.setdefault("attr", {})["shape"] = {"shape": {"dim": dims}}
            found.add(node["name"])
            for spec in ((sig or {}).get("inputs") or {}).values():
                if _split_ref(spec.get("name", ""))[0] == node["name"]:
                    spec["tensorShape"] = {"dim": [dict(d) for d in dims]}
    missing = set(shapes) - found
    if missing:
        raise HuiaError(f"model has no input named {', '.join(sorted(missing))}", artifacts.path)
    return dataclasses.replace(artifacts, model_topology=topo, signature=sig)


def load_graph_model(path_or_artifacts: str | Path | ModelArtifacts, *, trainable: bool = False) -> GraphModel:
    """Load a TF.js graph model (model.json path, folder, or ModelArtifacts). Fails at load, in one line, when the
    graph needs ops huia lacks (listing all of them)."""
    art = path_or_artifacts if isinstance(path_or_artifacts, ModelArtifacts) else load_artifacts(path_or_artifacts)
    if not art.is_graph_model:
        raise HuiaError(f"not a graph model (format {art.format!r}); layers models are read with load_artifacts",
                        art.path)
    return GraphModel(art, trainable=trainable)
