"""The on-disk cache of backbone features (``compute_features``), with a size cap.

Why a cap: every (sample, augmented view, backbone, input size) adds a file, so a user who trains many runs on
changing data would otherwise grow ``~/.cache/huia`` without bound. After each write batch the least recently used
files (by modification time: a hit touches its file) are removed until the cache fits in ``HUIA_CACHE_MAX_MB``
(default 2048). ``huia classify cache`` shows the size and clears it.

Several runs may share the cache at once (the default folder is per user, not per run): each write goes to a temp
file of its own whose name does not end in ``.npy`` (so no run's pruning counts or removes it) and is renamed into
place; two runs storing the same key store the same content, so whichever rename lands last is fine, and a rename
that finds its temp file or folder gone (``huia classify cache --clear`` meanwhile) just skips the store.
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from pathlib import Path

DEFAULT_MAX_MB = 2048
TMP_SUFFIX = ".tmp"
STALE_TMP_SECONDS = 3600  # a temp file this old belongs to a run that was killed mid-write


def cache_root() -> Path:
    """Where backbone features are cached: $HUIA_CACHE_DIR/features, else ~/.cache/huia/features."""
    base = os.environ.get("HUIA_CACHE_DIR")
    return (Path(base) if base else Path.home() / ".cache" / "huia") / "features"


def max_bytes() -> int:
    """The cap from HUIA_CACHE_MAX_MB (a number of MB; 0 disables the cap)."""
    from huia.errors import HuiaError

    raw = os.environ.get("HUIA_CACHE_MAX_MB", str(DEFAULT_MAX_MB))
    try:
        mb = float(raw)
    except ValueError:
        raise HuiaError(f"HUIA_CACHE_MAX_MB must be a number of megabytes, got {raw!r}") from None
    return int(mb * 1024 * 1024) if mb > 0 else 0


def _files(root: Path) -> list[tuple[float, int, Path]]:
    out = []
    for p in root.rglob("*.npy"):
        try:
            st = p.stat()
        except OSError:  # removed meanwhile (another run pruning)
            continue
        out.append((st.st_mtime, st.st_size, p))
    return out


def usage(root: Path | None = None) -> tuple[int, int]:
    """(files, bytes) in the cache."""
    files = _files(root or cache_root())
    return len(files), sum(size for _, size, _ in files)


def touch(path: Path) -> None:
    """Mark a cache hit as recently used (what pruning keeps)."""
    try:
        os.utime(path)
    except OSError:
        pass


def store(path: Path, array) -> bool:
    """Write ``array`` as ``path`` (.npy) atomically, safe against other runs writing the same key or pruning;
    returns False when the store was skipped (the cache folder was removed meanwhile, disk full, ...): the cache is
    an optimisation, a failed store never fails the run."""
    import numpy as np

    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{TMP_SUFFIX}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            np.save(f, array)
        os.replace(tmp, path)
        return True
    except OSError:  # FileNotFoundError: cleared meanwhile; the same content may already be there from another run
        try:
            tmp.unlink()
        except OSError:
            pass
        return False


def _remove_stale_temps(root: Path) -> None:
    now = time.time()
    for p in root.rglob(f".*{TMP_SUFFIX}"):
        try:
            if now - p.stat().st_mtime > STALE_TMP_SECONDS:
                p.unlink()
        except OSError:
            pass


def prune(limit: int | None = None, root: Path | None = None) -> int:
    """Remove least recently used files until the cache holds at most ``limit`` bytes; returns bytes freed."""
    limit = max_bytes() if limit is None else limit
    root = root or cache_root()
    if limit <= 0 or not root.is_dir():
        return 0
    _remove_stale_temps(root)
    files = _files(root)
    total = sum(size for _, size, _ in files)
    freed = 0
    for _, size, path in sorted(files):
        if total - freed <= limit:
            break
        try:
            path.unlink()
            freed += size
        except OSError:
            pass
    return freed


def clear(root: Path | None = None) -> int:
    """Delete the whole cache; returns bytes freed."""
    root = root or cache_root()
    _, size = usage(root)
    if root.is_dir():
        shutil.rmtree(root)
    return size
