"""GET /api/datasets/{d}/review: the studio's "Check for problems" is `huia data review` on the captures. Oracle: the
CLI run on the same capture folder flags the same files for the same reasons; planted problems (a blank frame, a
byte-identical copy, an arms-up frame filed as arms_down) are among them; nothing is moved or changed."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from huia.cli import main
from huia.server.app import create_app
from tests.server.test_train_jobs import frames, post_sample, snapshot  # noqa: F401 -- (frames: the fixture)


def test_review_endpoint_equals_the_cli_and_finds_the_planted_problems(frames, tmp_path, capsys):  # noqa: F811
    data = tmp_path / "data"
    with TestClient(create_app(data)) as c:
        c.post("/api/datasets", json={"name": "poses"})
        ids = {}
        for label, files in frames.items():
            for f in files[:8]:
                ids[(label, f.name)] = post_sample(c, "poses", f, label)["id"]
        up = frames["arms_up"][9]
        wrong = post_sample(c, "poses", up, "arms_down")["id"]  # an arms-up frame filed as arms_down
        copy = post_sample(c, "poses", frames["hands_chest"][0], "hands_chest")["id"]  # the same frame again
        buf = io.BytesIO()
        Image.fromarray(np.full((240, 320, 3), 90, np.uint8)).save(buf, "JPEG")
        kps = json.loads(up.with_suffix(".json").read_text())["keypoints"]
        r = c.post("/api/datasets/poses/samples", files={"image": ("b.jpg", buf.getvalue(), "image/jpeg")},
                   data={"label": "arms_up", "model": "reference",
                         "keypoints": json.dumps({"score": 0.9, "keypoints": kps})})
        blank = r.json()["id"]
        root = data / "datasets" / "poses"
        before = snapshot(root)

        r = c.get("/api/datasets/poses/review")
        assert r.status_code == 200, r.text
        got = r.json()
        assert snapshot(root) == before  # flags only: nothing moved
        assert got["samples"] == 8 * len(frames) + 3 and got["feature_space"] == "keypoints"
        ids = [f["sample"]["id"] for f in got["flagged"]]
        assert len(ids) == len(set(ids))  # one entry per sample, with every reason
        by_id = {f["sample"]["id"]: sorted(x["kind"] for x in f["flags"]) for f in got["flagged"]}
        assert "blank" in by_id.get(blank, [])
        assert set(by_id.get(copy, [])) & {"duplicate", "near_duplicate"}
        assert "mislabeled" in by_id.get(wrong, []), got["flagged"]
        for f in got["flagged"]:  # each entry carries what the grid needs to show it
            s = f["sample"]
            assert (root / s["label"] / f"{s['id']}.jpg").is_file() and s["image_url"].endswith("/image")
            assert all(x["detail"] for x in f["flags"])
        kinds = [k for v in by_id.values() for k in v]
        assert got["counts"] == {k: kinds.count(k) for k in set(kinds)}
        assert c.get("/api/datasets/nope/review").status_code == 404

    # the oracle: the CLI on the same folder
    assert main(["data", "review", str(root), "--features", "keypoints", "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    want: dict[str, list[str]] = {}
    for f in cli["flags"]:
        want.setdefault(Path(f["path"]).stem, []).append(f["kind"])
    assert {k: sorted(v) for k, v in want.items()} == by_id


def test_review_of_photos_without_keypoints_and_of_an_empty_dataset(shared_data, tmp_path):
    """Photos captured without a pose (the camera-image task): 'no person' on every one and a pixel-space label
    check flagged a whole set of sign-digit photos, and a sample with two flags came twice, so 'select all flagged'
    took everything. Now: no pose flags when no capture has keypoints, no label check without keypoints (said
    so), one entry per sample. An empty dataset is 'nothing yet', not a 500. A linked class folder is not read."""
    data = tmp_path / "data"
    with TestClient(create_app(data)) as c:
        c.post("/api/datasets", json={"name": "empty"})
        r = c.get("/api/datasets/empty/review")
        assert r.status_code == 200 and r.json()["samples"] == 0 and r.json()["flagged"] == []
        c.post("/api/datasets", json={"name": "digits"})
        for d in ("0", "1", "2"):
            for f in sorted((shared_data / "sign-digits" / d).glob("*.JPG"))[:6]:
                r = c.post("/api/datasets/digits/samples", files={"image": ("f.jpg", f.read_bytes(), "image/jpeg")},
                           data={"label": f"d{d}"})
                assert r.status_code == 201, r.text
        again = c.post("/api/datasets/digits/samples", files={"image": ("f.jpg", f.read_bytes(), "image/jpeg")},
                       data={"label": "d2"}).json()["id"]  # the last photo twice
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / "x.jpg").write_bytes(f.read_bytes())
        (data / "datasets" / "digits" / "linked").symlink_to(outside, target_is_directory=True)
        got = c.get("/api/datasets/digits/review").json()
        assert got["samples"] == 19  # the linked folder's photo is not read
        assert got["feature_space"] is None and "not every capture has keypoints" in got["mislabel_note"]
        kinds = {x["kind"] for f in got["flagged"] for x in f["flags"]}
        assert not kinds & {"no_pose", "low_pose", "mislabeled"}, got["flagged"]
        assert again in {f["sample"]["id"] for f in got["flagged"]} and len(got["flagged"]) <= 2
