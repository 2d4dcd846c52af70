"""The detector: the bundled COCO CenterNet (MobileNetV3 backbone, TF.js graph) adapted to the user's classes.

Why fine-tune the TF.js graph itself instead of a torch re-implementation: the graph we train IS the graph we ship
(``GraphModel.to_artifacts()`` writes the new weights under the same names), so the browser runs exactly what was
evaluated; the only edits are small graph surgery on constants (see :func:`adapt_centernet`).

Graph facts (``centernet.json``): input ``tower_0/images`` 1xNxNx3 RGB 0-255 (no normalisation in front);
heads at stride 4: class logits ``.../centernet_cls_output/BiasAdd`` (sigmoid -> ``tower_0/keypoints``) and box
distances ``tower_0/wh`` = (left, top, right, bottom) in input pixels from the cell position ``(x*4, y*4)``;
``tower_0/detections`` [1, 100, 6] = (xmin, ymin, xmax, ymax, score, class) of the top-100 3x3 heat-map peaks,
computed inside the graph (so the browser needs no decoding beyond a threshold and a scale).
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import torch
from torch import nn

from huia.errors import HuiaError
from huia.tfjs.artifacts import ModelArtifacts, credit
from huia.types import Detections

BASE_MODEL = "centernet"
INPUT = "tower_0/images"
CLS_LOGITS = "tower_0/CenternetHead/centernet_cls_output/BiasAdd"
HEATMAP = "tower_0/keypoints"
BOXES = "tower_0/wh"
DETECTIONS = "tower_0/detections"
STRIDE = 4
TOP_K = 100
DEFAULT_INPUT_SIZE = 320  # kangaroo (small animals): AP 0.56 vs 0.53 at 256 on the reported split; ~28 FPS on
# the studio page in headless Chromium wasm (256: ~40 FPS; 384: ~13 FPS, below the 15 FPS real-time bar)
DEFAULT_CHANNEL = 16  # COCO 'dog' when no data says better
# COCO-80 channel index -> name, for the animals a new class is most likely to look like (used to pick init)
COCO_ANIMALS = {14: "bird", 15: "cat", 16: "dog", 17: "horse", 18: "sheep", 19: "cow", 20: "elephant", 21: "bear",
                22: "zebra", 23: "giraffe"}
# Weights that belong to the ImageNet/COCO backbone (trained at a tenth of the head's learning rate by default,
# see huia.detect.train.param_groups; frozen with --freeze-backbone)
BACKBONE_PREFIX = "tower_0/MobilenetV3/"

_CLS_W = "CenternetHead/centernet_cls_output/pointwise_weights"
_CLS_B = "CenternetHead/centernet_cls_output/biases"
_RESIZES = {"tower_0/CenternetHead/c5_upsample/up_sampling2d/mul": 16,
            "tower_0/CenternetHead/c4_upsample/up_sampling2d_1/mul": 8,
            "tower_0/CenternetHead/c3_upsample/up_sampling2d_2/mul": 4}


def _shape(dims) -> dict:
    return {"dim": [{"size": str(int(d))} for d in dims]}


def adapt_centernet(art: ModelArtifacts, *, input_size: int, class_channels: list[int]) -> ModelArtifacts:
    """CenterNet re-wired for ``input_size`` x ``input_size`` inputs and ``len(class_channels)`` classes, class ``i``
    initialised from COCO channel ``class_channels[i]``. Only constants change: the three up-sampling sizes, the
    class head's last 1x1 conv, and the constants of the in-graph top-k decoding (grid width, cells, classes)."""
    if input_size % 32 or not 64 <= input_size <= 1024:
        raise HuiaError(f"input size must be a multiple of 32 between 64 and 1024, got {input_size}")
    w = dict(art.weights)
    for name in (_CLS_W, _CLS_B, "tower_0/strided_slice_6", "tower_0/strided_slice_7", "tower_0/BatchGather/concat",
                 *_RESIZES):
        if name not in w:
            raise HuiaError(f"not the bundled CenterNet graph (no weight {name!r})", art.path)
    n_cls = len(class_channels)
    if n_cls < 1:
        raise HuiaError("a detector needs at least one class")
    cls_w, cls_b = w[_CLS_W], w[_CLS_B]
    chans = [int(c) for c in class_channels]
    if n_cls != cls_w.shape[-1] or chans != list(range(cls_w.shape[-1])):
        w[_CLS_W] = np.ascontiguousarray(cls_w[..., chans], np.float32)
        w[_CLS_B] = np.ascontiguousarray(cls_b[chans], np.float32)
    grid = input_size // STRIDE
    for name, div in _RESIZES.items():
        w[name] = np.array([input_size // div] * 2, np.int32)
    w["tower_0/strided_slice_6"] = np.array(grid, np.int32)
    w["tower_0/strided_slice_7"] = np.array(n_cls, np.int32)
    w["tower_0/BatchGather/concat"] = np.array([grid * grid, 4], np.int32)
    w["tower_0/TopKV2/k"] = np.array(min(TOP_K, grid * grid * n_cls), np.int32)
    topo = copy.deepcopy(art.model_topology)
    for node in topo["node"]:
        if node["op"] == "Placeholder":
            node.setdefault("attr", {})["shape"] = {"shape": _shape([-1, input_size, input_size, 3])}
    sig = copy.deepcopy(art.signature or {})
    sig.setdefault("inputs", {})[INPUT] = {"name": INPUT, "dtype": "DT_FLOAT",
                                           "tensorShape": _shape([-1, input_size, input_size, 3])}
    outs = sig.setdefault("outputs", {})
    outs[HEATMAP] = {"name": HEATMAP, "dtype": "DT_FLOAT", "tensorShape": _shape([1, grid, grid, n_cls])}
    outs[BOXES] = {"name": BOXES, "dtype": "DT_FLOAT", "tensorShape": _shape([1, grid, grid, 4])}
    outs[DETECTIONS] = {"name": DETECTIONS, "dtype": "DT_FLOAT", "tensorShape": _shape([1, TOP_K, 6])}
    quant = {k: v for k, v in art.quantization.items() if k in w and k not in (_CLS_W, _CLS_B)}
    return dataclasses.replace(art, model_topology=topo, weights=w, signature=sig, quantization=quant)


# Where the frozen backbone hands over to the trained part: the three feature maps the head reads (stride 4, 8,
# 16). Everything after them (MobileNetV3 blocks 12-14 at stride 16/32, the FPN-like CenterNet head, both output
# convs) is trained; everything before them runs once per augmented view and is cached.
TAPS = ("tower_0/MobilenetV3/expanded_conv_3/expand/Relu", "tower_0/MobilenetV3/expanded_conv_5/expand/Relu",
        "tower_0/MobilenetV3/expanded_conv_11/add")


def _ancestors(nodes: dict, names) -> set[str]:
    seen, stack = set(), list(names)
    while stack:
        n = stack.pop()
        if n in seen or n not in nodes:
            continue
        seen.add(n)
        stack.extend(r.split(":")[0].lstrip("^") for r in nodes[n].get("input", []))
    return seen


def split_at_taps(art: ModelArtifacts, taps=TAPS, outputs=(CLS_LOGITS, BOXES)) -> ModelArtifacts:
    """The trainable part of the graph as its own graph: the tap nodes become float32 Placeholders (fed cached
    backbone features) and only what ``outputs`` need of the rest is kept. Weight names are unchanged, so trained
    values go straight back into the full graph."""
    nodes = {n["name"]: n for n in art.model_topology["node"]}
    for t in taps:
        if t not in nodes:
            raise HuiaError(f"graph has no node {t!r} to split at", art.path)
    tapset = set(taps)
    keep, stack = set(), list(outputs)
    while stack:
        n = stack.pop()
        if n in keep:
            continue
        keep.add(n)
        if n in tapset:
            continue
        stack.extend(r.split(":")[0].lstrip("^") for r in nodes[n].get("input", []))
    new_nodes = []
    for n in art.model_topology["node"]:
        if n["name"] not in keep:
            continue
        if n["name"] in tapset:
            n = {"name": n["name"], "op": "Placeholder",
                 "attr": {"dtype": {"type": "DT_FLOAT"}, "shape": {"shape": _shape([-1, -1, -1, -1])}}}
        new_nodes.append(copy.deepcopy(n))
    topo = dict(copy.deepcopy({k: v for k, v in art.model_topology.items() if k != "node"}), node=new_nodes)
    weights = {k: v for k, v in art.weights.items() if k in keep}
    sig = {"inputs": {t: {"name": t, "dtype": "DT_FLOAT", "tensorShape": _shape([-1, -1, -1, -1])} for t in taps},
           "outputs": {o: {"name": o, "dtype": "DT_FLOAT"} for o in outputs}}
    quant = {k: v for k, v in art.quantization.items() if k in weights}
    return dataclasses.replace(art, model_topology=topo, weights=weights, signature=sig, quantization=quant)


def load_base_artifacts() -> ModelArtifacts:
    from huia.models import get_model
    from huia.tfjs.artifacts import load_artifacts

    return load_artifacts(get_model(BASE_MODEL).path)


class CenterNetDetector(nn.Module):
    """Trainable wrapper around the adapted graph. ``forward(x)`` (x: [B, N, N, 3] float 0-255, NHWC) ->
    ``(logits [B, G, G, C], ltrb [B, G, G, 4])`` with G = N / 4."""

    def __init__(self, artifacts: ModelArtifacts, class_names: list[str], input_size: int, *,
                 train_backbone: bool = False):
        super().__init__()
        from huia.tfjs.graph import load_graph_model

        self.graph = load_graph_model(artifacts, trainable=True)
        self.class_names = list(class_names)
        self.input_size = int(input_size)
        self.set_trainable(train_backbone)

    def set_trainable(self, train_backbone: bool) -> None:
        for name, p in self.named_weights():
            p.requires_grad_(train_backbone or not name.startswith(BACKBONE_PREFIX))

    def named_weights(self):
        """(TF weight name, parameter) pairs."""
        inv = {key: name for name, key in self.graph._param_names.items()}
        for key, p in self.graph.weights.items():
            yield inv.get(key, key), p

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for _, p in self.named_weights() if p.requires_grad]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.graph({INPUT: x}, outputs=[CLS_LOGITS, BOXES])
        return out[CLS_LOGITS], out[BOXES]

    def to_artifacts(self, metadata: dict | None = None) -> ModelArtifacts:
        """Current weights as TF.js artifacts, every float weight stored float32 (the shipped float16 backbone
        values are exact in float32; callers quantize on save if asked)."""
        art = self.graph.to_artifacts()
        # the weights are huia's now; the upstream model it started from stays credited
        generated = credit(art.generated_by or "the bundled COCO CenterNet", "fine-tuned from")
        return dataclasses.replace(art, quantization={}, user_defined_metadata=metadata, generated_by=generated,
                                   converted_by="huia")


# --- pre/post-processing (mirrored by web/js/detector.js) ----------------------------------------------------------


def preprocess(image: np.ndarray, input_size: int) -> np.ndarray:
    """RGB uint8 HxWx3 -> [1, N, N, 3] float32 0-255, stretched (no letterbox: the browser draws the frame the same
    way). Bilinear with half-pixel centres, as ``tf.image.resizeBilinear(x, [N, N], false, true)``: resized in
    float32 and not rounded back to 0-255 steps, as TF.js and the studio do (within 2e-3 of TF.js; cv2's uint8
    path rounds, up to 0.75 off, which moved scores by up to 3e-3 between Python and the browser)."""
    import cv2

    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3:
        raise HuiaError(f"expected an RGB image HxWx3, got shape {img.shape}")
    out = cv2.resize(img.astype(np.float32), (input_size, input_size), interpolation=cv2.INTER_LINEAR)
    return out[None]


def rows_to_detections(rows: np.ndarray, width: int, height: int, input_size: int, class_names: list[str],
                       score_threshold: float = 0.0, max_detections: int = TOP_K) -> Detections:
    """``tower_0/detections`` rows (input pixels) -> Detections in image pixels: keep score >= threshold, scale
    x by W/N and y by H/N, clip to the image, drop boxes that became empty. Sorted by score (the graph's top-k
    order). This is the whole post-processing; detector.js does the same."""
    rows = np.asarray(rows, np.float32).reshape(-1, 6)
    rows = rows[rows[:, 4] >= score_threshold][:max_detections]
    sx, sy = width / float(input_size), height / float(input_size)
    xyxy = rows[:, :4] * np.array([sx, sy, sx, sy], np.float32)
    xyxy = np.clip(xyxy, 0, np.array([width, height, width, height], np.float32))
    ok = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
    return Detections(xyxy[ok], rows[ok, 4], rows[ok, 5].astype(np.int64), list(class_names))
