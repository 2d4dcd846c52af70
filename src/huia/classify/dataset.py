"""Classification samples: reading a folder, choosing the N-shot training files, and turning a sample into model
input (image pixels, a skeleton image, or a normalized keypoint vector).

The same preparation runs at training, evaluation and prediction time, and its parameters go into the run's
config.json and the export's metadata so that the browser prepares its input the same way.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from huia.errors import HuiaError
from huia.types import Sample


@dataclass
class Dataset:
    samples: list[Sample]
    labels: list[str]  # sorted class names

    def targets(self, samples: list[Sample] | None = None) -> np.ndarray:
        idx = {c: i for i, c in enumerate(self.labels)}
        return np.array([idx[s.label] for s in (self.samples if samples is None else samples)], np.int64)


def load_dataset(data_dir: str | Path, labels: list[str] | None = None, *, quiet: bool = False) -> Dataset:
    """Class-per-folder images or the studio capture format (image + keypoints JSON). Problems are reported on
    stderr, never silently dropped. ``labels`` (from a trained run) keeps class indices stable; samples of classes
    the run does not know are an error."""
    from huia.data.folders import read_class_folders

    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise HuiaError("not a directory (expected one sub-folder per class)", data_dir)
    from huia.data.provenance import attach_provenance

    samples, problems = read_class_folders(data_dir)
    attach_provenance(samples, data_dir)  # provenance.json (huia data augment/split): source of each copy
    if problems and not quiet:
        for p in problems[:20]:
            print(f"huia: warning: {p}", file=sys.stderr)
        if len(problems) > 20:
            print(f"huia: warning: ... and {len(problems) - 20} more problems", file=sys.stderr)
    samples = [s for s in samples if s.label is not None]
    if not samples:
        raise HuiaError("no labelled images found (expected DIR/<class>/<image>)", data_dir)
    found = sorted({s.label for s in samples})
    if labels is None:
        if len(found) < 2:
            raise HuiaError(f"need at least 2 classes, found {found}", data_dir)
        labels = found
    else:
        unknown = sorted(set(found) - set(labels))
        if unknown:
            raise HuiaError(f"classes {unknown} are not among the run's labels {labels}", data_dir)
    samples.sort(key=lambda s: (s.label, str(s.image_path)))
    return Dataset(samples, list(labels))


def select_shots(ds: Dataset, shots: int | None, seed: int) -> tuple[list[Sample], list[Sample]]:
    """N source images per class for training (seeded, independent of file order), the rest held out.
    ``shots=None``: every sample trains. A shot is an original together with its augmented copies
    (huia.data.provenance): "5 shots" of an augmented set must not be 5 copies of one photo. Without copies this
    is the plain per-sample draw it always was (same seed, same samples)."""
    from huia.data.split import sample_groups

    if not shots:
        return list(ds.samples), []
    rng = np.random.default_rng(seed)
    train, held = [], []
    for label in ds.labels:
        group = [s for s in ds.samples if s.label == label]
        units = sample_groups(group)
        if len(units) < shots:
            what = f"{len(units)} source images ({len(group)} files with augmented copies)" \
                if len(units) < len(group) else f"{len(group)} samples"
            raise HuiaError(f"class {label!r} has {what}, fewer than --shots {shots}")
        order = rng.permutation(len(units))
        train += [group[i] for u in order[:shots] for i in units[u]]
        held += [group[i] for u in order[shots:] for i in units[u]]
    return train, held


def split_validation(train: list[Sample], labels: list[str], fraction: float, seed: int):
    """Stratified validation split for early stopping: at least one sample per class when fraction > 0 and the
    class has two or more. An original and its augmented copies (huia.data.provenance) go to the same side, or
    early stopping would watch copies of training images (without copies this is a per-sample split)."""
    from huia.data.split import sample_groups

    if fraction <= 0:
        return list(train), []
    rng = np.random.default_rng(seed + 7919)
    fit, val = [], []
    for label in labels:
        group = [s for s in train if s.label == label]
        units = sample_groups(group)
        k = int(round(len(units) * fraction))
        k = min(max(1, k), len(units) - 1) if len(units) >= 2 else 0  # always leave something to fit on
        order = rng.permutation(len(units))
        val += [group[i] for u in order[:k] for i in units[u]]
        fit += [group[i] for u in order[k:] for i in units[u]]
    return fit, val


# -------------------------------------------------------------------------------------------------------------
# Input preparation


def load_rgb(path: str | Path) -> np.ndarray:
    from huia.data.images import load_image

    return load_image(path)


def center_square(img: np.ndarray) -> np.ndarray:
    """Central square crop (the gesture article's cropImage): the webcam frame is wider than tall."""
    h, w = img.shape[:2]
    s = min(h, w)
    y0, x0 = (h - s) // 2, (w - s) // 2
    return img[y0:y0 + s, x0:x0 + s]


RESIZE = "bilinear-half-pixel"  # in config.json / export metadata: how the browser must resize (features.js)


def prepare_image(img: np.ndarray, size: int) -> np.ndarray:
    """RGB uint8 HxWx3 -> float32 size x size x 3 in 0..255: centre square, then plain bilinear with half-pixel
    centres and no antialiasing, i.e. ``tf.image.resizeBilinear(x, [size, size], false, true)`` - what the browser
    runs on every webcam frame (web/js/features.js centerSquare), so what trains is what the browser feeds. The
    same rule as the detector (huia.detect.model.preprocess); resized in float32 (cv2's uint8 path rounds to whole
    levels) so both sides agree to float precision."""
    import cv2

    sq = center_square(np.asarray(img)).astype(np.float32)
    if sq.shape[0] != size or sq.shape[1] != size:
        sq = cv2.resize(sq, (size, size), interpolation=cv2.INTER_LINEAR)
    return sq


def read_keypoints(sample: Sample) -> np.ndarray | None:
    """[K,3] keypoints (x, y, score) of a capture-format sample, or None."""
    if sample.keypoints is not None:
        return np.asarray(sample.keypoints, np.float32)
    return None


def keypoint_features(kps: np.ndarray, min_score: float = 0.2) -> np.ndarray:
    """[K,3] pixel keypoints -> [K*3] vector: (x, y) relative to the centre of the confident keypoints' box,
    divided by the box's longer side, plus a visibility flag; invisible points are zeros. Position and body size
    drop out, the pose stays. The browser computes the same in a few lines (metadata ``keypoint_features``)."""
    kps = np.asarray(kps, np.float32).reshape(-1, 3)
    vis = kps[:, 2] >= min_score
    out = np.zeros((len(kps), 3), np.float32)
    if vis.sum() < 2:
        return out.reshape(-1)
    pts = kps[vis, :2]
    lo, hi = pts.min(0), pts.max(0)
    center = (lo + hi) / 2
    scale = max(float((hi - lo).max()), 1e-6)
    out[vis, :2] = (kps[vis, :2] - center) / scale
    out[vis, 2] = 1.0
    return out.reshape(-1)


def skeleton_image(kps: np.ndarray, size: int, min_score: float | None = None, margin: float | None = None
                   ) -> np.ndarray:
    """Keypoints -> coloured-limb skeleton image (H4's renderer) with the person scaled to fill the square: the
    Huia article's "convert key points to images", made position and size invariant. Returns float32 0..255.
    Defaults come from web/spec/keypoints.json (the Huia page draws the same image from the same numbers)."""
    from huia.pose.render import render_skeleton, skeleton_image_spec
    from huia.pose.spec import keypoint_spec

    if min_score is None:
        min_score = keypoint_spec().feature_min_score
    if margin is None:
        margin = float(skeleton_image_spec()["margin"])
    img = render_skeleton(np.asarray(kps, np.float32).reshape(-1, 3), size=(size, size), fit=True, margin=margin,
                          min_score=min_score)
    return np.asarray(img, np.float32)[..., :3]
