"""Gesture trainer page (web/gestures.html) with a 16:9 webcam (spec audit 10, finding 1): the preview is the centre
square the extractor gets (mirrored), and the prediction and training result stay in view at 1280x800; at 390 px
nothing scrolls sideways.

The webcam is a synthetic 640x360 Y4M: blue | green | yellow | red bands, where the centre square (x 140..500) is
exactly green | yellow. Shown mirrored, the stage must be yellow on the left, green on the right, and neither blue nor
red anywhere (both are outside what the model sees).
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.browser.conftest import BROWSER_ARGS, CHROMIUM, FAKE_WEBCAM_DIR

W, H = 640, 360
BGR = {"blue": (255, 0, 0), "green": (0, 200, 0), "yellow": (0, 220, 220), "red": (0, 0, 255)}


def _wide_y4m():
    import cv2

    out = FAKE_WEBCAM_DIR / "gestures_wide_bands.y4m"
    frame = np.zeros((H, W, 3), np.uint8)
    for (x0, x1), name in zip(((0, 140), (140, 320), (320, 500), (500, 640)), ("blue", "green", "yellow", "red")):
        frame[:, x0:x1] = BGR[name]
    out.parent.mkdir(parents=True, exist_ok=True)
    yuv = cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes()
    tmp = out.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(f"YUV4MPEG2 W{W} H{H} F30:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(10):
            f.write(b"FRAME\n" + yuv)
    tmp.replace(out)
    return out


@pytest.fixture(scope="module")
def wide_browser(browser):
    """A second Chromium (same Playwright) whose webcam is the 16:9 band picture."""
    b = browser.browser_type.launch(executable_path=str(CHROMIUM), headless=True,
                                    args=[*BROWSER_ARGS, f"--use-file-for-fake-video-capture={_wide_y4m()}"])
    yield b
    b.close()


def _open(browser, studio_server, width, height):
    ctx = browser.new_context(viewport={"width": width, "height": height})
    ctx.grant_permissions(["camera"])
    pg = ctx.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.goto(f"{studio_server.url}/gestures.html")
    pg.wait_for_function("window.__huia && window.__huia.ready === true", timeout=120_000)
    pg.wait_for_function("document.getElementById('video').videoWidth > 0", timeout=30_000)
    return ctx, pg, errors


def _train_ten_classes(pg):
    """Every class trained (the tallest prediction panel), two of them with a held-out check."""
    for c in range(10):
        pg.evaluate("(c) => window.__huia.addSamples(c, c < 2 ? 5 : 1)", c)
    pg.evaluate("window.__huia.train()")
    pg.evaluate("window.__huia.startPredicting()")
    pg.wait_for_function("window.__huia.frames >= 3", timeout=60_000)
    pg.evaluate("window.__huia.stopPredicting()")


def test_the_preview_is_the_square_the_model_sees_and_the_result_is_in_view(wide_browser, studio_server, out_dir):
    ctx, pg, errors = _open(wide_browser, studio_server, 1280, 800)
    try:
        assert pg.evaluate("[document.getElementById('video').videoWidth, document.getElementById('video').videoHeight]") == [W, H]
        box = pg.locator("#stage").bounding_box()
        assert abs(box["width"] - box["height"]) <= 1, box
        img = np.asarray(Image.open(io.BytesIO(pg.locator("#stage").screenshot())).convert("RGB")).astype(int)
        h, w = img.shape[:2]
        band = img[h // 3: 2 * h // 3]   # below the badge
        r, g, b = band[..., 0], band[..., 1], band[..., 2]
        blue = (b > 150) & (r < 100) & (g < 100)
        red = (r > 150) & (g < 100) & (b < 100)
        assert blue.mean() < 0.01 and red.mean() < 0.01, "the preview shows what the model does not see"
        left, right = band[:, 4: w // 2 - 4], band[:, w // 2 + 4: w - 4]
        is_yellow = lambda p: (p[..., 0] > 150) & (p[..., 1] > 150) & (p[..., 2] < 100)  # noqa: E731
        is_green = lambda p: (p[..., 1] > 120) & (p[..., 0] < 100) & (p[..., 2] < 100)  # noqa: E731
        assert is_yellow(left).mean() > 0.95 and is_green(right).mean() > 0.95, "not the mirrored centre square"

        _train_ten_classes(pg)
        pg.screenshot(path=str(out_dir / "gestures_wide_1280x800.png"))
        assert pg.evaluate("window.scrollY") == 0
        for sel in ("#stage", "#prediction", "#bars", "#trainStatus", "#heldout"):
            b = pg.locator(sel).bounding_box()
            assert b is not None and b["y"] >= 0 and b["y"] + b["height"] <= 800, (sel, b)
        assert "Held-out accuracy" in pg.text_content("#heldout")
        assert not errors, errors
    finally:
        ctx.close()


def test_nothing_scrolls_sideways_on_a_phone(wide_browser, studio_server, out_dir):
    ctx, pg, errors = _open(wide_browser, studio_server, 390, 844)
    try:
        _train_ten_classes(pg)
        assert pg.locator("#confusion tbody tr").count() == 10
        pg.screenshot(path=str(out_dir / "gestures_phone.png"), full_page=True)
        assert pg.evaluate("document.documentElement.scrollWidth") <= 391
        stage = pg.locator("#stage").bounding_box()
        assert stage["x"] >= 0 and stage["x"] + stage["width"] <= 390 and abs(stage["width"] - stage["height"]) <= 1
        assert not errors, errors
    finally:
        ctx.close()
