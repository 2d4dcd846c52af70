"""Export a trained classifier run to TensorFlow.js (called by `huia export RUN --out DIR`).

- ``fmt="graph"`` (default): the WHOLE pipeline as one graph model — pixels 0..255 -> normalization -> the bundled
  backbone (its own TF.js graph, with fine-tuned weights if phase 2 ran) -> [hand-landmark normalization] -> head
  -> softmax. Built by graph surgery on the bundled model.json rather than re-tracing, so the backbone runs in the
  browser exactly as it does when the studio uses it for pose/hand tracking. Keypoint classifiers export their MLP
  (input: the keypoint feature vector described in the metadata).
- ``fmt="layers"``: the head alone as a Keras-style layers model (``tf.loadLayersModel``), which TF.js can keep
  training in the browser; the metadata says which bundled model and node produce its input features.

The metadata (userDefinedMetadata) carries labels, input size, normalization, the feature source, and for
keypoint tasks how to build the vector, so the studio's gesture and Huia pages need nothing else.
"""

from __future__ import annotations

import base64
import copy
import json
import sys
from pathlib import Path

import numpy as np

from huia.errors import HuiaError
from huia.tfjs.artifacts import ModelArtifacts, save_artifacts

OUTPUT_NAME = "probabilities"
INPUT_NAME = "image"


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


class _Graph:
    """Append nodes/consts to a TF.js graph topology."""

    def __init__(self, art: ModelArtifacts):
        self.art = art
        self.nodes = art.model_topology["node"]
        self.names = {n["name"] for n in self.nodes}

    def _name(self, base: str) -> str:
        name, i = f"huia/{base}", 1
        while name in self.names:
            i += 1
            name = f"huia/{base}_{i}"
        self.names.add(name)
        return name

    def const(self, base: str, value: np.ndarray) -> str:
        value = np.asarray(value)
        dtype = "DT_INT32" if value.dtype.kind in "iu" else "DT_FLOAT"
        value = value.astype(np.int32 if dtype == "DT_INT32" else np.float32)
        name = self._name(base)
        self.nodes.append({"name": name, "op": "Const", "attr": {
            "value": {"tensor": {"dtype": dtype, "tensorShape": {"dim": [{"size": str(d)} for d in value.shape]}}},
            "dtype": {"type": dtype}}})
        self.art.weights[name] = value
        return name

    def op(self, base: str, op: str, inputs: list[str], **attr) -> str:
        name = self._name(base)
        a = {"T": {"type": "DT_FLOAT"}}
        a.update(attr)
        self.nodes.append({"name": name, "op": op, "input": list(inputs), "attr": a})
        return name

    def dense(self, base: str, x: str, kernel: np.ndarray, bias: np.ndarray, act: str | None) -> str:
        k, b = self.const(f"{base}/kernel", kernel), self.const(f"{base}/bias", bias)
        y = self.op(f"{base}/MatMul", "MatMul", [x, k], transpose_a={"b": False}, transpose_b={"b": False})
        y = self.op(f"{base}/BiasAdd", "BiasAdd", [y, b], data_format={"s": _b64("NHWC")})
        if act == "relu":
            y = self.op(f"{base}/Relu", "Relu", [y])
        elif act == "softmax":
            y = self.op(OUTPUT_NAME.split("/")[-1], "Softmax", [y])
        return y

    def prune(self, outputs: list[str]) -> None:
        """Keep only the nodes the outputs need (drops the backbone's unused heads and their weights)."""
        by_name = {n["name"]: n for n in self.nodes}
        keep, stack = set(), [o.split(":")[0] for o in outputs]
        while stack:
            n = stack.pop()
            if n in keep or n not in by_name:
                continue
            keep.add(n)
            stack += [i.split(":")[0].lstrip("^") for i in by_name[n].get("input", [])]
        self.nodes[:] = [n for n in self.nodes if n["name"] in keep]
        self.art.weights = {k: v for k, v in self.art.weights.items() if k in keep}
        self.art.quantization = {k: v for k, v in self.art.quantization.items() if k in keep}


def _landmark_matrices(num: int) -> tuple[np.ndarray, np.ndarray]:
    """Linear maps of the [N, num*3] landmark vector: relative-to-first-point (all coords) and its (x, y) part."""
    d = num * 3
    rel = np.eye(d, dtype=np.float32)
    for j in range(num):
        for c in range(3):
            rel[c, j * 3 + c] -= 1.0  # subtract point 0's coordinate c
    xy_cols = [j * 3 + c for j in range(num) for c in range(2)]
    return rel, rel[:, xy_cols]


def _tensor_spec(name: str, shape: list[int]) -> dict:
    return {"name": f"{name}:0", "dtype": "DT_FLOAT", "tensorShape": {"dim": [{"size": str(s)} for s in shape]}}


def build_pipeline_graph(run, metadata: dict) -> ModelArtifacts:
    """Image classifier run -> one TF.js graph: image (N,S,S,3 RGB 0..255) -> probabilities (N, C)."""
    from huia.models import get_model
    from huia.tfjs.artifacts import load_artifacts

    model = run.model
    spec = model.backbone.spec
    finetuned = any(True for _ in model.backbone.graph.parameters())  # phase 2 ran: weights are nn.Parameters
    art = model.backbone.graph.to_artifacts() if finetuned else load_artifacts(get_model(spec.model).path)
    art = copy.copy(art)
    art.model_topology = copy.deepcopy(art.model_topology)
    art.weights = dict(art.weights)
    art.quantization = dict(art.quantization)
    g = _Graph(art)
    size = spec.input_size
    placeholders = [n for n in g.nodes if n["op"] == "Placeholder"]
    if len(placeholders) != 1:
        raise HuiaError(f"backbone {spec.model} has {len(placeholders)} inputs; expected one")
    old = placeholders[0]
    if old["name"] == INPUT_NAME:  # PoseNet's input is already called "image": rename it and its uses
        renamed = g._name("backbone_input")
        for n in g.nodes:
            n["input"] = [renamed + i[len(INPUT_NAME):] if i == INPUT_NAME or i.startswith(INPUT_NAME + ":") else i
                          for i in n.get("input", [])]
        g.names.discard(INPUT_NAME)
        old["name"] = renamed
    g.nodes.append({"name": INPUT_NAME, "op": "Placeholder", "attr": {
        "dtype": {"type": "DT_FLOAT"},
        "shape": {"shape": {"dim": [{"size": s} for s in ("-1", str(size), str(size), "3")]}}}})
    g.names.add(INPUT_NAME)
    x = g.op("scale", "Mul", [INPUT_NAME, g.const("scale/y", np.array(spec.scale, np.float32))])
    x = g.op("normalized", "AddV2", [x, g.const("offset/y", np.array(spec.offset, np.float32))])
    old["op"] = "Identity"  # the backbone's old input now reads the normalized image
    old["input"] = [x]
    old["attr"] = {"T": {"type": "DT_FLOAT"}}
    feat = spec.feature_node
    if spec.pool:
        feat = g.op("gap", "Mean", [feat, g.const("gap/axes", np.array([1, 2], np.int32))],
                    Tidx={"type": "DT_INT32"}, keep_dims={"b": False})
    if model.backbone.use_landmarks:
        num = spec.num_landmarks
        rel_m, xy_m = _landmark_matrices(num)
        lm = spec.landmark_node
        rel = g.op("lm/rel", "MatMul", [lm, g.const("lm/rel_m", rel_m)], transpose_a={"b": False},
                   transpose_b={"b": False})
        xy = g.op("lm/xy", "MatMul", [lm, g.const("lm/xy_m", xy_m)], transpose_a={"b": False},
                  transpose_b={"b": False})
        sq = g.op("lm/sq", "Square", [xy])
        sq = g.op("lm/reshape", "Reshape", [sq, g.const("lm/shape", np.array([-1, num, 2], np.int32))],
                  Tshape={"type": "DT_INT32"})
        d2 = g.op("lm/sum", "Sum", [sq, g.const("lm/axis2", np.array([2], np.int32))], Tidx={"type": "DT_INT32"},
                  keep_dims={"b": False})
        mx = g.op("lm/max", "Max", [d2, g.const("lm/axis1", np.array([1], np.int32))], Tidx={"type": "DT_INT32"},
                  keep_dims={"b": True})
        norm = g.op("lm/sqrt", "Sqrt", [mx])
        sc = g.op("lm/maximum", "Maximum", [norm, g.const("lm/eps", np.array(1e-6, np.float32))])
        lmn = g.op("lm/normalized", "RealDiv", [rel, sc])
        feat = g.op("features", "ConcatV2", [feat, lmn, g.const("concat/axis", np.array(1, np.int32))],
                    N={"i": "2"}, Tidx={"type": "DT_INT32"})
    out = _append_head(g, feat, run.model.head)
    g.prune([out])
    art.signature = {"inputs": {INPUT_NAME: _tensor_spec(INPUT_NAME, [-1, size, size, 3])},
                     "outputs": {OUTPUT_NAME: _tensor_spec(out, [-1, len(run.labels)])}}
    art.user_defined_metadata = metadata
    art.format = "graph-model"
    return art


def _append_head(g: _Graph, x: str, head) -> str:
    layers = head.dense_layers()
    for i, (k, b, act) in enumerate(layers):
        x = g.dense(f"head/dense_{i}", x, k, b, act)
    return x


def build_head_graph(run, metadata: dict, input_dim: int) -> ModelArtifacts:
    """Feature vector (N, D) -> probabilities: the keypoint MLP as a graph model."""
    art = ModelArtifacts(format="graph-model", model_topology={"node": [], "versions": {"producer": 1482}},
                         weights={}, generated_by="huia", converted_by="huia")
    g = _Graph(art)
    g.nodes.append({"name": "features", "op": "Placeholder", "attr": {
        "dtype": {"type": "DT_FLOAT"}, "shape": {"shape": {"dim": [{"size": "-1"}, {"size": str(input_dim)}]}}}})
    g.names.add("features")
    out = _append_head(g, "features", run.model.head)
    art.signature = {"inputs": {"features": _tensor_spec("features", [-1, input_dim])},
                     "outputs": {OUTPUT_NAME: _tensor_spec(out, [-1, len(run.labels)])}}
    art.user_defined_metadata = metadata
    return art


def build_head_layers(run, metadata: dict, input_dim: int) -> ModelArtifacts:
    """The head as a Keras Sequential of Dense layers (standardization folded in): a TF.js layers model that
    `model.fit` can train further in the browser (dropout included, inactive at inference)."""
    layers_cfg, weights = [], {}
    dense = run.model.head.dense_layers()
    for i, (k, b, act) in enumerate(dense):
        name = f"dense_{i}"
        cfg = {"name": name, "trainable": True, "dtype": "float32", "units": int(k.shape[1]), "activation": act,
               "use_bias": True, "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
               "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": None,
               "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None,
               "bias_constraint": None}
        if i == 0:
            cfg["batch_input_shape"] = [None, int(input_dim)]
        layers_cfg.append({"class_name": "Dense", "config": cfg})
        if i < len(dense) - 1 and run.model.head.dropout:
            layers_cfg.append({"class_name": "Dropout", "config": {"name": f"dropout_{i}", "trainable": True,
                                                                   "dtype": "float32",
                                                                   "rate": float(run.model.head.dropout),
                                                                   "noise_shape": None, "seed": None}})
        weights[f"{name}/kernel"] = k
        weights[f"{name}/bias"] = b
    topology = {"class_name": "Sequential", "config": {"name": "huia_head", "layers": layers_cfg},
                "keras_version": "2.15.0", "backend": "tensorflow"}
    return ModelArtifacts(format="layers-model", model_topology=topology, weights=weights, generated_by="huia",
                          converted_by="huia", user_defined_metadata=metadata)


def export_metadata(run, fmt: str, quantize: str | None) -> dict:
    cfg = run.config
    meta = {"huia": {"task": "classify", "classifier": run.task, "format": fmt, "quantization": quantize or "float32"},
            "labels": run.labels, "output": OUTPUT_NAME}
    if run.task in ("image", "skeleton"):
        spec = run.model.backbone.spec
        meta.update({"input_size": spec.input_size,
                     "normalization": {"input": "RGB 0..255", "scale": spec.scale, "offset": spec.offset,
                                       "crop": "center-square", "in_graph": fmt == "graph"},
                     "backbone": {"bundled_model": spec.model, "feature_node": spec.feature_node,
                                  "pool": spec.pool, "feature_dim": spec.feature_dim,
                                  "landmarks": ({"node": spec.landmark_node, "count": spec.num_landmarks,
                                                 "normalize": "relative to point 0, divided by max xy distance"}
                                                if run.model.backbone.use_landmarks else None)}})
        if fmt == "graph":
            meta["input"] = INPUT_NAME
        else:
            meta["input"] = "features"
            meta["features"] = ("backbone feature_node" + (" (global-average-pooled)" if spec.pool else "")
                                + (" ++ normalized landmarks" if run.model.backbone.use_landmarks else ""))
    if run.task in ("skeleton", "keypoints"):
        meta["keypoints"] = cfg.get("keypoint_features")
        if run.task == "skeleton":
            meta["skeleton"] = {"renderer": "huia.pose.render.render_skeleton", "size": run.input_size,
                                "fit": "keypoints bbox centred, longer side = 80% of the image",
                                "spec": "/spec/keypoints.json"}
        else:
            meta["input"] = "features"
    return meta


def export_run(run_dir: str | Path, out_dir: str | Path, *, quantize: str | None = None, fmt: str = "graph") -> Path:
    """Export RUN to OUT_DIR/model.json (+ shards); returns the model.json path."""
    from huia.classify.predict import load_run

    if fmt not in ("graph", "layers"):
        raise HuiaError(f"unknown export format {fmt!r} (choose graph or layers)")
    run = load_run(run_dir)
    meta = export_metadata(run, fmt, quantize)
    if run.task == "keypoints":
        dim = run.model.head.in_dim
        art = build_head_graph(run, meta, dim) if fmt == "graph" else build_head_layers(run, meta, dim)
    elif fmt == "graph":
        art = build_pipeline_graph(run, meta)
    else:
        art = build_head_layers(run, meta, run.model.head.in_dim)
    path = save_artifacts(art, out_dir, quantize=quantize or "float32")
    if quantize and quantize != "float32":
        check = quantization_check(run, art, path, fmt)
        if check:
            art.user_defined_metadata["huia"]["quantization_check"] = check
            path = save_artifacts(art, out_dir, quantize=quantize)
            if check["agreement"] < 1.0:
                print(f"huia: warning: {quantize} export changes {1 - check['agreement']:.0%} of predictions on "
                      f"{check['samples']} training samples (max probability change {check['max_abs_diff']:.3f}); "
                      f"per-tensor {quantize} is too coarse for this backbone — prefer uint16 or float16",
                      file=sys.stderr)
    (Path(out_dir) / "labels.json").write_text(json.dumps(run.labels))
    return path


def quantization_check(run, art: ModelArtifacts, path: Path, fmt: str, n: int = 8) -> dict | None:
    """Run the quantized export (huia's graph executor, which matches TF.js) and the float model on up to ``n``
    of the run's own images: how often the top class survives quantization, and the largest probability change.
    Stored in the export's metadata so a quantization that breaks the model does not ship silently."""
    import torch

    from huia.classify.predict import run_inputs
    from huia.tfjs.artifacts import load_artifacts
    from huia.tfjs.graph import GraphModel
    from huia.types import Sample

    if fmt != "graph":
        return None
    files = [Path(t["path"]) for t in run.config.get("trained_on", [])]
    files = [f for f in files if f.is_file()][:: max(1, len(files) // n)][:n]
    if not files:
        return None
    samples = []
    for f in files:
        s = Sample(image_path=f)
        side = f.with_suffix(".json")
        if run.task != "image" and side.is_file():
            from huia.data.folders import parse_keypoints_json

            s.keypoints, s.keypoint_names, _ = parse_keypoints_json(json.loads(side.read_text()), side)
        samples.append(s)
    try:
        x = run_inputs(run, samples)
    except HuiaError:
        return None
    with torch.no_grad():
        want = run.model(torch.from_numpy(x)).numpy()
    g = GraphModel(load_artifacts(path))
    feed = "features" if run.task == "keypoints" else INPUT_NAME
    got = g({feed: x}, outputs=[OUTPUT_NAME])[OUTPUT_NAME]
    return {"samples": len(samples), "agreement": float((got.argmax(1) == want.argmax(1)).mean()),
            "max_abs_diff": float(np.abs(got - want).max())}
