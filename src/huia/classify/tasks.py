"""What each kind of classifier is, in one place: what it reads from a sample, how that becomes the model's input,
which bundled backbone (if any) turns it into features, and what its export tells the browser. Training, export and
prediction ask the task instead of testing its name, so a new kind of classifier is one entry here plus its model
in :mod:`huia.classify.models` (``register_model`` under the same name)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from huia.classify import dataset as D
from huia.errors import HuiaError


@dataclass(frozen=True)
class ClassifierTask:
    name: str
    description: str
    # the bundled image backbone used by default; None: the input is already a feature vector (no backbone)
    default_backbone: str | None
    needs_keypoints: bool  # samples carry a pose (capture JSON, else a pose estimate of the image)
    flip_default: bool  # mirror augmentation by default: off where left and right mean different things
    landmarks: bool  # may append the hand backbone's 21 landmarks to its features (--landmarks)
    # (sample, input size, rng or None for the plain view, flip) -> the model's input for that sample
    make_input: Callable[..., np.ndarray]
    # run -> extra userDefinedMetadata the browser needs to rebuild the input (beyond labels and backbone)
    export_metadata: Callable[..., dict] | None = None

    @property
    def has_backbone(self) -> bool:
        return self.default_backbone is not None


TASKS: dict[str, ClassifierTask] = {}


def register_task(task: ClassifierTask) -> ClassifierTask:
    TASKS[task.name] = task
    return task


def get_task(name: str) -> ClassifierTask:
    if name not in TASKS:
        raise HuiaError(f"unknown classifier task {name!r} (choose from {', '.join(TASKS)})")
    return TASKS[name]


def sample_keypoints(sample, estimator_model: str = "movenet-lightning") -> np.ndarray:
    """Keypoints of a sample: its capture JSON, else run the pose estimator on its image."""
    kps = D.read_keypoints(sample)
    if kps is not None:
        return kps
    from huia.pose import estimate

    poses = estimate(D.load_rgb(sample.image_path), model=estimator_model)
    if not poses:
        raise HuiaError("no person found in the image (and no keypoints JSON beside it)", sample.image_path)
    return poses[0].to_array()


def augment_image(img: np.ndarray, rng: np.random.Generator, flip: bool) -> np.ndarray:
    """One random view for training: geometric + colour + JPEG (H5's Augmenter), plus a horizontal flip."""
    from huia.data.augment import Augmenter

    aug = _AUGMENTERS.setdefault(flip, Augmenter(**_AUG_KW, hflip=0.5 if flip else 0.0))
    out = aug(img, rng=rng)
    return out[0] if isinstance(out, tuple) else out


_AUGMENTERS: dict = {}
_AUG_KW = dict(rotate=12.0, scale=(0.85, 1.1), translate=0.06, brightness=0.2, saturation=0.2, jpeg_quality=(60, 95))


def augment_keypoints(kps: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Small random similarity transform + per-point jitter on keypoints (no pixels involved): the skeleton and
    keypoint tasks' augmentation — a slightly different body, stance or camera angle."""
    k = np.asarray(kps, np.float32).copy()
    vis = k[:, 2] > 0
    if vis.sum() < 2:
        return k
    c = k[vis, :2].mean(0)
    span = float(np.ptp(k[vis, :2], axis=0).max()) or 1.0
    a = np.deg2rad(rng.uniform(-10, 10))
    s = rng.uniform(0.9, 1.1)
    sx = s * rng.uniform(0.92, 1.08)  # body proportions
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]], np.float32)
    p = (k[:, :2] - c) * np.array([sx, s], np.float32)
    k[:, :2] = p @ rot.T + c + rng.normal(0, 0.015 * span, size=(len(k), 2)).astype(np.float32)
    return k


def _image_input(sample, size, rng=None, flip=False) -> np.ndarray:
    img = D.load_rgb(sample.image_path)
    if rng is not None:
        img = augment_image(img, rng, flip)
    return D.prepare_image(img, size)


def _pose(sample, rng) -> np.ndarray:
    kps = sample_keypoints(sample)
    return augment_keypoints(kps, rng) if rng is not None else kps


def _skeleton_input(sample, size, rng=None, flip=False) -> np.ndarray:
    return D.skeleton_image(_pose(sample, rng), size)


def _keypoint_input(sample, size, rng=None, flip=False) -> np.ndarray:
    return D.keypoint_features(_pose(sample, rng))


def _keypoint_metadata(run) -> dict:
    return {"keypoints": run.config.get("keypoint_features")}


def _skeleton_metadata(run) -> dict:
    from huia.pose.render import skeleton_image_spec

    return {**_keypoint_metadata(run),
            "skeleton": {"renderer": "huia.pose.render.render_skeleton", "size": run.input_size,
                         "fit": "keypoints bbox centred, longer side = 80% of the image",
                         "spec": "/spec/keypoints.json", **skeleton_image_spec()}}


register_task(ClassifierTask(
    "image", "photos through a bundled image backbone (the gesture classifier)", "handlandmark-full",
    needs_keypoints=False, flip_default=True, landmarks=True, make_input=_image_input))
register_task(ClassifierTask(
    "skeleton", "the pose drawn as a skeleton image through MobileNet (the Huia article)", "posenet-mobilenet",
    needs_keypoints=True, flip_default=False, landmarks=False, make_input=_skeleton_input,
    export_metadata=_skeleton_metadata))
register_task(ClassifierTask(
    "keypoints", "normalized keypoint coordinates through a small MLP", None,
    needs_keypoints=True, flip_default=False, landmarks=False, make_input=_keypoint_input,
    export_metadata=_keypoint_metadata))
