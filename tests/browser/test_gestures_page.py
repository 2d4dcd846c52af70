"""Gesture trainer page (web/gestures.html): frozen extractor + Dense(100, relu) -> Dense(N, softmax) trained in the
browser (Adam 1e-4, categorical cross-entropy, 10 epochs), headless Chromium on wasm, webcam = pose_1.mp4.

- webcam flow through the UI: label buttons collect samples, Train lowers the loss, Start predicting predicts every
  frame with a flat tensor count over 500 frames;
- it really learns: sign-language digit photos (../shared/data/sign-digits), 20 per class fed through the page's
  own capture path, held-out photos classified well above chance; the head survives IndexedDB save/load and
  loading from /models/user/<name>/model.json (huia export layout + metadata) with identical predictions;
- 200 samples per class (for 5 of the 10 classes, to keep the suite fast) fit and train without the tab failing.
"""

from __future__ import annotations

import base64
import json
import random

import numpy as np
import pytest

from tests.browser.test_pose_page import open_page


def _data_url(path) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(path.read_bytes()).decode()


def test_gesture_trainer_webcam_flow(page, studio_server, out_dir):
    open_page(page, f"{studio_server.url}/gestures.html")
    for label in ("0", "1"):
        for _ in range(6):
            page.locator(f'#labels button[data-label="{label}"]').click()
            page.wait_for_timeout(120)
    page.wait_for_timeout(300)
    counts = page.evaluate("window.__huia.counts()")
    assert counts[0] >= 6 and counts[1] >= 6 and sum(counts[2:]) == 0, counts
    assert page.locator('#labels button[data-label="0"] .n').inner_text() == str(counts[0])
    n_before = page.evaluate("window.__huia.numTensors()")
    page.click("#train")
    page.wait_for_function("document.getElementById('trainStatus').textContent.includes('done')", timeout=120_000)
    losses = page.evaluate("window.__huia.losses")
    assert len(losses["epoch"]) == 10
    assert losses["epoch"][-1] < losses["epoch"][0], losses["epoch"]
    # the head's 4 weight tensors are the only new ones: nothing leaked per batch, the optimizer's moments are gone
    grown = page.evaluate("window.__huia.numTensors()") - n_before
    assert grown == 4, grown
    page.click("#predict")
    page.wait_for_function("window.__huia.frames >= 20", timeout=120_000)
    # one evaluate: the prediction and the text it put on the page (set together, frames keep coming)
    pred, shown = page.evaluate("[window.__huia.prediction, document.getElementById('prediction').textContent]")
    assert pred["label"] in ("0", "1") and 0.0 <= pred["confidence"] <= 1.0
    assert abs(sum(pred["probs"]) - 1.0) < 1e-4
    assert shown == pred["label"]
    start = page.evaluate("[window.__huia.frames, window.__huia.numTensors()]")
    page.wait_for_function(f"window.__huia.frames >= {start[0] + 500}", timeout=400_000)
    end = page.evaluate("[window.__huia.frames, window.__huia.numTensors()]")
    assert end[1] == start[1], f"tensors {start[1]} -> {end[1]} over {end[0] - start[0]} predicted frames"
    page.screenshot(path=str(out_dir / "gestures_page.png"), full_page=True)
    page.click("#predict")


def test_gesture_trainer_learns_sign_digits_and_reloads_the_head(page, studio_server, shared_data, out_dir):
    rng = random.Random(0)
    train, test = [], []
    for c in range(10):
        files = sorted((shared_data / "sign-digits" / str(c)).glob("*.JPG"))
        assert len(files) >= 40
        rng.shuffle(files)
        train += [(c, f) for f in files[:20]]
        test += [(c, f) for f in files[20:28]]
    open_page(page, f"{studio_server.url}/gestures.html")
    for c, f in train:
        page.evaluate("([c, u]) => window.__huia.addSampleFromImage(c, u)", [c, _data_url(f)])
    assert page.evaluate("window.__huia.counts()") == [20] * 10
    result = page.evaluate("window.__huia.train()")
    epochs = result["epochLosses"]
    assert len(epochs) == 10 and epochs[-1] < 0.8 * epochs[0], epochs
    preds = [page.evaluate("(u) => window.__huia.predictImage(u)", _data_url(f)) for _, f in test]
    acc = float(np.mean([p["index"] == c for (c, _), p in zip(test, preds)]))
    (out_dir / "sign_digits.json").write_text(json.dumps({"epoch_losses": epochs, "heldout_accuracy": acc}))
    assert acc >= 0.6, f"held-out accuracy {acc:.2f} (chance 0.10)"
    probs = np.array([p["probs"] for p in preds])
    page.screenshot(path=str(out_dir / "gestures_sign_digits.png"), full_page=True)

    # export the head in the `huia export --format layers` layout, serve it as a user model, load it by URL
    art = page.evaluate("window.__huia.exportHead()")
    meta = art["modelJson"]["userDefinedMetadata"]
    assert meta["labels"] == [str(i) for i in range(10)]
    assert meta["backbone"]["feature_node"] == "model_1/model/global_average_pooling2d/Mean"
    d = studio_server.data_dir / "exports" / "gesture-head-test"
    d.mkdir(parents=True, exist_ok=True)
    (d / "model.json").write_text(json.dumps(art["modelJson"]))
    (d / "weights.bin").write_bytes(base64.b64decode(art["weightsBase64"]))
    page.evaluate("window.__huia.saveHead()")

    for how in ("url", "indexeddb"):
        page.reload()
        page.wait_for_function("window.__huia && window.__huia.ready === true", timeout=120_000)
        if how == "url":
            info = page.evaluate("window.__huia.loadFromUrl('/models/user/gesture-head-test/model.json')")
        else:
            info = page.evaluate("window.__huia.loadFromIndexedDB()")
        assert info["labels"] == [str(i) for i in range(10)]
        again = np.array([page.evaluate("(u) => window.__huia.predictImage(u)", _data_url(f))["probs"]
                          for _, f in test])
        np.testing.assert_allclose(again, probs, atol=1e-5, err_msg=how)


@pytest.mark.slow
def test_gesture_trainer_holds_200_samples_per_class(page, studio_server, out_dir):
    open_page(page, f"{studio_server.url}/gestures.html")
    base_tensors = page.evaluate("window.__huia.numTensors()")
    # 5 of the 10 classes x 200 webcam frames through the real extractor (~0.1 s each here): 1000 samples
    for c in range(5):
        counts = page.evaluate("(c) => window.__huia.addSamples(c, 200)", c)
    assert counts == [200] * 5 + [0] * 5
    assert page.evaluate("window.__huia.numTensors()") == base_tensors, "samples must be stored as features, not tensors"
    heap = page.evaluate("window.__huia.heapMB()")
    result = page.evaluate("window.__huia.train()")
    assert len(result["epochLosses"]) == 10 and all(np.isfinite(result["epochLosses"]))
    heap_after = page.evaluate("window.__huia.heapMB()")
    (out_dir / "memory.json").write_text(json.dumps({"heap_mb_after_samples": heap, "heap_mb_after_training": heap_after}))
    assert heap is None or heap < 400, heap
    # the tab is alive and still predicting
    page.evaluate("window.__huia.startPredicting()")
    page.wait_for_function("window.__huia.frames >= 10", timeout=120_000)
    page.evaluate("window.__huia.stopPredicting()")
    page.screenshot(path=str(out_dir / "gestures_2000_samples.png"), full_page=True)
