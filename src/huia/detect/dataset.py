"""Detection data for training: the held-out split, images warped to the network input with their boxes, and the
CenterNet targets.

Targets (TTFNet-style, because 100-odd images need every box to teach as many cells as possible): the heat map
is a Gaussian per box centred on the cell nearest the box centre (sigma proportional to the box's width/height),
exactly 1 at that cell; every cell inside the box where that Gaussian is above 0.05 regresses the box edges
(left, top, right, bottom distances from the cell's position ``(x*4, y*4)``), weighted by the Gaussian times
log(box area) so that big boxes do not drown small ones.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from huia.detect.model import STRIDE, preprocess
from huia.errors import HuiaError
from huia.types import Detections, Sample

REG_MIN_GAUSS = 0.05
GAUSS_ALPHA = 0.54


def load_split(data: str | Path, *, seed: int, train: float = 0.8, classes: list[str] | None = None
               ) -> tuple[list[Sample], list[Sample], list[str]]:
    """(train samples, held-out samples, class names) through huia.data (any problem in the data set is an error
    naming the files; the split is H5's deterministic hash split)."""
    from huia.data import load_dataset, split_samples
    from huia.data.base import dataset_class_names

    check_detection_folder(data)
    samples = load_dataset(data, classes=classes)
    samples = [s for s in samples if s.boxes is not None]
    if not samples:
        raise HuiaError("no images with boxes in the data set", data)
    names = classes or dataset_class_names(samples)
    if train >= 1.0:  # already split elsewhere: train on everything, evaluate on other data
        return samples, [], list(names)
    tr, te = split_samples(samples, train=train, seed=seed)
    if not tr or not te:
        raise HuiaError(f"need at least 2 annotated images to split train/test, got {len(samples)}", data)
    return tr, te, list(names)


def check_detection_folder(data: str | Path) -> None:
    """A folder holding several annotation CSV files (the article's Kaggle layout: images/ + train_labels.csv +
    test_labels.csv) is ambiguous: say which file to pass instead of reading it as something else."""
    p = Path(data)
    if not p.is_dir() or (p / "labels.csv").is_file() or (p / "annots").is_dir():
        return
    csvs = sorted(x.name for x in p.glob("*.csv") if x.is_file())
    if len(csvs) < 2:
        return
    train = [c for c in csvs if "train" in c.lower()]
    test = [c for c in csvs if "test" in c.lower() or "val" in c.lower()]
    hint = (f"e.g. --data {p / train[0]} --train-fraction 1 to train on it, then huia detect eval RUN --data "
            f"{p / test[0]}" if train and test else f"e.g. --data {p / csvs[0]}")
    raise HuiaError(f"{len(csvs)} annotation CSV files here ({', '.join(csvs)}); pass one of them: {hint}", p)


def load_images(samples: list[Sample]) -> list[np.ndarray]:
    """Decode every image once (RGB uint8) through huia.data.images.load_image: a truncated JPEG loads what decodes
    and warns once naming the file (kangaroo/images/00090.jpg)."""
    from huia.data.images import load_image

    out = []
    for s in samples:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            img = load_image(s.image_path)
        for w in caught:
            warnings.warn(str(w.message), w.category, stacklevel=2)
        out.append(img)
    return out


def remap_classes(boxes: Detections, names: list[str]) -> Detections:
    """Boxes with class ids re-indexed into ``names`` (samples may carry their own name order)."""
    if list(boxes.class_names) == list(names) or len(boxes) == 0:
        return Detections(boxes.xyxy, boxes.scores, boxes.class_ids, list(names))
    idx = {n: i for i, n in enumerate(names)}
    ids = []
    for lab in boxes.labels:
        if lab not in idx:
            raise HuiaError(f"box label {lab!r} is not one of the detector's classes ({', '.join(names)})")
        ids.append(idx[lab])
    return Detections(boxes.xyxy, boxes.scores, np.array(ids, np.int64), list(names))


@dataclass
class Targets:
    heat: np.ndarray      # [G, G, C] float32, 1 at box centres
    boxes: np.ndarray     # [G, G, 4] float32 target xyxy in input pixels
    weight: np.ndarray    # [G, G] float32 regression weight (0 = no regression)


def make_targets(boxes: Detections, num_classes: int, input_size: int, stride: int = STRIDE) -> Targets:
    g = input_size // stride
    heat = np.zeros((g, g, num_classes), np.float32)
    tbox = np.zeros((g, g, 4), np.float32)
    weight = np.zeros((g, g), np.float32)
    if len(boxes) == 0:
        return Targets(heat, tbox, weight)
    ys, xs = np.mgrid[0:g, 0:g].astype(np.float32)
    areas = boxes.area
    for i in np.argsort(-areas, kind="stable"):  # big first: smaller boxes own the cells they share
        x1, y1, x2, y2 = (float(v) for v in boxes.xyxy[i])
        w, h = x2 - x1, y2 - y1
        if w < 1 or h < 1:
            continue
        cx, cy = (x1 + x2) / 2 / stride, (y1 + y2) / 2 / stride
        ix, iy = min(max(int(round(cx)), 0), g - 1), min(max(int(round(cy)), 0), g - 1)
        sx, sy = max(GAUSS_ALPHA * w / stride / 6, 0.5), max(GAUSS_ALPHA * h / stride / 6, 0.5)
        gauss = np.exp(-((xs - ix) ** 2 / (2 * sx * sx) + (ys - iy) ** 2 / (2 * sy * sy)))
        c = int(boxes.class_ids[i])
        heat[:, :, c] = np.maximum(heat[:, :, c], gauss)
        heat[iy, ix, c] = 1.0
        inside = (xs * stride > x1) & (xs * stride < x2) & (ys * stride > y1) & (ys * stride < y2)
        region = (gauss > REG_MIN_GAUSS) & inside
        region[iy, ix] = True
        wgt = gauss * region
        wgt = wgt / wgt.sum() * math.log(max(w * h, 4.0))
        tbox[region] = (x1, y1, x2, y2)
        weight[region] = wgt[region]
    return Targets(heat, tbox, weight)


def train_augmenter(input_size: int, strength: str = "default"):
    """Box-aware augmentation straight into the network input (one warp: flip, zoom 0.7-1.4x, shift, colour, JPEG);
    ``strong``: zoom 0.45-1.6x, shift 25 %, more colour.

    No rotation: a rotated box can only be re-boxed by guessing (the corner box grows by ``h sin(a)`` per side; the
    inscribed-ellipse box of huia.data.augment is tighter but still a guess), and training on loosened boxes
    teaches loose boxes. Measured on kangaroo, 5 splits other than the reported one (benchmarks/detector.py
    --cv): +-8 deg with corner boxes AP 0.474, with ellipse boxes 0.503, no rotation 0.513 (input 256)."""
    from huia.data.augment import Augmenter

    if strength == "strong":
        return Augmenter(hflip=0.5, scale=(0.45, 1.6), translate=0.25, rotate=0.0, out_size=(input_size, input_size),
                         brightness=0.4, contrast=0.4, saturation=0.4, hue=0.04, jpeg_p=0.3, min_visible=0.35)
    if strength != "default":
        raise HuiaError(f"unknown augmentation strength {strength!r} (default or strong)")
    return Augmenter(hflip=0.5, scale=(0.7, 1.4), translate=0.15, rotate=0.0, out_size=(input_size, input_size),
                     brightness=0.3, contrast=0.3, saturation=0.3, hue=0.02, jpeg_p=0.2, min_visible=0.35)


def augment_batch(images: list[np.ndarray], boxes: list[Detections], augmenter, rngs: list[np.random.Generator]
                  ) -> tuple[np.ndarray, list[Detections]]:
    xs, bs = [], []
    for img, b, rng in zip(images, boxes, rngs):
        a, nb, _ = augmenter(img, b, None, rng)
        xs.append(a.astype(np.float32))
        bs.append(nb)
    return np.stack(xs), bs


def resize_batch(images: list[np.ndarray], boxes: list[Detections], input_size: int
                 ) -> tuple[np.ndarray, list[Detections]]:
    """No augmentation: stretch to the input, boxes scaled the same way (what predict does)."""
    xs, bs = [], []
    for img, b in zip(images, boxes):
        h, w = img.shape[:2]
        xs.append(preprocess(img, input_size)[0])
        s = np.array([input_size / w, input_size / h] * 2, np.float32)
        bs.append(Detections(b.xyxy * s, b.scores, b.class_ids, list(b.class_names)))
    return np.stack(xs), bs
