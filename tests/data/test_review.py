"""`huia data review` on planted problems: blanks, duplicates, near duplicates, swapped labels, pose-less captures."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from huia.cli import main
from huia.data.review import QUARANTINE, blank_score, dhash, knn_disagreement, quarantine, review_dataset, write_report


def test_measures_by_hand():
    flat = np.full((50, 80, 3), 128, np.uint8)
    assert blank_score(flat) == 0.0
    ramp = np.tile(np.linspace(0, 255, 80, dtype=np.uint8)[None, :, None], (50, 1, 3))
    assert blank_score(ramp) > 50
    h = dhash(ramp, bits=8)
    assert h.shape == (64,) and h.all()  # brightness rises left to right everywhere
    assert not dhash(ramp[:, ::-1], bits=8).any()
    feats = np.array([[0, 1], [0, 1.1], [0, 0.9], [1, 0], [1.1, 0], [0.05, 1]], np.float32)
    labels = ["a", "a", "a", "b", "b", "b"]  # the last one sits among the a's
    res = knn_disagreement(feats, labels, k=3)
    assert res[5][1] == "a" and res[5][0] == 1.0
    assert res[0][0] < 0.5


@pytest.fixture(scope="module")
def planted(shared_data, tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("review")
    src = shared_data / "sign-digits"
    for c in ("0", "1", "2"):
        (root / c).mkdir()
        for f in sorted(p for p in (src / c).iterdir() if p.suffix.lower() == ".jpg")[:12]:
            shutil.copy(f, root / c / f.name)
    plant = {}
    Image.fromarray(np.full((100, 100, 3), 200, np.uint8)).save(root / "0" / "blank.jpg")
    noise = np.random.default_rng(0).integers(0, 4, (100, 100, 3))
    Image.fromarray((np.full((100, 100, 3), 30) + noise).astype(np.uint8)).save(root / "1" / "nearblank.jpg")
    plant["blank"] = {root / "0" / "blank.jpg", root / "1" / "nearblank.jpg"}
    one = sorted((root / "1").glob("IMG_*"))[3]
    shutil.copy(one, root / "1" / "copy_of_one.jpg")
    two = sorted((root / "2").glob("IMG_*"))[5]
    Image.open(two).resize((96, 96)).save(root / "2" / "resaved.jpg", quality=70)
    plant["dups"] = {root / "1" / "copy_of_one.jpg", root / "2" / "resaved.jpg"}
    a = sorted((root / "0").glob("IMG_*"))[7]
    b = sorted((root / "2").glob("IMG_*"))[8]
    shutil.move(a, root / "2" / f"swapped_{a.name}")
    shutil.move(b, root / "0" / f"swapped_{b.name}")
    plant["swapped"] = {root / "2" / f"swapped_{a.name}", root / "0" / f"swapped_{b.name}"}
    return root, plant


@pytest.mark.slow
def test_review_finds_planted_problems(planted, tmp_path):
    root, plant = planted
    res = review_dataset(root)
    kinds = res.by_kind()
    assert {f.path for f in kinds["blank"]} == plant["blank"]
    dup_flagged = {f.path for f in kinds.get("duplicate", []) + kinds.get("near_duplicate", [])}
    assert dup_flagged == plant["dups"], dup_flagged
    assert {f.path for f in kinds["duplicate"]} == {root / "1" / "copy_of_one.jpg"}
    mis = {f.path for f in kinds["mislabeled"]}
    assert plant["swapped"] <= mis, kinds["mislabeled"]
    assert len(mis - plant["swapped"]) <= 2, mis  # few false alarms among 36 clean photos
    report = write_report(res, tmp_path / "report.html")
    text = report.read_text()
    assert text.count("data:image/jpeg;base64,") >= len(res.flags)
    for k in ("blank", "duplicate", "near_duplicate", "mislabeled"):
        assert f"id='{k}'" in text


def test_quarantine_moves_never_deletes(planted, tmp_path, capsys):
    root, plant = planted
    work = tmp_path / "data"
    shutil.copytree(root, work)
    before = sorted(p.name for p in work.rglob("*") if p.is_file())
    rc = main(["data", "review", str(work), "--features", "pixels", "--quarantine", "--json",
               "--report", str(tmp_path / "r.html")])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    after = sorted(p.name for p in work.rglob("*") if p.is_file() and p.name != "manifest.jsonl")
    assert before == after  # same files, some moved
    moved = {Path(a).name for a, _ in doc["quarantined"]}
    flagged = {k: {f["path"] for f in doc["flags"] if f["kind"] == k} for k in ("near_duplicate",)}
    assert flagged["near_duplicate"], "the planted near duplicates must be flagged for this test to mean anything"
    # a bare --quarantine leaves near duplicates (valid samples of a capture timer); it moves the rest
    assert {p.name for p in plant["blank"]} <= moved
    assert not {Path(p).name for p in flagged["near_duplicate"]} & moved
    assert all(Path(p).is_file() for p in flagged["near_duplicate"])
    for _, dst in doc["quarantined"]:
        assert Path(dst).is_file() and QUARANTINE in Path(dst).parts
    assert (work / QUARANTINE / "manifest.jsonl").is_file()
    # the quarantine folder is invisible to training readers; a re-review finds no blanks or duplicates
    again = review_dataset(work, features="none")
    assert not again.by_kind().get("blank") and not again.by_kind().get("duplicate")


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and QUARANTINE not in p.parts}


def test_quarantine_kinds_and_restore_round_trip(planted, tmp_path, capsys):
    """--quarantine all moves near duplicates too, --quarantine blank only blanks; --restore puts every file back
    byte for byte. A file whose place was taken again meanwhile stays in the quarantine, reported, not overwritten."""
    root, plant = planted
    work = tmp_path / "data"
    shutil.copytree(root, work)
    before = _tree(work)
    assert main(["data", "review", str(work), "--features", "none", "--quarantine", "blank", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {Path(a) for a, _ in doc["quarantined"]} == {work / p.relative_to(root) for p in plant["blank"]}
    assert main(["data", "review", str(work), "--features", "none", "--quarantine", "all", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    kinds = {f["kind"] for f in doc["flags"]}
    assert "near_duplicate" in kinds and len(doc["quarantined"]) == len({f["path"] for f in doc["flags"]})
    assert _tree(work) != before
    # one quarantined file's old place gets a new file: it must survive, and the quarantined one must stay
    taken_from, taken_q = Path(doc["quarantined"][0][0]), Path(doc["quarantined"][0][1])
    taken_from.write_bytes(b"new capture")
    assert main(["data", "review", str(work), "--restore"]) == 1
    err = capsys.readouterr().err
    assert f"{taken_from}: exists again" in err and err.count("huia: problem:") == 1
    assert taken_from.read_bytes() == b"new capture" and taken_q.is_file()
    taken_from.unlink()
    assert main(["data", "review", str(work), "--restore"]) == 0
    assert _tree(work) == before
    assert (work / QUARANTINE / "manifest.jsonl").read_text() == ""
    assert main(["data", "review", str(work), "--restore"]) == 0  # nothing left: a no-op


def test_restore_refuses_records_that_leave_the_data_set(tmp_path, capsys):
    (tmp_path / "data" / QUARANTINE).mkdir(parents=True)
    victim = tmp_path / "outside.jpg"
    victim.write_bytes(b"x")
    (tmp_path / "data" / QUARANTINE / "manifest.jsonl").write_text(
        json.dumps({"from": str(tmp_path / "elsewhere.jpg"), "to": str(victim)}) + "\nnot json\n")
    assert main(["data", "review", str(tmp_path / "data"), "--restore"]) == 1
    err = capsys.readouterr().err
    assert "leaves the data set" in err and "not a quarantine record" in err
    assert victim.read_bytes() == b"x" and not (tmp_path / "elsewhere.jpg").exists()
    assert main(["data", "review", str(tmp_path / "nothing"), "--restore"]) == 2
    assert "nothing to restore" in capsys.readouterr().err


def test_quarantine_kind_typo_is_one_line(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    assert main(["data", "review", str(tmp_path), "--quarantine", "blanks"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown flag kind 'blanks'" in err[0]


def test_pose_quality_flags(tmp_path):
    rng = np.random.default_rng(1)
    for label in ("up", "down"):
        (tmp_path / label).mkdir()
        for i in range(3):
            img = rng.integers(0, 255, (60, 80, 3)).astype(np.uint8)
            Image.fromarray(img).save(tmp_path / label / f"{i}.png")
            scores = [0.9] * 17 if i == 0 else ([0.1] * 12 + [0.9] * 5 if i == 1 else None)
            kps = [] if scores is None else [{"name": f"k{j}", "x": 10 + j, "y": 20, "score": s}
                                             for j, s in enumerate(scores)]
            (tmp_path / label / f"{i}.json").write_text(json.dumps({"label": label, "keypoints": kps}))
    res = review_dataset(tmp_path, features="none")
    kinds = res.by_kind()
    assert {(f.path.parent.name, f.path.name) for f in kinds["low_pose"]} == {("up", "1.png"), ("down", "1.png")}
    assert {(f.path.parent.name, f.path.name) for f in kinds["no_pose"]} == {("up", "2.png"), ("down", "2.png")}
    moved = quarantine(res)
    assert len(moved) == 4 and not (tmp_path / "up" / "1.json").exists()
    assert (tmp_path / QUARANTINE / "low_pose" / "up" / "1.json").is_file()


@pytest.mark.slow
def test_pose_estimator_flags_photos_without_a_person(shared_data, tmp_path):
    (tmp_path / "pose").mkdir()
    shutil.copy(shared_data / "pose-video" / "pose.jpg", tmp_path / "pose" / "person.jpg")
    hand = sorted((shared_data / "sign-digits" / "3").glob("*.JPG"))[0]
    shutil.copy(hand, tmp_path / "pose" / "hand_only.jpg")
    res = review_dataset(tmp_path, features="none", pose_model="movenet-lightning")
    flagged = {f.path.name: f.kind for f in res.flags}
    assert "person.jpg" not in flagged
    assert flagged.get("hand_only.jpg") in ("low_pose", "no_pose"), res.flags


def test_restore_works_from_any_folder_and_after_the_data_set_moved(planted, tmp_path, monkeypatch, capsys):
    """The manifest held paths as typed (relative to the shell's folder): --restore from elsewhere moved nothing.
    Records are now relative to the data set; older records are found again from their tails."""
    root, _ = planted
    monkeypatch.chdir(tmp_path)
    shutil.copytree(root, tmp_path / "d1")
    before = _tree(tmp_path / "d1")
    assert main(["data", "review", "d1", "--features", "none", "--quarantine", "all"]) == 0  # a relative DIR
    capsys.readouterr()
    recs = [json.loads(x) for x in (tmp_path / "d1" / QUARANTINE / "manifest.jsonl").read_text().splitlines()]
    assert recs and all(r["to"].startswith(QUARANTINE + "/") and not Path(r["from"]).is_absolute() for r in recs)
    (tmp_path / "d1").rename(tmp_path / "moved")  # the data set moves; restore runs from another folder
    monkeypatch.chdir("/")
    assert main(["data", "review", str(tmp_path / "moved"), "--restore"]) == 0
    assert _tree(tmp_path / "moved") == before
    # an older manifest, written with paths relative to the shell's folder at the time
    monkeypatch.chdir(tmp_path)
    assert main(["data", "review", "moved", "--features", "none", "--quarantine", "blank"]) == 0
    capsys.readouterr()
    man = tmp_path / "moved" / QUARANTINE / "manifest.jsonl"
    old = [json.loads(x) for x in man.read_text().splitlines()]
    man.write_text("".join(json.dumps({**r, "from": f"moved/{r['from']}", "to": f"moved/{r['to']}"}) + "\n"
                           for r in old))
    monkeypatch.chdir("/")
    assert main(["data", "review", str(tmp_path / "moved"), "--restore"]) == 0
    assert _tree(tmp_path / "moved") == before
    assert main(["data", "review", str(tmp_path / "moved"), "--restore", "--quarantine"]) == 2
    assert "opposite ways" in capsys.readouterr().err


def test_report_paths_that_cannot_take_it_are_one_line(tmp_path, capsys):
    (tmp_path / "d" / "a").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "d" / "a" / "x.png")
    (tmp_path / "afile").write_text("x")
    for report, why in ((tmp_path / "afile" / "r.html", "cannot write the report there"),
                        (tmp_path, "is a folder")):
        assert main(["data", "review", str(tmp_path / "d"), "--features", "none", "--report", str(report)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and why in err[0], err
