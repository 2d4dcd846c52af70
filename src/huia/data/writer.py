"""Writing a data set one sample at a time, so that ``huia data augment`` never holds more than one image's pixels:
``add(sample)`` writes the sample's image (and its per-image files) at once and keeps only the labels;
``close()`` writes what needs the whole list (the CSV, the COCO JSON, ``labelmap.pbtxt``).

Each format's writer (:class:`huia.data.voc.VocWriter`, ...) subclasses :class:`DatasetWriter`;
:func:`huia.data.open_writer` picks one. ``paths`` lists what was written, relative to the output folder, in the
order of ``add``: the one source of the names that ``provenance.json`` records.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from huia.types import Sample


class UniqueNames:
    """Output file names unique by stem, given in order: ``a.png`` after ``a.jpg`` becomes ``<label>_a.png`` (or
    ``a_1.png``), because both would otherwise share ``a.xml`` / ``a.json``. A name depends only on the samples
    before it, so a writer can name each sample as it arrives."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def __call__(self, s: Sample) -> str:
        name = s.meta.get("out_name") or Path(s.image_path).name
        if Path(name).stem.lower() in self.used and s.label:
            name = f"{s.label}_{name}"
        stem, suffix = Path(name).stem, Path(name).suffix
        i = 1
        while Path(name).stem.lower() in self.used:
            name = f"{stem}_{i}{suffix}"
            i += 1
        self.used.add(Path(name).stem.lower())
        return name


def without_pixels(s: Sample) -> Sample:
    """The sample without its in-memory image (``meta["image"]``): what a writer keeps after writing the file."""
    if s.meta.get("image") is None:
        return s
    return dataclasses.replace(s, meta={k: v for k, v in s.meta.items() if k != "image"})


class DatasetWriter:
    """Base of the format writers. Use as ``with open_writer(out, fmt) as w: w.add(s) ...`` (``close`` runs only
    when the block succeeds; on an error the caller's temporary folder is removed as a whole)."""

    def __init__(self, out_dir: str | Path, class_names: list[str] | None = None):
        self.out = Path(out_dir)
        self.class_names = None if class_names is None else list(class_names)
        self.samples: list[Sample] = []  # as added, pixels dropped
        self.names: list[str] = []  # file name of each sample's image
        self.paths: list[str] = []  # its path relative to ``out``
        self.closed = False

    def add(self, sample: Sample) -> str:
        """Write one sample's image (+ per-image files) now; returns its path relative to the output folder."""
        rel = self._write(sample)
        self.samples.append(without_pixels(sample))
        self.names.append(Path(rel).name)
        self.paths.append(rel)
        return rel

    def close(self) -> Path:
        """Write the files that list every sample; returns the main output (folder or annotation file)."""
        self.closed = True
        return self._finish()

    def _write(self, sample: Sample) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def _finish(self) -> Path:  # pragma: no cover - abstract
        raise NotImplementedError

    def __enter__(self) -> "DatasetWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None and not self.closed:
            self.close()


class ImagesFolderWriter(DatasetWriter):
    """The formats that keep every image in ``out/images`` and list them all in one annotation file written at
    ``close`` (CSV, COCO); subclasses write that file in ``_finish``."""

    def __init__(self, out_dir: str | Path, class_names: list[str] | None = None):
        super().__init__(out_dir, class_names)
        (self.out / "images").mkdir(parents=True, exist_ok=True)
        self._unique = UniqueNames()

    def _write(self, s: Sample) -> str:
        from huia.data.voc import write_image_file  # (voc imports this module)

        name = self._unique(s)
        write_image_file(s, self.out / "images" / name)
        return f"images/{name}"
