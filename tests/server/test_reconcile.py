"""A running studio notices files moved out of (or back into) a dataset folder behind its back: `huia data review
--quarantine`, a file manager (re-audit finding 2: /api/datasets kept stale counts and the grid showed 404s)."""

from __future__ import annotations

import json
import os
import shutil
import time

from huia.server.capture import Dataset
from tests.server.test_api import client, jpeg_bytes, upload  # noqa: F401 (client: the same studio fixture)


def _counts(c, name="d"):
    ds = {d["name"]: d for d in c.get("/api/datasets").json()["datasets"]}[name]
    return ds["total"], {k["name"]: k["count"] for k in ds["classes"]}


def test_moved_away_and_back_is_noticed(client):
    client.post("/api/datasets", json={"name": "d"})
    ids = [upload(client, dataset="d", label=lab, data=jpeg_bytes(seed=i)).json()["id"]
           for i, lab in enumerate(["a", "a", "a", "b", "b"])]
    assert _counts(client) == (5, {"a": 3, "b": 2})
    root = client.data_dir / "datasets" / "d"
    away = root / ".quarantine" / "near_duplicate" / "a"  # where `data review --quarantine` puts them
    away.mkdir(parents=True)
    for sid in ids[:2]:
        for ext in (".jpg", ".json"):
            shutil.move(root / "a" / f"{sid}{ext}", away / f"{sid}{ext}")
    assert _counts(client) == (3, {"a": 1, "b": 2})
    page = client.get("/api/datasets/d/samples").json()
    assert page["total"] == 3 and {s["id"] for s in page["samples"]} == set(ids[2:])
    assert client.get(f"/api/datasets/d/samples/{ids[0]}").status_code == 404
    assert client.get("/api/datasets/d/samples?label=a").json()["total"] == 1
    # moved back: listed again, with its metadata
    for sid in ids[:2]:
        for ext in (".jpg", ".json"):
            shutil.move(away / f"{sid}{ext}", root / "a" / f"{sid}{ext}")
    assert _counts(client) == (5, {"a": 3, "b": 2})
    back = client.get(f"/api/datasets/d/samples/{ids[0]}").json()
    assert back["label"] == "a" and back["has_keypoints"] and back["width"] == 64
    assert client.get(f"/api/datasets/d/samples/{ids[0]}/image").status_code == 200
    # a whole class folder moved away by hand, and a sample dropped into another class
    shutil.move(root / "b", root.parent / "b-elsewhere")
    assert _counts(client) == (3, {"a": 3})
    shutil.move(root.parent / "b-elsewhere" / f"{ids[3]}.jpg", root / "a" / f"{ids[3]}.jpg")
    assert _counts(client) == (4, {"a": 4})
    assert client.get(f"/api/datasets/d/samples/{ids[3]}").json()["label"] == "a"


def test_listing_does_not_rescan_an_unchanged_dataset(tmp_path, monkeypatch):
    """Thousands of samples: the check is a stat per class folder; the full scan runs only after a change."""
    root = tmp_path / "ds"
    for lab in ("a", "b"):
        (root / lab).mkdir(parents=True)
    for i in range(2000):
        sid = f"{1700000000000 + i:013d}-{i:08x}"
        (root / "ab"[i % 2] / f"{sid}.jpg").write_bytes(b"x")
        (root / "ab"[i % 2] / f"{sid}.json").write_text(json.dumps({"width": 1, "height": 1}))
    old = time.time() - 60  # the folders changed a while ago (no recheck window pending)
    for d in (root, root / "a", root / "b"):
        os.utime(d, (old, old))
    ds = Dataset(root)
    assert ds.list_samples(None, 0, 1)[0] == 2000
    scans = []
    real = ds._reconcile_locked
    monkeypatch.setattr(ds, "_reconcile_locked", lambda remove_temps: scans.append(remove_temps) or real(remove_temps))
    t0 = time.perf_counter()
    for _ in range(200):
        assert ds.refresh() is False
    per_call = (time.perf_counter() - t0) / 200
    assert not scans and per_call < 0.005, per_call  # generous: ~50 us here; a full scan of 4000 files is ~10 ms
    os.replace(root / "a" / "1700000000000-00000000.jpg", tmp_path / "gone.jpg")
    assert ds.refresh() is True and scans == [False]  # temp files of uploads in flight are left alone
    assert ds.list_samples(None, 0, 1)[0] == 1999
    ds.close()


def test_images_that_are_not_captures_are_counted_not_hidden(client):
    """`huia data augment` written into datasets/ (re-audit finding 13): the copies are not studio captures (a
    sample's id is its capture time), so they are not listed, but the dataset says how many there are."""
    client.post("/api/datasets", json={"name": "d"})
    sid = upload(client, dataset="d", label="a", data=jpeg_bytes(seed=1)).json()["id"]
    root = client.data_dir / "datasets" / "d"
    info = client.get("/api/datasets/d").json()
    assert (info["total"], info["other_images"]) == (1, 0)
    shutil.copy(root / "a" / f"{sid}.jpg", root / "a" / f"{sid}_aug01.jpg")
    (root / "a" / "notes.txt").write_text("not an image")
    (root / "a" / ".hidden.jpg").write_bytes(b"x")
    info = client.get("/api/datasets/d").json()
    assert (info["total"], info["other_images"]) == (1, 1)
    listed = {d["name"]: d for d in client.get("/api/datasets").json()["datasets"]}["d"]
    assert listed["other_images"] == 1
