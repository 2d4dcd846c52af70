"""A camera-image classifier trained from the Capture page is not a pose model: the Train panel's link opens it on
the Gestures page (?model=), which loads it with its labels and predicts with it; the Huia page would refuse it."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.browser.test_studio_train import fill_dataset, pose_frames  # noqa: F401 -- (pose_frames: the fixture)

pytestmark = pytest.mark.slow


def test_image_task_result_links_to_the_gestures_page(studio_server, page, pose_frames):  # noqa: F811
    ds = "image-task"
    fill_dataset(studio_server, ds, {k: v[:6] for k, v in pose_frames.items()})
    with httpx.Client(base_url=studio_server.url, timeout=30) as c:
        r = c.post(f"/api/datasets/{ds}/train", json={"name": f"{ds}-img", "task": "image", "epochs": 20})
        assert r.status_code == 202, r.text
        jid = r.json()["id"]
        deadline = time.monotonic() + 600
        while (job := c.get(f"/api/jobs/{jid}").json())["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, job
            time.sleep(0.5)
    assert job["status"] == "done", job
    url = job["result"]["export_url"]

    page.goto(f"{studio_server.url}/capture.html?dataset={ds}&backend=wasm&model=movenet-lightning")
    page.wait_for_function("document.getElementById('train-open-huia').getAttribute('href') !== '#'",
                           timeout=90_000)
    href = page.get_attribute("#train-open-huia", "href")
    assert href == f"/gestures.html?model={url.replace('/', '%2F')}", href
    assert "Gestures page" in page.inner_text("#train-open-huia")
    page.click("#train-open-huia")
    page.wait_for_function("window.__huia && window.__huia.ready === true && window.__huia.headLabels",
                           timeout=120_000)
    assert page.evaluate("window.__huia.headLabels") == job["result"]["labels"]
    assert page.input_value("#userModels") == url
    assert page.inner_text("#errors") == ""
    # the held-out check the job measured travels with the export and is shown there
    n, acc = job["result"]["n"], job["result"]["accuracy"]
    assert page.inner_text("#heldout").startswith(f"When it was trained: {round(acc * n)} of {n} held-out samples")
