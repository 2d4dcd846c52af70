"""Data-set safety (CLI audit findings 5, 8, 9, 15, 18): names that leave the data set, outputs inside the source,
folder modes, unreadable files in `data review`, help texts."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

from huia.cli import main
from huia.data import load_dataset, read_dataset
from huia.data.images import save_image
from huia.errors import HuiaError

from tests.data.test_formats import make_voc
from tests.data.test_provenance import make_folders


def _csv_with_outside_row(tmp_path: Path) -> Path:
    root = tmp_path / "ds" / "csv"
    make_voc(tmp_path / "voc", n=3)
    assert main(["data", "convert", str(tmp_path / "voc"), str(root), "--to", "csv"]) == 0
    save_image(np.zeros((40, 50, 3), np.uint8), tmp_path / "ds" / "outside.jpg")  # a real file outside
    with open(root / "labels.csv", "a") as f:
        f.write("../../outside.jpg,50,40,cat,1,1,10,10,\n")
    return root


@pytest.mark.parametrize("name", ["../../outside.jpg", "/etc/passwd", "images/../../outside.jpg"])
def test_csv_name_leaving_the_data_set_is_a_problem(tmp_path, capsys, name):
    root = _csv_with_outside_row(tmp_path)
    text = (root / "labels.csv").read_text().replace("../../outside.jpg", name)
    (root / "labels.csv").write_text(text)
    line = len(text.splitlines())  # the appended row
    samples, problems, _ = read_dataset(root)
    assert len(samples) == 3
    assert problems == [f"{root / 'labels.csv'} ({name}): line {line}: image name {name!r} leaves the data set "
                        "folder"]
    assert main(["data", "check", str(root)]) == 1
    err = capsys.readouterr().err
    assert "leaves the data set folder" in err and f"line {line}" in err
    # convert, split and training refuse it, and nothing is written
    assert main(["data", "convert", str(root), str(tmp_path / "out"), "--to", "voc"]) == 2
    assert main(["data", "split", str(root), "--out", str(tmp_path / "sp")]) == 2
    assert not (tmp_path / "out").exists() and not (tmp_path / "sp").exists()
    with pytest.raises(HuiaError, match="leaves the data set folder"):
        load_dataset(root)


def test_coco_name_leaving_the_data_set_is_a_problem(tmp_path, capsys):
    make_voc(tmp_path / "voc", n=3)
    root = tmp_path / "ds" / "coco"
    assert main(["data", "convert", str(tmp_path / "voc"), str(root), "--to", "coco"]) == 0
    save_image(np.zeros((40, 50, 3), np.uint8), tmp_path / "ds" / "secret.jpg")
    doc = json.loads((root / "annotations.json").read_text())
    doc["images"][1]["file_name"] = "../../secret.jpg"
    doc["images"][2]["file_name"] = 7  # not a name at all: a problem, not a traceback
    (root / "annotations.json").write_text(json.dumps(doc))
    samples, problems, _ = read_dataset(root)
    assert len(samples) == 1 and len(problems) == 2
    assert any("(image 2: ../../secret.jpg): image name '../../secret.jpg' leaves the data set folder" in p
               for p in problems)
    assert any("image 3: file_name 7 is not a file name" in p for p in problems)
    assert main(["data", "check", str(root)]) == 1
    assert main(["data", "convert", str(root), str(tmp_path / "out"), "--to", "voc"]) == 2


def test_names_in_sub_folders_inside_the_data_set_still_work(tmp_path):
    root = _csv_with_outside_row(tmp_path)
    (root / "images" / "sub").mkdir()
    shutil.copy(tmp_path / "ds" / "outside.jpg", root / "images" / "sub" / "inside.jpg")
    text = (root / "labels.csv").read_text().replace("../../outside.jpg", "sub/inside.jpg")
    (root / "labels.csv").write_text(text)
    samples, problems, _ = read_dataset(root)
    assert not problems and len(samples) == 4


@pytest.mark.parametrize("cmd", ["augment", "convert", "split"])
def test_output_inside_the_source_is_refused(tmp_path, capsys, cmd):
    src = make_voc(tmp_path / "voc", n=3)
    before = sorted(p.relative_to(src) for p in src.rglob("*"))
    for dst, src_arg in ((src / "aug", src), (src, src), (src / "annots" / "x", src), (tmp_path, src),
                         (tmp_path / "voc2" / ".." / "voc" / "aug", src)):
        args = {"augment": ["data", "augment", str(src_arg), str(dst), "--times", "1"],
                "convert": ["data", "convert", str(src_arg), str(dst), "--to", "csv"],
                "split": ["data", "split", str(src_arg), "--out", str(dst)]}[cmd]
        assert main(args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("huia: error: ") and "source data set" in err[0], err
    assert sorted(p.relative_to(src) for p in src.rglob("*")) == before  # nothing written anywhere
    assert sorted(p.name for p in tmp_path.iterdir()) == ["voc"]


def test_csv_file_source_counts_its_folder(tmp_path):
    make_voc(tmp_path / "voc", n=3)
    assert main(["data", "convert", str(tmp_path / "voc"), str(tmp_path / "csv"), "--to", "csv"]) == 0
    assert main(["data", "augment", str(tmp_path / "csv" / "labels.csv"), str(tmp_path / "csv" / "aug")]) == 2
    assert not (tmp_path / "csv" / "aug").exists()


def test_written_folders_get_the_umask_mode(tmp_path):
    src = make_folders(tmp_path / "src", n=3)
    old = os.umask(0o022)
    try:
        assert main(["data", "augment", str(src), str(tmp_path / "aug"), "--times", "1"]) == 0
        assert main(["data", "split", str(src), "--out", str(tmp_path / "sp")]) == 0
        make_voc(tmp_path / "voc", n=3)
        assert main(["data", "convert", str(tmp_path / "voc"), str(tmp_path / "cv"), "--to", "coco"]) == 0
        for d in ("aug", "sp", "cv"):
            assert stat.S_IMODE((tmp_path / d).stat().st_mode) == 0o755, d
        os.umask(0o027)
        assert main(["data", "split", str(src), "--out", str(tmp_path / "sp2")]) == 0
        assert stat.S_IMODE((tmp_path / "sp2").stat().st_mode) == 0o750
    finally:
        os.umask(old)


def test_review_lists_counts_and_quarantines_unreadable_files(tmp_path, capsys):
    root = make_folders(tmp_path / "rev", classes="ab", n=4)
    (root / "a" / "corrupt.jpg").write_bytes(b"junk\n")
    (root / "a" / "empty.jpg").write_bytes(b"")
    assert main(["data", "review", str(root), "--features", "none"]) == 1  # unreadable files: an error, as in check
    out = capsys.readouterr()
    assert "unreadable 2" in out.out and "flagged: nothing" not in out.out
    assert f"huia: problem: {root / 'a' / 'corrupt.jpg'}: " in out.err
    assert f"huia: problem: {root / 'a' / 'empty.jpg'}: " in out.err
    assert main(["data", "review", str(root), "--features", "none", "--quarantine"]) == 0  # moved out: clean now
    capsys.readouterr()
    q = root / ".quarantine" / "unreadable" / "a"
    assert sorted(p.name for p in q.iterdir()) == ["corrupt.jpg", "empty.jpg"]
    assert (q / "corrupt.jpg").read_bytes() == b"junk\n"  # moved, not rewritten
    log = [json.loads(line) for line in (root / ".quarantine" / "manifest.jsonl").read_text().splitlines()]
    assert {Path(e["from"]).name for e in log if e["kind"] == "unreadable"} == {"corrupt.jpg", "empty.jpg"}
    assert not (root / "a" / "corrupt.jpg").exists()
    assert main(["data", "review", str(root), "--features", "none"]) == 0
    assert "flagged: nothing" in capsys.readouterr().out


def test_data_help_texts(capsys):
    with pytest.raises(SystemExit):
        main(["data", "augment", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "4191" not in text and "provenance.json" in text
    with pytest.raises(SystemExit):
        main(["data", "review", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default 6.0)" in text and "(default auto)" in text
