"""What the hand pipeline returns: one small dataclass of numpy arrays for all the hands of one image."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from huia.hands.spec import hand_layout, hand_spec


@dataclass
class Hands:
    """N hands in input-image pixels.

    keypoints [N, 21, 3] float32: x, y in pixels, z = depth relative to the wrist in the same pixel scale as x
    (negative: towards the camera); names in `names` (web/spec/hands.json). scores [N]: the landmark model's hand
    presence probability. handedness [N]: probability of the model's "left" (MediaPipe's convention: it assumes a
    mirrored, selfie picture; see `labels`). world [N, 21, 3]: metres around the hand's centre. rects [N, 5]: the
    rotated region (cx, cy, w, h, rotation) the landmark model saw.
    """

    keypoints: np.ndarray
    scores: np.ndarray
    handedness: np.ndarray
    world: np.ndarray | None = None
    rects: np.ndarray | None = None
    names: tuple[str, ...] = field(default_factory=lambda: hand_layout().names)

    def __post_init__(self):
        k = len(self.names)
        self.keypoints = np.asarray(self.keypoints, dtype=np.float32).reshape(-1, k, 3)
        n = len(self.keypoints)
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        self.handedness = np.asarray(self.handedness, dtype=np.float32).reshape(-1)
        self.world = (np.full((n, k, 3), np.nan, np.float32) if self.world is None
                      else np.asarray(self.world, dtype=np.float32).reshape(-1, k, 3))
        self.rects = (np.full((n, 5), np.nan) if self.rects is None
                      else np.asarray(self.rects, dtype=np.float64).reshape(-1, 5))
        if not (len(self.scores) == len(self.handedness) == len(self.world) == len(self.rects) == n):
            raise ValueError(f"Hands: {n} hands but {len(self.scores)} scores, {len(self.handedness)} handedness "
                             f"values, {len(self.world)} world landmark sets and {len(self.rects)} regions")

    def __len__(self) -> int:
        return len(self.keypoints)

    def __getitem__(self, index) -> "Hands":
        index = [index] if isinstance(index, (int, np.integer)) else index
        return Hands(self.keypoints[index], self.scores[index], self.handedness[index], self.world[index],
                     self.rects[index], self.names)

    @classmethod
    def empty(cls) -> "Hands":
        k = len(hand_layout().names)
        return cls(np.zeros((0, k, 3)), np.zeros(0), np.zeros(0))

    @property
    def labels(self) -> list[str]:
        """"left" / "right" as MediaPipe and TF.js name them (for an unmirrored camera, swap them)."""
        h = hand_spec()["landmark_model"]["handedness"]
        return [h["at_or_above"] if v >= h["threshold"] else h["below"] for v in self.handedness]

    @property
    def boxes(self) -> np.ndarray:
        """[N, 4] (x0, y0, x1, y1) around each hand's keypoints."""
        if not len(self):
            return np.zeros((0, 4), np.float32)
        xy = self.keypoints[:, :, :2]
        return np.concatenate([xy.min(axis=1), xy.max(axis=1)], axis=1)

    def to_json(self, ndigits: int = 2) -> list[dict]:
        """The `huia hands --json` entry of one image or frame."""

        def r(v, n=ndigits):
            return round(float(v), n) + 0.0  # + 0.0: no "-0.0"

        out = []
        for i, label in enumerate(self.labels):
            h = float(self.handedness[i])
            out.append({
                "score": r(self.scores[i], 4),
                "handedness": label,
                "handedness_score": r(h if label == hand_spec()["landmark_model"]["handedness"]["at_or_above"]
                                      else 1.0 - h, 4),
                "box": [r(v) for v in self.boxes[i]],
                "keypoints": [{"name": n, "x": r(x), "y": r(y), "z": r(z)}
                              for n, (x, y, z) in zip(self.names, self.keypoints[i])],
                "world": [[r(v, 4) for v in p] for p in self.world[i]],
            })
        return out
