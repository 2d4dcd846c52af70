"""Gesture trainer page (web/gestures.html) against the mistakes a first-time user makes (the studio audit's
findings 2, 3 and 10-14), headless Chromium on wasm, webcam = pose_1.mp4:

- a model that is not a gesture head (a detector, a keypoints classifier, a head whose input does not match the
  extractor its metadata names) is not offered, and loading it anyway is refused with one line naming the model and
  the reason, before the classes, samples, head or extractor change;
- switching the feature extractor while predicting asks before discarding samples (cancel changes nothing), then
  stops predicting cleanly and drops the head that read the old features;
- bad training settings get a message next to their field and train nothing;
- label buttons work from the keyboard; Clear and Set ask first; class names are shown exactly as typed;
- training again leaks no tensors (the optimizer's moments are disposed).
"""

from __future__ import annotations

import base64
import json
import shutil
from types import SimpleNamespace

import pytest

from tests.browser.test_pose_page import open_page

DIGITS = [str(i) for i in range(10)]

# a stand-in run's folder: no model.pt (no fingerprint) and no eval.json (no stored evaluation)
NO_RUN = "/nonexistent/huia-run"


class Dialogs:
    """Answers window.confirm as told (`accept`), remembering each message."""

    def __init__(self, page):
        self.accept = False
        self.messages: list[str] = []
        page.on("dialog", self._on)

    def _on(self, d):
        self.messages.append(d.message)
        d.accept() if self.accept else d.dismiss()


def _open(page, studio_server):
    open_page(page, f"{studio_server.url}/gestures.html")


def _add(page, per_class: dict[int, int]):
    for c, n in per_class.items():
        page.evaluate("([c, n]) => window.__huia.addSamples(c, n)", [c, n])


def _state(page):
    return page.evaluate("""() => ({classes: window.__huia.classes, counts: window.__huia.counts(),
        extractor: document.getElementById('extractor').value,
        predict: [document.getElementById('predict').disabled, document.getElementById('predict').textContent],
        save: document.getElementById('saveIdb').disabled, tensors: window.__huia.numTensors(),
        epochs: window.__huia.losses.epoch})""")


def _until(page, cond, timeout_ms=30_000):
    """Let the page run (dialog events are handled meanwhile) until cond() holds."""
    for _ in range(timeout_ms // 100):
        if cond():
            return
        page.wait_for_timeout(100)
    raise AssertionError("timed out")


def _texts(page, selector):
    return page.eval_on_selector_all(selector, "els => els.map((e) => e.textContent)")


# -- finding 2: loading what is not a gesture head ---------------------------------------------------------------------
def _image_meta(backbone: str, labels: list[str]) -> dict:
    """The userDefinedMetadata `huia export --format layers` writes for an image classifier (the real function)."""
    from huia.classify.export import export_metadata
    from huia.classify.models import get_backbone_spec

    run = SimpleNamespace(path=NO_RUN, task="image", labels=labels, config={}, model=SimpleNamespace(
        backbone=SimpleNamespace(spec=get_backbone_spec(backbone), use_landmarks=False)))
    return export_metadata(run, "layers", None)


def _write_export(root, name, model_json, weights: bytes | None):
    d = root / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "model.json").write_text(json.dumps(model_json))
    if weights is not None:
        (d / "weights.bin").write_bytes(weights)
    return d


def test_a_model_that_is_not_a_gesture_head_is_refused_and_changes_nothing(page, studio_server, out_dir):
    from huia.classify.export import export_metadata
    from huia.detect.train import model_metadata

    root = studio_server.data_dir / "exports"
    names = ["gx-good", "gx-detector", "gx-keypoints", "gx-wrongdim"]
    _open(page, studio_server)
    _add(page, {0: 3, 1: 3})
    page.evaluate("window.__huia.train()")
    art = page.evaluate("window.__huia.exportHead()")
    weights = base64.b64decode(art["weightsBase64"])
    head = art["modelJson"]   # Dense(1152 -> 100 -> 2): only the two classes with samples are trained
    two = ["0", "1"]
    try:
        _write_export(root, "gx-good", {**head, "userDefinedMetadata": _image_meta("handlandmark-full", two)}, weights)
        # a real detector's metadata; refused on it alone, so no weights are needed (none are fetched)
        _write_export(root, "gx-detector", {"format": "graph-model", "modelTopology": {"node": []}, "weightsManifest": [],
                                            "userDefinedMetadata": model_metadata(["kangaroo"], 320, 0.3)}, None)
        kp = export_metadata(SimpleNamespace(path=NO_RUN, task="keypoints", labels=DIGITS, config={"keypoint_features": {
            "kind": "bbox-normalized"}}), "layers", None)
        _write_export(root, "gx-keypoints", {**head, "userDefinedMetadata": kp}, weights)
        # metadata fine on its face, but it names PoseNet (384 features) for a head that reads 1152
        _write_export(root, "gx-wrongdim", {**head, "userDefinedMetadata": _image_meta("posenet-mobilenet", two)},
                      weights)

        page.reload()
        page.wait_for_function("window.__huia && window.__huia.ready === true", timeout=120_000)
        dialogs = Dialogs(page)
        page.evaluate("window.__huia.setClasses(['a', 'b'])")
        _add(page, {0: 3, 1: 3})
        page.evaluate("window.__huia.train()")
        before = _state(page)
        assert before["classes"] == ["a", "b"] and before["counts"] == [3, 3] and before["predict"][0] is False

        offered = _texts(page, "#userModels option")[1:]
        assert "gx-good" in offered, offered
        assert "gx-detector" not in offered and "gx-keypoints" not in offered, offered
        assert "not a gesture head" in page.text_content("#modelsHint")

        # offered (its metadata looks right) but the named extractor gives 384 features: refused after a probe
        page.select_option("#userModels", label="gx-wrongdim")
        page.click("#loadUrl")
        page.wait_for_function("document.getElementById('errors').textContent.length > 0", timeout=60_000)
        msg = page.text_content("#errors")
        assert msg.startswith("gx-wrongdim: not a gesture head") and "1152" in msg and "384" in msg, msg
        assert "\n" not in msg
        assert _state(page) == before, "a refused model changed the page"

        for name, reason in (("gx-detector", "object detector"), ("gx-keypoints", "keypoints classifier")):
            err = page.evaluate("(u) => window.__huia.loadFromUrl(u).then(() => null, (e) => e.message)",
                                f"/models/user/{name}/model.json")
            assert err is not None and err.startswith(f"{name}: not a gesture head") and reason in err, err
            assert _state(page) == before, name

        # the same through the file picker
        page.set_input_files("#files", [str(root / "gx-keypoints" / "model.json"),
                                        str(root / "gx-keypoints" / "weights.bin")])
        page.wait_for_function("document.getElementById('errors').textContent.includes('keypoints')", timeout=60_000)
        assert page.text_content("#errors").startswith("model.json: not a gesture head")
        assert _state(page) == before
        # a model.json chosen without its weights says so (it blamed the metadata)
        page.set_input_files("#files", [str(root / "gx-good" / "model.json")])
        page.wait_for_function("document.getElementById('errors').textContent.includes('choose its weights')",
                               timeout=60_000)
        assert "model.json: choose its weights file" in page.text_content("#errors")
        assert _state(page) == before

        # the old head still predicts
        page.evaluate("window.__huia.startPredicting()")
        page.wait_for_function("window.__huia.frames >= 3", timeout=60_000)
        page.evaluate("window.__huia.stopPredicting()")
        assert page.evaluate("window.__huia.prediction.label") in ("a", "b")

        # a real gesture head: asks first (there are samples); cancel keeps everything, OK loads it
        assert dialogs.messages == []
        page.select_option("#userModels", label="gx-good")
        page.click("#loadUrl")
        _until(page, lambda: dialogs.messages)
        page.wait_for_timeout(300)
        assert len(dialogs.messages) == 1 and "6 samples" in dialogs.messages[0]
        now = _state(page)
        assert now["classes"] == ["a", "b"] and now["counts"] == [3, 3]
        dialogs.accept = True
        page.click("#loadUrl")
        page.wait_for_function("document.getElementById('trainStatus').textContent === 'loaded gx-good'")
        after = _state(page)
        assert after["classes"] == two and after["counts"] == [0, 0] and after["predict"][0] is False
        page.screenshot(path=str(out_dir / "gestures_refused_models.png"), full_page=True)
    finally:
        for n in names:
            shutil.rmtree(root / n, ignore_errors=True)


# -- finding 3: switching the extractor while predicting ----------------------------------------------------------------
def test_switching_the_extractor_while_predicting(page, studio_server):
    _open(page, studio_server)
    dialogs = Dialogs(page)
    _add(page, {0: 4, 1: 4})
    page.evaluate("window.__huia.train()")
    page.click("#predict")
    page.wait_for_function("window.__huia.frames >= 3", timeout=60_000)

    # cancel: the old extractor stays selected, samples kept, still predicting
    page.select_option("#extractor", "posenet-mobilenet")
    page.wait_for_function("document.getElementById('extractor').value === 'handlandmark-full'")
    assert len(dialogs.messages) == 1 and "8 samples" in dialogs.messages[0], dialogs.messages
    frames = page.evaluate("window.__huia.frames")
    page.wait_for_function(f"window.__huia.frames >= {frames + 3}", timeout=60_000)
    s = _state(page)
    assert s["counts"][:2] == [4, 4] and s["predict"] == [False, "Stop predicting"]

    # OK: prediction stops and is cleared, the head (1152 inputs) is dropped, the samples go
    dialogs.accept = True
    page.select_option("#extractor", "posenet-mobilenet")
    page.wait_for_function("document.getElementById('status').textContent.startsWith('posenet ·')", timeout=120_000)
    s = _state(page)
    assert s["predict"] == [True, "Start predicting"] and s["save"] is True and s["counts"] == [0] * 10, s
    assert page.text_content("#prediction") == "–" and page.evaluate("window.__huia.prediction") is None
    assert _texts(page, "#bars span") == []
    frames = page.evaluate("window.__huia.frames")
    page.wait_for_timeout(500)
    assert page.evaluate("window.__huia.frames") == frames

    # and the new extractor trains and predicts (384 features)
    _add(page, {0: 4, 1: 4})
    page.evaluate("window.__huia.train()")
    assert page.evaluate("window.__huia.exportHead()")["modelJson"]["userDefinedMetadata"]["backbone"]["feature_dim"] == 384
    page.click("#predict")
    page.wait_for_function(f"window.__huia.frames >= {frames + 3}", timeout=60_000)
    page.click("#predict")


# -- findings 13 and 10: no leak per training; training settings ---------------------------------------------------------
def test_training_again_leaks_no_tensors(page, studio_server):
    _open(page, studio_server)
    _add(page, {0: 3, 1: 3})
    tensors = []
    for _ in range(3):
        page.evaluate("window.__huia.train()")
        tensors.append(page.evaluate("window.__huia.numTensors()"))
    assert tensors[0] == tensors[1] == tensors[2], f"tensors after each training: {tensors}"


def test_bad_training_settings_train_nothing(page, studio_server):
    _open(page, studio_server)
    _add(page, {0: 3, 1: 3})
    page.evaluate("window.__huia.train()")
    tensors = page.evaluate("window.__huia.numTensors()")
    good = {"epochs": "10", "lr": "0.0001", "batch": "16"}
    for field, value, hint in (("epochs", "0", "whole number"), ("epochs", "", "empty"), ("epochs", "2.5", "2.5"),
                               ("lr", "", "empty"), ("lr", "0", "above 0"), ("lr", "-1", "above 0"),
                               ("batch", "0", "whole number"), ("batch", "", "empty")):
        for k, v in good.items():
            page.fill(f"#{k}", value if k == field else v)
        before = _state(page)
        status = page.text_content("#trainStatus")
        page.click("#train")
        page.wait_for_function(f"document.getElementById('{field}Msg').textContent.length > 0")
        msg = page.text_content(f"#{field}Msg")
        assert hint in msg, (field, value, msg)
        assert page.get_attribute(f"#{field}", "aria-invalid") == "true"
        others = [page.text_content(f"#{k}Msg") for k in good if k != field]
        assert others == ["", ""], others
        page.wait_for_timeout(200)
        assert _state(page) == before and page.text_content("#trainStatus") == status, (field, value)
        assert page.is_enabled("#train")

    for k, v in {**good, "epochs": "3"}.items():
        page.fill(f"#{k}", v)
    assert [page.text_content(f"#{k}Msg") for k in good] == ["", "", ""]   # typing clears the message
    page.evaluate("document.getElementById('trainStatus').textContent = ''")
    page.click("#train")
    page.wait_for_function("document.getElementById('trainStatus').textContent.includes('done')", timeout=60_000)
    assert len(page.evaluate("window.__huia.losses.epoch")) == 3
    assert page.evaluate("window.__huia.numTensors()") == tensors


# -- findings 11, 12 and 14: keyboard, confirmations, names as typed ----------------------------------------------------------
def test_label_buttons_work_from_the_keyboard(page, studio_server):
    _open(page, studio_server)
    page.focus('#labels button[data-label="0"]')
    page.keyboard.press("Enter")
    page.wait_for_function("window.__huia.counts()[0] === 1")
    page.keyboard.press("Space")
    page.wait_for_function("window.__huia.counts()[0] === 2")
    page.focus('#labels button[data-label="1"]')
    page.keyboard.press("Enter")
    page.wait_for_function("window.__huia.counts()[1] === 1")
    page.wait_for_timeout(400)
    assert page.evaluate("window.__huia.counts()")[:2] == [2, 1]
    # the mouse still holds to record
    page.locator('#labels button[data-label="1"]').hover()
    page.mouse.down()
    page.wait_for_function("window.__huia.counts()[1] >= 4", timeout=30_000)
    page.mouse.up()
    page.wait_for_timeout(300)
    n = page.evaluate("window.__huia.counts()")[1]
    page.wait_for_timeout(500)
    assert page.evaluate("window.__huia.counts()")[1] == n, "recording went on after the mouse was released"


def test_clear_and_set_ask_before_discarding_samples(page, studio_server):
    _open(page, studio_server)
    dialogs = Dialogs(page)
    _add(page, {0: 2, 1: 3})
    counts = page.evaluate("window.__huia.counts()")
    page.click("#clear")
    page.wait_for_timeout(200)
    page.fill("#classNames", "fist,open")
    page.click("#applyClasses")
    page.wait_for_timeout(200)
    assert len(dialogs.messages) == 2 and all("5 samples" in m for m in dialogs.messages), dialogs.messages
    assert page.evaluate("window.__huia.counts()") == counts and page.evaluate("window.__huia.classes") == DIGITS
    assert page.input_value("#classNames") == ",".join(DIGITS)   # cancelled: the field shows the classes in use

    page.fill("#classNames", " 0,1,2,3,4,5,6,7,8,9 ")   # the same classes: nothing to discard, no question
    page.click("#applyClasses")
    page.wait_for_timeout(200)
    assert len(dialogs.messages) == 2 and page.evaluate("window.__huia.counts()") == counts

    dialogs.accept = True
    page.fill("#classNames", "fist,open")
    page.click("#applyClasses")
    page.wait_for_function("window.__huia.classes.length === 2")
    assert page.evaluate("window.__huia.counts()") == [0, 0]
    _add(page, {0: 2})
    page.click("#clear")
    page.wait_for_function("window.__huia.counts()[0] === 0")
    assert len(dialogs.messages) == 4 and "2 samples" in dialogs.messages[-1]
    page.click("#clear")   # nothing to clear: no question
    page.wait_for_timeout(200)
    assert len(dialogs.messages) == 4


def test_class_names_are_shown_exactly_as_typed(page, studio_server):
    _open(page, studio_server)
    # names that cannot be used are refused with a message, not altered
    for text, hint in (("a,,b", "no name"), ("a,b,", "no name"), ("a,b,a", "appears twice")):
        page.fill("#classNames", text)
        page.click("#applyClasses")
        page.wait_for_function("document.getElementById('classNamesMsg').textContent.length > 0")
        assert hint in page.text_content("#classNamesMsg")
        assert page.evaluate("window.__huia.classes") == DIGITS

    page.fill("#classNames", "fist, open ,<b>bold</b>")
    page.click("#applyClasses")
    page.wait_for_function("window.__huia.classes.length === 3")
    names = ["fist", "open", "<b>bold</b>"]
    assert page.evaluate("window.__huia.classes") == names and page.text_content("#classNamesMsg") == ""
    assert _texts(page, "#labels button span:not(.n)") == names
    assert page.locator("#labels b").count() == 0

    _add(page, {0: 3, 2: 3})
    page.evaluate("window.__huia.train()")
    page.click("#predict")
    page.wait_for_function("window.__huia.frames >= 2", timeout=60_000)
    page.click("#predict")
    # only the classes with samples are trained: "open" (no samples) is neither an output nor a bar
    trained = ["fist", "<b>bold</b>"]
    assert _texts(page, "#bars > span:not(.v)") == trained and page.locator("#bars b").count() == 0
    assert page.evaluate("window.__huia.exportHead()")["modelJson"]["userDefinedMetadata"]["labels"] == trained
    assert "Not trained (no samples): open." in page.text_content("#heldout")


# -- studio finding 17: the badge says what to do, not a bare "–" -------------------------------------------------------
def test_the_badge_says_what_to_do_before_there_is_a_model(page, studio_server):
    _open(page, studio_server)
    assert page.text_content("#fps") == "train or load a model to predict"
    _add(page, {0: 3, 1: 3})
    page.evaluate("window.__huia.train()")
    assert page.text_content("#fps") == "press Start predicting"
    page.click("#predict")
    page.wait_for_function("document.getElementById('fps').textContent.endsWith(' FPS')", timeout=60_000)
    page.click("#predict")
    page.wait_for_function("document.getElementById('fps').textContent === 'press Start predicting'")
    page.evaluate("window.__huia.setClasses(['a', 'b', 'c'])")   # 3 classes: the 2-output head is dropped
    assert page.text_content("#fps") == "train or load a model to predict"
