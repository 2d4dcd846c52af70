"""Restoring samples the capture review grid deleted (moved to DATA/datasets/<d>/.trash): the files and the SQLite
row come back byte-identical, a deleted class folder is re-created, names with `../` are refused, nothing stored is
lost on a refused request."""

from __future__ import annotations

import sqlite3

from tests.server.test_api import client, jpeg_bytes, snapshot, upload  # noqa: F401  (client is a fixture)


def _row(root, sid):
    db = sqlite3.connect(root / "index.sqlite")
    try:
        return db.execute("SELECT * FROM samples WHERE id=?", (sid,)).fetchone()
    finally:
        db.close()


def test_restore_brings_file_and_row_back(client):  # noqa: F811
    client.post("/api/datasets", json={"name": "d"})
    a = upload(client, dataset="d", label="up", data=jpeg_bytes(seed=1)).json()
    b = upload(client, dataset="d", label="up", data=jpeg_bytes(seed=2)).json()
    root = client.data_dir / "datasets" / "d"
    jpg, meta = (root / "up" / f"{a['id']}.jpg").read_bytes(), (root / "up" / f"{a['id']}.json").read_bytes()
    row = _row(root, a["id"])
    assert row is not None

    assert client.delete(f"/api/datasets/d/samples/{a['id']}").status_code == 200
    assert _row(root, a["id"]) is None and not (root / "up" / f"{a['id']}.jpg").exists()
    trash = client.get("/api/datasets/d/trash").json()
    assert [(t["id"], t["label"]) for t in trash["samples"]] == [(a["id"], "up")]
    img = client.get(trash["samples"][0]["image_url"])
    assert img.status_code == 200 and img.content == jpg

    r = client.post(f"/api/datasets/d/trash/{a['id']}/restore")
    assert r.status_code == 200, r.text
    assert r.json()["id"] == a["id"] and r.json()["label"] == "up"
    assert (root / "up" / f"{a['id']}.jpg").read_bytes() == jpg
    assert (root / "up" / f"{a['id']}.json").read_bytes() == meta
    assert _row(root, a["id"])[:2] == row[:2] and _row(root, a["id"])[3:] == row[3:]
    assert client.get(f"/api/datasets/d/samples/{a['id']}").status_code == 200
    assert client.get("/api/datasets/d/classes").json()["classes"] == [{"name": "up", "count": 2}]
    assert client.get("/api/datasets/d/trash").json()["samples"] == []
    assert not list((root / ".trash" / "samples").rglob("*.jpg"))
    # restoring twice: nothing left to restore
    assert client.post(f"/api/datasets/d/trash/{a['id']}/restore").status_code == 404
    assert b["id"] != a["id"]


def test_restore_recreates_a_removed_class_and_restore_all(client):  # noqa: F811
    client.post("/api/datasets", json={"name": "d"})
    ids = [upload(client, dataset="d", label=lab, data=jpeg_bytes(seed=i)).json()["id"]
           for i, lab in enumerate(["x", "x", "y"])]
    for sid in ids:
        assert client.delete(f"/api/datasets/d/samples/{sid}").status_code == 200
    root = client.data_dir / "datasets" / "d"
    (root / "y").rmdir()  # the empty class folder went away (e.g. removed by hand)
    client.get("/api/datasets/d")  # still served
    r = client.post("/api/datasets/d/trash/restore")
    assert r.status_code == 200, r.text
    assert sorted(s["id"] for s in r.json()["restored"]) == sorted(ids)
    assert {c["name"]: c["count"] for c in client.get("/api/datasets/d/classes").json()["classes"]} == {"x": 2, "y": 1}
    assert (root / "y" / f"{ids[2]}.jpg").is_file()
    # the folder reader (training input) sees them again
    from huia.data.folders import read_class_folders

    samples, _ = read_class_folders(root)
    assert sorted(s.image_path.stem for s in samples) == sorted(ids)


def test_restore_refuses_bad_names_and_loses_nothing(client):  # noqa: F811
    client.post("/api/datasets", json={"name": "d"})
    sid = upload(client, dataset="d", label="up").json()["id"]
    client.delete(f"/api/datasets/d/samples/{sid}")
    data = client.data_dir
    before = snapshot(data)
    for url in [f"/api/datasets/d/trash/..%2F..%2F{sid}/restore", "/api/datasets/d/trash/..%2Fup/restore",
                f"/api/datasets/..%2Fd/trash/{sid}/restore", "/api/datasets/../d/trash/restore",
                f"/api/datasets/d/trash/{sid}.jpg/restore", "/api/datasets/d/trash/1234/restore",
                f"/api/datasets/d/trash/..%2F..%2F{sid}/image"]:
        r = client.post(url) if url.endswith("restore") else client.get(url)
        assert r.status_code in (400, 404), (url, r.status_code, r.text)
        if r.headers.get("content-type", "").startswith("application/json"):
            assert "error" in r.json() or "detail" in r.json()
    assert snapshot(data) == before
    # a sample id already live again is not overwritten
    assert client.post(f"/api/datasets/d/trash/{sid}/restore").status_code == 200
    assert client.delete(f"/api/datasets/d/samples/{sid}").status_code == 200
    root = data / "datasets" / "d"
    trashed = root / ".trash" / "samples" / "up" / f"{sid}.jpg"
    (root / "up" / f"{sid}.jpg").write_bytes(trashed.read_bytes())
    (root / "up" / f"{sid}.json").write_bytes(trashed.with_suffix(".json").read_bytes())
    from huia.server.capture import Dataset

    Dataset(root).reconcile()  # a second copy is live (e.g. copied back by hand) and indexed
    live = (root / "up" / f"{sid}.jpg").read_bytes()
    r = client.post(f"/api/datasets/d/trash/{sid}/restore")
    assert r.status_code == 409 and "already" in r.json()["error"]
    assert trashed.is_file() and (root / "up" / f"{sid}.jpg").read_bytes() == live


def test_deleted_class_comes_back_with_its_samples(client):  # noqa: F811
    client.post("/api/datasets", json={"name": "d"})
    ids = [upload(client, dataset="d", label="wave", data=jpeg_bytes(seed=i)).json()["id"] for i in range(3)]
    root = client.data_dir / "datasets" / "d"
    files = {sid: (root / "wave" / f"{sid}.jpg").read_bytes() for sid in ids}
    assert client.delete("/api/datasets/d/classes/wave").status_code == 200
    trash = client.get("/api/datasets/d/trash").json()
    assert trash["samples"] == [] and [(c["label"], c["count"]) for c in trash["classes"]] == [("wave", 3)]
    for bad in ["..%2F..%2Fx", "20261121T105000-abcdef-class-..", trash["classes"][0]["id"] + "x", "wave"]:
        assert client.post(f"/api/datasets/d/trash/classes/{bad}/restore").status_code in (400, 404), bad
    r = client.post(f"/api/datasets/d/trash/classes/{trash['classes'][0]['id']}/restore")
    assert r.status_code == 200 and r.json() == {"name": "wave", "count": 3}
    for sid, data in files.items():
        assert (root / "wave" / f"{sid}.jpg").read_bytes() == data and _row(root, sid)[1] == "wave"
    assert client.get("/api/datasets/d/trash").json()["classes"] == []

    # deleted again while a new class of the same name exists: the old samples join it
    client.delete("/api/datasets/d/classes/wave")
    new = upload(client, dataset="d", label="wave", data=jpeg_bytes(seed=9)).json()["id"]
    r = client.post("/api/datasets/d/trash/restore")
    assert r.status_code == 200 and [c["name"] for c in r.json()["classes"]] == ["wave"]
    assert {s["id"] for s in client.get("/api/datasets/d/samples?label=wave").json()["samples"]} == {*ids, new}
    assert not [d for d in (root / ".trash").iterdir() if "-class-" in d.name]
