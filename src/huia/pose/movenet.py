"""MoveNet: single-pose Lightning (192 px) / Thunder (256 px) and MultiPose, with the video pipeline of the
TF.js pose-detection package.

Video (one person): the model sees a square crop around the body found in the previous frame (centred on the hips,
sized from the torso and the confident keypoints), keypoints are mapped back to the image, smoothed by a one-euro
filter in normalized image coordinates, and the next crop box is low-passed. Without a visible torso the next
frame falls back to the whole image padded to a square. This is what makes a 192 px model accurate on a 576 px
frame: a plain whole-frame resize loses most of the resolution on the background.

Still images get two passes: the whole image padded to a square, then a crop around the body it found.
"""

from __future__ import annotations

import numpy as np

from huia.errors import HuiaError
from huia.pose.calculators.crop import MIN_CROP_KEYPOINT_SCORE, init_crop_region, next_crop_region, torso_visible
from huia.pose.calculators.filters import LowPassFilter, OneEuroFilter
from huia.pose.calculators.image import crop_and_resize, resize_bilinear
from huia.pose.spec import COCO_NAMES, pose_model_spec
from huia.pose.types import Keypoint, Pose

# constants shared with web/js/pose/movenet.js (web/spec/pose_models.json)
_SPEC = pose_model_spec()["movenet"]
_MULTI = pose_model_spec()["movenet_multipose"]
RESOLUTION: dict[str, int] = dict(_SPEC["input_size"])
MULTIPOSE_RESOLUTION: int = _MULTI["input_size"]
# Keypoint smoothing of the reference pipeline (normalized coordinates; frequency in Hz is the initial guess).
KEYPOINT_FILTER: dict[str, float] = dict(_SPEC["keypoint_filter"])
CROP_FILTER_ALPHA: float = _SPEC["crop_filter_alpha"]
STILL_SECOND_PASS_MIN_RATIO: float = _SPEC["still_second_pass_min_ratio"]


def _check_image(image) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] == 0 or img.shape[1] == 0:
        raise HuiaError(f"expected an H x W x 3 RGB image, got shape {tuple(img.shape)}")
    return img


class MoveNetSinglePose:
    """Stateful single-person estimator. estimate(image, t=None): t (seconds) marks a video frame and enables
    crop tracking + smoothing; t=None treats the image as a still."""

    def __init__(self, variant: str = "lightning", *, model=None, smoothing: bool = True, crop_filter: bool = True,
                 flip_horizontal: bool = False):
        if variant not in RESOLUTION:
            raise HuiaError(f"unknown MoveNet variant {variant!r} (lightning or thunder)")
        self.variant = variant
        self.size = RESOLUTION[variant]
        if model is None:
            from huia.pose.estimate import load_bundled

            model = load_bundled(f"movenet-{variant}")
        self.model = model
        self.smoothing = smoothing
        self.crop_filter = crop_filter
        self.flip_horizontal = flip_horizontal
        self.reset()

    def reset(self) -> None:
        self.crop: np.ndarray | None = None
        self.keypoint_filter = OneEuroFilter(**KEYPOINT_FILTER)
        self.crop_filters = [LowPassFilter(CROP_FILTER_ALPHA) for _ in range(4)]

    def run_crop(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        """Model on one normalized crop box: [17, 3] (y, x, score), y/x normalized to the IMAGE."""
        crop = crop_and_resize(image, box, (self.size, self.size))
        x = crop.astype(np.int32)[None]  # truncation, like tf.cast(float -> int32)
        out = self.model(x)
        raw = np.asarray(next(iter(out.values())), dtype=np.float64)
        if raw.shape != (1, 1, 17, 3):
            raise HuiaError(f"MoveNet returned shape {raw.shape}, expected (1, 1, 17, 3)")
        kp = raw[0, 0].copy()
        kp[:, 0] = box[0] + kp[:, 0] * (box[2] - box[0])
        kp[:, 1] = box[1] + kp[:, 1] * (box[3] - box[1])
        return kp

    @staticmethod
    def _score(kp: np.ndarray) -> float:
        ok = kp[:, 2] > MIN_CROP_KEYPOINT_SCORE
        return float(kp[ok, 2].mean()) if ok.any() else 0.0

    def _to_pose(self, kp: np.ndarray, h: int, w: int) -> Pose:
        xs = kp[:, 1] * w
        if self.flip_horizontal:
            xs = w - 1 - xs
        kps = [Keypoint(n, float(x), float(y * h), float(s)) for n, x, y, s in zip(COCO_NAMES, xs, kp[:, 0], kp[:, 2])]
        return Pose(kps, self._score(kp))

    def estimate(self, image, t: float | None = None) -> list[Pose]:
        img = _check_image(image)
        h, w = img.shape[:2]
        if t is None:
            return self._estimate_still(img)
        if self.crop is None:
            self.crop = init_crop_region(True, h, w)
        kp = self.run_crop(img, self.crop)
        if self._score(kp) == 0.0:
            self.reset()
            return []
        if self.smoothing:
            us = np.trunc(t * 1e6)  # microsecond clock of the reference
            kp[:, :2] = self.keypoint_filter.apply(kp[:, :2], us / 1e6)
        nxt = next_crop_region(self.crop, kp[:, :2], kp[:, 2], h, w)
        if self.crop_filter:
            nxt = np.array([f.apply(v) for f, v in zip(self.crop_filters, nxt)], dtype=np.float64)
        self.crop = nxt
        return [self._to_pose(kp, h, w)]

    def _estimate_still(self, img: np.ndarray) -> list[Pose]:
        h, w = img.shape[:2]
        kp = self.run_crop(img, init_crop_region(False, h, w))
        if torso_visible(kp[:, 2]):
            box = next_crop_region(None, kp[:, :2], kp[:, 2], h, w)
            kp2 = self.run_crop(img, box)
            if self._score(kp2) >= self._score(kp) * STILL_SECOND_PASS_MIN_RATIO:
                kp = kp2
        if self._score(kp) == 0.0:
            return []
        return [self._to_pose(kp, h, w)]


class MoveNetMultiPose:
    """MoveNet MultiPose Lightning: up to 6 people with boxes, no tracking. The image is resized so its longer side
    is `resolution` and zero-padded at the bottom/right to a `resolution` square (the bundled graph's fixed input;
    the reference pads only to multiples of 32 for its dynamic-shape graph)."""

    def __init__(self, *, model=None, resolution: int = MULTIPOSE_RESOLUTION,
                 min_pose_score: float = _MULTI["min_pose_score"], flip_horizontal: bool = False,
                 max_poses: int = _MULTI["max_poses"]):
        if model is None:
            from huia.pose.estimate import load_bundled

            model = load_bundled("movenet-multipose")
        self.model = model
        self.resolution = int(resolution)
        self.min_pose_score = min_pose_score
        self.flip_horizontal = flip_horizontal
        self.max_poses = max_poses

    def reset(self) -> None:
        pass

    def estimate(self, image, t: float | None = None) -> list[Pose]:
        img = _check_image(image)
        h, w = img.shape[:2]
        r = self.resolution
        if w > h:
            rw, rh = r, int(np.floor(r * h / w + 0.5))
        else:
            rw, rh = int(np.floor(r * w / h + 0.5)), r
        ph = pw = r
        resized = resize_bilinear(img, (rh, rw))
        padded = np.zeros((ph, pw, 3), np.float32)
        padded[:rh, :rw] = resized
        out = self.model(padded.astype(np.int32)[None])
        raw = np.asarray(next(iter(out.values())), dtype=np.float64)
        if raw.ndim != 3 or raw.shape[2] != 56:
            raise HuiaError(f"MoveNet MultiPose returned shape {raw.shape}, expected (1, N, 56)")
        sy, sx = ph / rh, pw / rw  # padded-normalized -> image-normalized
        poses = []
        for inst in raw[0]:
            score = float(inst[55])
            if score < self.min_pose_score:
                continue
            kp = inst[:51].reshape(17, 3)
            ys, xs = kp[:, 0] * sy * h, kp[:, 1] * sx * w
            y0, x0, y1, x1 = inst[51] * sy * h, inst[52] * sx * w, inst[53] * sy * h, inst[54] * sx * w
            if self.flip_horizontal:
                xs = w - 1 - xs
                x0, x1 = w - 1 - x1, w - 1 - x0
            kps = [Keypoint(n, float(x), float(y), float(s)) for n, x, y, s in zip(COCO_NAMES, xs, ys, kp[:, 2])]
            poses.append(Pose(kps, score, (float(x0), float(y0), float(x1), float(y1))))
        poses.sort(key=lambda p: -p.score)
        return poses[: self.max_poses]
