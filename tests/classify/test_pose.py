"""Pose classifiers (the Huia article's task) on a labelled data set built from pose_1.mp4: (a) skeleton images ->
pretrained MobileNetV1, (b) normalized keypoints -> MLP; both scored on frames held out in time, both exported."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from huia.classify.export import export_run
from huia.classify.predict import collect_images, load_run, run_inputs
from huia.classify.train import train_run
from huia.cli import main
from tests.oracles.tfjs_node import run_tfjs


def test_pose_dataset_is_capture_format_split_in_time(pose_dataset):
    from huia.data.folders import read_class_folders

    train, problems = read_class_folders(pose_dataset / "train")
    test, _ = read_class_folders(pose_dataset / "test")
    assert not problems
    assert {s.label for s in train} == {s.label for s in test} == {"arms_down", "hands_chest", "arms_up"}
    assert all(s.keypoints is not None and s.keypoints.shape == (17, 3) for s in train + test)
    frame = lambda s: int(s.image_path.stem[5:9])  # noqa: E731
    for label in ("arms_down", "hands_chest", "arms_up"):
        tr = [frame(s) for s in train if s.label == label]
        te = [frame(s) for s in test if s.label == label]
        assert max(tr) + 3 < min(te)  # no neighbouring frames across the split
    up = next(s for s in train if s.label == "arms_up" and not s.image_path.stem.endswith("m"))
    names = up.keypoint_names
    k = dict(zip(names, up.keypoints[:, 1]))
    assert k["left_wrist"] < k["left_shoulder"] and k["right_wrist"] < k["right_shoulder"]  # image y grows down
    mirrored = next(s for s in train if s.image_path.stem == up.image_path.stem + "m")
    w = mirrored.width
    left = names.index("left_wrist")
    right = names.index("right_wrist")
    assert mirrored.keypoints[left, 0] == pytest.approx(w - up.keypoints[right, 0], abs=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("task,min_acc", [("keypoints", 0.95), ("skeleton", 0.85)])
def test_pose_classifier_on_held_out_frames(task, min_acc, pose_dataset, feature_cache, tmp_path, capsys,
                                            node_modules):
    run = tmp_path / task
    m = train_run(pose_dataset / "train", run, task=task, views=2, epochs=150, seed=0, quiet=True)
    assert m["held_out_samples"] == 0 and m["train_samples"] > 100
    assert main(["classify", "eval", str(run), "--data", str(pose_dataset / "test"), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rep["samples"] >= 60 and rep["skipped_trained_on"] == 0
    assert rep["accuracy"] >= min_acc, rep
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["keypoint_features"]["names"][0] == "nose"

    # export: the browser gets the same probabilities
    r = load_run(run)
    samples = collect_images(pose_dataset / "test" / "arms_up")[:3]
    x = run_inputs(r, samples)
    with torch.no_grad():
        want = r.model(torch.from_numpy(x)).numpy()
    path = export_run(run, tmp_path / "export")
    meta = json.loads(path.read_text())["userDefinedMetadata"]
    feed = {"features": x} if task == "keypoints" else {"image": x}
    got = run_tfjs(path, feed, ["probabilities"])["probabilities"]
    np.testing.assert_allclose(got, want, atol=1e-4)
    if task == "skeleton":
        assert meta["backbone"]["bundled_model"] == "posenet" and meta["skeleton"]["size"] == 224
    else:
        assert meta["keypoints"]["kind"] == "bbox-normalized" and meta["input"] == "features"

    # `classify eval --export`: the uint16 export's held-out accuracy is what TF.js in Node gets on those samples
    from huia.classify.dataset import load_dataset

    q16 = export_run(run, tmp_path / "export16", quantize="uint16")
    assert main(["classify", "eval", str(run), "--data", str(pose_dataset / "test"), "--export", str(q16.parent),
                 "--json"]) == 0
    rep16 = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    ds = load_dataset(pose_dataset / "test", labels=r.labels, quiet=True)
    xs = run_inputs(r, ds.samples)
    probs = run_tfjs(q16, {"features": xs} if task == "keypoints" else {"image": xs}, ["probabilities"])
    oracle = float((probs["probabilities"].argmax(1) == ds.targets(ds.samples)).mean())
    assert rep16["samples"] == len(ds.samples) and rep16["accuracy"] == pytest.approx(oracle, abs=1e-12)
    assert rep16["export"]["quantization"] == "uint16" and rep16["export"]["run_accuracy"] == rep["accuracy"]
    assert 0.9 <= rep16["export"]["agreement_with_run"] <= 1.0
    # the export carries the run's held-out evaluation (RUN/eval.json of the last `classify eval`)
    ev = json.loads(q16.read_text())["userDefinedMetadata"]["evaluation"]
    assert ev["held_out"] == rep["samples"] and ev["accuracy"] == rep["accuracy"]
    assert ev["correct"] == round(rep["accuracy"] * rep["samples"])
    # another run's export is refused in one line naming it: other labels, or the same labels but other weights
    other = tmp_path / "other"
    export_run(run, other)
    doc = json.loads((other / "model.json").read_text())
    doc["userDefinedMetadata"]["labels"] = ["a", "b", "c"]
    (other / "model.json").write_text(json.dumps(doc))
    assert main(["classify", "eval", str(run), "--data", str(pose_dataset / "test"), "--export", str(other)]) == 2
    assert "exported from another run" in capsys.readouterr().err
    if task == "keypoints":  # (seconds to train)
        run2 = tmp_path / "seed1"
        train_run(pose_dataset / "train", run2, task=task, views=2, epochs=150, seed=1, quiet=True)
        export_run(run2, tmp_path / "seed1-export")
        assert main(["classify", "eval", str(run), "--data", str(pose_dataset / "test"), "--export",
                     str(tmp_path / "seed1-export")]) == 2
        assert "its weights are not this run's model.pt" in capsys.readouterr().err


@pytest.mark.slow
def test_predict_runs_the_pose_estimator_when_no_keypoints_json(pose_dataset, feature_cache, tmp_path, capsys):
    """A plain photo (no capture JSON) goes through MoveNet first, as in the live studio."""
    import shutil

    run = tmp_path / "kp"
    train_run(pose_dataset / "train", run, task="keypoints", views=2, epochs=150, seed=0, quiet=True)
    photo = tmp_path / "photo.jpg"
    shutil.copy(sorted((pose_dataset / "test" / "arms_up").glob("*.jpg"))[0], photo)
    assert main(["classify", "predict", str(run), str(photo), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out[0]["label"] == "arms_up", out
