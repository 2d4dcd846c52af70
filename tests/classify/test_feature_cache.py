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


# -- two runs sharing one cache (the default ~/.cache/huia is shared by every run) ------------------------------------
class _Spec:
    name = "fake-mean"


class _FakeBackbone:
    """Cheap deterministic features (per-channel means of image quadrants): the race is in the cache, not the net."""

    spec = _Spec()
    out_dim = 12

    class graph:  # noqa: N801 - mimics Backbone.graph: no parameters, so compute_features caches
        @staticmethod
        def parameters():
            return iter(())

    def __call__(self, x, all_features=False):
        import torch

        h, w = x.shape[1] // 2, x.shape[2] // 2
        quads = [x[:, :h, :w], x[:, :h, w:], x[:, h:, :w], x[:, h:, w:]]
        return torch.cat([q.mean(dim=(1, 2)) for q in quads], dim=1)


class _FakeModel:
    backbone = _FakeBackbone()


def _digit_images(root, n):
    from PIL import Image

    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        p = root / f"{i:02d}.png"
        Image.fromarray(rng.integers(0, 256, (20, 28, 3), dtype=np.uint8)).save(p)
        out.append(p)
    return out


def _writer(cache_dir, files, rounds, barrier, q):
    """One 'training run': compute features of the same samples (views included) ``rounds`` times, the cache
    emptied by the other side's pruning in between; reports the features of every round or the error."""
    os.environ["HUIA_CACHE_DIR"] = str(cache_dir)
    os.environ["HUIA_CACHE_MAX_MB"] = "0.001"  # ~1 kB: each run prunes what the other just stored
    from huia.classify.train import compute_features
    from huia.types import Sample

    samples = [Sample(image_path=f, label="a") for f in files]
    try:
        outs = []
        for _ in range(rounds):
            barrier.wait(timeout=60)
            feats, _ = compute_features(_FakeModel(), "image", samples, 16, views=2, seed=3, batch=1, desc=None)
            outs.append(feats)
        q.put(("ok", np.stack(outs)))
    except Exception as exc:  # noqa: BLE001 - the parent asserts on it
        q.put(("error", f"{type(exc).__name__}: {exc}"))
        barrier.abort()


def test_two_runs_writing_the_same_keys_at_once(tmp_path, monkeypatch):
    """Two processes compute (and store) the same content keys at the same moment while both prune the cache:
    neither crashes on the other's temporary file, both get the same features as an uncached computation, and
    what is left in the cache is whole .npy files (no temporary files behind)."""
    import multiprocessing as mp

    from huia.classify.train import compute_features
    from huia.types import Sample

    files = _digit_images(tmp_path / "img", 12)
    ctx = mp.get_context("fork")
    barrier, q = ctx.Barrier(2), ctx.Queue()
    cache_dir = tmp_path / "shared-cache"
    procs = [ctx.Process(target=_writer, args=(cache_dir, files, 6, barrier, q)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [q.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert [r[0] for r in results] == ["ok", "ok"], [r[1] for r in results if r[0] == "error"]
    monkeypatch.setenv("HUIA_CACHE_DIR", str(tmp_path / "alone"))
    want, _ = compute_features(_FakeModel(), "image", [Sample(image_path=f, label="a") for f in files], 16,
                               views=2, seed=3, batch=1, desc=None)
    for _, got in results:
        np.testing.assert_array_equal(got, np.broadcast_to(want, got.shape))
    left = [p for p in (cache_dir / "features").rglob("*") if p.is_file()]
    assert all(p.suffix == ".npy" for p in left), [p.name for p in left]
    for p in left:
        assert np.load(p).shape == (12,)


def test_temp_files_are_not_cache_entries_and_stale_ones_go(tmp_path):
    """A write in progress is neither counted nor pruned; one left by a killed run (over an hour old) is removed."""
    paths = _fill(tmp_path, 2)
    assert cache.store(tmp_path / "space" / "00" / "new.npy", np.ones(3, np.float32))
    fresh = paths[0].with_name(f".k9.npy.123.abcd{cache.TMP_SUFFIX}")
    stale = paths[0].with_name(f".k8.npy.124.abcd{cache.TMP_SUFFIX}")
    for p in (fresh, stale):
        p.write_bytes(b"partial")
    old = time.time() - cache.STALE_TMP_SECONDS - 10
    os.utime(stale, (old, old))
    assert cache.usage(tmp_path)[0] == 3
    cache.prune(limit=10**9, root=tmp_path)
    assert fresh.exists() and not stale.exists()
    np.testing.assert_array_equal(np.load(tmp_path / "space" / "00" / "new.npy"), np.ones(3, np.float32))
    assert not list(tmp_path.rglob(f"*new.npy.*{cache.TMP_SUFFIX}"))
