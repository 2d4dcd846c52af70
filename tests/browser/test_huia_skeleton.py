"""The Huia page runs a skeleton-image pose classifier (the article's approach: keypoints drawn as coloured limbs,
classified by a MobileNet), trained and exported in the test by huia itself.

- On frames of the fake webcam (pose_1.mp4), the page's skeleton image of the pose it estimated is bit-identical
  to huia.classify.dataset.skeleton_image (the trainer's input) of the same keypoints, and its predicted class is
  the trained run's (torch) prediction on that image, probabilities within 1e-3 (TF.js wasm vs torch float32).
- The classes change over the video (the classifier is not stuck on one class) and play the bird's animations.
- The drawing constants are keypoints.json "skeleton_image", not typed in the trainer or the page.
- In mouse mode the skeleton thumbnail is cleared (it used to keep the camera's last skeleton).
"""

from __future__ import annotations

import base64
import inspect
import json
import os

import numpy as np
import pytest
import torch

from tests.browser.test_pose_page import NAMES, open_page, wait_frames
from tests.conftest import REPO_ROOT

EXPORT = "huia-skeleton-test"


@pytest.fixture(scope="module")
def skeleton_run(shared_data, studio_server, tmp_path_factory):
    """A small skeleton classifier (3 arm poses from pose_1.mp4's reference keypoints, every 4th frame, head only:
    a few seconds) exported as a graph model into the studio's exports folder."""
    from huia.classify.export import export_run
    from huia.classify.posedata import build_pose_dataset
    from huia.classify.predict import load_run
    from huia.classify.train import train_run

    root = tmp_path_factory.mktemp("skeleton")
    old = os.environ.get("HUIA_CACHE_DIR")
    os.environ["HUIA_CACHE_DIR"] = str(root / "cache")
    try:
        video = shared_data / "pose-video"
        build_pose_dataset(root / "data", video / "pose_1.mp4", video / "pose_1.json", every=4, mirror=False,
                           train_fraction=1.0, gap=0)
        train_run(root / "data" / "train", root / "run", task="skeleton", views=0, epochs=60, hidden=32, seed=0,
                  quiet=True)
        export_run(root / "run", studio_server.data_dir / "exports" / EXPORT)
    finally:
        if old is None:
            os.environ.pop("HUIA_CACHE_DIR", None)
        else:
            os.environ["HUIA_CACHE_DIR"] = old
    return load_run(root / "run")


def _rgb(sk: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(sk["rgb"]), np.uint8).reshape(sk["size"], sk["size"], 3)


def _kp(pose: dict) -> np.ndarray:
    by = {k["name"]: k for k in pose["keypoints"]}
    return np.array([[by[n]["x"], by[n]["y"], by[n]["score"]] for n in NAMES], np.float64)


def _python_predict(run, img: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return run.model(torch.from_numpy(img.astype(np.float32)[None])).numpy()[0]


def test_skeleton_constants_come_from_the_spec():
    from huia.classify.dataset import skeleton_image
    from huia.pose import render

    spec = json.loads((REPO_ROOT / "web" / "spec" / "keypoints.json").read_text())
    sk = spec["skeleton_image"]
    sig = inspect.signature(render.render_skeleton).parameters
    assert sig["thickness"].default == sk["thickness"] and sig["margin"].default == sk["margin"]
    assert tuple(sig["background"].default) == tuple(sk["background"])
    # the trainer's skeleton images: spec margin, and the keypoint min score the export metadata carries
    # (defaults are read from the spec at call time: the default image must equal the one drawn with the spec's
    # numbers, and differ from one drawn with other numbers, so the check cannot pass vacuously)
    kps = np.array([[40 + 7 * i, 30 + 11 * i, 0.15 + 0.05 * i] for i in range(17)], np.float64)
    default = skeleton_image(kps, 96)
    explicit = skeleton_image(kps, 96, min_score=spec["keypoint_features"]["min_score"], margin=sk["margin"])
    assert np.array_equal(default, explicit)
    assert not np.array_equal(default, skeleton_image(kps, 96, min_score=0.5, margin=sk["margin"]))
    assert not np.array_equal(default, skeleton_image(kps, 96, min_score=spec["keypoint_features"]["min_score"],
                                                      margin=0.25))
    js = (REPO_ROOT / "web" / "js" / "huia" / "skeleton.js").read_text()
    assert "spec.skeleton_image" in js and "0.1" not in js


def test_huia_page_skeleton_classifier_matches_python(page, studio_server, skeleton_run, shared_data, out_dir):
    from huia.classify.dataset import skeleton_image

    run = skeleton_run
    open_page(page, f"{studio_server.url}/huia.html?backend=wasm&model=movenet-lightning"
                    f"&classifier=/models/user/{EXPORT}/model.json")
    assert page.evaluate("window.__huia.source") == "camera"
    assert page.is_visible("#skeleton")
    wait_frames(page, 10)
    n0 = page.evaluate("window.__huia.numTensors()")
    labels_seen, worst = set(), 0.0
    for i in range(6):
        g = page.evaluate("window.__huia.grab()")
        assert g["pose"] is not None and g["prediction"] is not None, g
        js_img = _rgb(g["skeleton"])
        py_img = skeleton_image(_kp(g["pose"]).astype(np.float32), run.input_size)
        assert py_img.dtype == np.float32
        np.testing.assert_array_equal(js_img, py_img.astype(np.uint8))  # bit-identical input
        assert np.abs(py_img - np.round(py_img)).max() == 0
        probs = _python_predict(run, py_img)
        assert g["prediction"]["label"] == run.labels[int(np.argmax(probs))], (g["prediction"], probs)
        worst = max(worst, float(np.abs(np.array(g["prediction"]["probs"]) - probs).max()))
        labels_seen.add(g["prediction"]["label"])
        if i == 0:
            from PIL import Image

            Image.fromarray(js_img).save(out_dir / "page_skeleton.png")
        wait_frames(page, page.evaluate("window.__huia.frames") + 6)
    (out_dir / "python_vs_browser.json").write_text(json.dumps({"max_prob_diff": worst,
                                                               "labels": sorted(labels_seen)}))
    assert worst < 1e-3, worst
    assert page.evaluate("window.__huia.numTensors()") == n0  # the skeleton path leaks no tensor
    # the arms go up and down over the 4-s video loop: the page's classes change and play animations
    page.wait_for_function("new Set(window.__huia.events.filter((e) => e.type === 'class').map((e) => e.label))"
                           ".size >= 2 && window.__huia.events.some((e) => e.type === 'class' && e.animation)",
                           timeout=240_000)
    events = [e for e in page.evaluate("window.__huia.events") if e["type"] == "class"]
    assert len({e["label"] for e in events}) >= 2, events
    assert any(e["animation"] for e in events), events  # (null: a rest class, or the jump already playing)
    page.screenshot(path=str(out_dir / "huia_skeleton.png"))
    # mouse mode: the thumbnail does not keep the camera's last skeleton next to "camera off"
    drawn = """(() => { const c = document.getElementById('skeleton');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] > 0; return n; })()"""
    assert page.evaluate(drawn) == 224 * 224
    page.click("#useMouse")
    page.wait_for_timeout(300)
    assert page.text_content("#klass") == "camera off"
    assert page.evaluate(drawn) == 0


def test_skeleton_classifier_on_reference_poses_plays_animation(page, studio_server, skeleton_run, shared_data):
    """Reference poses (no camera): each pose's class equals Python's; arms_up holds 3 frames -> 'jump'."""
    from huia.classify.dataset import skeleton_image

    run = skeleton_run
    ref = json.loads((shared_data / "pose-video" / "pose_1.json").read_text())
    open_page(page, f"{studio_server.url}/huia.html?camera=0&classifier=/models/user/{EXPORT}/model.json")
    seen = []
    for idx in (5, 62, 102):  # arms down / up / hands at the chest; not training frames (every 4th)
        pose = {"score": 1.0, "keypoints": [{"name": n, "x": ref[idx][n]["x"], "y": ref[idx][n]["y"],
                                             "score": ref[idx][n].get("score", 1.0)} for n in NAMES]}
        pred = page.evaluate("(p) => window.__huia.classify(p)", pose)
        sk = page.evaluate("(p) => window.__huia.skeletonImage(p)", pose)
        py_img = skeleton_image(_kp(pose).astype(np.float32), run.input_size)
        np.testing.assert_array_equal(_rgb(sk), py_img.astype(np.uint8))
        probs = _python_predict(run, py_img)
        assert pred["label"] == run.labels[int(np.argmax(probs))]
        seen.append(pred)
    up = next((p for p in seen if p["label"] == "arms_up"), None)
    assert up is not None, [p["label"] for p in seen]
    played = [page.evaluate("([p, t, pr]) => window.__huia.feedPose(p, t, pr).played", [None, i / 30, up])
              for i in range(4)]
    assert played == [None, None, "jump", None], played
