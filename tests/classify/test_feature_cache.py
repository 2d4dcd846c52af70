"""The feature cache stays under its cap (least recently used files go first) and the CLI shows and clears it."""

import json
import os
import time

import numpy as np
import pytest

from huia.classify import cache
from huia.cli import main
from huia.errors import HuiaError


def _fill(root, n, size=4096):
    paths = []
    for i in range(n):
        p = root / "space" / f"{i:02d}" / f"k{i}.npy"
        p.parent.mkdir(parents=True, exist_ok=True)
        np.save(p, np.zeros(size // 4, np.float32))
        t = time.time() - 1000 + i  # file i is the i-th most recently used
        os.utime(p, (t, t))
        paths.append(p)
    return paths


def test_prune_removes_least_recently_used_until_under_cap(tmp_path):
    paths = _fill(tmp_path, 10)
    each = paths[0].stat().st_size
    cache.touch(paths[0])  # a hit makes the oldest file the newest
    freed = cache.prune(limit=4 * each, root=tmp_path)
    left = sorted(p.name for p in tmp_path.rglob("*.npy"))
    assert freed == 6 * each
    assert left == sorted(["k0.npy", "k7.npy", "k8.npy", "k9.npy"])
    assert cache.usage(tmp_path) == (4, 4 * each)
    assert cache.prune(limit=0, root=tmp_path) == 0  # 0 = no cap


def test_cap_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("HUIA_CACHE_MAX_MB", "1.5")
    assert cache.max_bytes() == int(1.5 * 2**20)
    monkeypatch.setenv("HUIA_CACHE_MAX_MB", "lots")
    with pytest.raises(HuiaError, match="HUIA_CACHE_MAX_MB"):
        cache.max_bytes()


def test_cli_shows_and_clears_the_cache(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HUIA_CACHE_DIR", str(tmp_path))
    paths = _fill(tmp_path / "features", 3)
    assert main(["classify", "cache", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["files"] == 3 and info["bytes"] == sum(p.stat().st_size for p in paths)
    assert info["path"] == str(tmp_path / "features")
    assert main(["classify", "cache", "--clear", "--json"]) == 0
    info2 = json.loads(capsys.readouterr().out)
    assert info2["files"] == 0 and info2["freed"] == info["bytes"]
    assert not (tmp_path / "features").exists()
