"""Palm detection (MediaPipe's BlazePalm, the bundled handdetect.json): where the hands are, as rotated regions.

The whole image is letterboxed into the detector's square input; each of the SSD anchors predicts a score, a palm
box and 7 palm keypoints as offsets from its centre. Scores above the threshold go through MediaPipe's weighted
non-maximum suppression (the group of overlapping boxes is averaged by score: steadier than keeping one), then
each palm becomes the rotated region the landmark model is given (`palm_to_rect`): a palm is much easier to find
than a whole hand (rigid, square, no fingers), and its wrist -> middle-finger direction says how the hand is turned.
All constants are web/spec/hands.json "palm_detector".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from huia.errors import HuiaError
from huia.hands.rect import box_iou, crop_rect, project, rect_affine, rotation_between, transform_rect
from huia.hands.spec import hand_spec


def ssd_anchors(input_size: int, strides, anchors_per_layer: int, offset: float) -> np.ndarray:
    """[N, 2] anchor centres (x, y) in units of the input square. Layers sharing a stride share one grid, each adding
    `anchors_per_layer` anchors per cell (MediaPipe's SsdAnchorsCalculator with fixed-size anchors)."""
    strides = list(strides)
    out = []
    i = 0
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        n = math.ceil(input_size / strides[i])
        ys, xs = np.meshgrid((np.arange(n) + offset) / n, (np.arange(n) + offset) / n, indexing="ij")
        grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
        out.append(np.repeat(grid, anchors_per_layer * (j - i), axis=0))
        i = j
    return np.concatenate(out)


@dataclass
class Palms:
    """N palms in input-image pixels: boxes [N, 4] (x0, y0, x1, y1), keypoints [N, 7, 2], scores [N]."""

    boxes: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


def decode_palms(raw: np.ndarray, anchors: np.ndarray, spec: dict | None = None) -> Palms:
    """Raw detector output [N_anchors, 19] -> palms in detector-input pixels, before suppression."""
    spec = spec or hand_spec()["palm_detector"]
    size = float(spec["input_size"])
    lay = spec["raw_layout"]
    clip = float(spec["score_clip"])
    scores = 1.0 / (1.0 + np.exp(-np.clip(raw[:, lay["score"]].astype(np.float64), -clip, clip)))
    keep = np.flatnonzero(scores >= spec["min_score"])
    r = raw[keep].astype(np.float64)
    a = anchors[keep] * size
    b = lay["box"]
    centre = a + r[:, b:b + 2]
    half = r[:, b + 2:b + 4] / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    k = lay["keypoints"]
    n_kp = len(spec["keypoint_names"])
    kps = r[:, k:k + 2 * n_kp].reshape(-1, n_kp, 2) + a[:, None, :]
    return Palms(boxes, kps, scores[keep])


def weighted_nms(palms: Palms, min_iou: float, max_count: int | None = None) -> Palms:
    """MediaPipe's WEIGHTED suppression: the best remaining palm and every palm overlapping it by more than
    `min_iou` form a group; the group's box and keypoints are their score-weighted mean, its score the best one's."""
    order = list(np.argsort(-palms.scores, kind="stable"))
    boxes, kps, scores = [], [], []
    while order and (max_count is None or len(scores) < max_count):
        top = order[0]
        group = [i for i in order if box_iou(palms.boxes[top], palms.boxes[i]) > min_iou or i == top]
        order = [i for i in order if i not in group]
        w = palms.scores[group][:, None]
        boxes.append((palms.boxes[group] * w).sum(0) / w.sum())
        kps.append((palms.keypoints[group] * w[:, :, None]).sum(0) / w.sum())
        scores.append(palms.scores[top])
    n_kp = palms.keypoints.shape[1] if palms.keypoints.ndim == 3 else 0
    return Palms(np.array(boxes).reshape(-1, 4), np.array(kps).reshape(-1, n_kp, 2), np.array(scores))


def hard_nms(palms: Palms, min_iou: float, max_count: int | None = None) -> Palms:
    """Plain suppression (what TF.js's tf.image.nonMaxSuppression does): keep the best, drop what overlaps it."""
    order = list(np.argsort(-palms.scores, kind="stable"))
    kept: list[int] = []
    while order and (max_count is None or len(kept) < max_count):
        top = order.pop(0)
        kept.append(top)
        order = [i for i in order if box_iou(palms.boxes[top], palms.boxes[i]) <= min_iou]
    return Palms(palms.boxes[kept].reshape(-1, 4), palms.keypoints[kept], palms.scores[kept])


def palm_to_rect(box, keypoints, spec: dict | None = None) -> np.ndarray:
    """A palm (image pixels) -> the rotated hand region for the landmark model (MediaPipe's
    PalmDetectionDetectionToRoi: the palm box turned so the wrist -> middle finger points up, moved towards the
    fingers, squared and enlarged to hold the whole hand)."""
    roi = (spec or hand_spec()["palm_detector"])["roi"]
    x0, y0, x1, y1 = (float(v) for v in box)
    rotation = rotation_between(keypoints[roi["rotation_from"]], keypoints[roi["rotation_to"]],
                                roi["target_angle_degrees"])
    rect = np.array([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0, rotation])
    return transform_rect(rect, shift_x=roi["shift_x"], shift_y=roi["shift_y"], scale=roi["scale"],
                          square_long=roi["square_long"])


class PalmDetector:
    """detect(image) -> Palms in image pixels (at most `max_count`, best first)."""

    def __init__(self, model=None, min_score: float | None = None):
        from huia.pose.estimate import load_bundled

        self.spec = dict(hand_spec()["palm_detector"])
        if min_score is not None:
            self.spec["min_score"] = float(min_score)
        self.model = model if model is not None else load_bundled(self.spec["model"])
        self.anchors = ssd_anchors(self.spec["input_size"], self.spec["anchor_strides"],
                                   self.spec["anchors_per_layer"], self.spec["anchor_offset"])
        if len(self.anchors) != self.spec["num_anchors"]:
            raise HuiaError(f"hands.json palm_detector: the anchor settings give {len(self.anchors)} anchors, "
                            f"not num_anchors {self.spec['num_anchors']}")

    def input_rect(self, height: int, width: int) -> np.ndarray:
        """The whole image as a centred square (letterbox: the short side gets a zero border)."""
        side = float(max(height, width))
        return np.array([width / 2, height / 2, side, side, 0.0])

    def raw(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(raw output [N_anchors, 19], 2 x 3 matrix detector-input pixels -> image pixels)."""
        n = self.spec["input_size"]
        rect = self.input_rect(*image.shape[:2])
        lo, hi = self.spec["input_range"]
        x = crop_rect(image, rect, n, border=self.spec["border"]) * ((hi - lo) / 255.0) + lo
        out = np.asarray(next(iter(self.model(x[None].astype(np.float32)).values())))
        expected = (1, self.spec["num_anchors"],
                    self.spec["raw_layout"]["keypoints"] + 2 * len(self.spec["keypoint_names"]))
        if out.shape != expected:
            raise HuiaError(f"palm detector returned shape {tuple(out.shape)}, expected {expected}")
        return out[0], rect_affine(rect, n, n)

    def detect(self, image: np.ndarray, max_count: int | None = None) -> Palms:
        raw, m = self.raw(image)
        palms = decode_palms(raw, self.anchors, self.spec)
        nms = self.spec["nms"]
        suppress = weighted_nms if nms["algorithm"] == "weighted" else hard_nms
        palms = suppress(palms, nms["min_iou"], max_count)
        if not len(palms):
            return palms
        corners = project(palms.boxes.reshape(-1, 2), m).reshape(-1, 4)
        kps = project(palms.keypoints.reshape(-1, 2), m).reshape(palms.keypoints.shape)
        return Palms(corners, kps, palms.scores)

    def rects(self, palms: Palms) -> list[np.ndarray]:
        return [palm_to_rect(b, k, self.spec) for b, k in zip(palms.boxes, palms.keypoints)]
