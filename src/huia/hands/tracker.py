"""Hands in images and video: palm detection -> hand regions -> landmarks, and following hands across frames.

MediaPipe's hand tracking graph (what TF.js hand-pose-detection reproduces): in a still image (or the first frame)
the palm detector finds the hands; each palm gives a rotated region and the landmark model finds 21 points in it.
In video the landmarks of this frame give the next frame's regions, so the (slower, less precise) detector runs
only while fewer than `max_hands` hands are held. Two deliberate differences from MediaPipe, both measured on the
asl video: the detector runs after the followed hands' landmarks in the same frame (a lost hand is looked for at
once, and a palm lying inside a hand already held is that hand again: the old BlazePalm also fires on curled
fingers), and a newly detected hand gets one more landmark pass on the region made from its own landmarks.
Rules and numbers: web/spec/hands.json "tracking".
"""

from __future__ import annotations

import numpy as np

from huia.errors import HuiaError
from huia.hands.landmarks import HandLandmarker, HandResult, landmarks_to_rect
from huia.hands.palm import PalmDetector, palm_to_rect
from huia.hands.rect import box_iou, rect_box
from huia.hands.spec import hand_spec
from huia.hands.types import Hands


class HandTracker:
    """estimate(image, t=None) -> Hands. Without t every call is a still image (palm detection each time); with a
    timestamp (seconds, increasing) the hands are followed from frame to frame. reset() forgets them."""

    def __init__(self, model="full", *, max_hands: int | None = None, min_detection_score: float | None = None,
                 min_presence: float | None = None, refine_passes: int | None = None, detector=None,
                 landmarker=None):
        spec = hand_spec()
        self.tracking = spec["tracking"]
        self.max_hands = int(self.tracking["max_hands"] if max_hands is None else max_hands)
        if self.max_hands < 1:
            raise HuiaError(f"max_hands must be at least 1, got {max_hands!r}")
        self.min_presence = float(spec["landmark_model"]["min_presence"] if min_presence is None else min_presence)
        self.detector = detector if detector is not None else PalmDetector(min_score=min_detection_score)
        self.landmarker = landmarker if landmarker is not None else HandLandmarker(model)
        self.refine_passes = int(self.tracking["detection_refine_passes"] if refine_passes is None else refine_passes)
        self.detector_runs = 0  # how often the palm detector ran (tracking keeps this low in video)
        self.reset()

    def reset(self) -> None:
        self._rects: list[np.ndarray] = []

    def _landmarks(self, image, rect) -> HandResult | None:
        r = self.landmarker.run(image, rect)
        return r if r.presence >= self.min_presence else None

    def _add_detected(self, image, hands: list[HandResult]) -> list[HandResult]:
        """Palm detection for the hands not followed yet: a palm inside a hand already found (its centre within
        that hand's landmark box) or whose region overlaps such a hand's next region is that hand again."""
        self.detector_runs += 1
        palms = self.detector.detect(image, max_count=self.max_hands)
        min_similarity = self.tracking["min_similarity"]
        for box, kps in zip(palms.boxes, palms.keypoints):
            if len(hands) >= self.max_hands:
                break
            rect = palm_to_rect(box, kps, self.detector.spec)
            centre = (box[:2] + box[2:]) / 2
            if any(_inside(centre, _landmark_box(h.landmarks)) for h in hands):
                continue
            if any(box_iou(rect_box(rect), rect_box(landmarks_to_rect(h.landmarks))) > min_similarity
                   for h in hands):
                continue
            found = self._landmarks(image, rect)
            for _ in range(self.refine_passes):
                if found is None:
                    break
                found = self._landmarks(image, landmarks_to_rect(found.landmarks)) or found
            if found is not None:
                hands.append(found)
        return hands

    def estimate(self, image, t: float | None = None) -> Hands:
        from huia.pose.estimate import load_rgb

        img = load_rgb(image)
        video = t is not None
        hands = [h for h in (self._landmarks(img, r) for r in (self._rects if video else [])) if h is not None]
        if len(hands) < self.max_hands:  # a still, the first frame, a hand lost or one more to look for
            hands = self._add_detected(img, hands)
        hands = [hands[i] for i in find_unique([h.landmarks for h in hands], self.tracking["duplicates"])]
        self._rects = [landmarks_to_rect(h.landmarks) for h in hands] if video else []
        if not hands:
            return Hands.empty()
        return Hands(np.stack([h.landmarks for h in hands]), [h.presence for h in hands],
                     [h.handedness for h in hands], np.stack([h.world for h in hands]),
                     np.stack([h.rect for h in hands]))

    __call__ = estimate


def _landmark_box(landmarks: np.ndarray) -> np.ndarray:
    xy = np.asarray(landmarks)[:, :2]
    return np.concatenate([xy.min(axis=0), xy.max(axis=0)])


def _inside(point, box) -> bool:
    return bool(box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3])


def find_unique(landmarks: list[np.ndarray], rule: dict) -> list[int]:
    """Indices of the hands to keep, first come first kept (MediaPipe Tasks' hand duplicates finder): a hand is a
    duplicate of a kept one when at least rule["min_matched_landmarks"] landmarks lie within rule["baseline_ratio"]
    x the larger hand size (`_hand_size`) and their landmark boxes
    overlap by an IoU above rule["min_iou"]."""
    kept: list[int] = []
    for i, a in enumerate(landmarks):
        dup = False
        for j in kept:
            b = landmarks[j]
            limit = max(_hand_size(a, rule), _hand_size(b, rule)) * rule["baseline_ratio"]
            matched = int((np.linalg.norm(a[:, :2] - b[:, :2], axis=1) < limit).sum())
            if matched >= rule["min_matched_landmarks"] and box_iou(_landmark_box(a), _landmark_box(b)) > rule["min_iou"]:
                dup = True
                break
        if not dup:
            kept.append(i)
    return kept


def _hand_size(landmarks: np.ndarray, rule: dict) -> float:
    """Longest side of the polygon of rule["size_landmarks"] (wrist, index MCP, pinky MCP): a finger-pose-free size."""
    p = np.asarray(landmarks)[rule["size_landmarks"], :2]
    return float(np.linalg.norm(p - np.roll(p, 1, axis=0), axis=1).max())
