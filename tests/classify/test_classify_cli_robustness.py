"""`huia classify predict|eval` on awkward input (CLI audit findings 4, 7, 11, 13, 14): --top in text mode, a batch
with unreadable images, sub-folders, a run of another kind."""

from __future__ import annotations

import json
import shutil

import pytest

from huia.cli import main


@pytest.fixture(scope="module")
def tiny_run(digits_small, feature_cache, tmp_path_factory):
    """A quick real run: 2 shots per class, no augmented views, a few epochs (the predictions only need to exist)."""
    run = tmp_path_factory.mktemp("runs") / "tiny"
    assert main(["classify", "train", "--data", str(digits_small), "--out", str(run), "--shots", "2", "--views",
                 "0", "--epochs", "5", "--seed", "0"]) == 0
    return run


def test_top_n_lists_n_classes_in_text_mode(tiny_run, digits_small, capsys):
    img = sorted((digits_small / "1").iterdir())[-1]
    capsys.readouterr()
    assert main(["classify", "predict", str(tiny_run), str(img), "--top", "2"]) == 0
    text = capsys.readouterr().out.strip().splitlines()
    assert main(["classify", "predict", str(tiny_run), str(img), "--top", "2", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    top = doc[0]["top"]
    assert len(text) == 1 and len(top) == 2
    assert text[0] == f"{img}: " + ", ".join(f"{t['label']} ({t['score']:.3f})" for t in top)
    assert top[0]["score"] >= top[1]["score"]
    assert main(["classify", "predict", str(tiny_run), str(img)]) == 0  # default 3: every class of this run
    assert capsys.readouterr().out.count("(") == 3


@pytest.mark.parametrize("top", ["0", "-1"])
def test_top_below_one_is_a_usage_error(tiny_run, digits_small, capsys, top):
    with pytest.raises(SystemExit) as exc:
        main(["classify", "predict", str(tiny_run), str(digits_small / "0"), "--top", top])
    assert exc.value.code == 2 and "argument --top" in capsys.readouterr().err


def test_a_folder_with_unreadable_images_and_sub_folders(tiny_run, digits_small, tmp_path, capsys):
    """Bad files are skipped with one warning line each, the others predicted, exit 1; keys are relative paths;
    a sub-folder's same-named image is its own entry; hidden folders (.quarantine) are left out."""
    folder = tmp_path / "batch"
    (folder / "sub").mkdir(parents=True)
    (folder / ".quarantine").mkdir()
    shutil.copy(sorted((digits_small / "0").iterdir())[-1], folder / "a.jpg")
    shutil.copy(sorted((digits_small / "2").iterdir())[-1], folder / "sub" / "a.jpg")
    shutil.copy(sorted((digits_small / "2").iterdir())[-2], folder / ".quarantine" / "q.jpg")
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "junk.jpg").write_bytes(b"not a jpeg at all")
    capsys.readouterr()
    assert main(["classify", "predict", str(tiny_run), str(folder), "--json"]) == 1
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert [r["file"] for r in doc] == ["a.jpg", "sub/a.jpg"]
    warn = [ln for ln in err.splitlines() if ln.startswith("huia: warning:")]
    assert len(warn) == 2 and str(folder / "empty.jpg") in warn[0] and str(folder / "junk.jpg") in warn[1], err
    assert "Traceback" not in err
    # the same predictions as when the folder holds only the good files
    for bad in ("empty.jpg", "junk.jpg"):
        (folder / bad).unlink()
    assert main(["classify", "predict", str(tiny_run), str(folder), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == doc


def test_help_states_the_exit_codes_and_the_folder_rule(capsys):
    with pytest.raises(SystemExit):
        main(["classify", "predict", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "sub-folders" in out and "exit code is then 1" in out and "relative to DIR" in out


def test_a_detect_run_is_named_as_such(tmp_path, digits_small, capsys):
    """A finished detect run has config.json (task detect) and model/, no model.pt: say what it is."""
    run = tmp_path / "kang"
    (run / "model").mkdir(parents=True)
    (run / "model" / "model.json").write_text("{}")
    (run / "config.json").write_text(json.dumps({"task": "detect", "class_names": ["kangaroo"]}))
    for argv in (["classify", "predict", str(run), str(digits_small / "0")],
                 ["classify", "eval", str(run), "--data", str(digits_small)]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"huia: error: {run}: this is a detect run; use huia detect eval/predict"], err
