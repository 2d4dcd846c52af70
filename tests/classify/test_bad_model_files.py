"""Damaged or foreign run/model files give one `huia: error: FILE: ...` line (exit 2), never a traceback
(code review finding 6): `classify predict` on a bad model.pt, `classify train` resuming from a bad checkpoint.pt,
`detect predict` on a model.json whose huia metadata lacks what the detector needs."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict

import pytest
import torch

from huia.cli import main


def _one_error_line(capsys, *must_contain: str) -> str:
    err = capsys.readouterr().err.strip()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("huia: error: "), err
    for s in must_contain:
        assert s in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def classify_run(tmp_path):
    """A run folder as `classify predict` finds it, before model.pt is put in."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"task": "classify", "classifier": "keypoints", "labels": ["a", "b"]}))
    return run


def _keypoint_state(**change):
    from huia.classify.models import ModelConfig, create_model

    cfg = ModelConfig(arch="keypoints", num_classes=2, hidden=8, feature_dim=51)
    state = {"config": asdict(cfg), "labels": ["a", "b"], "head": create_model(cfg).head.state_dict()}
    state.update(change)
    return {k: v for k, v in state.items() if v is not None}


class _Payload:
    """What a hostile model.pt can make pickle do: call any function (here: create a file)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("case, expect", [
    ("empty", "cannot read model.pt"),
    ("junk", "cannot read model.pt"),
    ("code", "cannot read model.pt"),
    ("tensor", "not a huia classifier file (it holds a Tensor"),
    ("no-config", "not a huia classifier file (missing config)"),
    ("no-labels-head", "missing labels, head"),
    ("foreign-config", "does not match its own config (TypeError"),
    ("wrong-head", "does not match its own config (RuntimeError"),
])
def test_classify_predict_on_a_bad_model_pt(classify_run, tmp_path, capsys, case, expect):
    pt = classify_run / "model.pt"
    if case == "empty":
        pt.write_bytes(b"")
    elif case == "junk":
        pt.write_bytes(b"this is not a torch file\n" * 3)
    elif case == "code":  # unpickling would construct (run) an arbitrary class: refused, not executed
        torch.save(_keypoint_state(labels=_Payload(tmp_path / "PWNED")), pt)
    elif case == "tensor":
        torch.save(torch.zeros(3), pt)
    elif case == "no-config":
        torch.save(_keypoint_state(config=None), pt)
    elif case == "no-labels-head":
        torch.save(_keypoint_state(labels=None, head=None), pt)
    elif case == "foreign-config":
        torch.save(_keypoint_state(config={"arch": "keypoints", "classes": 2}), pt)
    elif case == "wrong-head":
        torch.save(_keypoint_state(head={"fc.weight": torch.zeros(2, 2)}), pt)
    img = tmp_path / "x.jpg"
    img.write_bytes(b"")
    assert main(["classify", "predict", str(classify_run), str(img)]) == 2
    _one_error_line(capsys, str(pt), expect)
    assert not (tmp_path / "PWNED").exists()


@pytest.fixture(scope="module")
def trained_args(digits_small, feature_cache, tmp_path_factory):
    """A finished quick real run and the command that made it (re-running it resumes or reports 'already trained')."""
    run = tmp_path_factory.mktemp("resume") / "run"
    args = ["classify", "train", "--data", str(digits_small), "--out", str(run), "--shots", "2", "--views", "0",
            "--epochs", "3", "--seed", "0"]
    assert main(args) == 0
    return run, args


@pytest.mark.parametrize("case, expect", [
    ("empty", "cannot read checkpoint"),
    ("foreign", "not a huia classifier checkpoint (missing head, opt, gen"),
])
def test_classify_train_resuming_from_a_bad_checkpoint(trained_args, tmp_path, capsys, case, expect):
    """An interrupted run (no model.pt yet) whose checkpoint.pt is empty (disk full, killed mid-copy) or another
    program's: the re-run says which file and that it can be deleted; the run's config.json is untouched."""
    done, args = trained_args
    run = tmp_path / "run"
    shutil.copytree(done, run)
    (run / "model.pt").unlink()
    (run / "metrics.json").unlink()
    ckpt = run / "checkpoint.pt"
    if case == "empty":
        ckpt.write_bytes(b"")
    else:
        torch.save({"phase": "head", "epoch": 2}, ckpt)
    config = (run / "config.json").read_bytes()
    capsys.readouterr()
    assert main([a if a != str(done) else str(run) for a in args]) == 2
    _one_error_line(capsys, str(ckpt), expect)
    assert ckpt.is_file() and (run / "config.json").read_bytes() == config


def _detector_dir(tmp_path, huia_meta):
    d = tmp_path / "det"
    d.mkdir()
    (d / "model.json").write_text(json.dumps({"format": "graph-model", "modelTopology": {"node": []},
                                              "weightsManifest": [], "userDefinedMetadata": {"huia": huia_meta}}))
    return d


@pytest.mark.parametrize("meta, expect", [
    ({"task": "detect", "labels": ["kangaroo"]}, "has no input_size"),
    ({"task": "detect", "input_size": [320, 320]}, "has no labels"),
    ({"task": "detect"}, "has no input_size and no labels"),
    ({"task": "detect", "labels": ["k"], "input_size": "big"}, "are not numbers"),
    ({"task": "detect", "labels": "k", "input_size": [320, 320]}, "labels must be a non-empty list"),
])
def test_detect_predict_on_a_model_json_without_its_metadata(tmp_path, capsys, meta, expect):
    from PIL import Image

    d = _detector_dir(tmp_path, meta)
    img = tmp_path / "a.png"
    Image.new("RGB", (8, 8)).save(img)
    assert main(["detect", "predict", str(d), str(img)]) == 2
    _one_error_line(capsys, str(d / "model.json"), expect)
