"""The Huia page's classifier picker, class -> animation table and hover wireframe (headless Chromium, wasm).

- The picker lists only exports that can drive the bird (keypoint classifiers, skeleton classifiers exported with
  their backbone), counts the others, and a URL that preselects an unusable one gets one line saying what it is and
  why. The exports are real: small runs of each task trained and exported by huia itself (`huia export` code path).
- Each class of the loaded classifier has a row with a select (the bird's animations + none); a resting class
  (arms_down) defaults to none; the choice is kept per classifier in localStorage and shown again on reload. A class
  set to none plays nothing; a class set to an animation plays it (the classifier's own predictions on reference
  poses, not hand-made predictions).
- The bird turns to wireframe while the pointer is over it (a ray against its meshes), and back when it leaves.
"""

from __future__ import annotations

import json
import os

import pytest

from tests.browser.conftest import start_studio, stop_studio
from tests.browser.test_pose_page import NAMES, open_page

USABLE = ["poses-keypoints", "poses-keypoints-layers", "poses-skeleton"]
UNUSABLE = {  # export -> what the page must say it is (and the way out it must name)
    "digits-graph": ("an image classifier (camera frames through handlandmark-full)", "Gestures page"),
    "poses-skeleton-layers": ("a skeleton classifier exported without its backbone", "--format graph"),
}


@pytest.fixture(scope="module")
def exports_studio(shared_data, tmp_path_factory, node_modules):
    """A studio of its own whose exports are exactly: keypoint classifier (graph and layers), skeleton classifier
    (graph, and layers = head only), hand-digit image classifier (graph). Small runs: seconds each."""
    from huia.classify.export import export_run
    from huia.classify.posedata import build_pose_dataset
    from huia.classify.train import train_run

    root = tmp_path_factory.mktemp("huia-classes")
    old = os.environ.get("HUIA_CACHE_DIR")
    os.environ["HUIA_CACHE_DIR"] = str(root / "cache")
    exports = root / "data" / "exports"
    try:
        video = shared_data / "pose-video"
        build_pose_dataset(root / "poses", video / "pose_1.mp4", video / "pose_1.json", every=4, mirror=False,
                           train_fraction=1.0, gap=0)
        train_run(root / "poses" / "train", root / "run-kp", task="keypoints", views=2, epochs=150, seed=0,
                  quiet=True)
        export_run(root / "run-kp", exports / "poses-keypoints")
        export_run(root / "run-kp", exports / "poses-keypoints-layers", fmt="layers")
        train_run(root / "poses" / "train", root / "run-sk", task="skeleton", views=0, epochs=40, hidden=32, seed=0,
                  quiet=True)
        export_run(root / "run-sk", exports / "poses-skeleton")
        export_run(root / "run-sk", exports / "poses-skeleton-layers", fmt="layers")
        digits = root / "digits"
        for c in ("0", "1", "2"):  # 3 classes x 4 images of the shared sign digits (linked, not copied)
            (digits / c).mkdir(parents=True)
            for f in sorted((shared_data / "sign-digits" / c).iterdir())[:4]:
                (digits / c / f.name).symlink_to(f)
        train_run(digits, root / "run-digits", task="image", views=0, epochs=20, hidden=16, seed=0, quiet=True)
        export_run(root / "run-digits", exports / "digits-graph")
    finally:
        if old is None:
            os.environ.pop("HUIA_CACHE_DIR", None)
        else:
            os.environ["HUIA_CACHE_DIR"] = old
    server = start_studio(root / "data")
    yield server
    stop_studio(server)


def _url(name: str) -> str:
    return f"/models/user/{name}/model.json"


def test_picker_lists_only_pose_classifiers(page, exports_studio):
    listing = {m["name"] for m in exports_studio.get_json("/api/models")["models"] if m["source"] == "user"}
    assert listing == set(USABLE) | set(UNUSABLE)
    open_page(page, f"{exports_studio.url}/huia.html?camera=0")
    offered = page.eval_on_selector_all("#classifier option", "els => els.map((e) => e.textContent)")
    assert offered == ["none", *USABLE]
    assert page.text_content("#classifiersHint") == "2 other exports are not pose classifiers (not listed)"
    # every listed one loads, and gets one table row per class
    for name in USABLE:
        page.select_option("#classifier", _url(name))
        page.wait_for_function(f"window.__huia.state().classifier === '{name}'")
        labels = page.eval_on_selector_all("#animations tbody th", "els => els.map((e) => e.textContent)")
        assert labels == ["arms_down", "arms_up", "hands_chest"], (name, labels)
        assert page.text_content("#errors") == ""


@pytest.mark.parametrize("name", sorted(UNUSABLE))
def test_url_preselecting_an_unusable_export_says_what_it_is(page, exports_studio, name, out_dir):
    what, way_out = UNUSABLE[name]
    open_page(page, f"{exports_studio.url}/huia.html?camera=0&classifier={_url(name)}")
    msg = page.text_content("#errors")
    (out_dir / "message.txt").write_text(msg)
    assert msg.startswith(f"{name} is {what}") and way_out in msg and "\n" not in msg, msg
    assert page.evaluate("window.__huia.animations()") is None and page.is_hidden("#animations-wrap")
    assert page.input_value("#classifier") == ""
    assert page.evaluate("window.__huia.source") == "mouse"  # the page still runs


def _ref_pose(ref, idx):
    return {"score": 1.0, "keypoints": [{"name": n, "x": ref[idx][n]["x"], "y": ref[idx][n]["y"],
                                         "score": ref[idx][n].get("score", 1.0)} for n in NAMES]}


def _table(page) -> dict:
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('#animations select')]
        .map((s) => [s.dataset.class, s.value]))""")


def test_class_animation_table(page, exports_studio, shared_data, out_dir):
    open_page(page, f"{exports_studio.url}/huia.html?camera=0&classifier={_url('poses-keypoints')}")
    names = ["normal", "Idle", "arms_down", "Hands down", "background", "down",
             "arms_up", "hands_chest", "wave", "downward_dog", "bow"]
    flags = page.evaluate("(ns) => ns.map((n) => window.__huia.restLike(n))", names)
    assert flags == [True] * 6 + [False] * 5, dict(zip(names, flags))
    # defaults: the resting pose plays nothing, the others the automatic choice
    assert _table(page) == {"arms_down": "none", "arms_up": "jump", "hands_chest": "nod"}
    assert page.evaluate("window.__huia.animations()") == {"arms_down": None, "arms_up": "jump", "hands_chest": "nod"}
    # the user's choice: the rest pose spins, raised arms do nothing
    page.select_option("#animations select[data-class='arms_down']", "spin")
    page.select_option("#animations select[data-class='arms_up']", "none")

    ref = json.loads((shared_data / "pose-video" / "pose_1.json").read_text())
    preds = {}
    for idx in (5, 62):  # arms down / arms up, not training frames (every 4th)
        pred = page.evaluate("(p) => window.__huia.classify(p)", _ref_pose(ref, idx))
        preds[pred["label"]] = pred
    assert set(preds) == {"arms_down", "arms_up"}, preds

    def hold(label, t0):  # the class held for 4 frames (a class plays after 3); no pose: no arms trigger
        return [page.evaluate("([t, pr]) => window.__huia.feedPose(null, t, pr).played", [t0 + i / 30, preds[label]])
                for i in range(4)]

    assert hold("arms_up", 0) == [None] * 4
    assert page.evaluate("window.__huia.state()")["animation"] is None
    assert hold("arms_down", 1) == [None, None, "spin", None]
    assert page.evaluate("window.__huia.state()")["animation"] == "spin"
    page.evaluate("window.__huia.step(2.0)")
    assert hold("arms_up", 3) == [None] * 4
    st = page.evaluate("window.__huia.state()")
    assert st["animation"] is None and st["jumps"] == 0, st
    events = [(e["label"], e["animation"]) for e in page.evaluate("window.__huia.events") if e["type"] == "class"]
    assert events == [("arms_up", None), ("arms_down", "spin"), ("arms_up", None)], events
    page.screenshot(path=str(out_dir / "huia_animation_table.png"))

    # kept per classifier: shown again after a reload; another classifier with the same classes keeps its defaults
    open_page(page, f"{exports_studio.url}/huia.html?camera=0&classifier={_url('poses-keypoints')}")
    assert _table(page) == {"arms_down": "spin", "arms_up": "none", "hands_chest": "nod"}
    stored = page.evaluate("localStorage.getItem('huia.animations:poses-keypoints')")
    assert json.loads(stored) == {"arms_down": "spin", "arms_up": "none", "hands_chest": "nod"}
    page.select_option("#classifier", _url("poses-keypoints-layers"))
    page.wait_for_function("window.__huia.state().classifier === 'poses-keypoints-layers'")
    assert _table(page) == {"arms_down": "none", "arms_up": "jump", "hands_chest": "nod"}


def test_bird_turns_to_wireframe_under_the_pointer(page, studio_server, out_dir):
    open_page(page, f"{studio_server.url}/huia.html?camera=0")
    box = page.locator("#scene").bounding_box()

    def at(ndc_x, ndc_y):
        page.mouse.move(box["x"] + (ndc_x + 1) / 2 * box["width"], box["y"] + (1 - ndc_y) / 2 * box["height"])
        return page.evaluate("window.__huia.state().wireframe")

    materials = "window.__huia.birdMaterials().map((m) => m.wireframe)"
    assert page.evaluate("window.__huia.state().wireframe") is False
    solid = page.evaluate("window.__huia.birdMaterials()")
    torso = page.evaluate("window.__huia.torsoNDC()")
    assert at(torso["x"], torso["y"]) is True
    assert set(page.evaluate(materials)) == {True}  # every material of the bird
    page.evaluate("window.__huia.step(0.2)")
    page.screenshot(path=str(out_dir / "huia_wireframe.png"))
    assert at(-0.95, 0.95) is False  # the empty top-left corner
    assert set(page.evaluate(materials)) == {False}
    assert at(torso["x"], torso["y"]) is True
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] + 40)  # off the canvas
    assert page.evaluate("window.__huia.state().wireframe") is False
    assert page.evaluate("window.__huia.birdMaterials()") == solid  # solid again, its own colours back
