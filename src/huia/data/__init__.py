"""Data sets on disk: detection (Pascal VOC, the article's CSV, COCO JSON) and classification (class folders, the
studio's capture format), converted, split and augmented without ever dropping a file silently.

Every reader returns ``(samples, problems)``; :func:`load_dataset` is the strict front door used by training and
evaluation (auto-detects the format, raises one HuiaError summarising the problems).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from huia.data.images import TruncatedImageWarning, decode_image, image_size, load_image, save_image
from huia.data.split import sample_per_class, split_samples
from huia.errors import HuiaError
from huia.types import Sample

@dataclass(frozen=True)
class DataFormat:
    """One data set format: the module holding it and the names of its three parts there. Detection, reading and
    writing go through this table, so a new format is one module and one row."""

    name: str
    module: str
    find: str  # fn(folder) -> what marks the format there (None/False: not this format)
    read: str  # fn(path, classes=...) -> (samples, problems)
    writer: str  # DatasetWriter subclass: cls(out_dir, class_names)
    file_suffix: str | None = None  # a single file of this format (a CSV, a COCO JSON)
    boxes: bool = True  # a detection format (boxes per image); False: classification (a label per image)

    def part(self, name: str):
        return getattr(importlib.import_module(self.module), getattr(self, name))


_TABLE = (  # in detection order: a VOC folder may also hold a CSV, any of them looks like class folders
    DataFormat("voc", "huia.data.voc", "find_voc_dirs", "read_voc_dir", "VocWriter"),
    DataFormat("csv", "huia.data.csv_format", "find_csv", "read_csv", "CsvWriter", ".csv"),
    DataFormat("coco", "huia.data.coco", "find_coco_json", "read_coco", "CocoWriter", ".json"),
    DataFormat("folders", "huia.data.folders", "is_class_folder_root", "read_class_folders", "FolderWriter",
               boxes=False),
)
FORMATS = tuple(f.name for f in _TABLE)


def data_format(name: str) -> DataFormat:
    for f in _TABLE:
        if f.name == name:
            return f
    raise HuiaError(f"unknown dataset format {name!r} (choose from {', '.join(FORMATS)})")


def detect_format(path: str | Path) -> str:
    """'voc' | 'csv' | 'coco' | 'folders' for a dataset path, or HuiaError saying what was expected."""
    p = Path(path)
    if not p.exists():
        raise HuiaError("dataset not found", p)
    if p.is_file():
        for f in _TABLE:
            if f.file_suffix and p.suffix.lower() == f.file_suffix:
                return f.name
        raise HuiaError("unknown dataset file type (expected a folder, a .csv or a COCO .json)", p)
    for f in _TABLE:
        if f.part("find")(p) not in (None, False):
            return f.name
    raise HuiaError("cannot tell the dataset format: expected a VOC folder (annots/*.xml + images/), a CSV "
                    "(labels.csv), COCO JSON (annotations.json) or one folder of images per class", p)


def read_dataset(path: str | Path, fmt: str | None = None, classes: list[str] | None = None
                 ) -> tuple[list[Sample], list[str], str]:
    """``(samples, problems, fmt)`` from any supported format (auto-detected when ``fmt`` is None)."""
    fmt = fmt or detect_format(path)
    samples, problems = data_format(fmt).part("read")(path, classes=classes)
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
    return data_format(fmt).part("writer")(out_dir, class_names)


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
