"""Keypoint names, skeleton edges, colours, signal constants and pose-model constants, read from web/spec/*.json.

The browser reads the same files, so Python never re-types these lists (one source of truth).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from huia import paths
from huia.errors import HuiaError


def _read_json(name: str) -> dict:
    path = paths.SPEC_DIR / name
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise HuiaError("spec file missing: huia reads web/spec from its source tree (pip install -e) or from "
                        "$HUIA_WEB_DIR/spec", path) from None
    except json.JSONDecodeError as exc:
        raise HuiaError(f"malformed JSON: {exc.msg} at line {exc.lineno}", path) from None


@dataclass(frozen=True)
class KeypointSpec:
    """COCO-17 layout as index arrays, ready for vectorized code."""

    names: tuple[str, ...]
    edges: np.ndarray  # [E, 2] int keypoint indices
    edge_parts: tuple[str, ...]
    edge_colors: np.ndarray  # [E, 3] uint8 RGB
    joint_color: tuple[int, int, int]
    pose_chain: np.ndarray  # [16, 2] (parent, child) indices of PoseNet's displacement tree
    part_colors: dict
    draw_min_score: float  # overlays hide keypoints below this score
    feature_min_score: float  # keypoint_features: keypoints below this score count as invisible

    def index(self, name: str) -> int:
        return self.names.index(name)

    @property
    def ids(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.names)}


@lru_cache(maxsize=1)
def keypoint_spec() -> KeypointSpec:
    doc = _read_json("keypoints.json")
    coco = doc["coco17"]
    names = tuple(coco["names"])
    ids = {n: i for i, n in enumerate(names)}
    pairs = lambda key: np.array([[ids[a], ids[b]] for a, b in coco[key]], dtype=np.int64).reshape(-1, 2)  # noqa: E731
    colors = doc["part_colors"]
    return KeypointSpec(
        names=names,
        edges=pairs("edges"),
        edge_parts=tuple(coco["edge_parts"]),
        edge_colors=np.array([colors[p] for p in coco["edge_parts"]], dtype=np.uint8).reshape(-1, 3),
        joint_color=tuple(doc.get("joint_color", [255, 255, 255])),
        pose_chain=pairs("pose_chain"),
        part_colors=colors,
        draw_min_score=float(doc["draw_min_score"]),
        feature_min_score=float(doc["keypoint_features"]["min_score"]),
    )


@lru_cache(maxsize=1)
def signal_spec() -> dict:
    """Constants of huia.pose.signals (thresholds, hysteresis, smoothing), shared with the browser."""
    return _read_json("signals.json")


@lru_cache(maxsize=1)
def pose_model_spec() -> dict:
    """Constants and option defaults of the pose models (MoveNet crop/filters, PoseNet decoding, BlazePose ROI),
    shared with the browser's web/js/pose (web/spec/pose_models.json)."""
    return _read_json("pose_models.json")


@lru_cache(maxsize=1)
def blazepose_names() -> tuple[str, ...]:
    """BlazePose's 33 landmark names in model output order."""
    return tuple(_read_json("keypoints.json")["blazepose33"]["names"])


COCO_NAMES: tuple[str, ...] = keypoint_spec().names
