"""Export a trained classifier run to TensorFlow.js (called by `huia export RUN --out DIR`).

- ``fmt="graph"`` (default): the WHOLE pipeline as one graph model — pixels 0..255 -> normalization -> the bundled
  backbone (its own TF.js graph, with fine-tuned weights if phase 2 ran) -> [hand-landmark normalization] -> head
  -> softmax. Built by graph surgery on the bundled model.json (huia.tfjs.export.prepend_graph_module /
  append_graph_head, with the torch modules that trained traced into graph ops) rather than re-tracing the
  backbone, so it runs in the browser exactly as when the studio uses it for pose/hand tracking. Keypoint
  classifiers export their MLP (input: the keypoint feature vector described in the metadata).
- ``fmt="layers"``: the head alone as a Keras-style layers model (``tf.loadLayersModel``), which TF.js can keep
  training in the browser; the metadata says which bundled model and node produce its input features.

Quantization: uint16/float16 store every learned weight so; uint8 is mixed precision (huia.tfjs.quantize,
calibrated on the run's own training images and an augmented view of each: the few tensors per-tensor uint8 would
damage stay uint16). Exact constants (pixel scale, feature standardization, landmark maps) always stay float32.

The metadata (userDefinedMetadata) carries labels, input size, normalization, the feature source, and for
keypoint tasks how to build the vector, so the studio's gesture and Huia pages need nothing else.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from huia.classify.dataset import RESIZE
from huia.classify.tasks import get_task
from huia.errors import HuiaError
from huia.tfjs.artifacts import ModelArtifacts, save_artifacts
from huia.tfjs.quantize import candidates_of, mixed_precision

OUTPUT_NAME = "probabilities"
INPUT_NAME = "image"


class PixelNorm(nn.Module):
    """pixels (0..255) * scale + offset: the backbone's input normalization, in the exported graph."""

    def __init__(self, scale: float, offset: float):
        super().__init__()
        self.scale, self.offset = float(scale), float(offset)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.offset


class PooledHead(nn.Module):
    """Backbone feature (vector, or NCHW map to average) -> probabilities."""

    def __init__(self, head: nn.Module, pool: bool):
        super().__init__()
        self.head, self.pool = head, pool

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        if self.pool:
            feat = feat.mean(dim=(2, 3))
        return torch.softmax(self.head(feat), dim=1)


class LandmarkHead(nn.Module):
    """Backbone feature + raw landmarks -> probabilities (the landmark normalization runs in the graph)."""

    def __init__(self, head: nn.Module, pool: bool, landmark_norm: nn.Module):
        super().__init__()
        self.head, self.pool, self.landmark_norm = head, pool, landmark_norm

    def forward(self, feat: torch.Tensor, landmarks: torch.Tensor) -> torch.Tensor:
        if self.pool:
            feat = feat.mean(dim=(2, 3))
        return torch.softmax(self.head(torch.cat([feat, self.landmark_norm(landmarks)], dim=1)), dim=1)


def backbone_artifacts(model) -> ModelArtifacts:
    """The backbone's TF.js graph: the bundled one, or the fine-tuned weights if phase 2 ran."""
    from huia.models import get_model
    from huia.tfjs.artifacts import load_artifacts

    bb = model.backbone
    finetuned = any(True for _ in bb.graph.parameters())  # phase 2 ran: weights are nn.Parameters
    art = bb.graph.to_artifacts() if finetuned else load_artifacts(get_model(bb.spec.model).path)
    art = copy.copy(art)
    art.model_topology = copy.deepcopy(art.model_topology)
    return art


def build_pipeline_graph(run, metadata: dict) -> ModelArtifacts:
    """Image classifier run -> one TF.js graph: image (N,S,S,3 RGB 0..255) -> probabilities (N, C). Graph surgery
    with huia.tfjs.export: pixel normalization in front of the backbone, pooling/landmark normalization/head/softmax
    (traced from the torch modules that trained) on its feature nodes, everything else pruned."""
    from huia.tfjs.export import append_graph_head, prepend_graph_module

    model = run.model
    bb, spec = model.backbone, model.backbone.spec
    size = spec.input_size
    base = backbone_artifacts(model)
    # every backbone weight may be quantized (marked here, stored as export_run decides); the head marks its
    # learned weights; exact constants (pixel scale, standardization, landmark maps) stay float32
    base.quantization = {k: {"dtype": "uint8"} for k in candidates_of(base)}
    art = prepend_graph_module(base, PixelNorm(spec.scale, spec.offset),
                               torch.zeros(1, 3, size, size), input_name=INPUT_NAME, prefix="huia/input")
    dim = spec.feature_dim
    feat_example = torch.zeros(1, dim, 7, 7) if spec.pool else torch.zeros(1, dim)
    if bb.use_landmarks:
        head = LandmarkHead(model.head, spec.pool, bb.landmark_norm)
        nodes, example = [spec.feature_node, spec.landmark_node], (feat_example, torch.zeros(1, spec.num_landmarks * 3))
    else:
        head, nodes, example = PooledHead(model.head, spec.pool), spec.feature_node, feat_example
    art = append_graph_head(art, nodes, head.eval(), example, output_names=[OUTPUT_NAME], prefix="huia/head",
                            metadata=metadata, quantize="uint8")
    art.signature["outputs"][OUTPUT_NAME]["tensorShape"] = {"dim": [{"size": "-1"},
                                                                     {"size": str(len(run.labels))}]}
    return art


def build_head_graph(run, metadata: dict, input_dim: int) -> ModelArtifacts:
    """Feature vector (N, D) -> probabilities: the keypoint MLP as a graph model."""
    from huia.tfjs.export import build_graph_artifacts

    return build_graph_artifacts(PooledHead(run.model.head, False).eval(), torch.zeros(1, input_dim),
                                 metadata=metadata, input_name="features", output_names=[OUTPUT_NAME],
                                 quantize="uint8")


def build_head_layers(run, metadata: dict, input_dim: int) -> ModelArtifacts:
    """The head as a Keras Sequential of Dense layers (standardization folded in): a TF.js layers model that
    `model.fit` can train further in the browser (dropout included, inactive at inference)."""
    from huia.tfjs.export import build_layers_artifacts

    art = build_layers_artifacts(run.model.head.folded(), (1, input_dim), metadata=metadata)
    art.quantization = {k: {"dtype": "uint8"} for k in candidates_of(art)}
    return art


def run_fingerprint(run) -> str | None:
    """SHA-1 of the run's model.pt: the weights an export was made from."""
    from huia.data.provenance import file_sha1

    p = Path(run.path) / "model.pt"
    return file_sha1(p) if p.is_file() else None


def run_evaluation(run) -> dict | None:
    """The run's last held-out evaluation (RUN/eval.json, written by `classify eval` and the studio's jobs), in the
    form the Gestures page reads from a head's metadata (held_out, correct, trained_on, split) plus its interval:
    the page can say how the model did when it was trained."""
    try:
        ev = json.loads((Path(run.path) / "eval.json").read_text())
        n = int(ev["samples"])
        acc = float(ev["accuracy"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    out = {"held_out": n, "correct": int(round(acc * n)), "accuracy": acc,
           "accuracy_ci": ev.get("accuracy_ci"), "trained_on": len(run.config.get("trained_on") or []),
           "split": ev.get("data") or "held-out samples"}
    return out


def export_metadata(run, fmt: str, quantize: str | None) -> dict:
    meta = {"huia": {"task": "classify", "classifier": run.task, "format": fmt, "quantization": quantize or "float32",
                     # which trained model this is: `classify eval RUN --export` refuses another run's export
                     "model_sha1": run_fingerprint(run)},
            "labels": run.labels, "output": OUTPUT_NAME}
    ev = run_evaluation(run)
    if ev is not None:
        meta["evaluation"] = ev
    task = get_task(run.task)
    if task.has_backbone:
        spec = run.model.backbone.spec
        meta.update({"input_size": spec.input_size,
                     "normalization": {"input": "RGB 0..255", "scale": spec.scale, "offset": spec.offset,
                                       "crop": "center-square", "resize": RESIZE, "in_graph": fmt == "graph"},
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
    if task.export_metadata is not None:
        meta.update(task.export_metadata(run))
    if not task.has_backbone:
        meta["input"] = "features"
    return meta


def export_run(run_dir: str | Path, out_dir: str | Path, *, quantize: str | None = None, fmt: str = "graph") -> Path:
    """Export RUN to OUT_DIR/model.json (+ shards); returns the model.json path.

    ``quantize``: None/"float32", "uint16", "float16", or "uint8" — mixed precision: uint8 for every tensor
    except those whose uint8 rounding measurably moves the probabilities on calibration images from the run's
    own training set and an augmented view of each (those stay uint16; see huia.tfjs.quantize). Pure per-tensor
    uint8, what the TF.js converter does, loses most of the hand-landmark backbone's accuracy."""
    from huia.classify.predict import load_run

    if fmt not in ("graph", "layers"):
        raise HuiaError(f"unknown export format {fmt!r} (choose graph or layers)")
    if quantize not in (None, "float32", "uint8", "uint16", "float16"):
        raise HuiaError(f"unknown quantization {quantize!r} (choose float32, uint16, float16 or uint8)")
    quantize = None if quantize == "float32" else quantize
    run = load_run(run_dir)
    meta = export_metadata(run, fmt, quantize)
    if not get_task(run.task).has_backbone:
        dim = run.model.head.in_dim
        art = build_head_graph(run, meta, dim) if fmt == "graph" else build_head_layers(run, meta, dim)
    elif fmt == "graph":
        art = build_pipeline_graph(run, meta)
    else:
        art = build_head_layers(run, meta, run.model.head.in_dim)
    candidates = list(art.quantization)
    art.quantization = {}
    if quantize:
        # calibrated on the run's own images: tensors whose rounding moves the probabilities stay at a finer dtype
        # (uint8 -> uint16; a tensor even uint16 or float16 cannot hold, such as the skeleton backbone's first
        # depthwise kernel with one 200x channel, -> float32). Without calibration data: uint8's data-free policy,
        # every tensor at the asked dtype otherwise.
        evaluate = calibration_fn(run, art, fmt)
        report, full = None, set()
        if evaluate is not None:
            # first the tensors even the finer dtype cannot hold (cheap when there are none: two evaluations)
            finer = "uint16" if quantize == "uint8" else quantize
            art.quantization, report = mixed_precision(art, finer, fallback="float32", candidates=candidates,
                                                       evaluate=evaluate, progress=True)
            full = set(candidates) - set(art.quantization)
        if quantize == "uint8":
            fine = report
            art.quantization, report = mixed_precision(art, "uint8", fallback="uint16",
                                                       candidates=[c for c in candidates if c not in full],
                                                       evaluate=evaluate, progress=True)
            if full:
                report["float32_fallback"] = fine
        elif evaluate is None:
            art.quantization = {k: {"dtype": quantize} for k in candidates}
        if report is not None:
            art.user_defined_metadata["huia"]["mixed_precision"] = report
    path = save_artifacts(art, out_dir, quantize=None)
    if quantize:
        check = quantization_check(run, path, fmt)
        if check:
            art.user_defined_metadata["huia"]["quantization_check"] = check
            path = save_artifacts(art, out_dir, quantize=None)
            if check["agreement"] < 1.0:
                finer = {"uint8": "uint16 or float16", "uint16": "float16 or float32", "float16": "float32"}[quantize]
                print(f"huia: warning: {quantize} export changes {1 - check['agreement']:.0%} of predictions on "
                      f"{check['samples']} training samples (max probability change {check['max_abs_diff']:.3f}); "
                      f"prefer {finer}", file=sys.stderr)
    (Path(out_dir) / "labels.json").write_text(json.dumps(run.labels))
    return path


def calibration_samples(run, n: int = 8) -> list:
    """Up to ``n`` of the run's own training images (spread over the list), with their keypoints."""
    from huia.types import Sample

    files = [Path(t["path"]) for t in run.config.get("trained_on", [])]
    files = [f for f in files if f.is_file()]
    files = files[:: max(1, len(files) // n)][:n]
    samples = []
    for f in files:
        s = Sample(image_path=f)
        side = f.with_suffix(".json")
        if get_task(run.task).needs_keypoints and side.is_file():
            from huia.data.folders import parse_keypoints_json

            s.keypoints, s.keypoint_names, _ = parse_keypoints_json(json.loads(side.read_text()), side)
        samples.append(s)
    return samples


def _calibration_inputs(run, n: int = 8, views: int = 0) -> np.ndarray | None:
    """Model inputs of ``calibration_samples`` plus ``views`` augmented views of each (the training augmentation,
    seeded): the run is confident on its own images, so their probabilities hide weight rounding that moves a
    less familiar frame; the views show it (measured on a 12-photo run: with the originals alone, 4 tensors kept
    uint16 passed calibration but moved a held-out photo's probabilities by 0.63; with one view each, 7 tensors,
    0.075)."""
    from huia.classify.predict import run_inputs
    from huia.classify.train import _sample_key, model_input
    from huia.data.augment import sample_rng

    samples = calibration_samples(run, n)
    if not samples:
        return None
    settings = run.config.get("settings") or {}
    seed, flip = int(settings.get("seed") or 0), bool(settings.get("flip"))
    try:
        x = run_inputs(run, samples)
        extra = [model_input(run.task, s, run.input_size, sample_rng(seed + 1, _sample_key(s), v), flip)
                 for v in range(1, views + 1) for s in samples]
    except HuiaError:
        return None
    return np.concatenate([x, np.stack(extra).astype(np.float32)]) if extra else x


def calibration_fn(run, art: ModelArtifacts, fmt: str):
    """weights -> probabilities on calibration inputs, run by huia's graph executor (which matches TF.js);
    None (data-free policy) for layers exports or runs whose training files are gone."""
    from huia.tfjs.graph import GraphModel

    x = _calibration_inputs(run, views=1) if fmt == "graph" else None
    if x is None:
        return None
    feed = INPUT_NAME if get_task(run.task).has_backbone else "features"

    def evaluate(weights: dict) -> np.ndarray:
        trial = copy.copy(art)
        trial.weights = weights
        return GraphModel(trial)({feed: x}, outputs=[OUTPUT_NAME])[OUTPUT_NAME]

    return evaluate


def quantization_check(run, path: Path, fmt: str, n: int = 8) -> dict | None:
    """Run the quantized export (huia's graph executor, which matches TF.js) and the float model on up to ``n``
    of the run's own images: how often the top class survives quantization, and the largest probability change.
    Stored in the export's metadata so a quantization that breaks the model does not ship silently."""
    from huia.tfjs.artifacts import load_artifacts
    from huia.tfjs.graph import GraphModel

    if fmt != "graph":
        return None
    x = _calibration_inputs(run, n)
    if x is None:
        return None
    with torch.no_grad():
        want = run.model(torch.from_numpy(x)).numpy()
    g = GraphModel(load_artifacts(path))
    feed = INPUT_NAME if get_task(run.task).has_backbone else "features"
    got = g({feed: x}, outputs=[OUTPUT_NAME])[OUTPUT_NAME]
    return {"samples": len(x), "agreement": float((got.argmax(1) == want.argmax(1)).mean()),
            "max_abs_diff": float(np.abs(got - want).max())}
