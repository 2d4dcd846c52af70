"""Where each sample came from, so an augmented copy never sits on the other side of a split from its original.

``huia data augment`` writes ``DST/provenance.json``: for every written image (path relative to DST) the source
file it was made from (path relative to the augment's SRC) and the SHA-1 of that source file's bytes. An original
copied into DST is its own source; augmenting an augmented set keeps the first source. ``data split`` and
``data convert`` carry the entries of the files they write. Readers (:func:`attach_provenance`) put the entry in
``sample.meta["origin"]``; without a manifest the ``<stem>_augNN`` naming of ``augment`` groups a copy with
``<stem>.*`` in the same folder.

:func:`group_key` is what splitting groups by, and :func:`source_sha1` what ``classify train`` records so that
``classify eval`` can skip an original whose copy was trained on.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from pathlib import Path

from huia.types import Sample

MANIFEST = "provenance.json"
KIND = "huia-provenance"
_AUG = re.compile(r"^(?P<stem>.+)_aug\d{2,}$")


def file_sha1(path: str | Path) -> str:
    """SHA-1 of a file's bytes. Remembered per (path, size, mtime): without a manifest, every augmented copy looks
    up its original's hash, and evaluation also hashes that original as a sample of its own -- one read each."""
    p = Path(path).resolve()
    st = p.stat()
    return _sha1_of(str(p), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=65536)
def _sha1_of(path: str, size: int, mtime_ns: int) -> str:
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


def dataset_root(path: str | Path) -> Path:
    """The folder a data set's relative paths start from (a CSV/COCO file's folder, else the folder itself)."""
    p = Path(path)
    return p.parent if p.is_file() else p


def read_manifest(root: str | Path) -> dict[str, dict]:
    """``{relative image path: {"source": ..., "source_sha1": ...}}`` of ``root/provenance.json`` ({} if none or
    unreadable: provenance only ever adds grouping, so a damaged manifest falls back to the file naming)."""
    f = Path(root) / MANIFEST
    if not f.is_file():
        return {}
    try:
        doc = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    entries = doc.get("files") if isinstance(doc, dict) else None
    if not isinstance(entries, dict):
        return {}
    return {str(k): v for k, v in entries.items()
            if isinstance(v, dict) and isinstance(v.get("source_sha1"), str) and isinstance(v.get("source"), str)}


def attach_provenance(samples: list[Sample], root: str | Path) -> None:
    """Put each sample's manifest entry (if any) in ``meta["origin"]``."""
    root = dataset_root(root)
    entries = read_manifest(root)
    if not entries:
        return
    for s in samples:
        try:
            rel = Path(s.image_path).resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            continue
        if rel in entries:
            s.meta["origin"] = {"source": entries[rel]["source"], "source_sha1": entries[rel]["source_sha1"]}


def base_stem(path: str | Path) -> str:
    """``IMG_1_aug03.jpg`` -> ``IMG_1`` (the stem of the original an augmented copy was named after)."""
    stem = Path(path).stem
    m = _AUG.match(stem)
    return m.group("stem") if m else stem


def group_key(s: Sample) -> str:
    """The group a sample must stay with: ``sha1:<source hash>`` from the
    manifest, else ``name:<label>/<stem without _augNN>`` (the caller groups names only when more than one sample
    shares one). Machine-independent (no absolute path), so it can order a split."""
    origin = s.meta.get("origin")
    if origin and origin.get("source_sha1"):
        return "sha1:" + origin["source_sha1"]
    return f"name:{s.label or ''}/{base_stem(s.image_path)}"


def source_sha1(s: Sample, siblings: dict[str, Path] | None = None) -> str | None:
    """SHA-1 of the file a sample was made from: the manifest's, else (``<stem>_augNN`` naming) the hash of
    ``<stem>.*`` found in ``siblings`` (``{group_key: path}`` of the originals in the same data set)."""
    origin = s.meta.get("origin")
    if origin and origin.get("source_sha1"):
        return origin["source_sha1"]
    if _AUG.match(Path(s.image_path).stem) and siblings:
        orig = siblings.get(group_key(s))
        if orig is not None and orig.is_file():
            return file_sha1(orig)
    return None


def originals_by_group(samples: list[Sample]) -> dict[str, Path]:
    """``{group_key: path}`` of the samples that are not ``_augNN`` copies (for :func:`source_sha1`)."""
    return {group_key(s): Path(s.image_path) for s in samples if not _AUG.match(Path(s.image_path).stem)}


def write_manifest(out: str | Path, rel_paths: list[str], origins: list[dict | None], **info) -> Path | None:
    """Write ``out/provenance.json`` for the samples that have an origin; None when none has."""
    files = {r: {"source": o["source"], "source_sha1": o["source_sha1"], **({"copy": o["copy"]} if "copy" in o
                                                                             else {})}
             for r, o in zip(rel_paths, origins) if o}
    if not files:
        return None
    f = Path(out) / MANIFEST
    f.write_text(json.dumps({"kind": KIND, "version": 1, **info, "files": files}, indent=1), encoding="utf-8")
    return f


def seen_hashes(trained: list[Sample], pool: list[Sample] | None = None) -> set[str]:
    """Every SHA-1 a model trained on ``trained`` has seen: each file's own and its source's (``pool``: the whole
    data set, to find ``<stem>.*`` originals of ``_augNN`` copies when there is no manifest)."""
    originals = originals_by_group(pool if pool is not None else trained)
    out = {file_sha1(s.image_path) for s in trained}
    out |= {h for s in trained if (h := source_sha1(s, originals))}
    return out


def shares_source(s: Sample, seen: set[str], originals: dict[str, Path]) -> bool:
    """True if ``s`` is, or was made from, or is the source of, a file whose hashes are in ``seen``
    (:func:`seen_hashes`); ``originals`` from :func:`originals_by_group` over the evaluated data set."""
    if file_sha1(s.image_path) in seen:
        return True
    src = source_sha1(s, originals)
    return src is not None and src in seen
