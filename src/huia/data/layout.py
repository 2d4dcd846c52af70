"""Where a CSV or COCO data set keeps its files: one annotation file, and the images in ``images/`` beside it (or
next to it). Both readers accept the file itself or its folder, by the same rule."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from huia.errors import HuiaError


def annotation_file(path: str | Path, find: Callable[[Path], Path | None], what: str,
                    images_dir: str | Path | None = None) -> tuple[Path, Path]:
    """``(annotation file, images folder)`` for ``path`` (the file, or a folder that ``find`` searches).
    ``what`` names the file in errors ("annotation CSV (labels.csv)"). ``images_dir`` defaults to ``images/``
    beside the file, else the file's own folder."""
    p = Path(path)
    if p.is_dir():
        found = find(p)
        if found is None:
            raise HuiaError(f"no {what} found", p)
        p = found
    if not p.is_file():
        raise HuiaError(f"{what} not found", p)
    if images_dir is None:
        images_dir = p.parent / "images" if (p.parent / "images").is_dir() else p.parent
    return p, Path(images_dir)
