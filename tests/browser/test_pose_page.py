"""Live pose page (web/pose.html) in headless Chromium on the wasm backend, webcam = pose_1.mp4 (fake device).

- MoveNet Lightning tracks the video within 10 px of the reference keypoints (pose_1.json, produced by the
  tfjs-models pose-detection MoveNet pipeline) on the frames checked. Each checked frame is the exact image the page
  estimated (grabbed through the window.__huia hook); which video frame it was is found by nearest-image distance
  to the decoded mp4 frames.
- Python (huia.pose.estimate) and the browser agree within 1 px on those same frames.
- PoseNet (single + multi decoding, strides 8/16/32) runs on the page; the JS decoders equal the reference
  @tensorflow-models/posenet@2.2.2 decoders run in Node on the same maps.
- tf.memory().numTensors stays flat over 500 frames.
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
import time

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO_ROOT

NAMES = json.loads((REPO_ROOT / "web" / "spec" / "keypoints.json").read_text())["coco17"]["names"]
DRAW_MIN_SCORE = json.loads((REPO_ROOT / "web" / "spec" / "keypoints.json").read_text())["draw_min_score"]


# -- helpers shared by the page tests (imported by test_huia_page / test_gestures_page) ------------------------------
def open_page(page, url: str, timeout: float = 120_000):
    page.goto(url)
    page.wait_for_function("window.__huia && window.__huia.ready === true", timeout=timeout)


def wait_frames(page, n: int, timeout: float = 120_000):
    page.wait_for_function(f"window.__huia.frames >= {n}", timeout=timeout)


def decode_png(data_url: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))).convert("RGB"))


@pytest.fixture(scope="module")
def video_frames(shared_data):
    import cv2

    cap = cv2.VideoCapture(str(shared_data / "pose-video" / "pose_1.mp4"))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    return np.stack(frames)


@pytest.fixture(scope="module")
def reference(shared_data):
    data = json.loads((shared_data / "pose-video" / "pose_1.json").read_text())
    return np.array([[[f[n]["x"], f[n]["y"]] for n in NAMES] for f in data], dtype=np.float64)


def nearest_frame(img: np.ndarray, frames: np.ndarray) -> tuple[int, float]:
    """Index of the decoded video frame closest to `img` (mean abs difference on a 4x-downsampled grey image)."""
    g = img[::4, ::4].astype(np.float32).mean(-1)
    fg = frames[:, ::4, ::4].astype(np.float32).mean(-1)
    d = np.abs(fg - g[None]).mean(axis=(1, 2))
    i = int(np.argmin(d))
    return i, float(d[i])


def pose_xy(pose: dict) -> np.ndarray:
    by = {k["name"]: k for k in pose["keypoints"]}
    return np.array([[by[n]["x"], by[n]["y"]] for n in NAMES], dtype=np.float64)


def grab_frames(page, n: int, gap_frames: int = 7) -> list[dict]:
    out = []
    for _ in range(n):
        out.append(page.evaluate("window.__huia.grab()"))
        page.evaluate(f"window.__huia.waitFrames({gap_frames})")
    return out


# -- MoveNet accuracy + Python agreement ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def movenet_grabs(browser, studio_server, video_frames, tmp_path_factory):
    """Open the page once (MoveNet Lightning, wasm), let the tracker settle, grab 12 frames spread over the video."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.grant_permissions(["camera"])
    pg = context.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    open_page(pg, f"{studio_server.url}/pose.html?model=movenet-lightning&backend=wasm")
    wait_frames(pg, 40)
    grabs = grab_frames(pg, 12)
    shot = tmp_path_factory.mktemp("pose") / "pose.png"
    pg.screenshot(path=str(shot))
    overlay = pg.evaluate("window.__huia.overlayInkPixels()")
    info = pg.evaluate("({backend: window.__huia.backend, fps: window.__huia.fps, model: window.__huia.model})")
    context.close()
    assert not errors, errors
    for g in grabs:
        g["image"] = decode_png(g["png"])
        g["index"], g["dist"] = nearest_frame(g["image"], video_frames)
    return {"grabs": grabs, "shot": shot, "overlay_pixels": overlay, "info": info}


def test_movenet_page_tracks_reference_keypoints(movenet_grabs, reference, out_dir):
    info = movenet_grabs["info"]
    assert info["backend"] == "wasm" and info["model"] == "movenet-lightning"
    (out_dir / "pose_page.png").write_bytes(movenet_grabs["shot"].read_bytes())
    assert movenet_grabs["overlay_pixels"] > 500, "no skeleton drawn on the overlay canvas"
    rows = []
    for g in movenet_grabs["grabs"]:
        assert g["width"] == 576 and g["height"] == 576
        assert g["dist"] < 6.0, f"grabbed frame does not match any video frame (mean abs diff {g['dist']:.1f})"
        assert len(g["poses"]) == 1
        err = np.linalg.norm(pose_xy(g["poses"][0]) - reference[g["index"]], axis=1)
        rows.append({"frame": g["index"], "match": round(g["dist"], 2), "mean_px": float(err.mean()),
                     "max_px": float(err.max())})
    (out_dir / "errors.json").write_text(json.dumps(rows, indent=1))
    frames_seen = {r["frame"] for r in rows}
    assert len(frames_seen) >= 6, f"grabs did not spread over the video: {sorted(frames_seen)}"
    bad = [r for r in rows if r["mean_px"] > 10.0]
    assert not bad, f"frames off the reference by more than 10 px on average: {bad} (all: {rows})"
    assert np.median([r["mean_px"] for r in rows]) < 6.0, rows


def test_python_and_browser_agree_on_same_frame(movenet_grabs, out_dir):
    """Same frame, same model: huia.pose (Python, torch executor) vs the page (TF.js wasm).

    One pass on the same crop (the whole frame padded to a square): every frame's mean within 1 px, the typical
    frame's worst keypoint within 1 px, and no drawn keypoint (score >= keypoints.json draw_min_score in either
    runtime) beyond 5 px. (Seen: on frame 41 one low-confidence joint differed by 2.5 px, and on frame 112 — every
    time it is grabbed, with the page code before and after the WebCodecs frame read — the right wrist (score 0.296,
    under the drawing threshold) by 5.08 px, while the rest agreed to 0.02 px: the two runtimes' float differences
    flip a near-tie inside the model's own arg-max decoding. Such a weak joint is still bounded by the frame's mean.
    A real pipeline bug moves joints by tens of px.)
    The full still-image pipeline adds a second pass on a crop computed from the first pass's keypoints, which
    amplifies those differences on ambiguous joints: there the mean per frame must stay within 1 px."""
    try:
        from huia.pose import estimate
        from huia.pose.movenet import MoveNetSinglePose
        from huia.pose.calculators.crop import init_crop_region
    except Exception as e:  # noqa: BLE001 - H4's module may not have landed in this checkout
        pytest.skip(f"huia.pose not importable: {e!r}")
    net = MoveNetSinglePose("lightning")
    rows = []
    for g in movenet_grabs["grabs"][:6]:
        img = g["image"]
        h, w = img.shape[:2]
        kp = net.run_crop(img, init_crop_region(False, h, w))  # [17, 3] (y, x, score) normalised to the image
        single_py = np.stack([kp[:, 1] * w, kp[:, 0] * h], 1)
        d1 = np.linalg.norm(single_py - pose_xy(g["singlePassPoses"][0]), axis=1)
        js_score = {k["name"]: k["score"] for k in g["singlePassPoses"][0]["keypoints"]}
        drawn = (kp[:, 2] >= DRAW_MIN_SCORE) | (np.array([js_score[n] for n in NAMES]) >= DRAW_MIN_SCORE)
        py = estimate(img, model="movenet-lightning")
        assert len(py) == 1 and len(g["stillPoses"]) == 1
        d2 = np.linalg.norm(np.array([[k.x, k.y] for k in py[0].keypoints]) - pose_xy(g["stillPoses"][0]), axis=1)
        rows.append({"frame": g["index"], "single_pass_max_px": float(d1.max()), "single_pass_mean_px": float(d1.mean()),
                     "single_pass_worst": NAMES[int(d1.argmax())],
                     "single_pass_max_drawn_px": float(d1[drawn].max(initial=0.0)), "still_max_px": float(d2.max()),
                     "still_mean_px": float(d2.mean()), "still_worst": NAMES[int(d2.argmax())]})
    (out_dir / "python_vs_browser.json").write_text(json.dumps(rows, indent=1))
    assert max(r["single_pass_mean_px"] for r in rows) <= 1.0, rows
    assert np.median([r["single_pass_max_px"] for r in rows]) <= 1.0, rows
    assert max(r["single_pass_max_drawn_px"] for r in rows) <= 5.0, rows
    assert max(r["still_mean_px"] for r in rows) <= 1.0, rows
    assert np.median([r["still_max_px"] for r in rows]) <= 1.0, rows


# -- memory --------------------------------------------------------------------------------------------------------
def test_pose_page_tensor_count_flat_over_500_frames(page, studio_server):
    open_page(page, f"{studio_server.url}/pose.html?model=movenet-lightning&backend=wasm")
    wait_frames(page, 20)
    start = page.evaluate("[window.__huia.frames, window.__huia.numTensors()]")
    page.wait_for_function(f"window.__huia.frames >= {start[0] + 500}", timeout=300_000)
    end = page.evaluate("[window.__huia.frames, window.__huia.numTensors()]")
    assert end[0] - start[0] >= 500
    assert end[1] == start[1], f"tensor count moved from {start[1]} to {end[1]} over {end[0] - start[0]} frames"


# -- PoseNet on the page ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stride,multi", [(16, 0), (8, 1), (32, 1)])
def test_posenet_page_finds_the_person(page, studio_server, video_frames, reference, stride, multi, out_dir):
    open_page(page, f"{studio_server.url}/pose.html?model=posenet&backend=wasm&stride={stride}&res=257&multi={multi}")
    wait_frames(page, 5)
    n0 = page.evaluate("window.__huia.numTensors()")
    g = page.evaluate("window.__huia.grab()")
    wait_frames(page, page.evaluate("window.__huia.frames") + 20)
    assert page.evaluate("window.__huia.numTensors()") == n0
    idx, dist = nearest_frame(decode_png(g["png"]), video_frames)
    assert dist < 6.0
    assert len(g["poses"]) >= 1
    best = g["poses"][0]
    err = np.linalg.norm(pose_xy(best) - reference[idx], axis=1)
    conf = np.array([k["score"] for k in best["keypoints"]]) > 0.3
    # PoseNet is a different (older) model than the MoveNet reference: only its confident joints are compared,
    # with a loose bound that still fails for a pose on the wrong person or a mis-scaled decode (stride 32 at
    # 257 px is a 9x9 map: coarse and less confident).
    assert conf.sum() >= 8, best
    assert np.median(err[conf]) < 25.0, (stride, multi, err.round(1).tolist())
    if multi:
        assert len(g["poses"]) <= 5
    page.screenshot(path=str(out_dir / f"posenet_s{stride}_m{multi}.png"))
    if multi:  # out-of-range decoder settings snap into range, and the field shows what is used
        page.fill("#maxPoses", "0")
        page.dispatch_event("#maxPoses", "change")
        page.fill("#nmsRadius", "-5")
        page.dispatch_event("#nmsRadius", "change")
        page.wait_for_function("document.getElementById('nmsRadius').value === '1'")
        assert page.input_value("#maxPoses") == "1"
        n = page.evaluate("window.__huia.frames")
        wait_frames(page, n + 3)
        assert len(page.evaluate("window.__huia.grab()")["poses"]) == 1
    # the same frame through huia.pose (Python): same atrous conversion, resize, decoders -> within 1 px
    try:
        from huia.pose import estimate
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"huia.pose not importable: {e!r}")
    py = estimate(decode_png(g["png"]), model="posenet", multi=bool(multi), output_stride=stride,
                  input_resolution=257)
    assert len(py) >= 1
    a = np.array([[k.x, k.y] for k in py[0].keypoints])
    # stillPoses: the same frame estimated as a lone image (the page's video poses are one-euro smoothed)
    d = np.linalg.norm(a - pose_xy(g["stillPoses"][0]), axis=1)
    (out_dir / "python_vs_browser.json").write_text(json.dumps({"max_px": float(d.max()), "py_score": py[0].score,
                                                               "js_score": best["score"]}))
    assert d.max() <= 1.0, d.round(2).tolist()


def test_blazepose_page_tracks_the_person(page, studio_server, video_frames, reference, out_dir):
    open_page(page, f"{studio_server.url}/pose.html?model=blazepose&backend=wasm")
    wait_frames(page, 10)
    n0 = page.evaluate("window.__huia.numTensors()")
    errs = []
    grabs = grab_frames(page, 4, gap_frames=5)
    for g in grabs:
        idx, dist = nearest_frame(decode_png(g["png"]), video_frames)
        assert dist < 6.0 and len(g["poses"]) == 1
        assert len(g["poses"][0]["keypoints33"]) == 33
        err = np.linalg.norm(pose_xy(g["poses"][0]) - reference[idx], axis=1)
        errs.append(float(err.mean()))
    wait_frames(page, page.evaluate("window.__huia.frames") + 30)
    assert page.evaluate("window.__huia.numTensors()") == n0
    page.screenshot(path=str(out_dir / "blazepose.png"))
    (out_dir / "errors.json").write_text(json.dumps(errs))
    # a different model than the MoveNet reference: all 17 mapped joints within 15 px on average per frame
    assert max(errs) < 15.0, errs
    # Python (huia.pose) on the same frames: same letterbox/resize, ROI and landmark mapping; the crop warp is
    # OpenCV there and tf.image.transform here, hence a little float noise
    try:
        from huia.pose import estimate
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"huia.pose not importable: {e!r}")
    worst = 0.0
    for g in grabs:
        py = estimate(decode_png(g["png"]), model="blazepose")
        assert len(py) == 1 and len(g["stillPoses"]) == 1
        d = np.linalg.norm(np.array([[k.x, k.y] for k in py[0].keypoints]) - pose_xy(g["stillPoses"][0]), axis=1)
        worst = max(worst, float(d.max()))
    assert worst <= 1.0, worst


def test_blazepose_fast_pixels_and_warp_equal_canvas_and_tfjs(page, studio_server):
    """BlazePose reads the webcam frame through WebCodecs (VideoFrame.copyTo RGBA) instead of drawImage +
    getImageData and warps its ROI in JS: the bytes must be the canvas's bytes exactly, and the warp must be
    tf.image.transform (bilinear, constant 0) for ROIs inside, across and outside the frame, scaled or not."""
    open_page(page, f"{studio_server.url}/pose.html?model=blazepose&backend=wasm")
    wait_frames(page, 3)
    res = page.evaluate("""async () => {
      window.__huia.pause();
      const video = document.getElementById('video');
      video.pause();  // one frozen frame for both readers
      await new Promise((r) => setTimeout(r, 100));
      const tf = await (await import('/js/tfjs.js')).initTF('wasm');
      const im = await import('/js/pose/calculators/image.js');
      const a = im.rgbaPixels(video);
      const cache = {};
      const b = await im.rgbaPixelsFast(video, cache);
      const b2 = await im.rgbaPixelsFast(video, cache);  // the reused buffer
      let ndiff = 0;
      for (let i = 0; i < a.data.length; i++) if (a.data[i] !== b.data[i]) ndiff++;
      const pixels = { webcodecs: !cache.noWebCodecs, same: b2.data === b.data, ndiff, n: a.data.length,
        size: [a.width, a.height, b.width, b.height] };
      const t4 = tf.tensor4d(new Int32Array(a.data), [1, a.height, a.width, 4], 'int32');
      const warps = [];
      const out = new Float32Array(256 * 256 * 3);
      for (const [m, scale] of [[[1.3, 0.2, 40, -0.2, 1.3, 60], 1], [[2.5, -0.9, 120, 0.9, 2.5, -80], 1 / 255],
                                [[0.6, 0, -30, 0, 0.6, 500], 1], [[1, 0, 2000, 0, 1, 0], 1]]) {
        const js = im.warpAffineRGBA(a, m, 256, 256, out, scale);
        const ref = await tf.tidy(() => tf.mul(im.rgb(tf, tf.image.transform(tf.cast(t4, 'float32'),
          tf.tensor2d([[...m, 0, 0]]), 'bilinear', 'constant', 0, [256, 256])), scale)).data();
        let maxd = 0; let sum = 0;
        for (let i = 0; i < js.length; i++) { maxd = Math.max(maxd, Math.abs(js[i] - ref[i])); sum += ref[i]; }
        warps.push({ maxd: maxd / scale, mean: sum / ref.length / scale });
      }
      t4.dispose(); video.play(); window.__huia.resume();
      return { pixels, warps }; }""")
    px = res["pixels"]
    assert px["webcodecs"], "this Chromium should convert VideoFrames to RGBA (else the fast path is not tested)"
    assert px["same"] and px["size"][:2] == px["size"][2:]
    assert px["ndiff"] == 0, px
    w = res["warps"]
    # TF.js samples at float32 coordinates (one ulp at x ~ 600 moves a 0..255 value by ~0.015): rounding only
    assert all(r["maxd"] < 0.02 for r in w), w
    assert w[0]["mean"] > 10 and w[1]["mean"] > 10 and w[2]["mean"] > 1, w  # real content (inside / across)
    assert w[3]["mean"] == 0, w  # entirely outside the frame: the constant 0


@pytest.mark.parametrize("backend", ["wasm", "cpu"])
def test_movenet_posenet_fast_pixels_give_the_canvas_results(page, studio_server, backend):
    """MoveNet and PoseNet read <video> frames through WebCodecs (rgbaPixelsFast) into reused buffers and
    crop/resize into reused input buffers. On one frozen frame, the video (fast path) and a canvas copy of it
    (drawImage + getImageData path) must give exactly the same poses, twice in a row (buffers reused), for MoveNet's
    tracking and still passes and for PoseNet single and multi; the JS pad + resize into a reused buffer must equal
    tf.pad3d + resizeBilinear bit for bit, with its padding on any side (no bounds checks inside the frame)."""
    open_page(page, f"{studio_server.url}/pose.html?model=movenet-lightning&backend={backend}")
    wait_frames(page, 3)
    res = page.evaluate("""async (backend) => {
      const h = window.__huia;
      h.pause();
      const video = document.getElementById('video');
      video.pause();  // one frozen frame for both readers
      await new Promise((r) => setTimeout(r, 200));
      const tf = await (await import('/js/tfjs.js')).initTF(backend);
      const im = await import('/js/pose/calculators/image.js');
      const { createPoseEstimator } = await import('/js/pose/index.js');
      const canvas = document.createElement('canvas');
      canvas.width = video.videoWidth; canvas.height = video.videoHeight;
      canvas.getContext('2d').drawImage(video, 0, 0);
      const cache = {};
      const fast = await im.rgbaPixelsFast(video, cache);
      const slow = im.rgbaPixels(canvas);
      let ndiff = 0;
      for (let i = 0; i < slow.data.length; i++) if (slow.data[i] !== fast.data[i]) ndiff++;
      const flat = (poses) => poses.map((p) => [p.score, ...p.keypoints.flatMap((k) => [k.x, k.y, k.score])]);
      const ts = video.currentTime * 1000;
      const mn = h.estimator;
      const runs = async (est, opts, reset) => {
        const out = {};
        for (const [name, src, o] of [['video', video, opts], ['canvas', canvas, { timestamp: ts, ...opts }]]) {
          if (reset) est.reset();
          out[name] = [flat(await est.estimate(src, o)), flat(await est.estimate(src, o))];
        }
        return out;
      };
      const movenet = { track: await runs(mn, {}, true), still: await runs(mn, { still: true }, false) };
      mn.reset();
      const posenet = {};
      for (const multi of [false, true]) {
        const pn = await createPoseEstimator(tf, { model: 'posenet', inputResolution: 257, multi, smoothing: false });
        posenet[multi ? 'multi' : 'single'] = await runs(pn, {}, false);
        pn.dispose();
      }
      // PoseNet's pad + resize in JS into a reused buffer vs TF.js (80 rows: a 640 x 480 frame made square)
      const t4 = tf.tensor3d(new Int32Array(slow.data), [slow.height, slow.width, 4], 'int32');
      const resize = [];
      for (const [pad, r] of [[{ top: 80, bottom: 80, left: 0, right: 0 }, 385], [{ top: 0, bottom: 0, left: 7, right: 9 }, 257],
                              [{ top: 3, bottom: 300, left: 500, right: 2 }, 129], [{ top: 0, bottom: 0, left: 0, right: 0 }, 97]]) {
        const buf = new Float32Array(r * r * 3).fill(NaN);
        const a = im.padResizeBilinearRGBA(slow, pad, r, r, buf);
        const b = await tf.tidy(() => im.rgb(tf, tf.image.resizeBilinear(tf.pad3d(t4,
          [[pad.top, pad.bottom], [pad.left, pad.right], [0, 0]]), [r, r]))).data();
        let n = 0; let sum = 0;
        for (let i = 0; i < a.length; i++) { if (a[i] !== b[i]) n++; sum += a[i]; }
        resize.push({ ndiff: n, same: a === buf, mean: sum / a.length });
      }
      t4.dispose();
      video.play(); h.resume();
      return { webcodecs: !cache.noWebCodecs, ndiff, n: slow.data.length, movenet, posenet, resize,
        backend: tf.getBackend() }; }""", backend)
    assert res["backend"] == backend
    assert res["webcodecs"], "this Chromium should convert VideoFrames to RGBA (else the fast path is not tested)"
    assert res["ndiff"] == 0, res["ndiff"]
    cases = {**{f"movenet {k}": v for k, v in res["movenet"].items()},
             **{f"posenet {k}": v for k, v in res["posenet"].items()}}
    for name, r in cases.items():
        assert r["video"][0], f"{name}: no pose found on the frame"
        assert r["video"] == r["canvas"], name
    # a tracking second frame re-uses the crop found on the first one: the two differ, both paths alike
    assert res["movenet"]["track"]["video"][0] != res["movenet"]["track"]["video"][1]
    for r in res["resize"]:
        # the JS resize mirrors the wasm kernel's float32 steps (the cpu kernel rounds differently: compared on wasm)
        assert r["same"] and (backend != "wasm" or r["ndiff"] == 0), res["resize"]
        assert r["mean"] > 10, res["resize"]  # real image content


def test_js_crop_equals_tfjs_crop_and_resize(page, studio_server):
    """The page crops MoveNet's input (pads + resizes PoseNet's, stretches the detector's) in JS from RGBA bytes,
    cheaper than a whole-frame TF.js cast; it must give exactly what tf.image.cropAndResize / tf.pad3d +
    resizeBilinear (half-pixel centres for the detector) give, boxes inside, across and outside the frame."""
    open_page(page, f"{studio_server.url}/pose.html?model=movenet-lightning&backend=wasm")
    wait_frames(page, 3)
    res = page.evaluate("""async () => {
      window.__huia.pause();
      const tf = await (await import('/js/tfjs.js')).initTF('wasm');
      const im = await import('/js/pose/calculators/image.js');
      const px = im.rgbaPixels(document.getElementById('video'));
      const t4 = tf.tensor3d(new Int32Array(px.data), [px.height, px.width, 4], 'int32');
      const out = [];
      for (const box of [[0, 0, 1, 1], [0.1, 0.23, 0.77, 0.9], [-0.2, -0.1, 1.1, 1.3], [0.3, 0.3, 0.31, 0.305]]) {
        const a = im.cropAndResizeRGBA(px, box, 192, 192, 0);
        const b = await tf.tidy(() => tf.cast(im.rgb(tf, tf.image.cropAndResize(tf.expandDims(t4, 0), [box], [0],
          [192, 192], 'bilinear', 0)), 'int32')).data();
        let n = 0; let sum = 0; for (let i = 0; i < a.length; i++) { if (a[i] !== b[i]) n++; sum += a[i]; }
        out.push({ ndiff: n, mean: sum / a.length });
      }
      // PoseNet's pad + resizeBilinear, also done in JS
      for (const [pad, r] of [[{ top: 0, bottom: 0, left: 0, right: 0 }, 257], [{ top: 32, bottom: 32, left: 0, right: 0 }, 257],
                              [{ top: 0, bottom: 0, left: 40, right: 40 }, 353]]) {
        const a = im.padResizeBilinearRGBA(px, pad, r, r);
        const b = await tf.tidy(() => im.rgb(tf, tf.image.resizeBilinear(tf.pad3d(t4, [[pad.top, pad.bottom],
          [pad.left, pad.right], [0, 0]]), [r, r]))).data();
        let n = 0; let sum = 0; for (let i = 0; i < a.length; i++) { if (a[i] !== b[i]) n++; sum += a[i]; }
        out.push({ ndiff: n, mean: sum / a.length });
      }
      // the detector's stretch: resizeBilinear with half-pixel centres, down and up
      for (const r of [320, 256, 97, 700]) {
        const a = im.padResizeBilinearRGBA(px, { top: 0, bottom: 0, left: 0, right: 0 }, r, r, undefined,
          { halfPixelCenters: true });
        const b = await tf.tidy(() => im.rgb(tf, tf.image.resizeBilinear(t4, [r, r], false, true))).data();
        let n = 0; let sum = 0; for (let i = 0; i < a.length; i++) { if (a[i] !== b[i]) n++; sum += a[i]; }
        out.push({ ndiff: n, mean: sum / a.length, halfPixel: r });
      }
      t4.dispose(); window.__huia.resume();
      return out; }""")
    assert all(r["ndiff"] == 0 for r in res), res
    assert all(r["mean"] > 10 for r in res), res  # real image content, not an empty frame


# -- the JS PoseNet decoders equal the reference decoders -------------------------------------------------------------
DECODE_JS = r"""
import fs from 'node:fs';
import { decodeSinglePose, decodeMultiplePoses, Map3 } from '%POSENET%';
const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const spec = JSON.parse(fs.readFileSync('%SPEC%', 'utf8')).coco17;
const idx = Object.fromEntries(spec.names.map((n, i) => [n, i]));
const chain = spec.pose_chain.map(([a, b]) => [idx[a], idx[b]]);
const out = [];
for (const c of job.cases) {
  const buf = fs.readFileSync(c.path);
  const all = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  const n = c.h * c.w; const maps = []; let at = 0;
  for (const s of [17, 34, 32, 32]) { maps.push(new Map3(all.slice(at, at + n * s), c.h, c.w, s)); at += n * s; }
  const poses = c.mode === 'single' ? [decodeSinglePose(maps[0], maps[1], c.stride, spec.names)]
    : decodeMultiplePoses(maps[0], maps[1], maps[2], maps[3], c.stride, spec.names, chain,
        { maxPoseDetections: c.maxPoses, scoreThreshold: c.scoreThreshold, nmsRadius: c.nmsRadius });
  out.push(poses.map((p) => ({ score: p.score, keypoints: p.keypoints.map((k) => ({ y: k.y, x: k.x, score: k.score })) })));
}
process.stdout.write(JSON.stringify(out), () => process.exit(0));
"""


def _random_maps(rng, h, w, people):
    """Heatmaps with a few people (blobs along a random skeleton) over noise, random offsets/displacements."""
    logits = rng.normal(-4, 1.5, (h, w, 17)).astype(np.float32)
    for _ in range(people):
        cy, cx = rng.uniform(2, h - 3), rng.uniform(2, w - 3)
        for k in range(17):
            y = int(np.clip(cy + rng.normal(0, 2.5), 0, h - 1))
            x = int(np.clip(cx + rng.normal(0, 2.5), 0, w - 1))
            logits[y, x, k] = rng.uniform(1, 6)
    scores = 1 / (1 + np.exp(-logits))
    offsets = rng.normal(0, 6, (h, w, 34)).astype(np.float32)
    fwd = rng.normal(0, 25, (h, w, 32)).astype(np.float32)
    bwd = rng.normal(0, 25, (h, w, 32)).astype(np.float32)
    return scores.astype(np.float32), offsets, fwd, bwd


def test_js_decoders_equal_reference_posenet_decoders(node_modules, tmp_path):
    from tests.oracles.posenet_oracle import run_js_decoder

    rng = np.random.default_rng(7)
    cases = []
    for i, (h, w, people, mode, stride) in enumerate([(33, 33, 3, "multi", 16), (17, 23, 1, "single", 16),
                                                      (33, 33, 5, "multi", 8), (9, 9, 2, "multi", 32),
                                                      (33, 33, 4, "single", 8)]):
        s, o, f, b = _random_maps(rng, h, w, people)
        cases.append({"scores": s, "offsets": o, "fwd": f, "bwd": b, "stride": stride, "mode": mode,
                      "max_poses": 5, "score_threshold": 0.5, "nms_radius": 20})
    ref, _ = run_js_decoder(cases)
    job = []
    for i, c in enumerate(cases):
        p = tmp_path / f"case{i}.bin"
        p.write_bytes(b"".join(np.ascontiguousarray(c[k], np.float32).tobytes() for k in ("scores", "offsets", "fwd", "bwd")))
        job.append({"path": str(p), "h": c["scores"].shape[0], "w": c["scores"].shape[1], "stride": c["stride"],
                    "mode": c["mode"], "maxPoses": 5, "scoreThreshold": 0.5, "nmsRadius": 20})
    (tmp_path / "job.json").write_text(json.dumps({"cases": job}))
    script = tmp_path / "decode.mjs"
    script.write_text(DECODE_JS.replace("%POSENET%", (REPO_ROOT / "web/js/pose/posenet.js").as_uri())
                      .replace("%SPEC%", str(REPO_ROOT / "web/spec/keypoints.json")))
    proc = subprocess.run(["node", str(script), str(tmp_path / "job.json")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    ours = json.loads(proc.stdout)
    n_multi = 0
    for c, a, b in zip(cases, ours, ref):
        assert len(a) == len(b), (c["mode"], len(a), len(b))
        n_multi += len(a) if c["mode"] == "multi" else 0
        for pa, pb in zip(a, b):
            assert pa["score"] == pytest.approx(pb["score"], abs=1e-6)
            xa = np.array([[k["y"], k["x"], k["score"]] for k in pa["keypoints"]])
            xb = np.array([[k["y"], k["x"], k["score"]] for k in pb["keypoints"]])
            np.testing.assert_allclose(xa, xb, atol=1e-4)
    assert n_multi >= 6, "the random maps should produce several poses"


def test_unknown_settings_in_the_address_fall_back_and_say_so(page, studio_server):
    """pose.html?model=nonsense blanked the picker and stopped the page with 'unknown pose model ""': the page runs
    the default model and names the value it could not use (the regression audit's finding 6)."""
    open_page(page, f"{studio_server.url}/pose.html?model=nonsense&backend=wasm&stride=7")
    assert page.eval_on_selector("#model", "s => s.value") == "movenet-lightning"
    wait_frames(page, 3)
    text = page.text_content("#errors")
    assert 'unknown model "nonsense"' in text and "using movenet-lightning" in text, text
    assert 'unknown output stride "7"' in text, text
    page.console_errors[:] = [e for e in page.console_errors if "nonsense" not in e and '"7"' not in e]
