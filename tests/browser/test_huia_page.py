"""The Huia page (web/huia.html): Three.js bird driven by pose signals, headless Chromium on wasm.

- Real video: pose_1.mp4 contains raised arms (frames ~50-75: wrists ~75 px above the shoulders, about one torso
  length), so the fake webcam itself must make the bird jump, once per raise (the video loops every 4 s), and each
  jump must happen on a pose whose arms the signal measured as up.
- The JS signals (web/js/pose/signals.js) equal huia.pose.signals (Python) on the reference poses, and the trigger
  fires on the same frames for a synthetic raise/lower sequence (hysteresis + debounce).
- Head direction moves the bird's head; mouse fallback without a camera (move = look, click = jump).
- A pose classifier (keypoint features, huia export metadata) triggers an animation; the page's keypoint features
  equal huia.classify.dataset.keypoint_features.
- tf.memory().numTensors stays flat over 500 frames.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.browser.test_pose_page import NAMES, open_page, wait_frames
from tests.conftest import REPO_ROOT

SIGNALS = json.loads((REPO_ROOT / "web" / "spec" / "signals.json").read_text())


def _pose_json(xy, scores=None):
    scores = np.ones(len(xy)) if scores is None else scores
    return {"score": 1.0, "keypoints": [{"name": n, "x": float(x), "y": float(y), "score": float(s)}
                                        for n, (x, y), s in zip(NAMES, xy, scores)]}


@pytest.fixture(scope="module")
def ref_poses(shared_data):
    data = json.loads((shared_data / "pose-video" / "pose_1.json").read_text())
    return [np.array([[f[n]["x"], f[n]["y"]] for n in NAMES]) for f in data]


def test_huia_jumps_when_the_video_raises_both_arms(page, studio_server, out_dir):
    open_page(page, f"{studio_server.url}/huia.html?backend=wasm")
    assert page.evaluate("window.__huia.source") == "camera"
    page.wait_for_function("window.__huia.state().jumps >= 1", timeout=120_000)
    page.wait_for_timeout(400)
    page.screenshot(path=str(out_dir / "huia_jump.png"))
    wait_frames(page, page.evaluate("window.__huia.frames") + 20)
    n0 = page.evaluate("[window.__huia.frames, window.__huia.numTensors(), window.__huia.state().jumps]")
    page.wait_for_function(f"window.__huia.frames >= {n0[0] + 500}", timeout=400_000)
    n1 = page.evaluate("[window.__huia.frames, window.__huia.numTensors(), window.__huia.state().jumps]")
    events = page.evaluate("window.__huia.events")
    assert n1[1] == n0[1], f"tensor count {n0[1]} -> {n1[1]} over {n1[0] - n0[0]} frames"
    jumps = [e for e in events if e["type"] == "jump"]
    on = SIGNALS["arms_raised"]["on_margin"]
    for e in jumps:
        assert min(e["heights"]) > on, e
    # one jump per raise: the 4-s video loops; without hysteresis a held pose would re-trigger every frame
    times = np.array([e["t"] for e in jumps])
    assert len(jumps) >= 2
    assert np.all(np.diff(times) > 2.5), times
    page.screenshot(path=str(out_dir / "huia_page.png"))


def test_js_signals_equal_python(page, studio_server, ref_poses):
    signals = pytest.importorskip("huia.pose.signals")
    from huia.pose.types import Pose

    open_page(page, f"{studio_server.url}/huia.html?camera=0")
    poses = [_pose_json(xy) for xy in ref_poses[::7]]
    js = page.evaluate("""async (poses) => {
        const s = await import('/js/pose/signals.js'); const cfg = await (await fetch('/spec/signals.json')).json();
        return poses.map((p) => ({hd: s.headDirection(cfg, p), arms: s.armHeights(cfg, p)})); }""", poses)
    for p, r in zip(poses, js):
        arr = np.array([[k["x"], k["y"], k["score"]] for k in p["keypoints"]])
        pose = Pose.from_array(arr, NAMES, 1.0)
        hd = signals.head_direction(pose)
        assert r["hd"]["yaw"] == pytest.approx(hd.yaw, abs=1e-9)
        assert r["hd"]["pitch"] == pytest.approx(hd.pitch, abs=1e-9)
        assert r["arms"] == pytest.approx(list(signals.arm_heights(pose)), abs=1e-9)

    # a raise / lower sequence with noise: same trigger frames in both languages
    rng = np.random.default_rng(3)
    base = ref_poses[0].copy()
    seq = []
    for i in range(60):
        xy = base.copy()
        up = (i // 10) % 2 == 1  # 10 frames down, 10 up, ...
        lift = 110 if up else 0
        if i in (13, 34):  # a one-frame dropout while up must not re-trigger
            lift = 0
        for w in ("left_wrist", "right_wrist"):
            xy[NAMES.index(w), 1] -= lift + rng.normal(0, 4)
        seq.append(_pose_json(xy))
    js_fired = page.evaluate("""async (seq) => {
        const s = await import('/js/pose/signals.js'); const cfg = await (await fetch('/spec/signals.json')).json();
        const t = new s.ArmsRaisedTrigger(cfg); return seq.map((p) => t.update(p)); }""", seq)
    trig = signals.ArmsRaisedTrigger()
    py_fired = [trig.update(Pose.from_array(np.array([[k["x"], k["y"], k["score"]] for k in p["keypoints"]]),
                                            NAMES, 1.0)) for p in seq]
    assert js_fired == py_fired
    assert sum(js_fired) == 3, js_fired


def test_huia_head_follows_and_hook_jump(page, studio_server, ref_poses, out_dir):
    open_page(page, f"{studio_server.url}/huia.html?camera=0")
    xy = ref_poses[0].copy()
    # turn the head: left eye reaches the left ear => yaw -> +1 (towards image +x); the bird mirrors it
    le, lear = NAMES.index("left_eye"), NAMES.index("left_ear")
    xy[le, 0] = xy[lear, 0] - 0.5
    for i in range(30):
        r = page.evaluate("([p, t]) => window.__huia.feedPose(p, t)", [_pose_json(xy), i / 30])
    assert r["head"]["yaw"] > 0.8
    page.evaluate("window.__huia.step(1.0)")
    st = page.evaluate("window.__huia.state()")
    assert st["birdTarget"]["yaw"] < -0.8 and st["birdLook"]["yaw"] < -0.5, st
    # arms up through the hook: one jump after on_frames frames, none while held
    up = ref_poses[60]
    fired = [page.evaluate("([p, t]) => window.__huia.feedPose(p, t).jumped", [_pose_json(up), 2 + i / 30])
             for i in range(8)]
    assert fired.count(True) == 1 and fired.index(True) == SIGNALS["arms_raised"]["on_frames"] - 1, fired
    assert page.evaluate("window.__huia.step(0.2)")["jumping"]
    page.screenshot(path=str(out_dir / "huia_hook.png"))


def test_huia_mouse_fallback(page, studio_server, out_dir):
    open_page(page, f"{studio_server.url}/huia.html?camera=0")
    assert page.evaluate("window.__huia.source") == "mouse"
    box = page.locator("#scene").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.05, box["y"] + box["height"] * 0.1)
    left = page.evaluate("window.__huia.state().birdTarget")
    page.mouse.move(box["x"] + box["width"] * 0.95, box["y"] + box["height"] * 0.9)
    right = page.evaluate("window.__huia.state().birdTarget")
    assert left["yaw"] < -0.8 and right["yaw"] > 0.8 and left["pitch"] > 0.7 and right["pitch"] < -0.7
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    assert page.evaluate("window.__huia.state().jumps") == 1
    page.screenshot(path=str(out_dir / "huia_mouse.png"))
    # the whole bird stays on the canvas through a jump (its head used to leave it at the top of the jump)
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.02)  # looking up: head highest
    page.evaluate("window.__huia.step(2.0)")
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.02)
    bounds = page.evaluate("""() => { const out = [];
        do { out.push(window.__huia.birdBounds()); } while (window.__huia.step(0.02).jumping);
        return out; }""")
    assert len(bounds) > 10
    top, bottom = max(b["maxY"] for b in bounds), min(b["minY"] for b in bounds)
    side = max(max(abs(b["minX"]), abs(b["maxX"])) for b in bounds)
    assert top < 0.97 and bottom > -0.97 and side < 0.97, (top, bottom, side)


def test_mouse_and_camera_switch_both_ways(page, studio_server):
    """The mouse fallback is not one-way: the button goes back to the camera, and mouse mode turns the camera off
    (its light too) and forgets the camera's last head, arms and pose-class readings."""
    _keypoint_classifier(studio_server.data_dir / "exports" / "huia-test-classifier", ["normal", "flap"])
    open_page(page, f"{studio_server.url}/huia.html?backend=wasm&classifier=/models/user/huia-test-classifier/model.json")
    # the camera's readings are on show first (the video's person: both arms measured, a class predicted)
    page.wait_for_function("""() => document.getElementById('arms').textContent.startsWith('L ')
        && document.getElementById('klass').textContent.includes('%')""", timeout=120_000)
    assert page.evaluate("window.__huia.cameraOn()")
    page.click("#useMouse")
    assert page.evaluate("window.__huia.source") == "mouse"
    assert not page.evaluate("window.__huia.cameraOn()")
    box = page.locator("#scene").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.3)
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_timeout(300)
    assert page.text_content("#head") == "not seen"
    assert page.text_content("#arms") == "–" and page.text_content("#klass") == "camera off"
    st = page.evaluate("window.__huia.state()")
    assert st["heights"] == [None, None] and st["klass"]["label"] is None, st
    assert page.text_content("#useMouse") == "Use the camera"
    n = page.evaluate("window.__huia.frames")
    page.click("#useMouse")
    page.wait_for_function("window.__huia.source === 'camera'")
    wait_frames(page, n + 5)  # poses flow again
    assert page.evaluate("window.__huia.cameraOn()") and page.text_content("#useMouse") == "Use the mouse instead"


@pytest.mark.allow_console_errors
def test_a_bad_classifier_url_is_reported_and_the_page_still_runs(page, studio_server):
    open_page(page, f"{studio_server.url}/huia.html?backend=wasm&classifier=/models/user/nope/model.json")
    assert "/models/user/nope/model.json: HTTP 404" in page.text_content("#errors")
    assert page.evaluate("window.__huia.source") == "camera"
    wait_frames(page, 3)
    assert all("404" in e for e in page.console_errors), page.console_errors


def _keypoint_classifier(out: "Path", labels):
    """A tiny layers model in the `huia export --format layers` layout for a keypoint classifier: 51 features ->
    Dense(2, softmax). Hand-set weights read the two wrists' y features: class 1 ('flap') when wrists are high."""
    dim = 51
    k = np.zeros((dim, 2), np.float32)
    for w in ("left_wrist", "right_wrist"):
        k[3 * NAMES.index(w) + 1, 0] = 8.0   # wrist low (y > 0 in box coords) -> class 0
        k[3 * NAMES.index(w) + 1, 1] = -8.0  # wrist high -> class 1
    b = np.array([0.0, -4.8], np.float32)  # "high" means the two wrist y features sum below -0.3
    topo = {"class_name": "Sequential", "config": {"name": "head", "layers": [
        {"class_name": "Dense", "config": {"name": "out", "units": 2, "activation": "softmax", "use_bias": True,
                                           "batch_input_shape": [None, dim], "dtype": "float32",
                                           "kernel_initializer": {"class_name": "Zeros", "config": {}},
                                           "bias_initializer": {"class_name": "Zeros", "config": {}}}}]},
        "keras_version": "2.15.0", "backend": "tensorflow"}
    meta = {"huia": {"task": "classify", "classifier": "keypoints", "format": "layers"}, "labels": labels,
            "input": "features", "output": "probabilities",
            "keypoints": {"kind": "bbox-normalized", "min_score": 0.2, "layout": "x,y,visible per keypoint"}}
    doc = {"format": "layers-model", "generatedBy": "test", "convertedBy": None, "modelTopology": topo,
           "weightsManifest": [{"paths": ["w.bin"], "weights": [
               {"name": "out/kernel", "shape": [dim, 2], "dtype": "float32"},
               {"name": "out/bias", "shape": [2], "dtype": "float32"}]}],
           "userDefinedMetadata": meta}
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.json").write_text(json.dumps(doc))
    (out / "w.bin").write_bytes(k.tobytes() + b.tobytes())


def test_huia_classifier_class_plays_animation(page, studio_server, ref_poses, out_dir):
    _keypoint_classifier(studio_server.data_dir / "exports" / "huia-test-classifier", ["normal", "flap"])
    open_page(page, f"{studio_server.url}/huia.html?camera=0&classifier=/models/user/huia-test-classifier/model.json")
    # the page's features equal the trainer's (Python) features
    try:
        from huia.classify.dataset import keypoint_features
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"huia.classify not importable: {e!r}")
    for xy in (ref_poses[0], ref_poses[60]):
        scores = np.linspace(0.1, 0.95, 17)
        js = page.evaluate("(p) => window.__huia.keypointFeatures(p, 0.2)", _pose_json(xy, scores))
        py = keypoint_features(np.concatenate([xy, scores[:, None]], 1), min_score=0.2)
        np.testing.assert_allclose(js, py, atol=1e-6)
    down, up = _pose_json(ref_poses[0]), _pose_json(ref_poses[60])
    played = []
    for i, p in enumerate([down] * 4 + [up] * 5):
        pred = page.evaluate("(p) => window.__huia.classify(p)", p)
        assert pred["label"] == ("normal" if i < 4 else "flap"), (i, pred)
        played.append(page.evaluate("([p, t, pr]) => window.__huia.feedPose(p, t, pr).played", [p, i / 30, pred]))
    # 'normal' is the rest class; 'flap' plays once after holding for 3 frames
    assert played == [None] * 4 + [None, None, "flap", None, None], played
    assert page.evaluate("window.__huia.state().animation") == "flap"
    page.screenshot(path=str(out_dir / "huia_classifier.png"))
