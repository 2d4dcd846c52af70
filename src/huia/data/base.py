"""What every detection reader shares: one validation of boxes/images/classes, so VOC, CSV and COCO report the
same problems in the same words, and a bad file is reported instead of silently dropped.

Readers collect :class:`RawImage` records, then :func:`finalize_detection` validates them and returns
``(samples, problems)``. A file with any problem is left out of ``samples`` *and* listed in ``problems`` (a partial
set of boxes would teach the detector that the missing objects are background).
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from huia.data.images import image_size
from huia.errors import HuiaError
from huia.types import Detections, Sample


@dataclass
class RawBox:
    name: str
    xmin: float
    ymin: float
    xmax: float
    ymax: float
    extra: dict = field(default_factory=dict)  # difficult, truncated, iscrowd, ...


@dataclass
class RawImage:
    image_path: Path
    where: str  # the annotation file (and line) to name in problems
    width: int | None = None  # as declared by the annotation
    height: int | None = None
    boxes: list[RawBox] = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def escaping_name(name: str) -> str | None:
    """Why an image name from an annotation file would leave the data set folder (absolute, or a ``..`` part),
    or None. VOC reduces names to their base name; CSV and COCO names may have sub-folders, but must stay inside."""
    p = Path(name)
    if p.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or \
            ".." in p.parts or ".." in name.replace("\\", "/").split("/"):
        return f"image name {name!r} leaves the data set folder"
    return None


def validate_box(box: RawBox, width: int, height: int) -> str | None:
    """Why a box is unusable, or None. Coordinates are pixels: 0 <= xmin < xmax <= width (same for y)."""
    vals = (box.xmin, box.ymin, box.xmax, box.ymax)
    if not all(math.isfinite(v) for v in vals):
        return f"box {vals} of class {box.name!r} has a non-finite coordinate"
    if box.xmin >= box.xmax or box.ymin >= box.ymax:
        return f"box {_fmt(vals)} of class {box.name!r} is inverted or empty (need xmin < xmax and ymin < ymax)"
    if box.xmin < 0 or box.ymin < 0 or box.xmax > width or box.ymax > height:
        return f"box {_fmt(vals)} of class {box.name!r} lies outside the {width}x{height} image"
    return None


def _fmt(vals) -> str:
    return "(" + ", ".join(f"{v:g}" for v in vals) + ")"


def finalize_detection(records: list[RawImage], classes: list[str] | None = None
                       ) -> tuple[list[Sample], list[str], list[str]]:
    """Validate records -> ``(samples, problems, class_names)``.

    ``classes`` (e.g. from a labelmap) fixes the class list and order; a box of any other class is a problem.
    Without it, the class list is the sorted set of names seen in the valid files.
    """
    problems: list[str] = []
    good: list[RawImage] = []
    seen_paths: dict[Path, str] = {}
    for rec in records:
        errs = list(rec.problems)
        p = rec.image_path
        if p in seen_paths:
            errs.append(f"image {p.name} is annotated twice (also in {seen_paths[p]})")
        else:
            seen_paths[p] = rec.where
        size = None
        if rec.meta.get("outside"):
            pass  # never open a file outside the data set (the reader recorded the problem)
        elif not p.is_file():
            errs.append(f"image {p} not found")
        else:
            try:
                size = image_size(p)
            except HuiaError as exc:
                errs.append(f"unreadable image: {exc}")
        if size is not None and rec.width is not None and rec.height is not None and (rec.width, rec.height) != size:
            errs.append(f"declared size {rec.width}x{rec.height} but image {p.name} is {size[0]}x{size[1]}")
        w, h = size if size is not None else (rec.width, rec.height)
        for b in rec.boxes:
            if not b.name:
                errs.append("object without a class name")
            elif classes is not None and b.name not in classes:
                msg = f"unknown class {b.name!r} (known: {', '.join(classes)})"
                if msg not in errs:  # once per file, not once per box
                    errs.append(msg)
            if w is not None and h is not None:
                why = validate_box(b, w, h)
                if why:
                    errs.append(why)
        if errs:
            problems.extend(f"{rec.where}: {e}" for e in errs)
            continue
        rec.width, rec.height = w, h
        good.append(rec)
    names = list(classes) if classes is not None else sorted({b.name for r in good for b in r.boxes})
    index = {n: i for i, n in enumerate(names)}
    samples = []
    for rec in good:
        xyxy = np.array([[b.xmin, b.ymin, b.xmax, b.ymax] for b in rec.boxes], np.float32).reshape(-1, 4)
        ids = np.array([index[b.name] for b in rec.boxes], np.int64)
        det = Detections(xyxy, None, ids, list(names))
        meta = dict(rec.meta)
        meta.setdefault("annotation", rec.where)
        for key in sorted({k for b in rec.boxes for k in b.extra}):
            meta[key] = np.array([b.extra.get(key, 0) for b in rec.boxes])
        samples.append(Sample(image_path=rec.image_path, label=None, boxes=det, width=rec.width, height=rec.height,
                              meta=meta))
    return samples, problems, names


def dataset_class_names(samples: list[Sample]) -> list[str]:
    """Class list of a sample list: detection class_names of the first sample with boxes, else sorted labels."""
    for s in samples:
        if s.boxes is not None and s.boxes.class_names:
            return list(s.boxes.class_names)
    return sorted({s.label for s in samples if s.label is not None})


def copy_image(src: Path, dst: Path) -> None:
    """Byte copy (no re-encode: converting formats must not change a single pixel)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.resolve() == dst.resolve():
        return
    shutil.copy2(src, dst)
