"""`huia data review` on studio-like captures: one fixed camera, one background, the pose is what changes.

Frames of pose_1.mp4 sit a few hash bits apart whatever the person does, so the pixel rule alone calls a whole
session near duplicates (re-audit finding 1). With keypoints, a near duplicate must also hold the same pose."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from huia.cli import main
from huia.data.review import dhash, pose_distance, review_dataset, thumb_correlation


def _kps(frame: dict) -> np.ndarray:
    return np.array([[v["x"], v["y"], v.get("score", 1.0)] for v in frame.values()], np.float32)


def _write(path, img, kps, names, label):
    Image.fromarray(img).save(path.with_suffix(".jpg"), quality=90)
    path.with_suffix(".json").write_text(json.dumps({"label": label, "keypoints": [
        {"name": n, "x": float(x), "y": float(y), "score": float(s)} for n, (x, y, s) in zip(names, kps)]}))


@pytest.fixture(scope="module")
def session(shared_data, tmp_path_factory):
    """Frames of pose_1.mp4 whose reference poses differ (every kept frame is > 2x the default pose threshold from
    the others), written as studio captures in two classes."""
    import cv2

    video = shared_data / "pose-video"
    ref = json.loads((video / "pose_1.json").read_text())
    names = list(ref[0])
    cap = cv2.VideoCapture(str(video / "pose_1.mp4"))
    frames = []
    while True:
        ok, fr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(fr, cv2.COLOR_BGR2RGB))
    assert len(frames) == len(ref)
    kept: list[int] = []
    for i in range(len(ref)):
        if all(pose_distance(_kps(ref[i]), _kps(ref[j])) > 0.06 for j in kept):
            kept.append(i)
    root = tmp_path_factory.mktemp("captures")
    for n, i in enumerate(kept):
        label = "a" if n % 2 == 0 else "b"
        (root / label).mkdir(exist_ok=True)
        _write(root / label / f"frame{i:03d}", frames[i], _kps(ref[i]), names, label)
    return root, kept, frames, ref, names


def test_different_poses_are_not_near_duplicates(session, tmp_path):
    root, kept, frames, ref, names = session
    assert len(kept) >= 8, kept
    imgs = [frames[i] for i in kept]
    # the premise: by pixels alone most of these frames look like copies of another one
    H = np.stack([dhash(im) for im in imgs]).astype(np.uint8)
    dist = (H[:, None] != H[None]).sum(2)
    np.fill_diagonal(dist, 999)
    pixel_twins = sum(1 for a in range(len(imgs)) if any(
        dist[a, b] <= 12 and thumb_correlation(imgs[a], imgs[b]) >= 0.97 for b in range(a)))
    assert pixel_twins >= len(imgs) // 2, (pixel_twins, dist.min(1))
    res = review_dataset(root, features="none")
    kinds = res.by_kind()
    assert not kinds.get("near_duplicate") and not kinds.get("duplicate"), res.flags
    # the same folder without keypoints keeps the pixel rule and flags them
    bare = tmp_path / "bare"
    shutil.copytree(root, bare)
    for j in bare.rglob("*.json"):
        j.unlink()
    assert len(review_dataset(bare, features="none").by_kind().get("near_duplicate", [])) >= len(imgs) // 2


def test_same_frame_twice_is_flagged(session, tmp_path):
    root, kept, frames, ref, names = session
    work = tmp_path / "caps"
    shutil.copytree(root, work)
    src = sorted((work / "a").glob("*.jpg"))[1]
    shutil.copy(src, work / "a" / "zz_copy.jpg")  # saved twice: same bytes
    shutil.copy(src.with_suffix(".json"), work / "a" / "zz_copy.json")
    i = kept[3]  # in class b: a re-encoded, slightly brighter copy with the same keypoints
    near = np.clip(frames[i].astype(np.int16) + 3, 0, 255).astype(np.uint8)
    Image.fromarray(near).save(work / "b" / "zz_near.jpg", quality=60)
    shutil.copy(work / "b" / f"frame{i:03d}.json", work / "b" / "zz_near.json")
    res = review_dataset(work, features="none")
    kinds = res.by_kind()
    assert {f.path.name for f in kinds.get("duplicate", [])} == {"zz_copy.jpg"}, res.flags
    assert {f.path.name for f in kinds.get("near_duplicate", [])} == {"zz_near.jpg"}, res.flags
    assert "same pose" in kinds["near_duplicate"][0].detail


def test_pose_distance_by_hand():
    a = np.array([[0, 0, 1], [10, 0, 1], [0, 10, 1], [10, 10, 1]], np.float32)
    assert pose_distance(a, a) == 0.0
    moved = a.copy()
    moved[:, :2] = moved[:, :2] * 3 + 50  # same pose, elsewhere and bigger
    assert pose_distance(a, moved) == pytest.approx(0.0, abs=1e-6)
    arm = a.copy()
    arm[3, :2] = [10, 9]  # one point moved by 1 in a box of side 10 that keeps its size and centre
    assert pose_distance(a, arm) == pytest.approx(0.1)
    lost = a.copy()
    lost[3, 2] = 0.0
    assert pose_distance(a, lost) == float("inf")


def test_json_says_why_mislabel_check_ran_or_not(session, capsys):
    root, *_ = session
    assert main(["data", "review", str(root), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["feature_space"] == "keypoints" and doc["mislabel_note"] is None
    assert main(["data", "review", str(root), "--k", "50"]) == 0
    out = capsys.readouterr().out
    assert "mislabel check: not run:" in out and "need more than 51 (the 50 neighbours compared, plus one)" in out
