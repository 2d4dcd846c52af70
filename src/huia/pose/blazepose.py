"""BlazePose (MediaPipe Pose, full): a person detector finds the body's centre and extent, the landmark model then
sees an upright square crop of that region and returns 33 landmarks (+2 auxiliary ones used for tracking).

Pipeline (one person, as MediaPipe's pose graph):
1. detector (224 px, letterboxed, pixels in -1..1): 2254 SSD anchors -> best logit; keypoint 0 = hip centre,
   keypoint 1 = a point above the head whose distance gives the body size and whose direction the body's tilt;
2. region of interest: square centred on the hip centre, side = 2 x that distance x ROI_SCALE, rotated so the
   body is upright;
3. landmark model (256 px, pixels in 0..1) on the rotated crop -> 39 x (x, y, z, visibility, presence);
   points 33/34 give the next frame's region in video (no detector run while tracking holds).
The 33 landmarks are kept in `pose.extra["landmarks"]` ([33, 5]: x, y, z, visibility, presence in image pixels /
probabilities) and mapped to the 17 COCO names for the common Pose.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from huia.errors import HuiaError
from huia.pose.calculators.filters import KeypointSmoother
from huia.pose.calculators.image import resize_bilinear
from huia.pose.spec import COCO_NAMES, blazepose_names, pose_model_spec
from huia.pose.types import Keypoint, Pose

# shared with web/js/pose/blazepose.js (web/spec/pose_models.json "blazepose", keypoints.json "blazepose33")
_SPEC = pose_model_spec()["blazepose"]
DETECTOR_SIZE: int = _SPEC["detector_size"]
LANDMARK_SIZE: int = _SPEC["landmark_size"]
ANCHOR_STRIDES: tuple[int, ...] = tuple(_SPEC["anchor_strides"])
ANCHORS_PER_LAYER: int = _SPEC["anchors_per_layer"]
ROI_SCALE: float = _SPEC["roi_scale"]
MIN_DETECTION_SCORE: float = _SPEC["min_detection_score"]
MIN_TRACKING_SCORE: float = _SPEC["min_tracking_score"]  # pose-presence flag needed to keep tracking
LANDMARK_OUTPUT, FLAG_OUTPUT = _SPEC["landmark_outputs"]
BLAZEPOSE_NAMES: tuple[str, ...] = blazepose_names()
COCO_FROM_BLAZEPOSE = [BLAZEPOSE_NAMES.index(n) for n in COCO_NAMES]


def ssd_anchors(input_size: int = DETECTOR_SIZE, strides=ANCHOR_STRIDES) -> np.ndarray:
    """[N, 2] (x, y) anchor centres of the pose detector (fixed-size anchors, ANCHORS_PER_LAYER per layer at each
    cell; layers with the same stride share one grid)."""
    out = []
    i = 0
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        per_cell = ANCHORS_PER_LAYER * (j - i)
        n = math.ceil(input_size / strides[i])
        ys, xs = np.meshgrid((np.arange(n) + 0.5) / n, (np.arange(n) + 0.5) / n, indexing="ij")
        grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
        out.append(np.repeat(grid, per_cell, axis=0))
        i = j
    return np.concatenate(out)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.clip(x, -100, 100)))


def roi_from_points(center: np.ndarray, scale_point: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(centre (x, y), side, rotation radians) of the upright square around a body, from two keypoints in pixels."""
    d = scale_point - center
    side = 2.0 * float(np.hypot(d[0], d[1])) * ROI_SCALE
    rotation = math.pi / 2 - math.atan2(-d[1], d[0])
    rotation = rotation - 2 * math.pi * math.floor((rotation + math.pi) / (2 * math.pi))
    return center.astype(np.float64), side, rotation


def _roi_affine(center, side, rotation, out_size):
    """2x3 matrix mapping crop pixels -> image pixels for the rotated square."""
    c, s = math.cos(rotation), math.sin(rotation)
    k = side / out_size
    # crop (u, v) -> centred -> scaled -> rotated -> image
    m = np.array([[c * k, -s * k, 0.0], [s * k, c * k, 0.0]])
    m[:, 2] = center - m[:, :2] @ np.array([out_size / 2, out_size / 2])
    return m


class BlazePose:
    """Single-person BlazePose. estimate(image, t=None); with t (video) the region is tracked from the previous
    frame's auxiliary landmarks and keypoints can be smoothed."""

    def __init__(self, *, detector=None, landmarks=None, flip_horizontal: bool = False, smoothing: bool = True,
                 min_detection_score: float = MIN_DETECTION_SCORE):
        from huia.pose.estimate import load_bundled

        self.detector = detector if detector is not None else load_bundled("blazepose-detector")
        self.landmarks = landmarks if landmarks is not None else load_bundled("blazepose-full")
        self.anchors = ssd_anchors()
        self.flip_horizontal = flip_horizontal
        self.smoothing = smoothing
        self.min_detection_score = min_detection_score
        self.reset()

    def reset(self) -> None:
        self._roi = None
        self._smoother = KeypointSmoother()

    def detect(self, image: np.ndarray):
        """(roi, score) from the detector, or (None, best score) when nobody is found."""
        h, w = image.shape[:2]
        s = max(h, w)
        top, left = (s - h) // 2, (s - w) // 2
        pad = np.zeros((s, s, 3), np.float32)
        pad[top:top + h, left:left + w] = image
        x = resize_bilinear(pad, (DETECTOR_SIZE, DETECTOR_SIZE)) / 127.5 - 1.0
        raw = np.asarray(next(iter(self.detector(x[None].astype(np.float32)).values())))[0]
        if raw.ndim != 2 or raw.shape != (len(self.anchors), 13):
            raise HuiaError(f"BlazePose detector returned shape {raw.shape}, expected ({len(self.anchors)}, 13)")
        i = int(np.argmax(raw[:, 0]))
        score = float(_sigmoid(raw[i, 0]))
        if score < self.min_detection_score:
            return None, score
        kp = raw[i, 5:13].reshape(4, 2) / DETECTOR_SIZE + self.anchors[i]  # normalized to the padded square
        kp_px = kp * s - np.array([left, top])
        return roi_from_points(kp_px[0], kp_px[1]), score

    def run_landmarks(self, image: np.ndarray, roi):
        """[39, 5] landmarks in image pixels (x, y, z scaled like x) + probabilities, and the pose flag."""
        center, side, rotation = roi
        m = _roi_affine(center, side, rotation, LANDMARK_SIZE)
        crop = cv2.warpAffine(image, m, (LANDMARK_SIZE, LANDMARK_SIZE),
                              flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=(0, 0, 0))
        out = self.landmarks(crop[None].astype(np.float32) / 255.0,
                             outputs=[LANDMARK_OUTPUT, FLAG_OUTPUT])
        ld = np.asarray(out[LANDMARK_OUTPUT], dtype=np.float64).reshape(-1, 5)
        flag = float(np.asarray(out[FLAG_OUTPUT]).reshape(-1)[0])
        pts = np.concatenate([ld[:, :2], np.ones((len(ld), 1))], axis=1) @ m.T
        res = np.empty_like(ld)
        res[:, :2] = pts
        res[:, 2] = ld[:, 2] * side / LANDMARK_SIZE
        res[:, 3] = _sigmoid(ld[:, 3])
        res[:, 4] = _sigmoid(ld[:, 4])
        return res, flag

    def estimate(self, image, t: float | None = None) -> list[Pose]:
        img = np.asarray(image)
        if img.ndim != 3 or img.shape[2] != 3 or min(img.shape[:2]) == 0:
            raise HuiaError(f"expected an H x W x 3 RGB image, got shape {tuple(img.shape)}")
        roi = self._roi if t is not None else None
        det_score = None
        if roi is None:
            roi, det_score = self.detect(img)
            if roi is None:
                self.reset()
                return []
        ld, flag = self.run_landmarks(img, roi)
        if flag < MIN_TRACKING_SCORE:
            if det_score is None and t is not None:  # tracking lost: try the detector on this frame
                self._roi = None
                return self.estimate(img, t)
            self.reset()
            return []
        if t is not None:
            self._roi = roi_from_points(ld[33, :2], ld[34, :2])
        body = ld[:33].copy()
        w = img.shape[1]
        if self.flip_horizontal:
            body[:, 0] = w - 1 - body[:, 0]
        coco = body[COCO_FROM_BLAZEPOSE]
        kps = [Keypoint(n, float(x), float(y), float(v)) for n, (x, y, _z, v, _p) in zip(COCO_NAMES, coco)]
        x0, y0 = body[:, :2].min(axis=0)
        x1, y1 = body[:, :2].max(axis=0)
        pose = Pose(kps, flag, (float(x0), float(y0), float(x1), float(y1)),
                    {"landmarks": body, "landmark_names": BLAZEPOSE_NAMES})
        if self.smoothing and t is not None:
            pose = self._smoother(pose, t)
        return [pose]
