"""Exports load in real TF.js (Node) and give Python's predictions; the layers head trains further in TF.js."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from huia.classify.export import export_run
from huia.classify.predict import collect_images, load_run, predict_proba, run_inputs
from huia.cli import main
from huia.tfjs.artifacts import load_artifacts, save_artifacts
from tests.oracles.tfjs_node import run_tfjs, train_layers_tfjs


@pytest.fixture(scope="module")
def run_and_images(digits_small, feature_cache, tmp_path_factory):
    run = tmp_path_factory.mktemp("exp") / "gesture"
    assert main(["classify", "train", "--data", str(digits_small), "--out", str(run), "--shots", "4", "--views", "1",
                 "--epochs", "60", "--seed", "1"]) == 0
    r = load_run(run)
    trained = {t["path"] for t in r.config["trained_on"]}
    samples = [s for s in collect_images(digits_small) if str(s.image_path.resolve()) not in trained][::6][:3]
    return run, r, samples


@pytest.mark.slow
def test_graph_export_whole_pipeline_matches_tfjs(run_and_images, node_modules, tmp_path):
    run, r, samples = run_and_images
    x = run_inputs(r, samples)  # RGB 0..255, 224x224, as the browser feeds it
    with torch.no_grad():
        want = r.model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(predict_proba(r, samples), want, atol=1e-5)
    sizes = {}
    for q, tol in (("float32", 1e-4), ("uint16", 5e-3)):
        path = export_run(run, tmp_path / q, quantize=None if q == "float32" else q, fmt="graph")
        got = run_tfjs(path, {"image": x}, ["probabilities"])["probabilities"]
        np.testing.assert_allclose(got, want, atol=tol, err_msg=q)
        assert (got.argmax(1) == want.argmax(1)).all()
        sizes[q] = sum(p.stat().st_size for p in path.parent.iterdir())
        meta = load_artifacts(path).user_defined_metadata
        assert meta["labels"] == ["0", "1", "2"] and meta["input_size"] == 224
        assert meta["normalization"]["scale"] == pytest.approx(1 / 255)
        assert meta["backbone"]["bundled_model"] == "handlandmark-full"
        assert meta["backbone"]["landmarks"]["count"] == 21
    assert sizes["uint16"] < 0.6 * sizes["float32"]


@pytest.mark.slow
def test_layers_head_export_matches_and_trains_in_tfjs(run_and_images, node_modules, tmp_path):
    run, r, samples = run_and_images
    x = run_inputs(r, samples)
    with torch.no_grad():
        feats = r.model.features(torch.from_numpy(x)).numpy()
        want = r.model(torch.from_numpy(x)).numpy()
    path = export_run(run, tmp_path / "layers", fmt="layers")
    meta = json.loads(path.read_text())["userDefinedMetadata"]
    assert meta["input"] == "features" and meta["backbone"]["feature_node"].endswith("global_average_pooling2d/Mean")
    got = run_tfjs(path, feats, kind="layers")
    np.testing.assert_allclose(next(iter(got.values())), want, atol=1e-4)
    # keep training in TF.js on the same features with a new label assignment: loss must go down
    y = np.eye(3, dtype=np.float32)[[2, 0, 1]]
    res = train_layers_tfjs(path, feats, y, epochs=15, lr=1e-3, batch_size=3)
    assert res["losses"][-1] < res["losses"][0]


@pytest.mark.slow
def test_export_cli_reads_run_config(run_and_images, tmp_path, capsys):
    run, _, _ = run_and_images
    rc = main(["export", str(run), "--out", str(tmp_path / "cli"), "--quantize", "uint16"])
    assert rc == 0, capsys.readouterr().err
    assert (tmp_path / "cli" / "model.json").is_file()


@pytest.mark.slow
def test_finetuned_backbone_exports_its_new_weights(digits_small, feature_cache, tmp_path, node_modules):
    """Phase 2 (all layers trainable) changes the backbone; the graph export must carry those weights."""
    run = tmp_path / "ft"
    assert main(["classify", "train", "--data", str(digits_small), "--out", str(run), "--shots", "2", "--views", "0",
                 "--epochs", "20", "--finetune-epochs", "1", "--seed", "0"]) == 0
    r = load_run(run)
    state = torch.load(run / "model.pt", weights_only=False)
    assert "backbone" in state
    from huia.classify.models import Backbone

    fresh = Backbone(r.model.backbone.spec, use_landmarks=True)
    samples = collect_images(digits_small / "1")[-2:]
    x = run_inputs(r, samples)
    with torch.no_grad():
        tuned, orig = r.model.backbone(torch.from_numpy(x)), fresh(torch.from_numpy(x))
        want = r.model(torch.from_numpy(x)).numpy()
    assert not torch.allclose(tuned, orig)  # fine-tuning moved the features
    path = export_run(run, tmp_path / "export")
    got = run_tfjs(path, {"image": x}, ["probabilities"])["probabilities"]
    np.testing.assert_allclose(got, want, atol=1e-4)


@pytest.mark.slow
def test_uint8_export_is_mixed_precision_and_keeps_held_out_predictions(run_and_images, node_modules, tmp_path):
    """--quantize uint8 stores most weights as uint8 but keeps the tensors whose rounding moves the calibration
    outputs as uint16. Judged in real TF.js on photos neither training nor calibration saw; the same graph with
    every weight uint8 (the TF.js converter's --quantize_uint8) is far off on the same photos."""
    from huia.tfjs.graph import GraphModel

    run, r, samples = run_and_images
    x = run_inputs(r, samples)
    with torch.no_grad():
        want = r.model(torch.from_numpy(x)).numpy()
    path = export_run(run, tmp_path / "u8", quantize="uint8")
    doc = json.loads(path.read_text())
    stored = [(w.get("quantization") or {}).get("dtype", w["dtype"]) for w in doc["weightsManifest"][0]["weights"]]
    assert stored.count("uint8") > 5 * stored.count("uint16") > 0
    report = doc["userDefinedMetadata"]["huia"]["mixed_precision"]
    assert report["method"] == "calibrated" and report["deviation"] <= report["tolerance"]
    got = run_tfjs(path, {"image": x}, ["probabilities"])["probabilities"]
    assert (got.argmax(1) == want.argmax(1)).all()
    mixed_err = float(np.abs(got - want).max())
    assert mixed_err < 0.05
    f32 = export_run(run, tmp_path / "f32")
    art = load_artifacts(f32)  # the same candidate tensors, all uint8: the policy removed
    art.quantization = {w["name"]: {"dtype": "uint8"} for w in doc["weightsManifest"][0]["weights"]
                        if "quantization" in w}
    pure = save_artifacts(art, tmp_path / "pure")
    pure_err = float(np.abs(GraphModel(load_artifacts(pure))({"image": x}, outputs=["probabilities"])
                            ["probabilities"] - want).max())
    assert pure_err > 3 * mixed_err, (pure_err, mixed_err)
    size = lambda p: sum(f.stat().st_size for f in p.parent.iterdir())  # noqa: E731
    assert size(path) < 0.33 * size(f32)
