"""The Capture page's Train panel in headless Chromium: a dataset of real pose_1.mp4 frames (three poses by the
wrist-height rule, each also mirrored) posted through the capture API, Train clicked, the job followed to the end;
the panel shows the held-out accuracy, n and confusion matrix GET /api/jobs/{id} reports, and its link opens the
Huia page with the new export offered and selected."""

from __future__ import annotations

import json
import re

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pose_frames(shared_data, tmp_path_factory):
    from huia.classify.posedata import build_pose_dataset

    root = tmp_path_factory.mktemp("trainframes")
    build_pose_dataset(root, shared_data / "pose-video" / "pose_1.mp4", shared_data / "pose-video" / "pose_1.json",
                       train_fraction=1.0, every=5)
    return {d.name: sorted(d.glob("*.jpg")) for d in sorted((root / "train").iterdir())}


def fill_dataset(server, name, frames):
    import httpx

    with httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.post("/api/datasets", json={"name": name}).status_code in (200, 201)
        for label, files in frames.items():
            for f in files:
                kps = json.loads(f.with_suffix(".json").read_text())["keypoints"]
                r = c.post(f"/api/datasets/{name}/samples",
                           files={"image": ("f.jpg", f.read_bytes(), "image/jpeg")},
                           data={"label": label, "model": "reference",
                                 "keypoints": json.dumps({"score": 0.9, "keypoints": kps})})
                assert r.status_code == 201, r.text
    return sum(len(v) for v in frames.values())


def test_train_panel_trains_shows_held_out_result_and_opens_huia(studio_server, page, pose_frames, out_dir):
    ds = "train-e2e"
    total = fill_dataset(studio_server, ds, pose_frames)
    page.goto(f"{studio_server.url}/capture.html?dataset={ds}&backend=wasm&model=movenet-lightning")
    page.wait_for_function("window.__huia && window.__huia.ready", timeout=90_000)
    assert page.input_value("#train-task") == "keypoints"
    page.wait_for_function("document.getElementById('train-name').value !== ''")
    assert page.input_value("#train-name") == f"{ds}-keypoints"

    # every value the progress bar takes (it must never go backwards)
    page.evaluate("""() => { window.__bar = []; const bar = document.getElementById('train-progress');
        new MutationObserver(() => window.__bar.push(Number(bar.value))).observe(bar, { attributes: true }); }""")
    # advanced settings: a bad epoch count is refused in the panel, a good one and the weight precision reach the job
    page.click("#train-advanced summary")
    page.fill("#train-epochs", "2.5")
    page.click("#train-start")
    assert "whole number" in page.inner_text("#train-error")
    page.fill("#train-epochs", "60")
    page.select_option("#train-quantize", "float16")
    page.click("#train-start")
    page.wait_for_function("window.__huia.trainJob && window.__huia.trainJob.status === 'running'")
    assert page.is_visible("#train-progress-row") and page.is_visible("#train-cancel")
    # the studio unreachable for a while (a restart, a dropped connection): the panel says so, keeps asking, and
    # picks the job up again
    page.route("**/api/jobs/*", lambda route: route.abort())
    page.wait_for_function("document.getElementById('train-error').textContent.includes('asking the studio again')")
    page.unroute("**/api/jobs/*")
    page.wait_for_function("window.__huia.trainJob.status !== 'running'", timeout=180_000)
    bar = page.evaluate("window.__bar")
    assert len(bar) >= 3 and all(b >= a for a, b in zip(bar, bar[1:])) and bar[-1] == 1, bar
    assert all("ERR_FAILED" in e for e in page.console_errors), page.console_errors  # the aborted polls only
    page.console_errors.clear()
    job_id = page.evaluate("window.__huia.trainJob.id")
    job = studio_server.get_json(f"/api/jobs/{job_id}")
    assert job["status"] == "done", job
    res = job["result"]
    assert res["n"] + res["train_samples"] == total and res["export"] == f"{ds}-keypoints"

    # the panel shows what the API says
    acc_text = page.inner_text("#train-accuracy")
    assert f"n = {res['n']} held-out" in acc_text
    assert f"{100 * res['accuracy']:.1f} %" in acc_text
    lo, hi = res["accuracy_ci"]
    assert f"{100 * lo:.1f} %" in acc_text and f"{100 * hi:.1f} %" in acc_text
    assert page.get_attribute("#train-accuracy", "data-n") == str(res["n"])
    ex = res["export_check"]
    assert res["quantize"] == ex["quantization"] == "float16"
    run_cfg = json.loads((studio_server.data_dir / "runs" / res["export"] / "config.json").read_text())
    assert run_cfg["settings"]["epochs"] == 60
    page.wait_for_function("document.getElementById('train-curves').naturalWidth > 200")  # the curves PNG loaded
    assert page.get_attribute("#train-curves", "src") == res["curves_url"]
    assert (f"exported model ({ex['quantization']} weights)" in page.inner_text("#train-export-check")
            and f"{100 * ex['accuracy']:.1f} % on the same samples" in page.inner_text("#train-export-check"))
    shown = page.evaluate("""() => [...document.querySelectorAll('#train-confusion tr')].slice(1)
        .map((tr) => [...tr.querySelectorAll('td')].map((td) => Number(td.textContent)))""")
    assert shown == res["confusion"]
    for label in res["labels"]:
        cell = page.inner_text(f'#train-per-class tr[data-class="{label}"] td')
        assert cell == f"{100 * res['per_class'][label]['accuracy']:.1f} %"
    assert page.inner_text("#train-error") == ""
    assert page.is_hidden("#train-cancel") and not page.is_disabled("#train-start")
    assert page.input_value("#train-name") == f"{ds}-keypoints-2"  # the next run gets a free name
    page.locator("#train").screenshot(path=str(out_dir / "train_panel.png"))

    # a second Train with a taken name: one line in the panel, nothing started
    page.fill("#train-name", f"{ds}-keypoints")
    page.click("#train-start")
    page.wait_for_function("document.getElementById('train-error').textContent !== ''")
    assert "already exists" in page.inner_text("#train-error")
    assert len(page.console_errors) == 1 and "409" in page.console_errors[0], page.console_errors  # the refused POST
    page.console_errors.clear()

    # the link opens the Huia page with the new export offered and selected
    href = page.get_attribute("#train-open-huia", "href")
    assert re.fullmatch(r"/huia\.html\?classifier=%2Fmodels%2Fuser%2Ftrain-e2e-keypoints%2Fmodel\.json", href), href
    page.goto(f"{studio_server.url}{href}&camera=0&backend=wasm")
    page.wait_for_function("window.__huia && window.__huia.ready", timeout=90_000)
    assert page.input_value("#classifier") == res["export_url"]
    offered = page.evaluate("[...document.querySelectorAll('#classifier option')].map((o) => o.value)")
    assert res["export_url"] in offered
    # and it classifies a held-out capture as `huia classify predict` does, probabilities included
    from huia.classify.predict import predict_paths

    held = sorted((studio_server.data_dir / "runs" / res["export"] / "split" / "test").rglob("*.jpg"))
    for jpg in held[:: max(1, len(held) // 4)]:
        side = json.loads(jpg.with_suffix(".json").read_text())
        got = page.evaluate("(p) => window.__huia.classify(p)", {"score": 0.9, "keypoints": side["keypoints"]})
        want = predict_paths(res["run"], jpg, top=len(res["labels"]))[0]
        assert got["label"] == want["label"], (jpg.name, got, want)
        for t in want["top"]:
            assert abs(got["probs"][res["labels"].index(t["label"])] - t["score"]) < 2e-3, (got, want)
    page.screenshot(path=str(out_dir / "huia_with_trained.png"))
