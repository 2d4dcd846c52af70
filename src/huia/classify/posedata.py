"""A small labelled pose dataset built from a video and its per-frame keypoints (the shared pose_1.mp4 +
pose_1.json), in the studio's capture format — for tests and benchmarks; nothing is committed.

Labels come from a transparent rule on the reference keypoints (wrist height relative to the shoulders, in torso
lengths): ``arms_down`` (< -0.5), ``hands_chest`` (-0.2..0.3), ``arms_up`` (> 0.55); frames in between are
transitions and are left out, like a person reviewing captures would. Each frame is also mirrored (image and
keypoints, left/right names swapped), which keeps its label.

Held-out samples must not be near-copies of training frames (neighbouring video frames are), so the builder
splits in time: within each class's frames, the first ``train_fraction`` go to ``train/``, then ``gap`` frames
are dropped, the rest go to ``test/``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from huia.errors import HuiaError

CLASSES = ("arms_down", "hands_chest", "arms_up")


def _label(kp: dict[str, tuple[float, float]]) -> str | None:
    sh = (kp["left_shoulder"][1] + kp["right_shoulder"][1]) / 2
    hip = (kp["left_hip"][1] + kp["right_hip"][1]) / 2
    torso = max(hip - sh, 1e-6)
    h = ((sh - kp["left_wrist"][1]) + (sh - kp["right_wrist"][1])) / 2 / torso
    if h < -0.5:
        return "arms_down"
    if -0.2 <= h <= 0.3:
        return "hands_chest"
    if h > 0.55:
        return "arms_up"
    return None


def _frames(video: Path):
    import cv2

    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise HuiaError("cannot open video", video)
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    finally:
        cap.release()


def build_pose_dataset(out_dir: str | Path, video: str | Path, keypoints_json: str | Path, *,
                       train_fraction: float = 0.6, gap: int = 3, mirror: bool = True, every: int = 1) -> dict:
    """Write ``out_dir/train/<label>/*.jpg+.json`` and ``out_dir/test/...``; returns counts per split/label."""
    from huia.data.augment import lr_swap_order
    from huia.data.images import save_image

    out_dir, video, keypoints_json = Path(out_dir), Path(video), Path(keypoints_json)
    ref = json.loads(Path(keypoints_json).read_text())
    if not isinstance(ref, list) or not ref:
        raise HuiaError("expected a list of per-frame keypoint dicts", keypoints_json)
    frames = list(_frames(video))
    if len(frames) != len(ref):
        raise HuiaError(f"{len(frames)} video frames but {len(ref)} keypoint entries", keypoints_json)
    labelled: dict[str, list[int]] = {c: [] for c in CLASSES}
    for i, kp in enumerate(ref):
        if i % every:
            continue
        lab = _label({k: (v["x"], v["y"]) for k, v in kp.items()})
        if lab:
            labelled[lab].append(i)
    counts: dict = {"train": {}, "test": {}}
    for lab, idx in labelled.items():
        n_train = int(round(len(idx) * train_fraction))
        splits = {"train": idx[:n_train], "test": idx[n_train + gap:]}
        for split, ids in splits.items():
            d = out_dir / split / lab
            d.mkdir(parents=True, exist_ok=True)
            n = 0
            for i in ids:
                img = frames[i]
                h, w = img.shape[:2]
                kps = [{"name": k, "x": float(v["x"]), "y": float(v["y"]), "score": float(v.get("score", 1.0))}
                       for k, v in ref[i].items()]
                variants = [("", img, kps)]
                if mirror:
                    # mirrored: each name takes its left/right partner's point (augment's one pairing rule)
                    swap = lr_swap_order([k["name"] for k in kps])
                    swap = range(len(kps)) if swap is None else swap
                    mk = [{"name": k["name"], "x": w - kps[j]["x"], "y": kps[j]["y"], "score": kps[j]["score"]}
                          for k, j in zip(kps, swap)]
                    variants.append(("m", np.ascontiguousarray(img[:, ::-1]), mk))
                for suffix, im, kk in variants:
                    stem = f"frame{i:04d}{suffix}"
                    save_image(im, d / f"{stem}.jpg", quality=90)
                    (d / f"{stem}.json").write_text(json.dumps({"label": lab, "width": w, "height": h,
                                                                "model": "reference", "keypoints": kk}))
                    n += 1
            counts[split][lab] = n
    return counts
