"""Capture API and static serving, in-process (httpx through the ASGI app): storage format, refusals, headers."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from huia import paths
from huia.server.app import create_app
from huia.server.capture import Dataset


def jpeg_bytes(w=64, h=48, color=(200, 30, 30), seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    arr = np.clip(rng.normal(0, 20, (h, w, 3)) + np.array(color), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=90)
    return buf.getvalue()


KEYPOINTS = {"score": 0.8, "keypoints": [{"name": "nose", "x": 10.5, "y": 20.25, "score": 0.9},
                                         {"name": "left_eye", "x": 12, "y": 18, "score": 0.7}]}


@pytest.fixture()
def client(tmp_path):
    app = create_app(tmp_path / "data", max_upload=1024 * 1024)
    with TestClient(app) as c:
        c.data_dir = tmp_path / "data"
        yield c


def upload(c, dataset="poses", label="arms_up", data=None, kp=KEYPOINTS, ctype="image/jpeg", model="movenet-lightning"):
    fields = {"label": label}
    if kp is not None:
        fields["keypoints"] = json.dumps(kp)
    if model:
        fields["model"] = model
    return c.post(f"/api/datasets/{dataset}/samples", files={"image": ("frame.jpg", data or jpeg_bytes(), ctype)},
                  data=fields)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under root (relative path -> bytes), except SQLite's own WAL/SHM bookkeeping."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.startswith("index.sqlite")}


def test_capture_roundtrip_and_disk_format(client):
    r = client.post("/api/datasets", json={"name": "poses"})
    assert r.status_code == 201, r.text
    assert client.post("/api/datasets", json={"name": "poses"}).status_code == 200  # idempotent
    assert client.post("/api/datasets/poses/classes", json={"name": "normal"}).status_code == 201
    img = jpeg_bytes(80, 60)
    r = upload(client, data=img)
    assert r.status_code == 201, r.text
    s = r.json()
    assert s["label"] == "arms_up" and s["width"] == 80 and s["height"] == 60 and s["has_keypoints"]

    root = client.data_dir / "datasets" / "poses"
    jpg = root / "arms_up" / f"{s['id']}.jpg"
    meta = json.loads((root / "arms_up" / f"{s['id']}.json").read_text())
    assert jpg.read_bytes() == img  # JPEG stored exactly as sent
    assert meta["label"] == "arms_up" and meta["model"] == "movenet-lightning" and meta["score"] == 0.8
    assert [k["name"] for k in meta["keypoints"]] == ["nose", "left_eye"]
    assert meta["keypoints"][0]["x"] == 10.5 and meta["keypoints"][0]["y"] == 20.25
    assert meta["width"] == 80 and meta["timestamp"].startswith("20")

    classes = client.get("/api/datasets/poses/classes").json()["classes"]
    assert {c["name"]: c["count"] for c in classes} == {"normal": 0, "arms_up": 1}
    got = client.get(s["image_url"])
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg" and got.content == img
    listing = client.get("/api/datasets/poses/samples", params={"label": "arms_up"}).json()
    assert listing["total"] == 1 and listing["samples"][0]["id"] == s["id"]
    assert client.get("/api/datasets").json()["datasets"][0]["total"] == 1

    # the index agrees with the folder
    db = sqlite3.connect(root / "index.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT id, label FROM samples").fetchall() == [(s["id"], "arms_up")]


def test_png_is_stored_as_jpeg(client):
    client.post("/api/datasets", json={"name": "d"})
    buf = io.BytesIO()
    Image.new("RGB", (30, 20), (0, 128, 255)).save(buf, "PNG")
    r = upload(client, dataset="d", label="a", data=buf.getvalue(), ctype="image/png", kp=None)
    assert r.status_code == 201, r.text
    path = client.data_dir / "datasets" / "d" / "a" / f"{r.json()['id']}.jpg"
    with Image.open(path) as im:
        assert im.format == "JPEG" and im.size == (30, 20)
        assert np.abs(np.asarray(im, dtype=int)[10, 15] - [0, 128, 255]).max() < 8


def test_paging_and_class_filter(client):
    client.post("/api/datasets", json={"name": "d"})
    ids = [upload(client, dataset="d", label=("a" if i % 3 else "b"), data=jpeg_bytes(seed=i)).json()["id"]
           for i in range(7)]
    page1 = client.get("/api/datasets/d/samples", params={"limit": 4}).json()
    page2 = client.get("/api/datasets/d/samples", params={"limit": 4, "offset": 4}).json()
    assert page1["total"] == 7 and len(page1["samples"]) == 4 and len(page2["samples"]) == 3
    assert sorted(s["id"] for s in page1["samples"] + page2["samples"]) == sorted(ids)
    assert client.get("/api/datasets/d/samples", params={"label": "b"}).json()["total"] == 3
    upload(client, dataset="d", label="b", kp=None)
    assert client.get("/api/datasets/d/samples", params={"has_keypoints": "false"}).json()["total"] == 1
    assert client.get("/api/datasets/d/samples", params={"has_keypoints": "true", "label": "b"}).json()["total"] == 3
    assert client.get("/api/datasets/d/samples", params={"limit": 0}).status_code == 422


BAD_UPLOADS = {
    "not an image": dict(data=b"this is not a picture" * 10),
    "truncated jpeg": dict(data=jpeg_bytes()[:200]),
    "dotdot label": dict(label="../escape"),
    "slash label": dict(label="a/b"),
    "absolute label": dict(label="/etc"),
    "nul label": dict(label="a\x00b"),
    "hidden label": dict(label=".trash"),
    "dotdot dataset": dict(dataset=".."),
    "text part": dict(ctype="text/plain"),
    "bad keypoints json": dict(kp="not json"),
}


@pytest.mark.parametrize("case", list(BAD_UPLOADS))
def test_bad_uploads_refused_and_nothing_lost(client, case):
    client.post("/api/datasets", json={"name": "poses"})
    good = upload(client).json()
    before = snapshot(client.data_dir)
    kwargs = dict(BAD_UPLOADS[case])
    if kwargs.get("kp") == "not json":
        r = client.post("/api/datasets/poses/samples", files={"image": ("f.jpg", jpeg_bytes(), "image/jpeg")},
                        data={"label": "arms_up", "keypoints": "{not json"})
    else:
        r = upload(client, **kwargs)
    assert 400 <= r.status_code < 500, (case, r.status_code, r.text)
    err = r.json()["error"]
    assert isinstance(err, str) and len(err) > 10
    assert snapshot(client.data_dir) == before  # nothing written, nothing removed
    listing = client.get("/api/datasets/poses/samples").json()
    assert [s["id"] for s in listing["samples"]] == [good["id"]]
    # nothing appeared outside the data folder either
    assert not (client.data_dir / "escape").exists() and not (client.data_dir.parent / "escape").exists()


def test_wrong_request_content_type(client):
    client.post("/api/datasets", json={"name": "poses"})
    r = client.post("/api/datasets/poses/samples", json={"label": "a", "image": "aGVsbG8="})
    assert r.status_code == 415 and "multipart/form-data" in r.json()["error"]
    r = client.post("/api/datasets/poses/samples", content=jpeg_bytes(), headers={"content-type": "image/jpeg"})
    assert r.status_code == 415
    r = client.post("/api/datasets/poses/samples", data={"label": "a"}, files={"other": ("x", b"1", "image/jpeg")})
    assert r.status_code == 400 and "image" in r.json()["error"]


def test_declared_large_body_refused_before_reading(client):
    client.post("/api/datasets", json={"name": "poses"})
    big = jpeg_bytes() + b"\0" * (2 * 1024 * 1024)  # over this app's 1 MB limit
    r = upload(client, data=big)
    assert r.status_code == 413 and "too large" in r.json()["error"]
    assert r.headers["cross-origin-embedder-policy"] == "require-corp"
    assert client.get("/api/datasets/poses/samples").json()["total"] == 0


def test_names_validated_everywhere(client):
    for bad in ["..", ".", "a/b", "a\\b", "", " x", "x.", ".hidden", "a" * 65, "a\x00"]:
        r = client.post("/api/datasets", json={"name": bad})
        assert r.status_code in (400, 422), (bad, r.text)
        assert "error" in r.json()
    client.post("/api/datasets", json={"name": "ok"})
    for bad in ["..", "a/b", ".trash"]:
        assert client.post("/api/datasets/ok/classes", json={"name": bad}).status_code == 400
    assert client.get("/api/datasets/%2e%2e/classes").status_code in (400, 404)
    assert client.get("/api/datasets/..%2F..%2Fetc/classes").status_code in (400, 404)
    assert client.get("/api/datasets/nope").status_code == 404
    assert sorted(p.name for p in (client.data_dir / "datasets").iterdir()) == ["ok"]
    assert "Unicode ok" in [c["name"] for c in client.post(
        "/api/datasets/ok/classes", json={"name": "Unicode ok"}).json()["classes"]]


def test_delete_and_rename_go_through_trash(client):
    client.post("/api/datasets", json={"name": "d"})
    a = upload(client, dataset="d", label="a", data=jpeg_bytes(seed=1)).json()
    b = upload(client, dataset="d", label="a", data=jpeg_bytes(seed=2)).json()
    root = client.data_dir / "datasets" / "d"

    r = client.delete(f"/api/datasets/d/samples/{a['id']}")
    assert r.status_code == 200
    trashed = root / r.json()["trashed"]
    assert trashed.is_file() and trashed.with_suffix(".json").is_file()
    assert not (root / "a" / f"{a['id']}.jpg").exists()
    assert client.get(f"/api/datasets/d/samples/{a['id']}").status_code == 404

    r = client.patch("/api/datasets/d/classes/a", json={"name": "arms up"})
    assert r.status_code == 200 and r.json()["classes"] == [{"name": "arms up", "count": 1}]
    assert json.loads((root / "arms up" / f"{b['id']}.json").read_text())["label"] == "arms up"
    assert client.get(f"/api/datasets/d/samples/{b['id']}/image").status_code == 200
    client.post("/api/datasets/d/classes", json={"name": "other"})
    assert client.patch("/api/datasets/d/classes/arms up", json={"name": "other"}).status_code == 409

    r = client.delete("/api/datasets/d/classes/arms up")
    assert r.status_code == 200
    assert (root / r.json()["trashed"] / f"{b['id']}.jpg").is_file()
    assert [c["name"] for c in client.get("/api/datasets/d/classes").json()["classes"]] == ["other"]
    assert client.delete("/api/datasets/d/classes/arms up").status_code == 404


def test_reconcile_indexes_files_a_crash_left_behind(tmp_path):
    """A crash between the file rename and the index commit leaves an unindexed sample; reopening indexes it and
    removes half-written temp files."""
    root = tmp_path / "ds"
    (root / "a").mkdir(parents=True)
    ds = Dataset(root)
    ds.close()
    sid = "1700000000000-0123abcd"
    (root / "a" / f"{sid}.jpg").write_bytes(jpeg_bytes())
    (root / "a" / f"{sid}.json").write_text(json.dumps({"id": sid, "label": "a", "width": 64, "height": 48,
                                                        "keypoints": None}))
    (root / "a" / ".tmp-x.jpg-abcd").write_bytes(b"partial")
    ds = Dataset(root)
    total, samples = ds.list_samples(None, 0, 10)
    assert total == 1 and samples[0]["id"] == sid and samples[0]["width"] == 64
    assert not (root / "a" / ".tmp-x.jpg-abcd").exists()
    # and a row whose files vanished is dropped
    (root / "a" / f"{sid}.jpg").unlink()
    ds.close()
    assert Dataset(root).list_samples(None, 0, 10)[0] == 0


def test_capture_folder_is_readable_by_data_reader(client):
    folders = pytest.importorskip("huia.data.folders")
    client.post("/api/datasets", json={"name": "d"})
    for i in range(3):
        assert upload(client, dataset="d", label="up" if i else "down", data=jpeg_bytes(seed=i)).status_code == 201
    samples, problems = folders.read_class_folders(client.data_dir / "datasets" / "d")
    assert sorted(s.label for s in samples) == ["down", "up", "up"], problems
    assert all(s.keypoints is not None for s in samples), problems


# -- static files, headers -----------------------------------------------------------------------------------------
needs_npm = pytest.mark.skipif(not (paths.NODE_MODULES / "@tensorflow" / "tfjs").is_dir(), reason="no node_modules")


@needs_npm
@pytest.mark.parametrize("url, mime, cache", [
    ("/", "text/html", "no-cache"),
    ("/index.html", "text/html", "no-cache"),
    ("/css/studio.css", "text/css", "no-cache"),
    ("/spec/keypoints.json", "application/json", "no-cache"),
    ("/node_modules/@tensorflow/tfjs/dist/tf.fesm.js", "text/javascript", "immutable"),
    ("/node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm", "application/wasm", "immutable"),
    ("/models/builtin/movenet-lightning.json", "application/json", "immutable"),
    ("/models/builtin/movenet-lightning.bin", "application/octet-stream", "immutable"),
])
def test_static_mime_cache_and_isolation_headers(client, url, mime, cache):
    r = client.get(url)
    assert r.status_code == 200, url
    assert r.headers["content-type"].split(";")[0] == mime
    assert cache in r.headers["cache-control"]
    assert r.headers["cross-origin-opener-policy"] == "same-origin"
    assert r.headers["cross-origin-embedder-policy"] == "require-corp"
    assert r.headers["x-content-type-options"] == "nosniff"


def test_isolation_headers_on_api_and_errors(client):
    for url in ["/api/health", "/api/datasets", "/api/nope", "/missing.html"]:
        r = client.get(url)
        assert r.headers["cross-origin-embedder-policy"] == "require-corp", url
    assert client.get("/api/nope").json()["error"].startswith("no API endpoint")


@pytest.mark.parametrize("url", [
    "/../pyproject.toml", "/%2e%2e/pyproject.toml", "/..%2fpyproject.toml", "/js/..%2f..%2fpyproject.toml",
    "/%2e%2e%2f%2e%2e%2fetc/passwd", "/node_modules/..%2f..%2fpyproject.toml", "/js/../../pyproject.toml",
    "/models/builtin/..%2f..%2f..%2f..%2fpackage.json", "/models/user/..%2f..%2fdatasets/x",
    "/models/user/x/..%2f..%2fdatasets/d/index.sqlite", "/spec/%00keypoints.json", "/js/..\\..\\pyproject.toml",
    "/node_modules/", "/js/",
])
def test_traversal_and_listing_refused(client, url):
    (client.data_dir / "datasets" / "d").mkdir(parents=True, exist_ok=True)
    (client.data_dir / "datasets" / "d" / "index.sqlite").write_bytes(b"secret")
    r = client.get(url)
    assert r.status_code in (400, 404), (url, r.status_code)
    assert b"[project]" not in r.content and b"secret" not in r.content and b"root:" not in r.content


def test_user_models_listed_and_served(client):
    exp = client.data_dir / "exports" / "my-poses"
    exp.mkdir(parents=True)
    (exp / "model.json").write_text(json.dumps({"format": "layers-model", "modelTopology": {}, "weightsManifest": [
        {"paths": ["group1-shard1of1.bin"], "weights": [{"name": "w", "shape": [4], "dtype": "float32"}]}],
        "userDefinedMetadata": {
        "huia": {"task": "classify"}, "description": "4 poses"}}))
    (exp / "group1-shard1of1.bin").write_bytes(b"\0" * 16)
    models = client.get("/api/models")
    if models.status_code == 200:
        names = {(m["source"], m["name"]) for m in models.json()["models"]}
        if (paths.HUMAN_MODELS_DIR).is_dir():
            assert ("builtin", "movenet-lightning") in names
        assert ("user", "my-poses") in names
        mine = next(m for m in models.json()["models"] if m["name"] == "my-poses")
        assert mine["kind"] == "classify" and mine["url"] == "/models/user/my-poses/model.json"
        assert "problem" not in mine
    r = client.get("/models/user/my-poses/model.json")
    assert r.status_code == 200 and r.json()["format"] == "layers-model" and r.headers["cache-control"] == "no-cache"
    r = client.get("/models/user/my-poses/group1-shard1of1.bin")
    assert r.headers["content-type"] == "application/octet-stream" and len(r.content) == 16
    assert client.get("/models/user/nope/model.json").status_code == 404


def test_broken_exports_are_listed_with_what_is_wrong(client):
    """An export TF.js cannot load says why in the model list (the pages leave it out of their pickers; the index
    shows the reason) instead of failing later in the browser with a Float32Array byte-length error."""
    good = {"format": "graph-model", "modelTopology": {"node": []},
            "weightsManifest": [{"paths": ["group1-shard1of2.bin", "group1-shard2of2.bin"],
                                 "weights": [{"name": "w", "shape": [4], "dtype": "float32"}]}],
            "userDefinedMetadata": {"huia": {"task": "detect"}}}
    cases = {"notjson": "{not json", "nobin": json.dumps(good), "nottfjs": json.dumps({"hello": 1}),
             "escape": json.dumps({**good, "weightsManifest": [{"paths": ["../../datasets/x.bin"], "weights": []}]}),
             "fine": json.dumps(good)}
    for name, text in cases.items():
        (client.data_dir / "exports" / name).mkdir(parents=True)
        (client.data_dir / "exports" / name / "model.json").write_text(text)
    (client.data_dir / "exports" / "nobin" / "group1-shard1of2.bin").write_bytes(b"\0" * 8)
    for f in good["weightsManifest"][0]["paths"]:
        (client.data_dir / "exports" / "fine" / f).write_bytes(b"\0" * 8)
    listed = {m["name"]: m for m in client.get("/api/models").json()["models"] if m["source"] == "user"}
    assert set(listed) == set(cases)
    assert listed["notjson"]["problem"].startswith("malformed JSON at line 1 column 2")
    assert listed["nobin"]["problem"] == "weight shard 'group1-shard2of2.bin' listed in weightsManifest is missing"
    assert listed["nobin"]["kind"] == "detect"  # still says what it was meant to be
    assert "not a TF.js model" in listed["nottfjs"]["problem"]
    assert "outside the model folder" in listed["escape"]["problem"]
    assert "problem" not in listed["fine"]


def test_relabel_sample_moves_files(client):
    client.post("/api/datasets", json={"name": "d"})
    a = upload(client, dataset="d", label="wrong").json()
    r = client.patch(f"/api/datasets/d/samples/{a['id']}", json={"label": "right"})
    assert r.status_code == 200 and r.json()["label"] == "right"
    root = client.data_dir / "datasets" / "d"
    assert not (root / "wrong" / f"{a['id']}.jpg").exists()
    assert json.loads((root / "right" / f"{a['id']}.json").read_text())["label"] == "right"
    assert client.get(f"/api/datasets/d/samples/{a['id']}/image").status_code == 200
    assert client.patch(f"/api/datasets/d/samples/{a['id']}", json={"label": "../x"}).status_code == 400
    counts = {c["name"]: c["count"] for c in client.get("/api/datasets/d/classes").json()["classes"]}
    assert counts == {"wrong": 0, "right": 1}


def test_missing_node_modules_gives_install_hint(tmp_path):
    web = tmp_path / "web"
    web.mkdir()
    (web / "index.html").write_text("<!doctype html><title>x</title>")
    with TestClient(create_app(tmp_path / "data", web_dir=web)) as c:
        assert c.get("/").status_code == 200
        for url in ["/node_modules/@tensorflow/tfjs/dist/tf.fesm.js", "/models/builtin/movenet-lightning.json",
                    "/api/models"]:
            r = c.get(url)
            assert r.status_code == 503 and "npm ci" in r.json()["error"], url
        assert c.get("/api/health").json()["node_modules"] is False


def test_image_of_a_sample_moved_away_is_a_clean_404(client):
    """The grid may fetch an image while the user deletes or restores it: the file can leave between the index
    lookup and the read. That is a 404 naming the sample, not a 500 or a body shorter than its Content-Length
    (what a stat-then-open file response sent, which Chromium reports as ERR_CONTENT_LENGTH_MISMATCH)."""
    client.post("/api/datasets", json={"name": "d"})
    data = jpeg_bytes(seed=3)
    a = upload(client, dataset="d", label="a", data=data).json()
    r = client.get(f"/api/datasets/d/samples/{a['id']}/image")
    assert r.status_code == 200 and r.content == data and int(r.headers["content-length"]) == len(data)
    src = client.data_dir / "datasets" / "d" / "a" / f"{a['id']}.jpg"
    os.replace(src, client.data_dir / "elsewhere.jpg")  # gone from its folder, still in the index
    r = client.get(f"/api/datasets/d/samples/{a['id']}/image")
    assert r.status_code == 404 and a["id"] in r.json()["error"]


def test_head_requests(client):
    r = client.head("/index.html")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html") and r.content == b""
    assert int(r.headers["content-length"]) > 100


def test_corrupt_index_is_rebuilt_from_folders(tmp_path):
    root = tmp_path / "ds"
    ds = Dataset(root.mkdir() or root)
    sid = ds.add_sample("a", jpeg_bytes(), None, None, None)["id"]
    ds.close()
    for p in root.glob("index.sqlite*"):
        p.unlink()
    (root / "index.sqlite").write_bytes(b"this is not a database" * 100)
    ds = Dataset(root)
    total, samples = ds.list_samples(None, 0, 10)
    assert total == 1 and samples[0]["id"] == sid
    assert list(root.glob("index.sqlite.corrupt-*"))  # set aside, not destroyed


def test_cross_site_writes_refused(client):
    client.post("/api/datasets", json={"name": "d"})
    before = snapshot(client.data_dir)
    evil = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
    r = client.post("/api/datasets/d/samples", files={"image": ("f.jpg", jpeg_bytes(), "image/jpeg")},
                    data={"label": "spam"}, headers=evil)
    assert r.status_code == 403 and "cross-origin" in r.json()["error"]
    assert client.delete("/api/datasets/d/classes/x", headers={"Origin": "http://evil.example"}).status_code == 403
    # Origin: null (sandboxed iframe, file:// page) on a browser without Sec-Fetch-Site: refused the same way
    null = {"Origin": "null"}
    r = client.post("/api/datasets/d/samples", files={"image": ("f.jpg", jpeg_bytes(), "image/jpeg")},
                    data={"label": "spam"}, headers=null)
    assert r.status_code == 403 and "Origin: null" in r.json()["error"] and "\n" not in r.json()["error"]
    for method, url in (("DELETE", "/api/datasets/d/classes/x"), ("PATCH", "/api/datasets/d/classes/x"),
                        ("POST", "/api/datasets")):
        assert client.request(method, url, json={"name": "y"}, headers=null).status_code == 403, (method, url)
    assert client.get("/api/datasets/d/samples", headers=null).status_code == 200  # reads unaffected
    assert snapshot(client.data_dir) == before
    # the studio's own pages (same origin) and tools without Origin (curl, httpx) are fine
    own = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    r = client.post("/api/datasets/d/samples", files={"image": ("f.jpg", jpeg_bytes(), "image/jpeg")},
                    data={"label": "ok"}, headers=own)
    assert r.status_code == 201, r.text
    assert client.get("/api/datasets/d/samples", headers=evil).status_code == 200  # reads are harmless


def test_oddly_named_dataset_folder_does_not_break_the_listing(client):
    """A folder under datasets/ that the API cannot name (trailing dot or space, leading dot, too long) is skipped
    by GET /api/datasets (the rule of validate_name), not a 400 for every dataset."""
    client.post("/api/datasets", json={"name": "good"})
    root = client.data_dir / "datasets"
    for odd in ("old run.", "trailing ", ".hidden", "x" * 65, "a..b"):
        (root / odd).mkdir()
    r = client.get("/api/datasets")
    assert r.status_code == 200, r.text
    assert [d["name"] for d in r.json()["datasets"]] == ["good"]


def test_failed_store_leaves_nothing_and_says_why(client, monkeypatch):
    """A write failure (here: disk full on the JSON) is a clear JSON error and leaves no half-stored sample."""
    import errno as errno_mod

    import huia.server.capture as cap

    client.post("/api/datasets", json={"name": "d"})
    good = upload(client, dataset="d", label="a").json()
    real = cap._write_durable

    def failing(path, data):
        if path.suffix == ".json":
            raise OSError(errno_mod.ENOSPC, "No space left on device")
        return real(path, data)

    monkeypatch.setattr(cap, "_write_durable", failing)
    before = snapshot(client.data_dir)
    r = upload(client, dataset="d", label="a")
    assert r.status_code == 507 and "No space left" in r.json()["error"]
    assert snapshot(client.data_dir) == before
    assert [s["id"] for s in client.get("/api/datasets/d/samples").json()["samples"]] == [good["id"]]
