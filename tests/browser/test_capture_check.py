"""The Capture page's "Check for problems": the grid shows exactly the samples GET /api/datasets/{d}/review flags
(that endpoint is checked against `huia data review` in tests/server/test_review_api.py), each with its reason;
"Select all flagged" leaves near duplicates alone; deleting what was selected sends those to .trash and the check
runs again without them."""

from __future__ import annotations

import io
import json

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.browser.test_studio_train import fill_dataset, pose_frames  # noqa: F401 -- (pose_frames: the fixture)

pytestmark = pytest.mark.slow


def test_check_for_problems_shows_and_cleans_the_flags(studio_server, page, pose_frames):  # noqa: F811
    ds = "check-e2e"
    fill_dataset(studio_server, ds, {k: v[:8] for k, v in pose_frames.items()})
    buf = io.BytesIO()
    Image.fromarray(np.full((240, 320, 3), 90, np.uint8)).save(buf, "JPEG")
    kps = json.loads(pose_frames["arms_up"][0].with_suffix(".json").read_text())["keypoints"]
    with httpx.Client(base_url=studio_server.url, timeout=30) as c:
        blank = c.post(f"/api/datasets/{ds}/samples", files={"image": ("b.jpg", buf.getvalue(), "image/jpeg")},
                       data={"label": "arms_up", "model": "reference",
                             "keypoints": json.dumps({"score": 0.9, "keypoints": kps})}).json()["id"]
        want = c.get(f"/api/datasets/{ds}/review").json()
    flagged = {f["sample"]["id"]: " ".join(x["kind"] for x in f["flags"]) for f in want["flagged"]}
    assert "blank" in flagged.get(blank, "")

    page.goto(f"{studio_server.url}/capture.html?dataset={ds}&backend=wasm&model=movenet-lightning")
    page.wait_for_function("window.__huia && window.__huia.ready", timeout=90_000)
    page.click("#check-review")
    page.wait_for_function("document.getElementById('check-summary').textContent.includes('flagged')")
    shown = page.evaluate("""() => [...document.querySelectorAll('#grid figure')]
        .map((f) => [f.dataset.id, f.dataset.flag, f.querySelector('.flag').textContent, f.title])""")
    assert len(shown) == len(flagged) and {i: k for i, k, _, _ in shown} == flagged  # one thumbnail per sample
    assert all(word and title for _, _, word, title in shown)
    assert page.is_hidden("#load-more")
    summary = page.inner_text("#check-summary")
    assert f"{len(flagged)} of {want['samples']} samples flagged" in summary and "keypoints space" in summary
    assert sum(want["counts"].values()) >= len(flagged)

    page.click("#check-select")
    chosen = set(page.evaluate("() => [...document.querySelectorAll('#grid figure.selected')].map((f) => f.dataset.id)"))
    assert chosen == {i for i, k in flagged.items() if k != "near_duplicate"} and blank in chosen
    page.once("dialog", lambda d: d.accept())
    page.click("#delete-selected")
    page.wait_for_function("(ids) => ![...document.querySelectorAll('#grid figure')].some((f) => ids.includes("
                           "f.dataset.id)) && document.getElementById('check-summary').textContent.includes('samples')",
                           arg=sorted(chosen))
    for sid in chosen:  # in the dataset's trash, not destroyed
        assert list((studio_server.data_dir / "datasets" / ds / ".trash").rglob(f"{sid}.jpg"))
    page.click("#check-clear")
    page.wait_for_function("document.getElementById('check-row').hidden")
