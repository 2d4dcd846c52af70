"""Classifier model registry (timm-like): image backbone heads, the skeleton-image CNN and the keypoint MLP.

Why this shape: every classifier is `features -> head`. The features come from a bundled TF.js model run through
huia's graph executor (a pretrained MobileNet-family network, frozen or fine-tuned) or, for the keypoint task, from
the normalized keypoints themselves. The head is a small dense network (the Huia article's "extended layers"), so
the same head exports as a TF.js *layers* model that can keep training in the browser, while the whole pipeline
exports as a graph model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from huia.errors import HuiaError

# ---------------------------------------------------------------------------------------------------------------
# Backbones: which bundled model, which node gives the features, how pixels are prepared.


@dataclass(frozen=True)
class BackboneSpec:
    """How to turn an RGB image into a feature vector with a bundled model."""

    name: str  # registry key
    model: str  # bundled model name (huia.models)
    feature_node: str  # graph node whose output is the feature vector (or a feature map to average)
    feature_dim: int
    input_size: int  # square input side in pixels
    scale: float  # model input = pixels(0..255) * scale + offset
    offset: float
    pool: bool = False  # feature node is a [N,H,W,C] map: global-average-pool it
    landmark_node: str | None = None  # optional landmark output (x, y, z triplets in input pixels) used as features
    num_landmarks: int = 0

    def to_json(self) -> dict:
        return asdict(self)


BACKBONES: dict[str, BackboneSpec] = {
    # MediaPipe hand landmark model (MobileNetV2-like): its global-average-pool node is a strong hand descriptor,
    # and its 21 landmarks describe finger configuration independently of skin, light and background.
    "handlandmark-full": BackboneSpec(
        "handlandmark-full", "handlandmark-full", "model_1/model/global_average_pooling2d/Mean", 1152, 224,
        1 / 255.0, 0.0, pool=False, landmark_node="Identity", num_landmarks=21),
    # PoseNet's MobileNetV1 (the Huia article's backbone family); last pointwise conv block, averaged.
    "posenet-mobilenet": BackboneSpec(
        "posenet-mobilenet", "posenet", "MobilenetV1/MobilenetV1/Conv2d_13_pointwise/Relu6", 384, 224,
        1 / 127.5, -1.0, pool=True),
}


def get_backbone_spec(name: str) -> BackboneSpec:
    if name not in BACKBONES:
        raise HuiaError(f"unknown backbone {name!r} (known: {', '.join(sorted(BACKBONES))})")
    return BACKBONES[name]


class LandmarkNorm(nn.Module):
    """[N, num*3] landmark pixels -> translation/scale invariant vector: relative to the first landmark (the wrist
    for hands), divided by the largest (x, y) distance from it. Finger shape survives, hand position and size do
    not. Written as fixed linear maps (matmuls with 0/±1 matrices, exact in float32) plus a max, so the same module
    trains in torch and exports to a TF.js graph unchanged."""

    def __init__(self, num: int):
        super().__init__()
        d = num * 3
        rel = np.eye(d, dtype=np.float32)
        for j in range(num):
            rel[np.arange(3), j * 3 + np.arange(3)] -= 1.0  # minus point 0's (x, y, z)
        xy_cols = [j * 3 + c for j in range(num) for c in range(2)]
        pair_sum = np.zeros((2 * num, num), np.float32)
        pair_sum[np.arange(2 * num), np.arange(2 * num) // 2] = 1.0  # x² + y² per point
        self.num = num
        self.register_buffer("rel", torch.from_numpy(rel), persistent=False)
        self.register_buffer("xy", torch.from_numpy(rel[:, xy_cols].copy()), persistent=False)
        self.register_buffer("pair_sum", torch.from_numpy(pair_sum), persistent=False)

    def forward(self, lm: torch.Tensor) -> torch.Tensor:
        rel = torch.matmul(lm, self.rel)
        xy = torch.matmul(lm, self.xy)
        dist2 = torch.matmul(xy * xy, self.pair_sum)
        scale = torch.sqrt(torch.amax(dist2, dim=1, keepdim=True)).clamp_min(1e-6)
        return rel / scale


def free_batch_dim(art) -> None:
    """Bundled models declare batch 1 (PoseNet also a fixed 385x385); their graphs (convs, means, matmuls) work
    for any batch and size, so relax the placeholder to -1 x -1 x -1 x C: batched feature extraction and
    fine-tuning, and PoseNet's MobileNet at the classifier's 224x224."""
    for node in art.model_topology.get("node", []):
        if node.get("op") == "Placeholder":
            dims = node.get("attr", {}).get("shape", {}).get("shape", {}).get("dim")
            for d in (dims or [])[:3]:
                d["size"] = "-1"
    for spec in ((art.signature or {}).get("inputs") or {}).values():
        dims = spec.get("tensorShape", {}).get("dim")
        for d in (dims or [])[:3]:
            d["size"] = "-1"


def load_backbone_graph(model_name: str, trainable: bool = False):
    from huia.models import get_model
    from huia.tfjs.artifacts import load_artifacts
    from huia.tfjs.graph import GraphModel

    art = load_artifacts(get_model(model_name).path)
    free_batch_dim(art)
    return GraphModel(art, trainable=trainable)


class Backbone(nn.Module):
    """A bundled TF.js model as a feature extractor. Input: NHWC float RGB 0..255 at ``spec.input_size``.

    ``trainable=True`` makes the graph's weights nn.Parameters (fine-tuning, the article's phase 2)."""

    def __init__(self, spec: BackboneSpec, trainable: bool = False, use_landmarks: bool = False):
        super().__init__()
        self.spec = spec
        self.use_landmarks = bool(use_landmarks and spec.landmark_node)
        self.graph = load_backbone_graph(spec.model, trainable=trainable)
        self.landmark_norm = LandmarkNorm(spec.num_landmarks) if spec.landmark_node else None
        self.out_dim = spec.feature_dim + (spec.num_landmarks * 3 if self.use_landmarks else 0)

    @property
    def full_dim(self) -> int:
        """Width of ``forward(x, all_features=True)``: backbone features + landmarks when the model has them."""
        return self.spec.feature_dim + self.spec.num_landmarks * 3

    def forward(self, x: torch.Tensor, all_features: bool = False) -> torch.Tensor:
        """[N, out_dim] features ([GAP..., landmarks...]); ``all_features`` also returns landmarks when unused
        (the feature cache stores the full vector once, runs slice what they use)."""
        s = self.spec
        inp = x * s.scale + s.offset
        use_lm = bool(s.landmark_node) and (self.use_landmarks or all_features)
        names = [s.feature_node] + ([s.landmark_node] if use_lm else [])
        out = self.graph(inp, outputs=names)
        feat = out[s.feature_node]
        if s.pool:
            feat = feat.mean(dim=(1, 2))
        if use_lm:
            feat = torch.cat([feat, self.landmark_norm(out[s.landmark_node])], dim=1)
        return feat


# ---------------------------------------------------------------------------------------------------------------
# Heads and whole models


class Head(nn.Module):
    """Dense -> ReLU -> Dropout -> Dense (logits): the article's added layers. ``hidden=0`` is a linear head.

    An input standardization (mean/std of the training features, frozen) comes first so that one learning rate
    suits every feature source; it is two constant vectors, trivial to export."""

    def __init__(self, in_dim: int, num_classes: int, hidden: int = 128, dropout: float = 0.5):
        super().__init__()
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("std", torch.ones(in_dim))
        layers: list[nn.Module] = []
        if hidden:
            layers += [nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, num_classes)]
        else:
            layers += [nn.Dropout(dropout), nn.Linear(in_dim, num_classes)]
        self.net = nn.Sequential(*layers)
        self.in_dim, self.hidden, self.num_classes, self.dropout = in_dim, hidden, num_classes, dropout

    def set_standardization(self, feats: np.ndarray) -> None:
        f = torch.as_tensor(np.asarray(feats, np.float32))
        self.mean.copy_(f.mean(0))
        self.std.copy_(f.std(0).clamp_min(1e-3))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.net((f - self.mean) / self.std)

    def folded(self) -> nn.Sequential:
        """The head + softmax as plain layers with the standardization folded into the first Linear — what a
        Keras/TF.js layers model can express (and train further). The graph export keeps the standardization as
        two exact float32 vectors instead: folding 1/std into the kernel gives it outliers that per-tensor uint8
        cannot represent."""
        from collections import OrderedDict

        lins = [m for m in self.net if isinstance(m, nn.Linear)]
        inv = (1.0 / self.std).detach().double()
        mean = self.mean.detach().double()
        layers: list[tuple[str, nn.Module]] = []
        for i, lin in enumerate(lins):
            w, b = lin.weight.detach().double(), lin.bias.detach().double()
            if i == 0:  # W (x - m) / s + b = (W / s) x + (b - (W / s) m)
                w = w * inv[None, :]
                b = b - w @ mean
            dense = nn.Linear(lin.in_features, lin.out_features)
            with torch.no_grad():
                dense.weight.copy_(w.float())
                dense.bias.copy_(b.float())
            layers.append((f"dense_{i}", dense))
            if i < len(lins) - 1:
                layers.append((f"relu_{i}", nn.ReLU()))
                if self.dropout:
                    layers.append((f"dropout_{i}", nn.Dropout(self.dropout)))
        layers.append(("softmax", nn.Softmax(dim=1)))
        return nn.Sequential(OrderedDict(layers)).eval()


class ImageClassifier(nn.Module):
    """Whole pipeline: NHWC RGB 0..255 image batch -> class probabilities."""

    def __init__(self, backbone: Backbone, head: Head):
        super().__init__()
        self.backbone, self.head = backbone, head

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.head(self.backbone(x)), dim=-1)


class KeypointClassifier(nn.Module):
    """Normalized keypoint vector -> class probabilities (a small MLP; the pipeline's features are computed by
    `huia.classify.dataset.keypoint_features`, which the browser mirrors in a few lines)."""

    def __init__(self, head: Head):
        super().__init__()
        self.head = head

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.head(f), dim=-1)


# ---------------------------------------------------------------------------------------------------------------
# Registry


@dataclass
class ModelConfig:
    """Everything needed to rebuild a trained classifier (stored in the run's config.json)."""

    arch: str  # registry key: "image" | "skeleton" | "keypoints"
    num_classes: int
    backbone: str | None = None
    use_landmarks: bool = False
    hidden: int = 128
    dropout: float = 0.5
    feature_dim: int = 0
    extra: dict = field(default_factory=dict)


_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str):
    def deco(fn):
        _REGISTRY[name] = fn
        return fn

    return deco


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def create_model(cfg: ModelConfig, *, trainable: bool = False) -> nn.Module:
    if cfg.arch not in _REGISTRY:
        raise HuiaError(f"unknown classifier architecture {cfg.arch!r} (known: {', '.join(list_models())})")
    return _REGISTRY[cfg.arch](cfg, trainable=trainable)


@register_model("image")
def create_image_classifier(cfg: ModelConfig, *, trainable: bool = False) -> ImageClassifier:
    """Pretrained image backbone (+ optional hand landmarks) -> dense head. The gesture classifier."""
    spec = get_backbone_spec(cfg.backbone or "handlandmark-full")
    bb = Backbone(spec, trainable=trainable, use_landmarks=cfg.use_landmarks)
    return ImageClassifier(bb, Head(bb.out_dim, cfg.num_classes, cfg.hidden, cfg.dropout))


@register_model("skeleton")
def create_skeleton_cnn(cfg: ModelConfig, *, trainable: bool = False) -> ImageClassifier:
    """Skeleton image (coloured limbs on black, the Huia article's abstraction) -> MobileNetV1 -> dense head."""
    spec = get_backbone_spec(cfg.backbone or "posenet-mobilenet")
    bb = Backbone(spec, trainable=trainable)
    return ImageClassifier(bb, Head(bb.out_dim, cfg.num_classes, cfg.hidden, cfg.dropout))


@register_model("keypoints")
def create_keypoint_mlp(cfg: ModelConfig, *, trainable: bool = False) -> KeypointClassifier:
    """Normalized keypoints -> MLP. Tiny, fast, and body-size invariant by construction."""
    return KeypointClassifier(Head(cfg.feature_dim, cfg.num_classes, cfg.hidden, cfg.dropout))
