"""Live pose page against the PoseNet article (spec audit 10, findings 1, 6, 11, 12), headless Chromium on wasm.

The webcam is a still picture (three_people.jpg, or a photo of kangaroos only) played as a camera stream: the page's
getUserMedia returns a canvas capture stream painting it, so the page runs its real camera path on a scene the
test knows.

- Flip horizontal changes the coordinates the page returns (x -> width - 1 - x of the unflipped ones); Mirror view
  changes how the picture is shown; in all four combinations every drawn joint is on screen where the UNFLIPPED
  keypoints put the person in the picture as shown (pixels of the screenshot, not the page's own arithmetic).
- Min pose score hides weak poses: with nobody in view the badge says 0 pose(s); each pose's score is listed, and
  the keypoint table shows the chosen pose (or all).
- Multi-pose-only controls are disabled in single-pose mode; out-of-range values are clamped with a notice.
"""

from __future__ import annotations

import base64
import io
import json

import cv2
import numpy as np
import pytest
from PIL import Image

from tests.browser.test_pose_page import decode_png, open_page, wait_frames
from tests.conftest import REPO_ROOT

SPEC = json.loads((REPO_ROOT / "web" / "spec" / "keypoints.json").read_text())
JOINT = np.array(SPEC["joint_color"], np.int32)
POSENET = json.loads((REPO_ROOT / "web" / "spec" / "pose_models.json").read_text())["posenet"]


def still_camera(page, path, width: int = 640) -> np.ndarray:
    """Make the page's webcam a stream of this picture (resized to `width`); returns the RGB picture sent."""
    bgr = cv2.imread(str(path))
    h, w = bgr.shape[:2]
    height = int(round(h * width / w)) // 2 * 2
    bgr = cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA)
    url = "data:image/png;base64," + base64.b64encode(cv2.imencode(".png", bgr)[1].tobytes()).decode()
    page.add_init_script("""(() => {
      const url = %s;
      navigator.mediaDevices.getUserMedia = async () => {
        const img = new Image(); img.src = url; await img.decode();
        const c = document.createElement('canvas'); c.width = %d; c.height = %d;
        const ctx = c.getContext('2d');
        const paint = () => ctx.drawImage(img, 0, 0);
        paint(); setInterval(paint, 40);  // a canvas stream sends a frame when the canvas is painted
        return c.captureStream(25);
      };
    })();""" % (json.dumps(url), width, height))
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _kp(pose) -> np.ndarray:
    return np.array([[k["x"], k["y"], k["score"]] for k in pose["keypoints"]], np.float64)


def _stage_shot(page, hide: str) -> np.ndarray:
    """The stage as on screen with the video or the overlay hidden (RGB, CSS pixels)."""
    page.evaluate(f"document.getElementById('{hide}').style.visibility = 'hidden'")
    page.evaluate("window.__huia.waitFrames(3)")
    png = page.locator("#stage").screenshot()
    page.evaluate(f"document.getElementById('{hide}').style.visibility = ''")
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _joint_hits(shot: np.ndarray, pts: np.ndarray) -> float:
    """Share of the points (screen pixels) where the screenshot shows the joint colour."""
    hits = []
    for x, y in pts:
        col, row = int(round(x)), int(round(y))
        if 0 <= row < shot.shape[0] and 0 <= col < shot.shape[1]:
            hits.append(np.abs(shot[row, col].astype(np.int32) - JOINT).max() <= 12)
    assert len(hits) >= 20, len(hits)
    return float(np.mean(hits))


def test_flip_and_mirror_keep_the_skeleton_on_the_person(page, studio_server, shared_data, out_dir):
    picture = still_camera(page, shared_data / "pose-video" / "three_people.jpg")
    open_page(page, f"{studio_server.url}/pose.html?model=posenet&multi=1&backend=wasm&res=257")
    wait_frames(page, 5)
    ref = page.evaluate("window.__huia.grab()")
    frame = decode_png(ref["png"])
    assert frame.shape == picture.shape and np.abs(frame.astype(int) - picture).mean() < 8  # the still is the camera
    width = ref["width"]
    assert len(ref["poses"]) == 3, [p["score"] for p in ref["poses"]]
    unflipped = [_kp(p) for p in ref["poses"]]
    confident = np.concatenate([k[k[:, 2] >= SPEC["draw_min_score"], :2] for k in unflipped])
    for mirror in (False, True):
        for flip in (False, True):
            page.set_checked("#mirror", mirror)
            page.set_checked("#flip", flip)
            page.evaluate("window.__huia.waitFrames(3)")
            g = page.evaluate("window.__huia.grab()")
            assert (g["mirror"], g["flipHorizontal"]) == (mirror, flip)
            # returned coordinates: x -> width - 1 - x with flip (the convention the page states), y unchanged
            assert len(g["poses"]) == len(unflipped)
            for pose, ref_kp in zip(g["poses"], unflipped):
                kp = _kp(pose)
                want_x = width - 1 - ref_kp[:, 0] if flip else ref_kp[:, 0]
                np.testing.assert_allclose(kp[:, 0], want_x, atol=1e-3)
                np.testing.assert_allclose(kp[:, 1:], ref_kp[:, 1:], atol=1e-3)
            # the picture is shown mirrored or not: compare the video on screen with the frame both ways
            video = _stage_shot(page, "overlay")
            small = cv2.resize(video, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_AREA).astype(int)
            d_plain, d_mirror = np.abs(small - frame).mean(), np.abs(small - frame[:, ::-1]).mean()
            assert (d_mirror < d_plain) == mirror, (mirror, d_plain, d_mirror)
            # the joints on screen: where the unflipped keypoints are in the picture as shown
            ink = _stage_shot(page, "video")
            scale = ink.shape[1] / width
            sx = (width - confident[:, 0]) * scale if mirror else confident[:, 0] * scale
            on_person = _joint_hits(ink, np.stack([sx, confident[:, 1] * scale], 1))
            wrong_side = _joint_hits(ink, np.stack([ink.shape[1] - sx, confident[:, 1] * scale], 1))
            Image.fromarray(ink).save(out_dir / f"ink_m{int(mirror)}_f{int(flip)}.png")
            assert on_person >= 0.9 and wrong_side <= 0.3, (mirror, flip, on_person, wrong_side)
    page.screenshot(path=str(out_dir / "mirror_flip.png"))


def test_min_pose_score_hides_weak_poses_with_nobody_in_view(page, studio_server, shared_data):
    still_camera(page, shared_data / "kangaroo" / "images" / "00038.jpg")  # kangaroos, no person
    open_page(page, f"{studio_server.url}/pose.html?model=posenet&backend=wasm&res=257")
    assert float(page.input_value("#minPoseScore")) == POSENET["min_multi_pose_score"]
    wait_frames(page, 3)
    g = page.evaluate("window.__huia.grab()")
    assert len(g["allPoses"]) == 1 and g["allPoses"][0]["score"] < POSENET["min_multi_pose_score"], g["allPoses"]
    assert g["poses"] == [] and g["drawn"] == []
    assert page.text_content("#npose") == "0" and "1 below min pose score" in page.text_content("#nhidden")
    assert page.evaluate("window.__huia.overlayInkPixels()") == 0
    assert page.locator("#kp tbody tr").count() == 0
    page.fill("#minPoseScore", "0")
    page.dispatch_event("#minPoseScore", "change")
    g = page.evaluate("window.__huia.grab()")
    assert len(g["poses"]) == 1 and page.text_content("#npose") == "1" and page.text_content("#nhidden") == ""
    assert page.locator("#kp tbody tr").count() == 17


def test_pose_scores_listed_and_table_picks_the_pose(page, studio_server, shared_data):
    still_camera(page, shared_data / "pose-video" / "three_people.jpg")
    open_page(page, f"{studio_server.url}/pose.html?model=posenet&multi=1&backend=wasm&res=257&minPoseScore=0")
    wait_frames(page, 3)
    g = page.evaluate("window.__huia.grab()")
    scores = [p["score"] for p in g["poses"]]
    assert len(scores) >= 3 and scores == sorted(scores, reverse=True), scores
    assert [d["label"] for d in g["drawn"]] == [f"{i + 1} · {s:.2f}" for i, s in enumerate(scores)]  # on the overlay
    options = page.eval_on_selector("#tablePose", "s => [...s.options].map((o) => [o.value, o.textContent])")
    assert options == [[str(i), f"pose {i + 1} · score {s:.2f}"] for i, s in enumerate(scores)] + [
        ["all", f"all {len(scores)} poses"]], options

    def table():
        return page.eval_on_selector_all("#kp tbody tr", "rows => rows.map((r) => [...r.cells].map((c) => c.textContent))")

    page.select_option("#tablePose", "1")
    rows = table()
    want = [[k["name"], f"{k['x']:.0f}, {k['y']:.0f}", f"{k['score']:.2f}"] for k in g["poses"][1]["keypoints"]]
    assert rows == want
    page.select_option("#tablePose", "all")
    rows = table()
    assert len(rows) == 17 * len(scores) and rows[17][0] == "2 nose", rows[17]
    # a min pose score between the 2nd and 3rd pose keeps two of them
    cut = (scores[1] + scores[2]) / 2
    page.fill("#minPoseScore", f"{cut:.4f}")
    page.dispatch_event("#minPoseScore", "change")
    g = page.evaluate("window.__huia.grab()")
    assert [p["score"] for p in g["poses"]] == [s for s in scores if s >= float(f"{cut:.4f}")]
    assert page.text_content("#npose") == "2"


def test_multi_only_controls_and_out_of_range_values(page, studio_server, shared_data):
    still_camera(page, shared_data / "pose-video" / "three_people.jpg")
    open_page(page, f"{studio_server.url}/pose.html?model=posenet&backend=wasm&res=257")
    multi_only = ["#maxPoses", "#scoreThreshold", "#nmsRadius"]
    assert all(page.is_disabled(s) for s in multi_only)
    assert "multi-pose decoding only" in page.text_content("#multiHint")
    page.select_option("#multi", "1")
    page.wait_for_function("!document.getElementById('maxPoses').disabled")
    wait_frames(page, page.evaluate("window.__huia.frames") + 2)
    assert all(page.is_enabled(s) for s in multi_only)
    assert len(page.evaluate("window.__huia.grab()")["poses"]) == 3
    for sel, typed, used, words in [("#scoreThreshold", "1.5", "1", 'Score threshold "1.5" is outside 0..1: using 1'),
                                    ("#nmsRadius", "-5", "1", 'NMS radius "-5" is outside 1..80: using 1'),
                                    ("#maxPoses", "0", "1", 'Max poses "0" is outside 1..20')]:
        page.fill(sel, typed)
        page.dispatch_event(sel, "change")
        assert page.input_value(sel) == used
        assert words in page.text_content("#notice"), page.text_content("#notice")
    for sel, ok in [("#scoreThreshold", "0.5"), ("#nmsRadius", "20")]:
        page.fill(sel, ok)
        page.dispatch_event(sel, "change")
    assert page.text_content("#notice").startswith('Max poses "0"'), page.text_content("#notice")
    wait_frames(page, page.evaluate("window.__huia.frames") + 3)
    assert len(page.evaluate("window.__huia.grab()")["poses"]) == 1  # max poses 1 is what runs
    page.fill("#minPoseScore", "2")
    page.dispatch_event("#minPoseScore", "change")
    assert page.input_value("#minPoseScore") == "1" and "Min pose score" in page.text_content("#notice")
    for sel, ok in [("#maxPoses", "5"), ("#minPoseScore", "0.15")]:
        page.fill(sel, ok)
        page.dispatch_event(sel, "change")
    assert page.text_content("#notice") == ""
