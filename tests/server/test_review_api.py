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
        by_id = {f["sample"]["id"]: f["kind"] for f in got["flags"]}
        assert by_id.get(blank) == "blank"
        assert copy in by_id and by_id[copy] in ("duplicate", "near_duplicate")
        assert by_id.get(wrong) == "mislabeled", got["flags"]
        for f in got["flags"]:  # each flag carries what the grid needs to show it
            s = f["sample"]
            assert (root / s["label"] / f"{s['id']}.jpg").is_file() and s["image_url"].endswith("/image")
        assert got["counts"] == {k: list(by_id.values()).count(k) for k in set(by_id.values())}
        assert c.get("/api/datasets/nope/review").status_code == 404

    # the oracle: the CLI on the same folder
    assert main(["data", "review", str(root), "--features", "keypoints", "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert {Path(f["path"]).stem: f["kind"] for f in cli["flags"]} == by_id
