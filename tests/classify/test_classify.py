"""Gesture (image) classifier: train -> eval on held-out files -> predict -> export, on real sign-digit photos."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from huia.classify import dataset as D
from huia.classify.train import _run_epochs
from huia.cli import main
from huia.errors import HuiaError


def test_keypoint_features_are_position_and_scale_invariant():
    rng = np.random.default_rng(0)
    kps = np.c_[rng.uniform(100, 300, (17, 2)), np.ones(17)].astype(np.float32)
    kps[3, 2] = 0.05  # invisible point
    f = D.keypoint_features(kps)
    moved = kps.copy()
    moved[:, :2] = moved[:, :2] * 2.5 + np.array([40, -70])
    np.testing.assert_allclose(D.keypoint_features(moved), f, atol=1e-5)
    assert f.reshape(17, 3)[3].tolist() == [0, 0, 0]
    vis = f.reshape(17, 3)[f.reshape(17, 3)[:, 2] > 0, :2]
    # bbox-normalized: the longer side spans exactly 1, centred on 0
    span = vis.max(0) - vis.min(0)
    assert span.max() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose((vis.max(0) + vis.min(0)) / 2, 0, atol=1e-6)


def test_select_shots_is_seeded_and_disjoint(digits_small):
    ds = D.load_dataset(digits_small)
    a_train, a_held = D.select_shots(ds, 4, seed=3)
    b_train, _ = D.select_shots(ds, 4, seed=3)
    c_train, _ = D.select_shots(ds, 4, seed=4)
    assert [s.image_path for s in a_train] == [s.image_path for s in b_train]
    assert [s.image_path for s in a_train] != [s.image_path for s in c_train]
    assert len(a_train) == 12 and len(a_held) == 18
    assert not {s.image_path for s in a_train} & {s.image_path for s in a_held}
    with pytest.raises(HuiaError, match="fewer than --shots"):
        D.select_shots(ds, 11, seed=0)


def test_head_training_resumes_exactly():
    """Interrupt after 6 of 12 epochs, resume from the checkpoint: same weights as an uninterrupted run."""
    from huia.classify.models import Head

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 8)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)

    def fresh():
        torch.manual_seed(0)
        h = Head(8, 2, hidden=16, dropout=0.5)
        h.set_standardization(X)
        return h

    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        full = fresh()
        torch.manual_seed(1)
        _run_epochs(full, X, y, epochs=12, lr=1e-2, batch=8, seed=0)
        part = fresh()
        ck = Path(d) / "ck.pt"
        torch.manual_seed(1)
        _run_epochs(part, X, y, epochs=6, lr=1e-2, batch=8, seed=0, ckpt=ck)
        resumed = fresh()
        torch.manual_seed(99)  # a restarted process has another RNG state: the checkpoint restores it
        _run_epochs(resumed, X, y, epochs=12, lr=1e-2, batch=8, seed=0, ckpt=ck)
    for k, v in full.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k


def test_head_training_resumes_exactly_from_an_older_checkpoint(monkeypatch, tmp_path):
    """Checkpoints are written at most every CHECKPOINT_EVERY_S: an interrupt after epoch 8 resumes from the one
    of epoch 6 (written when the clock had moved 2 s) and still ends with the uninterrupted run's weights."""
    import types

    import huia.classify.train as T
    from huia.classify.models import Head

    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 8)).astype(np.float32)
    y = (X[:, 1] > 0).astype(np.int64)
    clock = {"t": 0.0}
    monkeypatch.setattr(T, "time", types.SimpleNamespace(monotonic=lambda: clock["t"], time=__import__("time").time))

    def fresh():
        torch.manual_seed(0)
        h = Head(8, 2, hidden=16, dropout=0.5)
        h.set_standardization(X)
        return h

    def tick(row):  # each epoch "takes" 0.7 s: checkpoints after epochs 3, 6, 9 and the last
        clock["t"] += 0.7
        if row["epoch"] == stop_at:
            raise KeyboardInterrupt

    stop_at = None
    full = fresh()
    torch.manual_seed(1)
    _run_epochs(full, X, y, epochs=12, lr=1e-2, batch=8, seed=0, log=tick)
    ck = tmp_path / "ck.pt"
    stop_at = 8
    part = fresh()
    torch.manual_seed(1)
    with pytest.raises(KeyboardInterrupt):
        _run_epochs(part, X, y, epochs=12, lr=1e-2, batch=8, seed=0, log=tick, ckpt=ck)
    assert torch.load(ck, weights_only=False)["epoch"] == 6
    stop_at = None
    resumed = fresh()
    torch.manual_seed(99)
    _run_epochs(resumed, X, y, epochs=12, lr=1e-2, batch=8, seed=0, log=tick, ckpt=ck)
    for k, v in full.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k


@pytest.fixture(scope="module")
def gesture_run(digits_small, feature_cache, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "gesture"
    rc = main(["classify", "train", "--data", str(digits_small), "--out", str(run), "--shots", "4", "--views", "1",
               "--epochs", "80", "--seed", "1"])
    assert rc == 0
    return run


@pytest.mark.slow
def test_train_writes_a_complete_run(gesture_run):
    cfg = json.loads((gesture_run / "config.json").read_text())
    assert cfg["task"] == "classify" and cfg["labels"] == ["0", "1", "2"]
    assert cfg["bundled_model"] == "handlandmark-full" and cfg["input_size"] == 224
    assert cfg["feature_node"] == "model_1/model/global_average_pooling2d/Mean"
    assert cfg["normalization"]["scale"] == pytest.approx(1 / 255)
    assert len(cfg["trained_on"]) == 12 and all(len(t["sha1"]) == 40 for t in cfg["trained_on"])
    m = json.loads((gesture_run / "metrics.json").read_text())
    assert m["train_samples"] == 12 and m["held_out_samples"] == 18
    for f in ("model.pt", "log.csv", "plots/curves.png", "plots/confusion.png"):
        assert (gesture_run / f).is_file(), f


@pytest.mark.slow
def test_eval_only_counts_held_out_files(gesture_run, digits_small, capsys, tmp_path):
    # a renamed copy of a training image is still a training image
    cfg = json.loads((gesture_run / "config.json").read_text())
    data = tmp_path / "data"
    shutil.copytree(digits_small, data)
    first = cfg["trained_on"][0]
    shutil.copy(first["path"], data / first["label"] / "renamed_copy.jpg")
    assert main(["classify", "eval", str(gesture_run), "--data", str(data), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rep["skipped_trained_on"] == 13 and rep["samples"] == 18
    assert sum(map(sum, rep["confusion"])) == 18
    assert set(rep["per_class"]) == {"0", "1", "2"}
    # digits 0/1/2 are easy for the hand-landmark backbone: 4 shots must already generalize
    assert rep["accuracy"] >= 0.88, rep
    # its 95 % interval is the Wilson interval of the confusion matrix's diagonal out of 18
    from huia.eval.classification import wilson_interval
    right = sum(rep["confusion"][i][i] for i in range(3))
    assert rep["accuracy_ci"] == pytest.approx(wilson_interval(right, 18))
    assert rep["accuracy_ci"][0] < rep["accuracy"] <= rep["accuracy_ci"][1]


@pytest.mark.slow
def test_same_seed_reproduces(gesture_run, digits_small, tmp_path):
    again = tmp_path / "again"
    assert main(["classify", "train", "--data", str(digits_small), "--out", str(again), "--shots", "4", "--views",
                 "1", "--epochs", "80", "--seed", "1"]) == 0
    a = torch.load(gesture_run / "model.pt", weights_only=False)["head"]
    b = torch.load(again / "model.pt", weights_only=False)["head"]
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.slow
def test_predict_json(gesture_run, digits_small, capsys):
    cfg = json.loads((gesture_run / "config.json").read_text())
    trained = {t["path"] for t in cfg["trained_on"]}
    held = [p for p in sorted((digits_small / "2").iterdir()) if str(p.resolve()) not in trained][:2]
    assert main(["classify", "predict", str(gesture_run), str(held[0]), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out[0]["file"] == str(held[0]) and out[0]["label"] in ("0", "1", "2")
    assert 0 <= out[0]["score"] <= 1 and len(out[0]["top"]) == 3
    assert main(["classify", "predict", str(gesture_run), str(digits_small / "2"), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 10


def test_bad_inputs_are_one_line_errors(tmp_path, capsys):
    assert main(["classify", "eval", str(tmp_path), "--data", str(tmp_path)]) == 2
    assert "not a classifier run" in capsys.readouterr().err
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / "a.jpg").write_bytes(b"")
    assert main(["classify", "train", "--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "r")]) == 2
    assert "huia: error:" in capsys.readouterr().err


def test_prepare_image_is_tf_half_pixel_bilinear_without_antialias():
    """The training input is the browser's (features.js: tf.image.resizeBilinear(sq, [n, n], false, true)), here
    checked against huia's implementation of TF's sampling rule (huia.tfjs.ops.image, itself compared with TF.js)
    on a webcam-shaped frame (640x480: shrink) and a small photo (100x100: enlarge). An antialiased resize (PIL)
    differs by tens of levels on the fine pattern; the browser-side check is tests/browser/test_parity.py."""
    import torch

    from huia.classify.dataset import center_square, prepare_image
    from huia.tfjs.ops.image import resize_bilinear

    rng = np.random.default_rng(0)
    for h, w in ((480, 640), (100, 100), (301, 200)):
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        img[::2] = 255 - img[::2]  # fine detail: where antialiasing and plain bilinear part ways
        sq = torch.from_numpy(center_square(img).astype(np.float32))[None]
        want = resize_bilinear(sq, 224, 224, align_corners=False, half_pixel=True)[0].numpy()
        got = prepare_image(img, 224)
        assert got.dtype == np.float32 and got.shape == (224, 224, 3)
        assert np.abs(got - want).max() < 0.01, (h, w, np.abs(got - want).max())
