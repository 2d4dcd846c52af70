"""Pose types: a pose is a list of named keypoints in image pixels plus an instance score."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from huia.pose.spec import COCO_NAMES


@dataclass
class Keypoint:
    name: str
    x: float
    y: float
    score: float

    def to_json(self, ndigits: int = 3) -> dict:
        return {"name": self.name, "x": round(float(self.x), ndigits), "y": round(float(self.y), ndigits),
                "score": round(float(self.score), 4)}


@dataclass
class Pose:
    """One person: keypoints in input-image pixels, an instance score, optionally a box (xmin, ymin, xmax, ymax)."""

    keypoints: list[Keypoint]
    score: float
    box: tuple[float, float, float, float] | None = None
    extra: dict = field(default_factory=dict)  # model-specific extras (e.g. BlazePose's 33 landmarks)

    def __len__(self) -> int:
        return len(self.keypoints)

    @property
    def names(self) -> list[str]:
        return [k.name for k in self.keypoints]

    def to_array(self) -> np.ndarray:
        """[K, 3] float64 array of (x, y, score)."""
        if not self.keypoints:
            return np.zeros((0, 3))
        return np.array([[k.x, k.y, k.score] for k in self.keypoints], dtype=np.float64)

    def __getitem__(self, name: str) -> Keypoint:
        for k in self.keypoints:
            if k.name == name:
                return k
        raise KeyError(name)

    def get(self, name: str) -> Keypoint | None:
        for k in self.keypoints:
            if k.name == name:
                return k
        return None

    @classmethod
    def from_array(cls, arr, names: Sequence[str] | None = None, score: float | None = None,
                   box=None) -> "Pose":
        """Build from a [K, 3] (x, y, score) or [K, 2] array; `score` defaults to the mean keypoint score."""
        a = np.asarray(arr, dtype=np.float64)
        if a.ndim != 2 or a.shape[1] not in (2, 3):
            raise ValueError(f"Pose.from_array: expected [K, 2] or [K, 3], got shape {a.shape}")
        if a.shape[1] == 2:
            a = np.concatenate([a, np.ones((len(a), 1))], axis=1)
        names = list(names) if names is not None else list(COCO_NAMES[: len(a)])
        if len(names) != len(a):
            raise ValueError(f"Pose.from_array: {len(a)} keypoints but {len(names)} names")
        kps = [Keypoint(n, float(x), float(y), float(s)) for n, (x, y, s) in zip(names, a)]
        if score is None:
            score = float(a[:, 2].mean()) if len(a) else 0.0
        return cls(kps, float(score), box)

    def to_json(self) -> dict:
        out = {"score": round(float(self.score), 4), "keypoints": [k.to_json() for k in self.keypoints]}
        if self.box is not None:
            out["box"] = [round(float(v), 2) for v in self.box]
        return out

    @classmethod
    def from_json(cls, doc: dict) -> "Pose":
        kps = [Keypoint(k["name"], float(k["x"]), float(k["y"]), float(k.get("score", 1.0))) for k in doc["keypoints"]]
        box = tuple(doc["box"]) if doc.get("box") is not None else None
        return cls(kps, float(doc.get("score", 0.0)), box)

    def scaled(self, sx: float, sy: float, dx: float = 0.0, dy: float = 0.0) -> "Pose":
        """x * sx + dx, y * sy + dy (e.g. model input -> image pixels)."""
        kps = [Keypoint(k.name, k.x * sx + dx, k.y * sy + dy, k.score) for k in self.keypoints]
        box = None if self.box is None else (self.box[0] * sx + dx, self.box[1] * sy + dy,
                                             self.box[2] * sx + dx, self.box[3] * sy + dy)
        return Pose(kps, self.score, box, dict(self.extra))

    def flipped(self, width: float) -> "Pose":
        """Mirror horizontally like PoseNet's flipHorizontal: x -> width - 1 - x (names unchanged)."""
        kps = [Keypoint(k.name, width - 1 - k.x, k.y, k.score) for k in self.keypoints]
        box = None if self.box is None else (width - 1 - self.box[2], self.box[1], width - 1 - self.box[0], self.box[3])
        return Pose(kps, self.score, box, dict(self.extra))
