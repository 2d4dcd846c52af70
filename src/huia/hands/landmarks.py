"""Hand landmarks (MediaPipe's hand landmark model, bundled handlandmark-full/-lite.json) inside a rotated region.

The region is cropped upright (the hand's wrist -> fingers pointing up, which is how the model was trained), the
model returns 21 (x, y, z) in crop pixels plus a presence and a handedness probability, and the points go back to
the image through the crop's own matrix. `landmarks_to_rect` gives the region for the next video frame from the
landmarks themselves, so the palm detector need not run while a hand is followed. Constants: web/spec/hands.json
"landmark_model".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from huia.errors import HuiaError
from huia.hands.rect import crop_rect, project, rect_affine, rect_from_points, rotation_between, transform_rect
from huia.hands.spec import hand_spec


@dataclass
class HandResult:
    """One hand from one region: landmarks [21, 3] (x, y in image pixels, z scaled like x, relative to the wrist),
    world [21, 3] metres, presence and handedness probabilities, and the region (rect) the model saw."""

    landmarks: np.ndarray
    world: np.ndarray
    presence: float
    handedness: float
    rect: np.ndarray


def landmarks_to_rect(landmarks: np.ndarray, spec: dict | None = None) -> np.ndarray:
    """The region to look at in the next frame (MediaPipe's HandLandmarkLandmarksToRoi): the stable landmarks
    (wrist, palm, finger bases; not the fingertips, which move most) in a rect turned like the hand, then moved,
    squared and enlarged by the spec's roi."""
    roi = (spec or hand_spec()["landmark_model"])["roi"]
    pts = np.asarray(landmarks, dtype=np.float64)[:, :2]
    target = sum(pts[i] * w for i, w in roi["rotation_to"])
    rotation = rotation_between(pts[roi["rotation_from"]], target, roi["target_angle_degrees"])
    rect = rect_from_points(pts[roi["subset"]], rotation)
    return transform_rect(rect, shift_x=roi["shift_x"], shift_y=roi["shift_y"], scale=roi["scale"],
                          square_long=roi["square_long"])


class HandLandmarker:
    """run(image, rect) -> HandResult. `model` is "full" or "lite" (or an already loaded graph model)."""

    def __init__(self, model="full"):
        from huia.pose.estimate import load_bundled

        self.spec = hand_spec()["landmark_model"]
        if isinstance(model, str):
            if model not in self.spec["models"]:
                raise HuiaError(f"unknown hand landmark model {model!r} (choose from "
                                f"{', '.join(sorted(self.spec['models']))})")
            self.name = model
            model = load_bundled(self.spec["models"][model])
        else:
            self.name = "custom"
        self.model = model
        outs = self.spec["outputs"]
        self._outputs = [outs["landmarks"], outs["presence"], outs["handedness"], outs["world_landmarks"]]

    def run(self, image: np.ndarray, rect) -> HandResult:
        n = self.spec["input_size"]
        lo, hi = self.spec["input_range"]
        x = crop_rect(image, rect, n, border=self.spec["border"]) * ((hi - lo) / 255.0) + lo
        out = self.model(x[None].astype(np.float32), outputs=self._outputs)
        ld, presence, handedness, world = (np.asarray(out[k], dtype=np.float64).reshape(-1) for k in self._outputs)
        k = len(hand_spec()["landmarks"]["names"])
        if ld.size != 3 * k or world.size != 3 * k:
            raise HuiaError(f"hand landmark model returned {ld.size} and {world.size} values, expected {k} x 3")
        ld = ld.reshape(k, 3)
        pts = np.empty_like(ld)
        pts[:, :2] = project(ld[:, :2], rect_affine(rect, n, n))
        # z: crop pixels -> normalized by the input size and normalize_z -> image pixels (x's scale: the region width)
        pts[:, 2] = ld[:, 2] / n / self.spec["normalize_z"] * float(rect[2])
        # world landmarks are in the upright crop's axes: turn them like the region (WorldLandmarkProjection)
        world = world.reshape(k, 3).copy()
        c, s = np.cos(float(rect[4])), np.sin(float(rect[4]))
        world[:, :2] = world[:, :2] @ np.array([[c, s], [-s, c]])
        return HandResult(pts, world, float(presence[0]), float(handedness[0]), np.asarray(rect, dtype=np.float64))
