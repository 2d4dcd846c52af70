"""The hand pipeline's constants, read from web/spec/hands.json (shared with the browser; never typed twice).

`hand_spec()` is the whole document; `HandSpec` holds the landmark layout as index arrays for vectorized code.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from huia.pose.spec import _read_json


@lru_cache(maxsize=1)
def hand_spec() -> dict:
    """web/spec/hands.json: landmarks, palm_detector, landmark_model, tracking."""
    return _read_json("hands.json")


@dataclass(frozen=True)
class HandLayout:
    """The 21 landmarks: names, skeleton edges as index pairs, edge colours (RGB uint8), joint colour."""

    names: tuple[str, ...]
    edges: np.ndarray  # [E, 2] int
    edge_parts: tuple[str, ...]
    edge_colors: np.ndarray  # [E, 3] uint8
    joint_color: tuple[int, int, int]

    def index(self, name: str) -> int:
        return self.names.index(name)


@lru_cache(maxsize=1)
def hand_layout() -> HandLayout:
    doc = hand_spec()["landmarks"]
    names = tuple(doc["names"])
    ids = {n: i for i, n in enumerate(names)}
    colors = doc["part_colors"]
    return HandLayout(
        names=names,
        edges=np.array([[ids[a], ids[b]] for a, b in doc["edges"]], dtype=np.int64).reshape(-1, 2),
        edge_parts=tuple(doc["edge_parts"]),
        edge_colors=np.array([colors[p] for p in doc["edge_parts"]], dtype=np.uint8).reshape(-1, 3),
        joint_color=tuple(int(c) for c in doc["joint_color"]),
    )
