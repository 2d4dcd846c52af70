"""The capture API against hostile input (audit findings 4, 6, 7): image bombs refused from their header, malformed
keypoints and queries answered 4xx (never a 500 and a traceback in the log), names with a newline refused."""

from __future__ import annotations

import io
import json
import threading
import time
import warnings
from urllib.parse import quote

import pytest
from PIL import Image

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from huia.server.app import create_app

from .test_api import jpeg_bytes, snapshot, upload


@pytest.fixture()
def client(tmp_path):
    app = create_app(tmp_path / "data", max_upload=1024 * 1024)
    with TestClient(app) as c:
        c.data_dir = tmp_path / "data"
        c.post("/api/datasets", json={"name": "d"})
        yield c


def tiny_png(w: int, h: int) -> bytes:
    """A PNG of w x h one-bit pixels: a few KB on the wire, w*h bytes (or 3x) once decoded."""
    buf = io.BytesIO()
    Image.new("1", (w, h), 0).save(buf, "PNG")
    return buf.getvalue()


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def peak_rss_during(fn):
    """(fn(), peak RSS growth in MB while it ran), sampling this process every 2 ms."""
    base, peak, done = rss_mb(), [0.0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb())
            time.sleep(0.002)

    t = threading.Thread(target=sample)
    t.start()
    try:
        out = fn()
    finally:
        done.set()
        t.join()
    return out, max(0.0, max(peak[0], rss_mb()) - base)


# -- 4: image bombs ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("w,h", [(9000, 9000), (10000, 10000), (20000, 20000)])
def test_image_bomb_refused_from_its_header(client, w, h, monkeypatch):
    """9000x9000 (under PIL's own limit), 10000x10000 (PIL warns) and 20000x20000 (PIL raises): each the same
    one-line 413, with nothing decoded (old code: 400 after decoding 81 MB, or a 500 DecompressionBombError)."""
    data = tiny_png(w, h)
    assert len(data) < 60_000
    decoded = []
    real_load = Image.Image.load
    monkeypatch.setattr(Image.Image, "load", lambda im: (decoded.append(im.size), real_load(im))[1])
    before = snapshot(client.data_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PIL's DecompressionBombWarning must not leak out either
        r, grew = peak_rss_during(lambda: upload(client, dataset="d", label="a", data=data, ctype="image/png"))
    assert r.status_code == 413, r.text
    err = r.json()["error"]
    assert err.startswith("image too large") and "40,000,000" in err and "\n" not in err
    assert (w, h) not in decoded
    assert grew < 40, f"RSS grew {grew:.0f} MB for a {len(data)}-byte upload"
    assert snapshot(client.data_dir) == before


def test_image_within_the_limit_still_stored(client):
    r = upload(client, dataset="d", label="a", data=tiny_png(640, 480), ctype="image/png")
    assert r.status_code == 201 and (r.json()["width"], r.json()["height"]) == (640, 480)


# -- 6: 4xx, not 500 -----------------------------------------------------------------------------------------------
BAD_KEYPOINTS = {
    "list nested 100,000 deep": "[" * 100_000 + "]" * 100_000,
    "object nested 15,000 deep": '{"keypoints":' * 15_000 + "1" + "}" * 15_000,
    "4,000-digit x": '[{"x": ' + "9" * 4000 + ', "y": 1, "score": 1}]',
    "5,000-digit y (over Python's digit limit)": '[{"x": 1, "y": ' + "9" * 5000 + ', "score": 1}]',
    "1e999 score": '[{"x": 1, "y": 1, "score": 1e999}]',
    "bool x": '[{"x": true, "y": 1, "score": 1}]',
    "4,000-digit pose score": '{"score": ' + "9" * 4000 + ', "keypoints": []}',
    "infinite pose score": '{"score": 1e999, "keypoints": []}',
}


@pytest.mark.parametrize("case", list(BAD_KEYPOINTS))
def test_bad_keypoints_are_a_400(client, case):
    before = snapshot(client.data_dir)
    r = client.post("/api/datasets/d/samples", files={"image": ("f.jpg", jpeg_bytes(), "image/jpeg")},
                    data={"label": "a", "keypoints": BAD_KEYPOINTS[case]})
    assert r.status_code == 400, (case, r.status_code, r.text[:300])
    err = r.json()["error"]
    assert "keypoint" in err and "\n" not in err and len(err) < 300
    assert snapshot(client.data_dir) == before


@pytest.mark.parametrize("offset", [2**63, 99999999999999999999, 2**62 + 1])
def test_huge_offset_is_a_422(client, offset):
    upload(client, dataset="d", label="a")
    r = client.get(f"/api/datasets/d/samples?offset={offset}")
    assert r.status_code == 422 and "offset" in r.json()["error"]
    assert client.get(f"/api/datasets/d/samples?offset={2**62}").json()["samples"] == []


# -- 7: a trailing newline is not part of a name ----------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["abc\n", "abc\r\n", "a\nb"])
def test_names_with_a_newline_refused_everywhere(client, bad):
    a = upload(client, dataset="d", label="a").json()
    before = snapshot(client.data_dir)
    assert client.post("/api/datasets", json={"name": bad}).status_code == 400
    assert client.post("/api/datasets/d/classes", json={"name": bad}).status_code == 400
    assert client.patch("/api/datasets/d/classes/a", json={"name": bad}).status_code == 400
    assert client.patch(f"/api/datasets/d/samples/{a['id']}", json={"label": bad}).status_code == 400
    assert upload(client, dataset="d", label=bad).status_code == 400
    assert client.get(f"/api/datasets/{quote(bad)}").status_code == 400
    assert client.get(f"/api/datasets/d/samples/{a['id']}%0A").status_code == 400
    assert snapshot(client.data_dir) == before
    assert sorted(p.name for p in (client.data_dir / "datasets").iterdir()) == ["d"]


def test_trashed_names_with_a_newline_never_restored(client):
    """Trash folders named with a trailing newline (left by an older studio) are neither listed nor restored under
    the name without it (old code: restored as class 'abc' while its sample JSON said 'abc\\n')."""
    root = client.data_dir / "datasets" / "d"
    sid = "1700000000000-0123abcd"
    tid = "20250101T000000-abcdef-class-abc\n"
    cls = root / ".trash" / tid
    cls.mkdir(parents=True)
    (cls / f"{sid}.jpg").write_bytes(jpeg_bytes())
    (cls / f"{sid}.json").write_text(json.dumps({"id": sid, "label": "abc\n"}))
    sid2 = "1700000000001-0123abcd"
    smp = root / ".trash" / "samples" / "xyz\n"
    smp.mkdir(parents=True)
    (smp / f"{sid2}.jpg").write_bytes(jpeg_bytes(seed=3))
    before = snapshot(client.data_dir)

    trash = client.get("/api/datasets/d/trash").json()
    assert trash["classes"] == [] and trash["samples"] == []
    assert client.post(f"/api/datasets/d/trash/classes/{quote(tid)}/restore").status_code == 400
    assert client.post(f"/api/datasets/d/trash/{sid2}/restore").status_code == 404
    r = client.post("/api/datasets/d/trash/restore")
    assert r.status_code == 200 and r.json()["restored"] == [] and r.json()["classes"] == []
    assert snapshot(client.data_dir) == before  # left where they are, never destroyed
    assert client.get("/api/datasets/d/classes").json()["classes"] == []
