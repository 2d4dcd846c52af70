"""`huia pose` inputs and outputs (CLI audit findings 4, 10, 13, 14, 16, 20): --overlay must fit the input, options a
model ignores are refused, a folder's entries name their file and size, unreadable images are skipped."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from huia.cli import main


@pytest.fixture()
def image(tmp_path):
    p = tmp_path / "img.png"
    cv2.imwrite(str(p), np.full((40, 60, 3), 128, np.uint8))
    return p


def _one_error(capsys, *words):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("huia: error:"), err
    for w in words:
        assert w in err[0], err
    return err[0]


def test_overlay_must_fit_the_input(image, tmp_path, capsys):
    folder = tmp_path / "folder"
    folder.mkdir()
    shutil.copy(image, folder / "a.png")
    video = tmp_path / "v.mp4"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for _ in range(2):
        w.write(np.zeros((48, 64, 3), np.uint8))
    w.release()
    cases = [
        (image, tmp_path / "out.mp4", "must end in"),  # used to be a cv2.error traceback
        (image, folder, "this is a folder"),
        (image, tmp_path / "noext", "must end in"),
        (video, tmp_path / "out.png", "must end in"),  # used to write MPEG-4 into a .png
        (video, folder, "this is a folder"),
        (folder, tmp_path / "dir.png", "must be a folder"),  # used to create a folder named dir.png
        (folder, image, "this is a file"),
        (folder, folder, "input folder"),
        (image, image, "input file"),
    ]
    for src, overlay, words in cases:
        capsys.readouterr()
        assert main(["pose", str(src), "--overlay", str(overlay)]) == 2, (src, overlay)
        _one_error(capsys, "--overlay", words)
    assert not (tmp_path / "dir.png").exists() and not (tmp_path / "out.png").exists()
    assert (image.stat().st_size, sorted(p.name for p in folder.iterdir())) == (image.stat().st_size, ["a.png"])
    assert main(["pose", str(image), "--json", str(folder)]) == 2
    _one_error(capsys, "--json")


@pytest.mark.parametrize("argv,words", [
    (["--model", "movenet-thunder", "--output-stride", "8"], ["--output-stride", "posenet"]),
    (["--model", "blazepose", "--input-resolution", "257"], ["--input-resolution", "posenet"]),
    (["--model", "movenet-lightning", "--image-scale-factor", "0.5"], ["--image-scale-factor", "posenet"]),
    (["--model", "posenet", "--nms-radius", "20"], ["--nms-radius", "--multi"]),
    (["--model", "movenet-lightning", "--max-poses", "3"], ["--max-poses", "--multi"]),
    (["--model", "blazepose", "--multi"], ["blazepose", "one person"]),
    (["--model", "posenet", "--input-resolution", "257", "--image-scale-factor", "0.5"], ["not both"]),
])
def test_options_the_model_would_ignore_are_refused(image, capsys, argv, words):
    assert main(["pose", str(image), *argv]) == 2
    _one_error(capsys, *words)


def test_output_places_that_cannot_be_used_are_one_line(image, tmp_path, capsys):
    """Re-audit 10 finding 7: `--overlay afile/y.png` was a NotADirectoryError traceback (after the model ran).
    Now one line naming the path, before any work; an overlay inside the input folder (the next run would read the
    drawn PNGs as inputs) and --json onto the input image are refused too, the input untouched."""
    afile = tmp_path / "afile"
    afile.write_text("x")
    folder = tmp_path / "folder"
    folder.mkdir()
    shutil.copy(image, folder / "a.png")
    before = (image.read_bytes(), (folder / "a.png").read_bytes())
    cases = [([image, "--overlay", afile / "y.png"], f"{afile / 'y.png'}: --overlay: {afile} is a file, not a folder"),
             ([image, "--json", afile / "p.json"], f"{afile / 'p.json'}: --json: {afile} is a file, not a folder"),
             ([folder, "--overlay", afile / "ov"], f"{afile / 'ov'}: --overlay: {afile} is a file, not a folder"),
             ([image, "--json", image], f"{image}: --json is the input file {image}; it would be overwritten"),
             ([folder, "--overlay", folder / "ov"],
              f"{folder / 'ov'}: --overlay is inside the input folder {folder}: writing there would overwrite or mix "
              "with its files; give a separate folder")]
    if Path("/proc/self").is_dir():
        cases.append(([image, "--overlay", "/proc/huia_x/y.png"],
                      "/proc/huia_x/y.png: --overlay: cannot create the folder /proc/huia_x (No such file or "
                      "directory)"))
    for argv, line in cases:
        assert main(["pose", *map(str, argv)]) == 2, line
        assert capsys.readouterr().err.strip() == f"huia: error: {line}"
    assert (image.read_bytes(), (folder / "a.png").read_bytes()) == before
    assert sorted(p.name for p in folder.iterdir()) == ["a.png"]


@pytest.mark.parametrize("opts", [dict(min_pose_score=5), dict(min_pose_score=-0.1), dict(min_pose_score=float("nan")),
                                  dict(model="movenet-multipose", min_pose_score=1.5),
                                  dict(model="posenet", multi=True, score_threshold=2),
                                  dict(model="posenet", multi=True, max_poses=0),
                                  dict(model="posenet", multi=True, nms_radius=-1),
                                  dict(model="blazepose", min_detection_score=5)])
def test_the_python_api_refuses_what_the_cli_refuses(image, opts):
    """Re-audit 10: huia.estimate(img, min_pose_score=5) silently returned [] where `huia pose` refuses it."""
    import huia
    from huia.errors import HuiaError

    name = next(k for k in opts if k not in ("model", "multi"))
    with pytest.raises(HuiaError, match=f"{name} (is a score, it )?must be"):
        huia.estimate(image, **opts)


def test_the_python_api_keeps_in_range_scores(shared_data):
    import huia

    pose = shared_data / "pose-video" / "pose.jpg"
    poses = huia.estimate(pose, min_pose_score=0.0)
    assert len(poses) == 1 and 0.2 < poses[0].score < 1  # the bounds themselves are accepted
    assert huia.estimate(pose, min_pose_score=1.0) == [] and len(huia.estimate(pose, min_pose_score=0.2)) == 1


@pytest.mark.parametrize("argv", [["--input-resolution", "7"], ["--input-resolution", "5000"],
                                  ["--max-poses", "0"], ["--max-frames", "0"], ["--min-score", "1.5"],
                                  ["--score-threshold", "-1"], ["--image-scale-factor", "0"],
                                  ["--image-scale-factor", "3"]])
def test_out_of_range_values_are_usage_errors(image, capsys, argv):
    with pytest.raises(SystemExit) as exc:
        main(["pose", str(image), "--model", "posenet", *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {argv[0]}" in err and repr(argv[1]) in err


def test_folder_entries_name_file_and_size_and_skip_unreadable(shared_data, tmp_path, capsys):
    src = shared_data / "pose-video"
    folder = tmp_path / "pc"
    (folder / "sub").mkdir(parents=True)
    (folder / ".quarantine").mkdir()
    shutil.copy(src / "pose.jpg", folder / "a.jpg")
    shutil.copy(src / "three_people.jpg", folder / "sub" / "a.jpg")
    shutil.copy(src / "pose.jpg", folder / ".quarantine" / "q.jpg")
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.txt").write_text("not an image")
    overlay = tmp_path / "ov"
    capsys.readouterr()
    rc = main(["pose", str(folder), "--multi", "--json", str(tmp_path / "p.json"), "--overlay", str(overlay)])
    assert rc == 1  # one image unreadable, the others done
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == f"huia: warning: {folder / 'empty.jpg'}: image file is empty (skipped)", err
    assert "with movenet-multipose" in err[-1] and "1 unreadable" in err[-1], err  # --multi ran MultiPose
    doc = json.loads((tmp_path / "p.json").read_text())
    assert [e["file"] for e in doc] == ["a.jpg", "sub/a.jpg"]
    for e, name in zip(doc, ["pose.jpg", "three_people.jpg"]):
        h, w = cv2.imread(str(src / name)).shape[:2]
        assert (e["width"], e["height"]) == (w, h)
        assert e["poses"] and all(0 <= k["x"] <= w and 0 <= k["y"] <= h
                                  for p in e["poses"] for k in p["keypoints"] if k["score"] > 0.3)
    assert len(doc[1]["poses"]) >= 2  # three people, MultiPose
    assert sorted(p.relative_to(overlay).as_posix() for p in overlay.rglob("*.png")) == ["a.png", "sub/a.png"]
    assert cv2.imread(str(overlay / "sub" / "a.png")).shape == cv2.imread(str(src / "three_people.jpg")).shape


def test_help_is_wrapped_and_says_what_blazepose_outputs(capsys):
    with pytest.raises(SystemExit):
        main(["pose", "--help"])
    out = capsys.readouterr().out
    desc = out.split("positional arguments")[0].split("\n\n", 1)[1]
    assert max(len(line) for line in desc.splitlines()) <= 80
    flat = " ".join(out.split())
    assert "its poses give the 17 COCO keypoints (mapped from the 33 landmarks)" in flat and "sub-folders" in flat
    assert "Exit code" in flat
