"""`huia hands`: JSON keyed by file name (frames for a video) equal to the library's results, overlays into a
separate folder, and one line (exit 2, inputs untouched) for every bad input or output place."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from huia.cli import main
from huia.hands import create_hand_tracker
from huia.pose.video import iter_frames


def _one_error(capsys, *words):
    err = [line for line in capsys.readouterr().err.strip().splitlines() if line]
    assert len(err) == 1 and err[0].startswith("huia: error:"), err
    for w in words:
        assert w in err[0], err
    return err[0]


@pytest.fixture()
def photos(tmp_path, shared_data):
    """A folder with hands.jpg in a sub-folder and a corrupt image next to it."""
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(shared_data / "pose-video" / "hands.jpg", folder / "sub" / "hands.jpg")
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    return folder


def test_image_json_is_the_library_result(shared_data, node_modules, tmp_path, capsys):
    src = shared_data / "pose-video" / "hands.jpg"
    assert main(["hands", str(src), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert list(doc) == ["hands.jpg"]
    entry = doc["hands.jpg"]
    assert (entry["width"], entry["height"]) == (720, 382)
    expected = create_hand_tracker("full").estimate(cv2.cvtColor(cv2.imread(str(src)), cv2.COLOR_BGR2RGB))
    assert entry["hands"] == json.loads(json.dumps(expected.to_json()))
    assert len(entry["hands"]) == 2 and len(entry["hands"][0]["keypoints"]) == 21


def test_folder_skips_what_it_cannot_read(photos, node_modules, tmp_path, capsys):
    out = tmp_path / "drawn"
    before = sorted((p.name, p.stat().st_size) for p in photos.rglob("*"))
    code = main(["hands", str(photos), "--json", str(tmp_path / "h.json"), "--overlay", str(out)])
    assert code == 1  # one image unreadable, named in a warning, the others done
    err = capsys.readouterr().err
    assert "broken.jpg" in err and "huia: warning:" in err
    doc = json.loads((tmp_path / "h.json").read_text())
    assert list(doc) == ["sub/hands.jpg"] and len(doc["sub/hands.jpg"]["hands"]) == 2
    assert (out / "sub" / "hands.png").is_file()  # the folder's layout, as PNG
    assert sorted((p.name, p.stat().st_size) for p in photos.rglob("*")) == before


def test_video_frames_and_overlay(shared_data, node_modules, tmp_path, capsys):
    src = shared_data / "pose-video" / "asl_hand.25fps.mp4"
    out = tmp_path / "drawn"
    assert main(["hands", str(src), "--max-frames", "4", "--max-hands", "1", "--json", str(tmp_path / "v.json"),
                 "--overlay", str(out)]) == 0
    doc = json.loads((tmp_path / "v.json").read_text())["asl_hand.25fps.mp4"]
    assert (doc["width"], doc["height"], doc["fps"]) == (620, 1080, 25.0)
    assert [f["frame"] for f in doc["frames"]] == [0, 1, 2, 3]
    tracker = create_hand_tracker("full", max_hands=1)
    for f, frame in zip(doc["frames"], iter_frames(src, max_frames=4)):
        assert f["t"] == pytest.approx(frame.t)
        assert f["hands"] == json.loads(json.dumps(tracker.estimate(frame.image, t=frame.t).to_json()))
    drawn = list(iter_frames(out / "asl_hand.25fps.mp4"))
    assert len(drawn) == 4 and drawn[0].image.shape == (1080, 620, 3)


def test_still_video_frames_run_the_detector_each_time(shared_data, node_modules, capsys):
    src = shared_data / "pose-video" / "asl_hand.25fps.mp4"
    assert main(["hands", str(src), "--max-frames", "2", "--still", "--json"]) == 0
    frames = json.loads(capsys.readouterr().out)["asl_hand.25fps.mp4"]["frames"]
    tracker = create_hand_tracker("full")
    for f, frame in zip(frames, iter_frames(src, max_frames=2)):
        assert f["hands"] == json.loads(json.dumps(tracker.estimate(frame.image).to_json()))
    assert tracker.detector_runs == 2


def test_bad_inputs_are_one_line(tmp_path, photos, capsys):
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 not really")
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "nothing").mkdir()
    image = photos / "sub" / "hands.jpg"
    size = image.stat().st_size
    cases = [
        ([str(tmp_path / "missing.jpg")], ["missing.jpg", "no such file"]),
        ([str(tmp_path / "bad.jpg")], ["bad.jpg"]),
        ([str(tmp_path / "bad.mp4")], ["bad.mp4", "video"]),
        ([str(tmp_path / "empty.mp4")], ["empty.mp4", "empty"]),
        ([str(tmp_path / "nothing")], ["nothing", "no images"]),
        ([str(photos), "--overlay", str(photos)], ["--overlay", "input folder"]),
        ([str(photos), "--overlay", str(photos / "sub" / "out")], ["--overlay", "input folder"]),
        ([str(image), "--overlay", str(image.parent)], ["--overlay", "among the inputs"]),
        ([str(image), "--overlay", str(image)], ["--overlay"]),
        ([str(image), "--json", str(image)], ["--json", "overwritten"]),
        ([str(image), "--overlay", str(tmp_path / "bad.jpg" / "x")], ["--overlay", "bad.jpg"]),
        ([str(image), "--still"], ["--still", "video"]),
        ([str(image), "--max-frames", "3"], ["--max-frames", "video"]),
    ]
    for argv, words in cases:
        capsys.readouterr()
        assert main(["hands", *argv]) == 2, argv
        _one_error(capsys, *words)
    assert image.stat().st_size == size and not (photos / "sub" / "out").exists()
    assert sorted(p.name for p in image.parent.iterdir()) == ["hands.jpg"]


@pytest.mark.parametrize("argv", [["--max-hands", "0"], ["--min-presence", "2"], ["--model", "huge"]])
def test_bad_options_are_usage_errors(tmp_path, capsys, argv):
    with pytest.raises(SystemExit) as exc:
        main(["hands", str(tmp_path), *argv])
    assert exc.value.code == 2
    assert argv[0] in capsys.readouterr().err


def test_help_explains(capsys):
    with pytest.raises(SystemExit):
        main(["hands", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for words in ("palm detector", "keyed by file name", "frames", "mirrored", "--max-hands", "--overlay DIR",
                  "Exit code"):
        assert words in out, words
