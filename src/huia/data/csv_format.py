"""The kangaroo article's CSV: one row per box, ``filename,width,height,class,xmin,ymin,xmax,ymax,source``.

An image with no boxes (a negative example) is one row with empty ``class`` and coordinates, so converting never
loses it. Layout written: ``DIR/images``, ``DIR/labels.csv``, ``DIR/labelmap.pbtxt``.
"""

from __future__ import annotations

import csv
from pathlib import Path

from huia.data.base import RawBox, RawImage, dataset_class_names, escaping_name, finalize_detection
from huia.data.labelmap import find_labelmap, write_labelmap
from huia.data.layout import annotation_file
from huia.data.voc import _coord
from huia.data.writer import ImagesFolderWriter
from huia.errors import HuiaError
from huia.types import Sample

COLUMNS = ["filename", "width", "height", "class", "xmin", "ymin", "xmax", "ymax", "source"]
REQUIRED = COLUMNS[:8]
CSV_NAME = "labels.csv"


def find_csv(root: str | Path) -> Path | None:
    """The annotation CSV of a folder (``labels.csv``, else the only ``*.csv`` with the article's header; several
    such files are ambiguous: a HuiaError naming them rather than reading the folder as something else)."""
    root = Path(root)
    if root.is_file():
        return root if root.suffix.lower() == ".csv" else None
    if not root.is_dir():
        return None
    if (root / CSV_NAME).is_file():
        return root / CSV_NAME
    cands = [p for p in sorted(root.glob("*.csv")) if _has_header(p)]
    if len(cands) > 1:  # e.g. the article's Kaggle layout: images/ + train_labels.csv + test_labels.csv
        raise HuiaError(f"{len(cands)} annotation CSV files here ({', '.join(c.name for c in cands)}); pass one "
                        f"of them, e.g. {cands[0]}", root)
    return cands[0] if cands else None


def _has_header(p: Path) -> bool:
    try:
        with open(p, newline="", encoding="utf-8-sig") as f:
            header = next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError):
        return False
    return all(c in [h.strip() for h in header] for c in REQUIRED)


def read_csv(path: str | Path, images_dir: str | Path | None = None,
             classes: list[str] | None = None) -> tuple[list[Sample], list[str]]:
    """Read the article's CSV -> ``(samples, problems)``. ``images_dir`` defaults to ``images/`` next to the CSV
    (or the CSV's own folder). Rows of one file are grouped into one sample; a bad row marks its whole file."""
    p, images_dir = annotation_file(path, find_csv, "annotation CSV (labels.csv)", images_dir)
    if classes is None:
        classes = find_labelmap(p.parent)
    records: dict[str, RawImage] = {}
    try:
        with open(p, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = [h.strip() for h in (reader.fieldnames or [])]
            missing = [c for c in REQUIRED if c not in header]
            if missing:
                raise HuiaError(f"CSV header lacks column(s) {', '.join(missing)} (expected {','.join(COLUMNS)})", p)
            reader.fieldnames = header
            for line_no, row in enumerate(reader, start=2):
                _add_row(records, row, f"{p}:{line_no}", images_dir)
    except UnicodeDecodeError as exc:
        raise HuiaError(f"not a UTF-8 text CSV ({exc})", p) from exc
    except csv.Error as exc:
        raise HuiaError(f"malformed CSV ({exc})", p) from exc
    _warn_case_twins(records.values(), p)
    samples, problems, _ = finalize_detection(list(records.values()), classes)
    return samples, problems


def _warn_case_twins(records, path: Path) -> None:
    """Class names that differ only by case ("Kangaroo" vs "kangaroo") are two classes, which is almost always a
    typo: warn naming both (with their box counts) instead of silently training a class with one box."""
    import warnings

    counts: dict[str, int] = {}
    for rec in records:
        for b in rec.boxes:
            counts[b.name] = counts.get(b.name, 0) + 1
    by_fold: dict[str, list[str]] = {}
    for name in sorted(counts):
        by_fold.setdefault(name.casefold(), []).append(name)
    for names in by_fold.values():
        if len(names) > 1:
            listed = " and ".join(f"{n!r} ({counts[n]} box{'' if counts[n] == 1 else 'es'})" for n in names)
            warnings.warn(f"{path}: class names {listed} differ only by case and count as "
                          f"{len(names)} classes; rename them if they are the same class", stacklevel=3)


def _add_row(records: dict[str, RawImage], row: dict, where: str, images_dir: Path) -> None:
    fn = (row.get("filename") or "").strip()
    if not fn:
        records.setdefault(where, RawImage(images_dir / "?", where, problems=["row without a filename"]))
        return
    rec = records.get(fn)
    line = where.rsplit(":", 1)[1]
    if rec is None:
        rec = records[fn] = RawImage(images_dir / fn, where.rsplit(":", 1)[0] + f" ({fn})")
        rec.meta["filename"] = fn
        why = escaping_name(fn)
        if why:
            rec.meta["outside"] = True
            rec.problems.append(f"line {line}: {why}")
    try:
        w, h = int(float(row["width"])), int(float(row["height"]))
    except (TypeError, ValueError):
        rec.problems.append(f"line {line}: non-numeric width/height")
        return
    if rec.width is None:
        rec.width, rec.height = w, h
    elif (rec.width, rec.height) != (w, h):
        rec.problems.append(f"line {line}: size {w}x{h} disagrees with {rec.width}x{rec.height} on an earlier row")
    src = (row.get("source") or "").strip()
    if src:
        rec.meta["source"] = src
    cls = (row.get("class") or "").strip()
    coords = [(row.get(k) or "").strip() for k in ("xmin", "ymin", "xmax", "ymax")]
    if not cls and not any(coords):
        return  # negative image row
    try:
        vals = [float(c) for c in coords]
    except ValueError:
        rec.problems.append(f"line {line}: missing or non-numeric box coordinate {coords}")
        return
    rec.boxes.append(RawBox(cls, *vals))


class CsvWriter(ImagesFolderWriter):
    """``out_dir/images`` (each image as it is added), then ``out_dir/<csv_name>`` and ``labelmap.pbtxt``."""

    def __init__(self, out_dir: str | Path, class_names: list[str] | None = None, csv_name: str = CSV_NAME):
        super().__init__(out_dir, class_names)
        self.csv_name = csv_name

    def _finish(self) -> Path:
        tmp = self.out / f".{self.csv_name}.tmp"
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            wr = csv.writer(f)
            wr.writerow(COLUMNS)
            for s, name in zip(self.samples, self.names):
                source = s.meta.get("source", "")
                det = s.boxes
                if det is None or len(det) == 0:
                    wr.writerow([name, s.width, s.height, "", "", "", "", "", source])
                    continue
                for box, label in zip(det.xyxy, det.labels):
                    wr.writerow([name, s.width, s.height, label, *[_coord(v) for v in box], source])
        tmp.replace(self.out / self.csv_name)
        names = self.class_names if self.class_names is not None else dataset_class_names(self.samples)
        write_labelmap(self.out / "labelmap.pbtxt", names)
        return self.out / self.csv_name


def write_csv(samples: list[Sample], out_dir: str | Path, class_names: list[str] | None = None,
              csv_name: str = CSV_NAME) -> Path:
    """Write ``out_dir/images``, ``out_dir/<csv_name>``, ``out_dir/labelmap.pbtxt``; returns the CSV path."""
    w = CsvWriter(out_dir, class_names, csv_name)
    for s in samples:
        w.add(s)
    return w.close()
