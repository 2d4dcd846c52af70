"""`huia pose`: image, folder and video inputs, the JSON format, overlays, and one-line errors on bad input."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from huia.cli import main
from huia.pose.spec import COCO_NAMES


def _check_doc(doc, frames):
    assert isinstance(doc, list) and len(doc) == frames
    for poses in doc:
        for p in poses:
            assert set(p) >= {"score", "keypoints"}
            assert [k["name"] for k in p["keypoints"]] == list(COCO_NAMES)
            assert all(set(k) == {"name", "x", "y", "score"} for k in p["keypoints"])


def test_image_json_and_overlay(shared_data, out_dir):
    img = shared_data / "pose-video" / "three_people.jpg"
    rc = main(["pose", str(img), "--model", "posenet", "--multi", "--max-poses", "4", "--score-threshold", "0.5",
               "--nms-radius", "20", "--output-stride", "16", "--json", str(out_dir / "poses.json"),
               "--overlay", str(out_dir / "overlay.png")])
    assert rc == 0
    doc = json.loads((out_dir / "poses.json").read_text())
    _check_doc(doc, 1)
    assert len(doc[0]) == 3
    over = cv2.imread(str(out_dir / "overlay.png"))
    src = cv2.imread(str(img))
    assert over.shape == src.shape and (over != src).any()


def test_video_and_folder(shared_data, out_dir, capsys):
    video = shared_data / "pose-video" / "pose_1.mp4"
    rc = main(["pose", str(video), "--max-frames", "4", "--json", str(out_dir / "video.json"),
               "--overlay", str(out_dir / "video.mp4")])
    assert rc == 0
    doc = json.loads((out_dir / "video.json").read_text())
    _check_doc(doc, 4)
    assert all(len(f) == 1 for f in doc)
    cap = cv2.VideoCapture(str(out_dir / "video.mp4"))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 4
    folder = out_dir / "images"
    folder.mkdir(exist_ok=True)  # test-output is shared with concurrent runs
    shutil.copy(shared_data / "pose-video" / "pose.jpg", folder / "a.jpg")
    shutil.copy(shared_data / "pose-video" / "three_people.jpg", folder / "b.jpg")
    (folder / "notes.txt").write_text("not an image")
    capsys.readouterr()
    assert main(["pose", str(folder), "--model", "movenet-lightning"]) == 0
    doc = json.loads(capsys.readouterr().out)  # no --json: printed
    assert [e["file"] for e in doc] == ["a.jpg", "b.jpg"]  # a folder's entries are named (file relative to it)
    _check_doc([e["poses"] for e in doc], 2)
    assert len(doc[0]["poses"]) == 1


def test_bad_inputs_exit_2_with_one_line(tmp_path, capsys):
    empty_video = tmp_path / "empty.mp4"
    empty_video.write_bytes(b"")
    junk_video = tmp_path / "junk.mp4"
    junk_video.write_bytes(np.random.default_rng(0).bytes(2000))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    empty_dir = tmp_path / "nothing"
    empty_dir.mkdir()
    for path, words in [(empty_video, "empty"), (junk_video, "junk.mp4"), (broken, "broken.png"),
                        (empty_dir, "no images"), (tmp_path / "missing.jpg", "no such")]:
        capsys.readouterr()
        assert main(["pose", str(path)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("huia: error:") and words in err[0], err


def test_help_lists_models(capsys):
    with pytest.raises(SystemExit):
        main(["pose", "--help"])
    out = capsys.readouterr().out
    for name in ("movenet-lightning", "posenet", "blazepose", "--output-stride", "--nms-radius"):
        assert name in out
