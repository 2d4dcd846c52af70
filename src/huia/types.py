"""Core types every stage passes along (supervision-style: small dataclasses of numpy arrays, validated once).

Pose types (Keypoint, Pose) live in huia.pose.types; these are the data-set and detection types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Detections:
    """N boxes in input-image pixels: ``xyxy`` [N, 4] float32 (xmin, ymin, xmax, ymax), ``scores`` [N] float32
    (1.0 for ground truth), ``class_ids`` [N] int64 indexing ``class_names``."""

    xyxy: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    class_names: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
        n = len(self.xyxy)
        self.scores = np.ones(n, np.float32) if self.scores is None else np.asarray(self.scores, np.float32).reshape(-1)
        self.class_ids = np.asarray(self.class_ids, dtype=np.int64).reshape(-1)
        if len(self.scores) != n or len(self.class_ids) != n:
            raise ValueError(f"Detections: {n} boxes but {len(self.scores)} scores and {len(self.class_ids)} class ids")

    def __len__(self) -> int:
        return len(self.xyxy)

    @classmethod
    def empty(cls, class_names: list[str] | None = None) -> "Detections":
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64), list(class_names or []))

    @classmethod
    def merge(cls, items: list["Detections"]) -> "Detections":
        if not items:
            return cls.empty()
        return cls(np.concatenate([d.xyxy for d in items]), np.concatenate([d.scores for d in items]),
                   np.concatenate([d.class_ids for d in items]), list(items[0].class_names))

    def __getitem__(self, index) -> "Detections":
        return Detections(self.xyxy[index], self.scores[index], self.class_ids[index], list(self.class_names))

    @property
    def labels(self) -> list[str]:
        return [self.class_names[i] if 0 <= i < len(self.class_names) else str(i) for i in self.class_ids]

    @property
    def area(self) -> np.ndarray:
        return np.clip(self.xyxy[:, 2] - self.xyxy[:, 0], 0, None) * np.clip(self.xyxy[:, 3] - self.xyxy[:, 1], 0, None)

    def to_json(self) -> list[dict]:
        """The `huia detect predict --json` entry format."""
        return [{"box": [round(float(v), 2) for v in box], "label": label, "score": round(float(s), 4)}
                for box, label, s in zip(self.xyxy, self.labels, self.scores)]


@dataclass
class Sample:
    """One example on disk: an image, its label (classification) and optionally keypoints and boxes."""

    image_path: Path
    label: str | None = None
    keypoints: np.ndarray | None = None  # [K, 3] x, y, score in image pixels
    keypoint_names: list[str] | None = None
    boxes: Detections | None = None  # ground truth boxes (scores 1.0)
    width: int | None = None
    height: int | None = None
    meta: dict = field(default_factory=dict)
