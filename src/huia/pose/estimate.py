"""One entry point for every pose model: a small registry (timm-style `create_estimator`) and `estimate()`.

    estimate(image, model="movenet-lightning")            # one person
    estimate(image, model="posenet", multi=True)          # many people, PersonLab greedy decoding
    create_estimator("movenet-thunder").estimate(frame, t=seconds)   # video: crop tracking + smoothing

All estimators return poses in input-image pixels with COCO-17 keypoint names (BlazePose keeps its 33 landmarks in
`pose.extra["landmarks"]`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from huia.errors import HuiaError
from huia.pose.types import Pose

_REGISTRY: dict[str, Callable] = {}
_DESCRIPTIONS: dict[str, str] = {}


def register(name: str, description: str):
    def deco(fn):
        _REGISTRY[name] = fn
        _DESCRIPTIONS[name] = description
        return fn

    return deco


def list_estimators() -> dict[str, str]:
    """name -> one-line description."""
    return dict(_DESCRIPTIONS)


@lru_cache(maxsize=None)
def load_bundled(name: str):
    """A bundled TF.js graph model as a huia GraphModel (cached per process: loading takes a moment)."""
    from huia.models import load_model

    return load_model(name)


_MULTI_OPTIONS = ("flip_horizontal", "max_poses", "min_pose_score")


class MinPoseScore:
    """Hides poses scoring below `min_pose_score` for the single-person estimators that have no such option
    (MoveNet SinglePose, BlazePose): the PoseNet article's "pose confidence score ... can be used to hide poses that
    are not deemed strong enough" holds for every model. Tracking still sees every frame; only the output is
    filtered. Attributes other than estimate() are the wrapped estimator's."""

    def __init__(self, estimator, min_pose_score: float):
        self.estimator = estimator
        self.min_pose_score = float(min_pose_score)

    def estimate(self, image, t: float | None = None) -> list[Pose]:
        return [p for p in self.estimator.estimate(image, t=t) if p.score >= self.min_pose_score]

    def __getattr__(self, name):
        return getattr(self.estimator, name)


def _single(model: str, factory, opts: dict, *names: str):
    """A single-person estimator from `factory(**options)`, wrapped by MinPoseScore when min_pose_score is given."""
    picked = _pick(model, opts, *names, "min_pose_score")
    min_pose_score = picked.pop("min_pose_score", None)
    est = factory(**picked)
    return est if min_pose_score is None else MinPoseScore(est, min_pose_score)


@register("movenet-lightning", "MoveNet SinglePose Lightning, 192 px, one person (fast)")
def _movenet_lightning(multi: bool = False, **opts):
    from huia.pose.movenet import MoveNetMultiPose, MoveNetSinglePose

    if multi:
        return MoveNetMultiPose(**_pick("movenet-lightning", opts, *_MULTI_OPTIONS))
    return _single("movenet-lightning", lambda **o: MoveNetSinglePose("lightning", **o), opts,
                   "flip_horizontal", "smoothing")


@register("movenet-thunder", "MoveNet SinglePose Thunder, 256 px, one person (accurate)")
def _movenet_thunder(multi: bool = False, **opts):
    from huia.pose.movenet import MoveNetMultiPose, MoveNetSinglePose

    if multi:
        return MoveNetMultiPose(**_pick("movenet-thunder", opts, *_MULTI_OPTIONS))
    return _single("movenet-thunder", lambda **o: MoveNetSinglePose("thunder", **o), opts,
                   "flip_horizontal", "smoothing")


@register("movenet-multipose", "MoveNet MultiPose Lightning, up to 6 people with boxes")
def _movenet_multipose(multi: bool = True, **opts):
    from huia.pose.movenet import MoveNetMultiPose

    return MoveNetMultiPose(**_pick("movenet-multipose", opts, *_MULTI_OPTIONS))


@register("posenet", "PoseNet MobileNetV1 (output stride 8/16/32), single or multi-person decoding")
def _posenet(multi: bool = False, **opts):
    from huia.pose.posenet.model import PoseNet

    picked = _pick("posenet", opts, "output_stride", "input_resolution", "image_scale_factor", "flip_horizontal",
                   "max_poses", "score_threshold", "nms_radius", "min_pose_score", "smoothing")
    res = picked.get("input_resolution")
    for v in (res if isinstance(res, (tuple, list)) else [res] if res is not None else []):
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not 33 <= v <= 4096:
            raise HuiaError(f"posenet: input_resolution must be a number of pixels between 33 and 4096 (or an "
                            f"(h, w) pair of them), got {res!r}")
    return PoseNet(multi=multi, **picked)


@register("blazepose", "BlazePose full: person detector + 33 landmarks, one person; its poses give the 17 COCO "
                      "keypoints (mapped from the 33 landmarks) like the other models")
def _blazepose(multi: bool = False, **opts):
    from huia.pose.blazepose import BlazePose

    if multi:
        raise HuiaError("blazepose finds one person; for several use posenet (multi=True) or movenet-multipose")
    return _single("blazepose", BlazePose, opts, "flip_horizontal", "smoothing", "min_detection_score")


def _pick(model: str, opts: dict, *names: str) -> dict:
    """The options this model takes; any other name is an error (a typo such as ``flip=True`` for
    ``flip_horizontal`` would otherwise be ignored without a word)."""
    unknown = sorted(set(opts) - set(names))
    if unknown:
        raise HuiaError(f"{model} has no option {', '.join(map(repr, unknown))} (its options: {', '.join(names)})")
    picked = {k: opts[k] for k in names if k in opts and opts[k] is not None}
    _check_values(model, picked)
    return picked


# the ranges `huia pose` holds its flags to, so the Python API refuses what the CLI refuses (a min_pose_score of 5
# would otherwise hide every pose without a word)
_SCORES = ("min_pose_score", "score_threshold", "min_detection_score")


def _check_values(model: str, opts: dict) -> None:
    def number(v) -> bool:
        return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and v == v

    for k in _SCORES:
        if k in opts and not (number(opts[k]) and 0.0 <= float(opts[k]) <= 1.0):
            raise HuiaError(f"{model}: {k} is a score, it must be a number in [0, 1], got {opts[k]!r}")
    if "max_poses" in opts and not (number(opts["max_poses"]) and float(opts["max_poses"]).is_integer()
                                    and opts["max_poses"] >= 1):
        raise HuiaError(f"{model}: max_poses must be a whole number of at least 1, got {opts['max_poses']!r}")
    if "nms_radius" in opts and not (number(opts["nms_radius"]) and 0 < float(opts["nms_radius"]) < float("inf")):
        raise HuiaError(f"{model}: nms_radius must be a positive number of pixels, got {opts['nms_radius']!r}")


def create_estimator(model: str = "movenet-lightning", multi: bool = False, **opts):
    """A stateful estimator with `.estimate(image, t=None) -> list[Pose]` and `.reset()`."""
    if model not in _REGISTRY:
        raise HuiaError(f"unknown pose model {model!r} (choose from {', '.join(sorted(_REGISTRY))})")
    return _REGISTRY[model](multi=multi, **opts)


def load_rgb(image) -> np.ndarray:
    """A path or an array -> H x W x 3 RGB uint8 (HuiaError naming the file when it cannot be read)."""
    if isinstance(image, (str, Path)):
        path = Path(image)
        try:
            from huia.data.images import load_image  # H5's loader (truncated-JPEG handling)
        except ImportError:  # pragma: no cover - data package absent
            load_image = None
        if load_image is not None:
            return load_image(path)
        import cv2

        if not path.is_file():
            raise HuiaError("no such file", path)
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise HuiaError("cannot read as an image", path)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    img = np.asarray(image)
    if img.dtype.kind not in "biuf":
        raise HuiaError(f"expected an RGB image of numbers (uint8 0..255), got dtype {img.dtype}")
    if img.size and img.dtype.kind == "f" and 0 < float(np.nanmax(img)) <= 1.0:
        # a 0..1 float image would be read as nearly black: no poses, no boxes, and no hint why
        raise HuiaError("the image's values are in [0, 1]; huia expects RGB 0..255 (multiply by 255, or pass uint8)")
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] not in (3, 4) or img.shape[0] == 0 or img.shape[1] == 0:
        raise HuiaError(f"expected an H x W x 3 RGB image, got shape {tuple(img.shape)}")
    img = img[:, :, :3]
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    return img


_CACHE: dict = {}


def estimate(image, model: str = "movenet-lightning", multi: bool = False, **opts) -> list[Pose]:
    """Poses in one image (path or HxWx3 RGB uint8), in input-image pixels.

    PoseNet options: output_stride (8/16/32), input_resolution or image_scale_factor, flip_horizontal, max_poses,
    score_threshold, nms_radius. MoveNet/BlazePose: flip_horizontal. Every model: min_pose_score (hide poses whose
    score is below it). flip_horizontal returns x mirrored as width - 1 - x. `multi=True` = several people (PoseNet's
    multi-person decoding, or MoveNet MultiPose for the movenet models).
    """
    img = load_rgb(image)
    key = (model, multi, tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in opts.items())))
    try:
        hash(key)
    except TypeError:
        raise HuiaError(f"pose options must be numbers, booleans or (h, w) pairs, got {opts!r}") from None
    est = _CACHE.get(key)
    if est is None:
        est = _CACHE[key] = create_estimator(model, multi=multi, **opts)
    est.reset()
    return est.estimate(img)
