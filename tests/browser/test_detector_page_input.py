"""Detector page against what a user or a model file can throw at it (studio audit findings): a label that is
HTML, a still picture whose threshold is moved, a model that fails to load while another runs, a missing weight
file, Mirror view. Real headless Chromium, wasm backend, the bundled COCO CenterNet re-wired as a person detector."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

SIZE = 256
EVIL = '<img src="x" onerror="document.title=\'PWNED\'">'


@pytest.fixture(scope="module")
def exports(studio_server):
    from huia.detect.export import export_pretrained

    root = studio_server.data_dir / "exports"
    for name, labels in (("person-detector", ["person"]), ("zz-html-label", [EVIL]), ("zz-missing-shard", ["person"])):
        if not (root / name / "model.json").is_file():  # another module of this worker may have made it already
            export_pretrained(root / name, labels, [0], input_size=SIZE)
    for shard in (root / "zz-missing-shard").glob("*.bin"):
        shard.unlink()
    return {"people": root / "person-detector"}


@pytest.fixture(scope="module")
def picture(shared_data):
    img = np.asarray(Image.open(shared_data / "pose-video" / "three_people.jpg").convert("RGB"))
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return img, "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _open(page, url):
    page.goto(url)
    page.wait_for_function("window.__huia && (window.__huia.ready === true || window.__huia.error)", timeout=180_000)


def _table(page):
    return page.evaluate("""() => [...document.querySelectorAll('#boxes tbody tr')].map(
        (tr) => [...tr.cells].map((c) => c.textContent))""")


def test_a_label_is_shown_as_text_never_run_as_html(page, studio_server, exports, picture):
    _open(page, f"{studio_server.url}/detector.html?backend=wasm&source=none&threshold=0.2"
                "&model=/models/user/zz-html-label/model.json")
    assert page.evaluate("window.__huia.error") is None
    boxes = page.evaluate("(u) => window.__huia.detectDataUrl(u)", picture[1])
    assert boxes and boxes[0]["label"] == EVIL
    page.wait_for_timeout(300)  # an injected onerror would have fired by now
    assert page.title() != "PWNED"
    assert page.evaluate("document.querySelectorAll('#boxes img').length") == 0
    assert _table(page)[0][0] == EVIL  # exactly the text of the label


def test_picture_follows_the_threshold_and_a_failed_load_keeps_the_model(page, studio_server, exports, picture):
    from huia.detect.predict import Detector

    py = Detector.from_dir(exports["people"]).predict(picture[0], 0.05).to_json()
    hi = 0.5
    n_hi = sum(d["score"] >= hi for d in py)
    assert len(py) > n_hi  # the oracle: moving the slider from 0.5 to 0.05 must show more boxes
    _open(page, f"{studio_server.url}/detector.html?backend=wasm&source=none&threshold={hi}"
                "&model=/models/user/person-detector/model.json")
    # the picker shows the model given in the URL (not some other export)
    assert page.evaluate("document.getElementById('model').value") == "/models/user/person-detector/model.json"
    js = page.evaluate("(u) => window.__huia.detectDataUrl(u)", picture[1])
    assert len(js) == n_hi
    frames = page.evaluate("window.__huia.frames")
    page.evaluate("""() => { const t = document.getElementById('threshold'); t.value = '0.05';
                            t.dispatchEvent(new Event('input')); }""")
    page.wait_for_function(f"window.__huia.frames > {frames} && window.__huia.boxes.length > {n_hi}", timeout=30_000)
    page.wait_for_timeout(100)
    assert len(_table(page)) == min(20, page.evaluate("window.__huia.boxes.length"))
    # a URL with a typo: a clear error, and the person detector keeps working
    page.fill("#url", "/models/user/person-detectr/model.json")
    page.click("#load")
    page.wait_for_function("window.__huia.error !== null && window.__huia.ready === true", timeout=30_000)
    err = page.evaluate("window.__huia.error")
    assert "person-detectr/model.json: HTTP 404" in err and "still running the previous model" in err, err
    again = page.evaluate("(u) => window.__huia.detectDataUrl(u)", picture[1])
    assert len(again) == len(page.evaluate("window.__huia.boxes")) > n_hi
    assert all("404" in e for e in page.console_errors), page.console_errors  # the failed fetch, nothing else
    page.console_errors.clear()


def test_missing_weight_file_is_named_and_not_offered(page, studio_server, exports):
    _open(page, f"{studio_server.url}/detector.html?backend=wasm&source=none")
    offered = page.evaluate("[...document.getElementById('model').options].map((o) => o.value)")
    assert "/models/user/person-detector/model.json" in offered
    assert not any("zz-missing-shard" in v for v in offered), offered
    page.fill("#url", "/models/user/zz-missing-shard/model.json")
    page.click("#load")
    page.wait_for_function("window.__huia.error && window.__huia.error.includes('weight file')", timeout=30_000)
    err = page.evaluate("window.__huia.error")
    assert "zz-missing-shard/model.json: weight file group1-shard" in err and "is missing (HTTP 404)" in err, err
    assert "Float32Array" not in err
    assert all("404" in e for e in page.console_errors), page.console_errors  # the missing shard's fetch
    page.console_errors.clear()


def test_mirror_flips_the_video_not_the_labels(page, studio_server, exports):
    _open(page, f"{studio_server.url}/detector.html?backend=wasm&model=/models/user/person-detector/model.json")
    page.wait_for_function("window.__huia.frames >= 2", timeout=180_000)
    page.check("#mirror")
    css = page.evaluate("""() => ['video', 'overlay'].map((id) => getComputedStyle(document.getElementById(id)).transform)""")
    assert css[0].startswith("matrix(-1") and css[1] == "none", css
    # the drawing itself: a mirrored box lands on the other side of the canvas
    ink = page.evaluate("""async () => {
        const { drawBoxes } = await import('/js/draw.js');
        const cols = (mirror) => { const c = new OffscreenCanvas(200, 100); const ctx = c.getContext('2d');
          drawBoxes(ctx, [{ x1: 10, y1: 30, x2: 50, y2: 80 }], { mirror });
          const d = ctx.getImageData(0, 0, 200, 100).data; const xs = [];
          for (let i = 3; i < d.length; i += 4) if (d[i] > 0) xs.push(((i - 3) / 4) % 200);
          return [Math.min(...xs), Math.max(...xs)]; };
        return [cols(false), cols(true)]; }""")
    plain, mirrored = ink
    assert plain[0] <= 10 and plain[1] <= 52, plain
    assert mirrored[0] >= 148 and mirrored[1] >= 189, mirrored


def test_the_same_picture_again_after_the_webcam_runs_again(page, studio_server, exports, shared_data):
    """Picture -> Webcam -> the same picture: the file input is emptied once read (else the browser fires no
    `change` for the same file and the webcam kept running), and a picture's badge shows its detection time, not
    the webcam's last FPS."""
    jpg = shared_data / "pose-video" / "three_people.jpg"
    _open(page, f"{studio_server.url}/detector.html?backend=wasm&model=/models/user/person-detector/model.json")
    page.wait_for_function("window.__huia.frames >= 2 && document.getElementById('fps').textContent !== '– FPS'",
                           timeout=180_000)
    badge = "document.querySelector('.badge').textContent"
    for _ in range(2):
        frames = page.evaluate("window.__huia.frames")
        page.set_input_files("#file", str(jpg))
        page.wait_for_function(f"window.__huia.frames > {frames} && !document.getElementById('still').hidden")
        assert page.input_value("#file") == ""   # the same file can be chosen again
        page.wait_for_timeout(300)   # no webcam frame may rewrite the badge
        assert page.evaluate("document.getElementById('video').srcObject === null")   # the webcam is off
        ms = page.evaluate("window.__huia.ms")
        text = page.evaluate(badge)
        assert "FPS" not in text and text.startswith("picture · ") and text.endswith(f" · {ms:.0f} ms"), text
        frames = page.evaluate("window.__huia.frames")
        page.click("#useCamera")
        page.wait_for_function(f"window.__huia.frames > {frames + 3} && document.getElementById('still').hidden",
                               timeout=60_000)
        page.wait_for_function(f"{badge}.includes(' FPS')")
    # a picture chosen while the webcam is still opening: the webcam must not come on behind the picture
    page.set_input_files("#file", str(jpg))
    page.wait_for_function("document.getElementById('video').srcObject === null")
    page.click("#useCamera")
    page.set_input_files("#file", str(jpg))
    page.wait_for_timeout(1500)
    assert page.evaluate("document.getElementById('video').srcObject === null && document.getElementById('video').hidden")


def test_load_errors_name_the_url_and_the_fix(page, studio_server, exports):
    """A model on another origin that does not allow this page (huia serve without --cors for it) fails in the
    browser as a bare 'Failed to fetch'; the page names the URL and the --cors to add. The bundled COCO CenterNet
    (a detector, but without huia's labels and metadata) is refused in words a user can act on."""
    import subprocess
    import sys
    import time

    import httpx

    from tests.browser.conftest import free_port

    port = free_port()  # huia serve allowing another origin only: the studio's page is refused by CORS
    serve = subprocess.Popen([sys.executable, "-m", "huia", "serve", str(exports["people"].parent), "--port",
                              str(port), "--cors", "http://localhost:3000"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/{exports['people'].name}/model.json"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and serve.poll() is None
            time.sleep(0.2)
        _open(page, f"{studio_server.url}/detector.html?backend=wasm&source=none")
        page.fill("#url", url)
        page.click("#load")
        page.wait_for_function("window.__huia.error !== null", timeout=30_000)
    finally:
        serve.terminate()
        serve.wait(10)
    err = page.evaluate("window.__huia.error")
    assert err.startswith(f"cannot load {url}: ") and f"add --cors {studio_server.url}" in err, err
    page.console_errors.clear()  # the refused fetch
    page.evaluate("window.__huia.error = null")
    page.fill("#url", "/models/builtin/centernet.json")
    page.click("#load")
    page.wait_for_function("window.__huia.error !== null", timeout=60_000)
    err = page.evaluate("window.__huia.error")
    assert err.startswith("this is a bundled COCO model without huia's metadata"), err
    assert "huia detect train" in err and "not a detector" not in err and "userDefinedMetadata" not in err, err
    assert "\n" not in err


def test_threshold_shows_the_models_held_out_precision_and_recall(page, studio_server, exports):
    """An export's operating curve (TP/FP/FN per threshold on its held-out images, checked against `detect eval
    --threshold` in tests/detect/test_detect_eval.py) is what the page shows next to the slider."""
    import json
    import shutil

    src = exports["people"]
    dst = src.parent / "person-curve"
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    doc = json.loads((dst / "model.json").read_text())
    curve = [[round(k / 100, 2), 40 - k // 4, 60 - k // 2, 10 + k // 4] for k in range(1, 100)]
    doc["userDefinedMetadata"]["huia"]["operating_curve"] = {"evaluated_on": "held-out", "images": 27, "iou": 0.5,
                                                             "curve": curve}
    (dst / "model.json").write_text(json.dumps(doc))
    try:
        _open(page, f"{studio_server.url}/detector.html?backend=wasm&source=none&threshold=0.5"
                    "&model=/models/user/person-curve/model.json")
        for t in ("0.5", "0.05", "0.95"):
            page.evaluate("""(t) => { const s = document.getElementById('threshold'); s.value = t;
                                      s.dispatchEvent(new Event('input')); }""", t)
            k = round(float(t) * 100)
            tp, fp, fn = 40 - k // 4, 60 - k // 2, 10 + k // 4
            text = page.inner_text("#operating")
            assert text.startswith(f"On its 27 held-out images at ≥ {float(t):.2f}: "), text
            assert f"precision {round(100 * tp / (tp + fp))} % ({tp} of {tp + fp} boxes right)" in text, text
            assert f"recall {round(100 * tp / (tp + fn))} % ({tp} of {tp + fn} objects found)" in text, text
        # a model without a curve (the bundled COCO person channel) shows nothing rather than a made-up figure
        page.fill("#url", "/models/user/person-detector/model.json")
        page.click("#load")
        page.wait_for_function("document.getElementById('operating').textContent === ''", timeout=60_000)
    finally:
        shutil.rmtree(dst, ignore_errors=True)


def test_a_url_that_is_not_http_or_a_path_is_refused_before_any_fetch(page, studio_server, exports):
    """`javascript:`, `data:` and `file:` URLs (re-audit 10) were fetched, failed, and were explained as a CORS
    refusal. They are refused in one line before any fetch, and the running model stays."""
    _open(page, f"{studio_server.url}/detector.html?backend=wasm&source=none"
                "&model=/models/user/person-detector/model.json")
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.evaluate("""() => { window.__fetches = []; const f = window.fetch;
                             window.fetch = (...a) => { window.__fetches.push(String(a[0])); return f(...a); }; }""")
    long_data = "data:application/json;base64," + "A" * 2000
    for url in ("javascript:alert(1)", "data:application/json;base64,e30=", "file:///etc/passwd", long_data):
        page.evaluate("window.__huia.error = null")
        page.fill("#url", url)
        page.click("#load")
        page.wait_for_function("window.__huia.error !== null && window.__huia.ready === true", timeout=30_000)
        err = page.evaluate("window.__huia.error")
        shown = url if len(url) <= 60 else url[:57] + "…"
        assert err.startswith(f"{shown}: not a model address; give a path on this server"), err
        assert "CORS" not in err and "\n" not in err and len(err) < 250, err
        assert err.endswith("— still running the previous model"), err
        assert page.evaluate("window.__fetches") == [], url
    assert dialogs == []
    # the person detector still runs, and the spy does see a model's fetches (so the empty lists above mean something)
    assert page.evaluate("window.__huia.meta.labels") == ["person"]
    page.evaluate("window.__huia.error = null")
    page.fill("#url", "/models/user/person-detector/model.json")
    page.click("#load")
    page.wait_for_function("window.__huia.ready === true && window.__fetches.length > 0", timeout=60_000)
    assert page.evaluate("window.__fetches")[0] == "/models/user/person-detector/model.json"
    assert page.evaluate("window.__huia.error") is None
    # the rules themselves, and the other refusals' wording
    got = page.evaluate("""async () => {
        const { modelUrlProblem, detectorMeta } = await import('/js/detector.js');
        const here = new URL('http://127.0.0.1:8000/detector.html');
        const urls = ['/models/user/a/model.json', 'models/a.json', '//other:9000/a/model.json',
                      'https://example.org/m/model.json', 'HTTP://x/model.json', 'javascript:alert(1)',
                      'blob:http://127.0.0.1:8000/1234', 'C:\\models\\model.json', 'ftp://x/model.json'];
        const why = (f) => { try { f(); return null; } catch (e) { return e.message; } };
        return { urls: urls.map((u) => modelUrlProblem(u, here) === null),
                 classify: why(() => detectorMeta({ huia: { task: 'classify' } })),
                 foreign: why(() => detectorMeta({}, { outputs: ['Identity:0'], url: '/x/model.json' })),
                 detector: why(() => detectorMeta(null, { outputs: ['tower_0/detections'], url: '/x/model.json' })) };
    }""")
    assert got["urls"] == [True, True, True, True, True, False, False, False, False], got
    assert got["classify"].startswith("this model is a huia classify model, not a detector"), got
    assert got["foreign"].startswith("this model was not exported by huia"), got
    assert got["detector"].startswith("this detector has none of huia's metadata"), got
