"""COCO detection JSON (``images``, ``annotations`` with ``bbox`` = [x, y, w, h], ``categories``).

Reading maps category ids (which may be sparse, e.g. COCO's 1..90) to 0-based class indexes in id order.
Writing uses ids 1..K in class order, matching ``labelmap.pbtxt``. Layout written: ``DIR/images``,
``DIR/annotations.json``, ``DIR/labelmap.pbtxt``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from huia.data.base import RawBox, RawImage, dataset_class_names, escaping_name, finalize_detection
from huia.data.labelmap import find_labelmap, write_labelmap
from huia.data.layout import annotation_file
from huia.data.writer import ImagesFolderWriter
from huia.errors import HuiaError
from huia.types import Sample

JSON_NAME = "annotations.json"


def _looks_like_coco(p: Path) -> bool:
    try:
        with open(p, encoding="utf-8") as f:
            head = f.read(4096)
    except (OSError, UnicodeDecodeError):
        return False
    return '"images"' in head or '"annotations"' in head or '"categories"' in head


def find_coco_json(root: str | Path) -> Path | None:
    root = Path(root)
    if root.is_file():
        return root if root.suffix.lower() == ".json" else None
    if not root.is_dir():
        return None
    for cand in (root / JSON_NAME, root / "annotations" / "instances.json"):
        if cand.is_file():
            return cand
    cands = [p for p in sorted(root.glob("*.json")) if p.name != "provenance.json" and _looks_like_coco(p)]
    return cands[0] if len(cands) == 1 else None


def _dimension(v) -> tuple[int | None, str | None]:
    """A declared image width/height -> ``(pixels or None when absent, why it is unusable or None)``. Numbers
    written as strings (``"640"``, as some exporters do) count as numbers, so they compare with the image's size."""
    if v is None:
        return None, None
    num = None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        num = float(v)
    elif isinstance(v, str):
        try:
            num = float(v.strip())
        except ValueError:
            pass
    if num is None or not math.isfinite(num):
        return None, f"is not a number ({v!r})"
    if num != int(num) or num < 0:
        return None, f"is not a whole number of pixels ({v!r})"
    return int(num), None


def read_coco(json_path: str | Path, images_dir: str | Path | None = None,
              classes: list[str] | None = None) -> tuple[list[Sample], list[str]]:
    """Read COCO detection JSON -> ``(samples, problems)``; ``images_dir`` defaults to ``images/`` beside it.
    ``iscrowd`` is kept per box in ``sample.meta["iscrowd"]``. Segmentations are not read."""
    p, images_dir = annotation_file(json_path, find_coco_json, "COCO annotations JSON", images_dir)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HuiaError(f"malformed JSON ({exc})", p) from exc
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise HuiaError("not COCO detection JSON (no 'images' list)", p)
    problems: list[str] = []
    cats = {}
    for c in data.get("categories", []):
        if not isinstance(c, dict) or "id" not in c or "name" not in c:
            problems.append(f"{p}: category without id and name: {c!r}")
            continue
        cats[c["id"]] = str(c["name"])
    if classes is None:
        classes = find_labelmap(p.parent)
    if classes is None:
        classes = [cats[k] for k in sorted(cats)]
    records: dict = {}
    bad_ids: set = set()  # image entries already reported: their annotations are not reported again
    for im in data["images"]:
        if not isinstance(im, dict) or "id" not in im or "file_name" not in im:
            problems.append(f"{p}: image entry without id and file_name: {im!r}")
            continue
        if im["id"] in records:
            problems.append(f"{p}: image id {im['id']} appears twice")
            continue
        if not isinstance(im["file_name"], str) or not im["file_name"].strip():
            problems.append(f"{p}: image {im['id']}: file_name {im['file_name']!r} is not a file name")
            bad_ids.add(im["id"])
            continue
        rec = RawImage(images_dir / im["file_name"], f"{p} (image {im['id']}: {im['file_name']})")
        for key in ("width", "height"):
            value, why = _dimension(im.get(key))
            if why:
                rec.problems.append(f"{key} {why}")
            setattr(rec, key, value)
        why = escaping_name(im["file_name"])
        if why:
            rec.meta["outside"] = True
            rec.problems.append(why)
        rec.meta["filename"] = im["file_name"]
        rec.meta["coco_id"] = im["id"]
        records[im["id"]] = rec
    for ann in data.get("annotations", []):
        if not isinstance(ann, dict):
            problems.append(f"{p}: annotation is not an object: {ann!r}")
            continue
        rec = records.get(ann.get("image_id"))
        if rec is None and ann.get("image_id") in bad_ids:
            continue
        if rec is None:
            problems.append(f"{p}: annotation {ann.get('id')} refers to unknown image id {ann.get('image_id')}")
            continue
        cid = ann.get("category_id")
        if cid not in cats:
            rec.problems.append(f"annotation {ann.get('id')} has unknown category id {cid}")
            continue
        bb = ann.get("bbox")
        try:
            x, y, w, h = (float(v) for v in bb)
        except (TypeError, ValueError):
            rec.problems.append(f"annotation {ann.get('id')} has a malformed bbox {bb!r}")
            continue
        rec.boxes.append(RawBox(cats[cid], x, y, x + w, y + h, extra={"iscrowd": int(ann.get("iscrowd", 0) or 0)}))
    samples, more, _ = finalize_detection(list(records.values()), classes)
    return samples, problems + more


def coco_dict(samples: list[Sample], class_names: list[str], names: list[str] | None = None) -> dict:
    """The COCO JSON dict of a sample list (image ids 1..N in order, category ids 1..K, area = w*h)."""
    names = names or [Path(s.image_path).name for s in samples]
    images, anns = [], []
    index = {n: i for i, n in enumerate(class_names)}
    for img_id, (s, name) in enumerate(zip(samples, names), start=1):
        images.append({"id": img_id, "file_name": name, "width": int(s.width or 0), "height": int(s.height or 0)})
        det = s.boxes
        if det is None:
            continue
        crowd = s.meta.get("iscrowd")
        for i, (box, label) in enumerate(zip(det.xyxy, det.labels)):
            x0, y0, x1, y1 = (float(v) for v in box)
            w, h = x1 - x0, y1 - y0
            anns.append({"id": len(anns) + 1, "image_id": img_id, "category_id": index[label] + 1,
                         "bbox": [x0, y0, w, h], "area": w * h,
                         "iscrowd": int(crowd[i]) if crowd is not None and len(crowd) == len(det) else 0})
    cats = [{"id": i + 1, "name": n, "supercategory": "none"} for i, n in enumerate(class_names)]
    return {"images": images, "annotations": anns, "categories": cats}


class CocoWriter(ImagesFolderWriter):
    """``out_dir/images`` (each image as it is added), then ``out_dir/<json_name>`` and ``labelmap.pbtxt``."""

    def __init__(self, out_dir: str | Path, class_names: list[str] | None = None, json_name: str = JSON_NAME):
        super().__init__(out_dir, class_names)
        self.json_name = json_name

    def _finish(self) -> Path:
        names = self.class_names if self.class_names is not None else dataset_class_names(self.samples)
        tmp = self.out / f".{self.json_name}.tmp"
        tmp.write_text(json.dumps(coco_dict(self.samples, names, self.names)), encoding="utf-8")
        tmp.replace(self.out / self.json_name)
        write_labelmap(self.out / "labelmap.pbtxt", names)
        return self.out / self.json_name


def write_coco(samples: list[Sample], out_dir: str | Path, class_names: list[str] | None = None,
               json_name: str = JSON_NAME) -> Path:
    """Write ``out_dir/images``, ``out_dir/<json_name>``, ``out_dir/labelmap.pbtxt``; returns the JSON path."""
    w = CocoWriter(out_dir, class_names, json_name)
    for s in samples:
        w.add(s)
    return w.close()
