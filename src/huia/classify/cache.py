"""The on-disk cache of backbone features (``compute_features``), with a size cap.

Why a cap: every (sample, augmented view, backbone, input size) adds a file, so a user who trains many runs on
changing data would otherwise grow ``~/.cache/huia`` without bound. After each write batch the least recently used
files (by modification time: a hit touches its file) are removed until the cache fits in ``HUIA_CACHE_MAX_MB``
(default 2048). ``huia classify cache`` shows the size and clears it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

DEFAULT_MAX_MB = 2048


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


def prune(limit: int | None = None, root: Path | None = None) -> int:
    """Remove least recently used files until the cache holds at most ``limit`` bytes; returns bytes freed."""
    limit = max_bytes() if limit is None else limit
    root = root or cache_root()
    if limit <= 0 or not root.is_dir():
        return 0
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
