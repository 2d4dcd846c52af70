"""Data sets on disk: detection (Pascal VOC, the article's CSV, COCO JSON) and classification (class folders, the
studio's capture format), converted, split and augmented without ever dropping a file silently.

Every reader returns ``(samples, problems)``; :func:`load_dataset` is the strict front door used by training and
evaluation (auto-detects the format, raises one HuiaError summarising the problems).
"""

from __future__ import annotations

from pathlib import Path

from huia.data.images import TruncatedImageWarning, decode_image, image_size, load_image, save_image
from huia.data.split import sample_per_class, split_samples
from huia.errors import HuiaError
from huia.types import Sample

FORMATS = ("voc", "csv", "coco", "folders")

__all__ = ["FORMATS", "TruncatedImageWarning", "decode_image", "detect_format", "image_size", "load_dataset",
           "load_image", "open_writer", "read_dataset", "sample_per_class", "save_image", "split_samples", "write_dataset"]


def detect_format(path: str | Path) -> str:
    """'voc' | 'csv' | 'coco' | 'folders' for a dataset path, or HuiaError saying what was expected."""
    from huia.data.coco import find_coco_json
    from huia.data.csv_format import find_csv
    from huia.data.folders import is_class_folder_root
    from huia.data.voc import find_voc_dirs

    p = Path(path)
    if not p.exists():
        raise HuiaError("dataset not found", p)
    if p.is_file():
        if p.suffix.lower() == ".csv":
            return "csv"
        if p.suffix.lower() == ".json":
            return "coco"
        raise HuiaError("unknown dataset file type (expected a folder, a .csv or a COCO .json)", p)
    if find_voc_dirs(p) is not None:
        return "voc"
    if find_csv(p) is not None:
        return "csv"
    if find_coco_json(p) is not None:
        return "coco"
    if is_class_folder_root(p):
        return "folders"
    raise HuiaError("cannot tell the dataset format: expected a VOC folder (annots/*.xml + images/), a CSV "
                    "(labels.csv), COCO JSON (annotations.json) or one folder of images per class", p)


def read_dataset(path: str | Path, fmt: str | None = None, classes: list[str] | None = None
                 ) -> tuple[list[Sample], list[str], str]:
    """``(samples, problems, fmt)`` from any supported format (auto-detected when ``fmt`` is None)."""
    fmt = fmt or detect_format(path)
    if fmt == "voc":
        from huia.data.voc import read_voc_dir
        samples, problems = read_voc_dir(path, classes)
    elif fmt == "csv":
        from huia.data.csv_format import read_csv
        samples, problems = read_csv(path, classes=classes)
    elif fmt == "coco":
        from huia.data.coco import read_coco
        samples, problems = read_coco(path, classes=classes)
    elif fmt == "folders":
        from huia.data.folders import read_class_folders
        samples, problems = read_class_folders(path, classes)
    else:
        raise HuiaError(f"unknown dataset format {fmt!r} (choose from {', '.join(FORMATS)})")
    from huia.data.provenance import attach_provenance

    attach_provenance(samples, path)
    return samples, problems, fmt


def load_dataset(path: str | Path, fmt: str | None = None, classes: list[str] | None = None, *,
                 strict: bool = True) -> list[Sample]:
    """Read a dataset for training/evaluation. With ``strict`` (default) any problem raises one HuiaError that
    counts them and quotes the first few; ``strict=False`` returns the valid samples (the caller must report)."""
    samples, problems, _ = read_dataset(path, fmt, classes)
    if problems and strict:
        shown = "; ".join(problems[:3])
        more = f" (and {len(problems) - 3} more; run `huia data check {path}`)" if len(problems) > 3 else ""
        raise HuiaError(f"{len(problems)} problem(s) in the dataset: {shown}{more}", path)
    if not samples:
        raise HuiaError("dataset has no usable samples", path)
    return samples


def open_writer(out_dir: str | Path, fmt: str, class_names: list[str] | None = None):
    """A :class:`huia.data.writer.DatasetWriter` for ``fmt``: ``add(sample)`` writes each image at once (nothing
    but labels stays in memory), ``close()`` writes the annotation file and ``labelmap.pbtxt``."""
    if fmt == "voc":
        from huia.data.voc import VocWriter
        return VocWriter(out_dir, class_names)
    if fmt == "csv":
        from huia.data.csv_format import CsvWriter
        return CsvWriter(out_dir, class_names)
    if fmt == "coco":
        from huia.data.coco import CocoWriter
        return CocoWriter(out_dir, class_names)
    if fmt == "folders":
        from huia.data.folders import FolderWriter
        return FolderWriter(out_dir)
    raise HuiaError(f"unknown dataset format {fmt!r} (choose from {', '.join(FORMATS)})")


def write_dataset(samples: list[Sample], out_dir: str | Path, fmt: str, class_names: list[str] | None = None
                  ) -> Path:
    """Write samples in ``fmt`` under ``out_dir`` (labelmap.pbtxt alongside detection formats; provenance.json
    when samples carry ``meta["origin"]``, so a split or converted augmented set still groups copies)."""
    writer = open_writer(out_dir, fmt, class_names)
    for s in samples:
        writer.add(s)
    result = writer.close()
    origins = [s.meta.get("origin") for s in samples]
    if any(origins):
        from huia.data.provenance import write_manifest

        write_manifest(out_dir, writer.paths, origins)
    return result
