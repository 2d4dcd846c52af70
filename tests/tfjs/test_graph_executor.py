"""huia's TF.js graph executor (PyTorch) against the oracle: real TF.js in Node (wasm backend).

- every bundled model we claim to run gives every output within 1e-3 of its own scale on a real photo
  (max|diff| <= 1e-3 * max(1, max|TF.js|)), one oracle run per model;
- a synthetic graph exercising the tricky TF semantics (asymmetric SAME padding, dilations, explicit padding,
  legacy / align-corners / half-pixel resizes, StridedSlice masks, negative FloorDiv/FloorMod, TopK ties, GatherNd,
  DepthToSpace, fused PReLU/LeakyReLU, transposed conv ...) matches TF.js op by op;
- intermediate nodes, trainable weights + to_artifacts round trip (re-checked in TF.js), and load/input errors.
"""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
import torch
from PIL import Image

from huia.errors import HuiaError
from huia.tfjs.artifacts import ModelArtifacts, load_artifacts, save_artifacts
from huia.tfjs.graph import GraphModel, load_graph_model, set_input_shapes
from tests.oracles.tfjs_node import run_tfjs

MODELS = ["posenet", "movenet-lightning", "movenet-thunder", "handlandmark-full", "blazepose-detector",
          "blazepose-full", "centernet", "nanodet"]
# image file, value range (None: int32 0..255), layout
INPUTS = {
    "posenet": ("pose.jpg", (-1.0, 1.0)),
    "movenet-lightning": ("pose.jpg", None),
    "movenet-thunder": ("pose.jpg", None),
    "handlandmark-full": ("hands.jpg", (0.0, 1.0)),
    "blazepose-detector": ("pose.jpg", (-1.0, 1.0)),
    "blazepose-full": ("pose.jpg", (0.0, 1.0)),
    "centernet": ("three_people.jpg", (0.0, 255.0)),
    "nanodet": ("three_people.jpg", (0.0, 1.0)),
}


def _models_dir(node_modules):
    return node_modules / "@vladmandic" / "human-models" / "models"


def _image_input(shared_data, name: str, spec) -> np.ndarray:
    fname, rng = INPUTS[name]
    shape, _ = spec
    shape = [1 if d < 0 else d for d in shape]
    chw = name == "nanodet"  # nanodet's converted ONNX graph takes NCHW
    h, w = (shape[2], shape[3]) if chw else (shape[1], shape[2])
    img = np.asarray(Image.open(shared_data / "pose-video" / fname).convert("RGB").resize((w, h), Image.BILINEAR))
    if rng is None:
        return img[None].astype(np.int32)
    x = img.astype(np.float32) / 255.0 * (rng[1] - rng[0]) + rng[0]
    return (x.transpose(2, 0, 1) if chw else x)[None].astype(np.float32)


def _assert_close(ours: dict, ref: dict, what: str):
    """Each output within 1e-3 of its own scale; and, so that a huge output scale (blazepose-detector's raw box
    regressors reach 3e6) cannot hide a local error, each element within 1e-2 of max(1, |its TF.js value|)."""
    assert set(ours) == set(ref), f"{what}: output names {sorted(ours)} != TF.js {sorted(ref)}"
    for k, r in ref.items():
        o = np.asarray(ours[k])
        assert o.shape == r.shape, f"{what}/{k}: shape {o.shape} != TF.js {r.shape}"
        if not r.size:
            continue
        r64 = r.astype(np.float64)
        err = np.abs(o.astype(np.float64) - r64)
        scale = max(1.0, float(np.abs(r64).max()))
        diff = float(err.max())
        assert diff <= 1e-3 * scale, f"{what}/{k}: max|diff| {diff:.3g} > 1e-3 * {scale:.3g}"
        local = float((err / np.maximum(1.0, np.abs(r64))).max())
        assert local <= 1e-2, f"{what}/{k}: an element differs by {local:.3g} of its own magnitude"


@pytest.fixture(scope="module")
def runs(node_modules, shared_data):
    """name -> (path, model, input, huia outputs, TF.js outputs), computed once per model (one oracle run each)."""
    cache = {}

    def get(name):
        if name not in cache:
            path = _models_dir(node_modules) / f"{name}.json"
            model = load_graph_model(path)
            (_, spec), = model.input_specs.items()
            x = _image_input(shared_data, name, spec)
            cache[name] = (path, model, x, model(x), run_tfjs(path, x))
        return cache[name]
    return get


@pytest.mark.parametrize("name", MODELS)
def test_bundled_model_matches_tfjs(runs, name):
    _, model, _, ours, ref = runs(name)
    assert list(ours) == model.output_names
    _assert_close(ours, ref, name)


@pytest.mark.parametrize("name", ["movenet-lightning", "movenet-thunder"])
def test_movenet_finds_the_person(runs, name):
    """The ArgMax-driven decode only means something on a real image: keypoints must be confident."""
    kps = runs(name)[3]["Identity"][0, 0]
    assert (kps[:, 2] > 0.3).sum() >= 10, kps


def test_intermediate_nodes_match_tfjs(node_modules, shared_data):
    """Feature extraction: handlandmark's global-average-pool node, next to a regular output."""
    path = _models_dir(node_modules) / "handlandmark-full.json"
    model = load_graph_model(path)
    x = _image_input(shared_data, "handlandmark-full", model.input_specs["input_1"])
    names = ["model_1/model/global_average_pooling2d/Mean", "Identity_1"]
    ours = model({"input_1": x}, outputs=names)
    assert list(ours) == names and ours[names[0]].shape == (1, 1152)
    _assert_close(ours, run_tfjs(path, {"input_1": x}, outputs=names), "handlandmark features")


def test_signature_keys_and_node_names(runs):
    _, model, x, ours, _ = runs("blazepose-full")
    got = model(x, outputs=["output_poseflag", "Identity_3"])  # signature key and node name: the same tensor
    np.testing.assert_array_equal(got["output_poseflag"], got["Identity_3"])
    np.testing.assert_array_equal(got["output_poseflag"], ours["output_poseflag"])


def test_multi_output_node(runs):
    path, model, x, _, _ = runs("centernet")
    # the oracle cannot fetch "node:1" itself, so TopKV2's indices are checked through the integer ops reading them
    names = ["tower_0/TopKV2", "tower_0/mod", "tower_0/floordiv"]
    got = model(x, outputs=names + ["tower_0/TopKV2:1"])
    idx = got["tower_0/TopKV2:1"]
    assert idx.dtype == np.int32 and idx.shape == (1, 100)
    ref = run_tfjs(path, x, outputs=names)
    np.testing.assert_array_equal(got["tower_0/mod"], ref["tower_0/mod"])
    np.testing.assert_array_equal(got["tower_0/floordiv"], ref["tower_0/floordiv"])
    _assert_close({k: got[k] for k in names}, ref, "centernet topk")


def test_edited_artifacts_atrous_posenet(node_modules, out_dir):
    """GraphModel(artifacts) on a caller-edited graph: PoseNet at 257x257 with output stride 8 (later stride-2
    layers turned to stride 1, depthwise convs dilated), as TF.js runs the same edited model."""
    art = set_input_shapes(load_artifacts(_models_dir(node_modules) / "posenet.json"), {"image": [1, 257, 257, 3]})
    rate, stride = 1, 1
    for node in art.model_topology["node"]:
        if node["op"] in ("_FusedConv2D", "FusedDepthwiseConv2dNative"):
            s = int(node["attr"]["strides"]["list"]["i"][1])
            if stride >= 8 and s > 1:
                rate *= s
                node["attr"]["strides"]["list"]["i"] = ["1", "1", "1", "1"]
            else:
                stride *= s
            if rate > 1 and node["op"] == "FusedDepthwiseConv2dNative":
                node["attr"]["dilations"]["list"]["i"] = ["1", str(rate), str(rate), "1"]
    model = GraphModel(art)
    assert model.input_specs["image"] == ((1, 257, 257, 3), "float32")
    x = np.random.default_rng(0).uniform(-1, 1, (1, 257, 257, 3)).astype(np.float32)
    ours = model(x)
    assert ours["MobilenetV1/heatmap_2/BiasAdd"].shape == (1, 33, 33, 17)
    _assert_close(ours, run_tfjs(save_artifacts(art, out_dir / "posenet_os8"), x), "posenet os8")
    with pytest.raises(HuiaError, match="no input named"):
        set_input_shapes(art, {"input": [1, 2, 3]})


# ---- a synthetic graph for op semantics ------------------------------------------------------------------------

def _a(v):
    if isinstance(v, bool):
        return {"b": v}
    if isinstance(v, int):
        return {"i": str(v)}
    if isinstance(v, float):
        return {"f": v}
    if isinstance(v, str):
        return {"s": base64.b64encode(v.encode()).decode()}
    if isinstance(v, list):
        if v and isinstance(v[0], str):
            return {"list": {"s": [base64.b64encode(s.encode()).decode() for s in v]}}
        return {"list": {"i": [str(i) for i in v]}} if v else {"list": {}}
    raise TypeError(v)


class _G:
    """Tiny graph builder: produces a TF.js graph-model ModelArtifacts."""

    def __init__(self):
        self.nodes, self.weights, self.rng = [], {}, np.random.default_rng(0)

    def const(self, name, arr):
        arr = np.asarray(arr)
        dt = "DT_INT32" if np.issubdtype(arr.dtype, np.integer) else "DT_FLOAT"
        arr = arr.astype(np.int32 if dt == "DT_INT32" else np.float32)
        self.weights[name] = arr
        self.nodes.append({"name": name, "op": "Const", "attr": {
            "value": {"tensor": {"dtype": dt, "tensorShape": {"dim": [{"size": str(d)} for d in arr.shape]}}},
            "dtype": {"type": dt}}})
        return name

    def rand(self, name, *shape):
        return self.const(name, self.rng.normal(size=shape).astype(np.float32))

    def op(self, name, op, inputs, T="DT_FLOAT", **attrs):
        attr = {k: ({"type": v} if k in ("DstT", "SrcT", "output_type", "Tidx", "out_type") else _a(v))
                for k, v in attrs.items()}
        if T:
            attr["T"] = {"type": T}
        self.nodes.append({"name": name, "op": op, "input": list(inputs), "attr": attr})
        return name

    def artifacts(self, x_shape):
        nodes = [{"name": "x", "op": "Placeholder", "attr": {"dtype": {"type": "DT_FLOAT"}, "shape": {"shape": {
            "dim": [{"size": str(d)} for d in x_shape]}}}}] + self.nodes
        return ModelArtifacts(format="graph-model", model_topology={"node": nodes, "library": {}, "versions": {}},
                              weights=dict(self.weights))


def _op_graph():
    g = _G()
    conv = dict(data_format="NHWC", dilations=[1, 1, 1, 1], explicit_paddings=[])
    w = g.rand("w335", 3, 3, 4, 5)
    b = g.rand("b5", 5)
    outs = [
        g.op("conv_same_s2", "Conv2D", ["x", w], strides=[1, 2, 2, 1], padding="SAME", **conv),
        g.op("conv_dil", "Conv2D", ["x", w], strides=[1, 1, 1, 1], padding="SAME", **{**conv, "dilations": [1, 2, 2, 1]}),
        g.op("conv_explicit", "Conv2D", ["x", w], strides=[1, 1, 2, 1], padding="EXPLICIT",
             **{**conv, "explicit_paddings": [0, 0, 1, 2, 0, 1, 0, 0]}),
        g.op("conv_valid_s2", "Conv2D", ["x", g.rand("w2245", 2, 2, 4, 5)], strides=[1, 2, 2, 1], padding="VALID", **conv),
        g.op("fused_prelu", "_FusedConv2D", ["x", w, b, g.rand("alpha5", 5)], strides=[1, 1, 1, 1], padding="SAME",
             fused_ops=["BiasAdd", "Prelu"], num_args=2, epsilon=0.0, **conv),
        g.op("fused_pw_relu6", "_FusedConv2D", ["x", g.rand("w1145", 1, 1, 4, 5), b], strides=[1, 1, 1, 1],
             padding="SAME", fused_ops=["BiasAdd", "Relu6"], num_args=1, epsilon=0.0, **conv),
        g.op("dw_same_s2", "DepthwiseConv2dNative", ["x", g.rand("dw3342", 3, 3, 4, 2)], strides=[1, 2, 2, 1],
             padding="SAME", **conv),
        # (TF.js drops leakyrelu_alpha on FusedDepthwiseConv2dNative, so LeakyRelu is checked on _FusedConv2D)
        g.op("fused_dw_elu", "FusedDepthwiseConv2dNative", ["x", g.rand("dw3341", 3, 3, 4, 1), g.rand("b4", 4)],
             strides=[1, 1, 1, 1], padding="SAME", fused_ops=["BiasAdd", "Elu"], num_args=1, **conv),
        g.op("fused_leaky", "_FusedConv2D", ["x", w, b], strides=[1, 2, 1, 1], padding="SAME",
             fused_ops=["BiasAdd", "LeakyRelu"], num_args=1, leakyrelu_alpha=0.3, epsilon=0.0, **conv),
        g.op("resize_legacy", "ResizeBilinear", ["x", g.const("s1", [5, 13])], align_corners=False, half_pixel_centers=False),
        g.op("resize_ac", "ResizeBilinear", ["x", g.const("s2", [13, 5])], align_corners=True, half_pixel_centers=False),
        g.op("resize_hp", "ResizeBilinear", ["x", g.const("s3", [14, 4])], align_corners=False, half_pixel_centers=True),
        g.op("resize_nn", "ResizeNearestNeighbor", ["x", g.const("s4", [11, 6])], align_corners=False,
             half_pixel_centers=True),
        g.op("resize_nn_legacy", "ResizeNearestNeighbor", ["x", g.const("s5", [3, 20])], align_corners=False,
             half_pixel_centers=False),
        g.op("maxpool_same", "MaxPool", ["x"], ksize=[1, 3, 3, 1], strides=[1, 2, 2, 1], padding="SAME", data_format="NHWC"),
        g.op("avgpool_same", "AvgPool", ["x"], ksize=[1, 3, 3, 1], strides=[1, 2, 2, 1], padding="SAME", data_format="NHWC"),
        g.op("mean_keep", "Mean", ["x", g.const("ax12", [1, 2])], keep_dims=True),
        g.op("sum_neg", "Sum", ["x", g.const("axm1", [-1])], keep_dims=False),
        g.op("max_red", "Max", ["x", g.const("ax2", [2])], keep_dims=False),
        g.op("ss_masks", "StridedSlice", ["x", g.const("b1", [0, 1, -1, 0]), g.const("e1", [0, 6, 0, 3]),
                                            g.const("st1", [1, 2, -2, 1])], T="DT_FLOAT", Index="DT_INT32",
             begin_mask=1, end_mask=1 | 4, ellipsis_mask=0, new_axis_mask=0, shrink_axis_mask=0),
        g.op("ss_ellipsis", "StridedSlice", ["x", g.const("b2", [0, 1]), g.const("e2", [0, 2]), g.const("st2", [1, 1])],
             begin_mask=0, end_mask=0, ellipsis_mask=1, new_axis_mask=0, shrink_axis_mask=2),
        g.op("ss_newaxis", "StridedSlice", ["x", g.const("b3", [0, 0, 2]), g.const("e3", [1, 0, 5]),
                                              g.const("st3", [1, 1, 1])],
             begin_mask=0, end_mask=0, ellipsis_mask=0, new_axis_mask=2, shrink_axis_mask=1),
        g.op("d2s", "DepthToSpace", ["x"], block_size=2, data_format="NHWC"),
        g.op("slice", "Slice", ["x", g.const("sb", [0, 2, 1, 1]), g.const("sz", [-1, 3, -1, 2])]),
        g.op("transpose", "Transpose", ["x", g.const("perm", [0, 3, 1, 2])]),
        g.op("mirror_reflect", "MirrorPad", ["x", g.const("mp", [[0, 0], [2, 1], [1, 2], [0, 0]])], mode="REFLECT"),
        g.op("mirror_sym", "MirrorPad", ["x", g.const("mp2", [[0, 0], [1, 2], [2, 0], [0, 0]])], mode="SYMMETRIC"),
        g.op("padv2", "PadV2", ["x", g.const("pp", [[0, 0], [1, 0], [0, 2], [1, 1]]), g.const("pv", np.float32(-2.5))]),
        g.op("sqdiff", "SquaredDifference", ["x", g.rand("c4", 4)]),
        g.op("softmax", "Softmax", ["x"]),
        g.op("elu", "Elu", ["x"]),
        g.op("argmax", "ArgMax", ["x", g.const("am", np.int32(3))], output_type="DT_INT32", Tidx="DT_INT32"),
        g.op("gathernd", "GatherNd", ["x", g.const("gi", [[0, 1, 2], [0, 6, 8], [0, 3, 0]])], T=None,
             Tparams="DT_FLOAT", Tindices="DT_INT32"),
        g.op("gatherv2", "GatherV2", ["x", g.const("gv", [[3, 0], [2, 2]]), g.const("gax", np.int32(2))], T=None,
             Tparams="DT_FLOAT", Tindices="DT_INT32", Taxis="DT_INT32", batch_dims=0),
    ]
    # integer arithmetic with negatives: FloorDiv / FloorMod follow Python's floor semantics in TF
    xi = g.op("xi", "Cast", [g.op("x10", "Mul", ["x", g.const("ten", np.float32(10.0))])], T=None,
              SrcT="DT_FLOAT", DstT="DT_INT32", Truncate=False)
    outs += [g.op("floordiv", "FloorDiv", [xi, g.const("m3", np.int32(-3))], T="DT_INT32"),
             g.op("floormod", "FloorMod", [xi, g.const("p4", np.int32(4))], T="DT_INT32")]
    # TopK with many exact ties (rounded values)
    flat = g.op("flat", "Reshape", [g.op("rounded", "Round", ["x"]), g.const("m1", [-1])])
    # (outputs ":1" are read through Identity nodes: the oracle fetches whole nodes)
    outs += [g.op("topk", "TopKV2", [flat, g.const("k", np.int32(12))], sorted=True),
             g.op("topk_idx", "Identity", ["topk:1"], T="DT_INT32")]
    # SplitV with an inferred size, Unpack, Pack, Concat, ExpandDims, Squeeze
    outs += [g.op("splitv", "SplitV", ["x", g.const("sizes", [1, -1, 2]), g.const("sax", np.int32(1))],
                  num_split=3, Tlen="DT_INT32"), g.op("splitv_1", "Identity", ["splitv:1"]),
             g.op("splitv_2", "Identity", ["splitv:2"])]
    g.op("unpack", "Unpack", ["x"], axis=3, num=4)
    outs += [g.op("pack", "Pack", ["unpack:3", "unpack:0"], axis=1, N=2),
             g.op("concat", "ConcatV2", ["unpack:1", "unpack:2", g.const("cax", np.int32(-1))], N=2, Tidx="DT_INT32"),
             g.op("squeeze", "Squeeze", [g.op("expand", "ExpandDims", ["x", g.const("ed", np.int32(-2))])],
                  squeeze_dims=[3])]
    # dense head: reshape + fused matmul with transpose_b, then select
    mat = g.op("mat", "Reshape", ["x", g.const("ms", [7, 36])])
    outs += [g.op("matmul", "_FusedMatMul", [mat, g.rand("wm", 5, 36), g.rand("bm", 5)], transpose_a=False,
                  transpose_b=True, fused_ops=["BiasAdd", "Relu"], num_args=1, epsilon=0.0)]
    outs += [g.op("select", "SelectV2", [g.op("gt", "Greater", ["x", g.const("z", np.float32(0.2))]), "x",
                                         g.op("neg", "Neg", ["x"])])]
    # atrous conv the way older TF graphs write it, cumulative sums, einsum
    s2b = g.op("s2b", "SpaceToBatchND", ["x", g.const("blk", [2, 2]), g.const("s2bp", [[2, 3], [1, 2]])],
               Tblock_shape="DT_INT32", Tpaddings="DT_INT32")
    outs += [s2b, g.op("b2s", "BatchToSpaceND", [g.op("s2b_conv", "Conv2D", [s2b, w], strides=[1, 1, 1, 1],
                                                             padding="VALID", **conv),
                                                 g.const("blk2", [2, 2]), g.const("crops", [[0, 1], [1, 0]])],
                                    Tblock_shape="DT_INT32", Tcrops="DT_INT32")]
    outs += [g.op("cumsum_rev_excl", "Cumsum", ["x", g.const("cax2", np.int32(2))], exclusive=True, reverse=True,
                  Tidx="DT_INT32"),
             g.op("einsum", "Einsum", ["x", g.rand("we", 4, 3)], equation="nhwc,cd->nwhd", N=2)]
    # transposed conv (output size given)
    outs += [g.op("deconv", "Conv2DBackpropInput", [g.const("osz", [1, 14, 18, 3]), g.rand("wt", 3, 3, 3, 4), "x"],
                  strides=[1, 2, 2, 1], padding="SAME", **conv)]
    return g, outs


# checked against TF.js's cpu backend: wasm gets _FusedMatMul with transpose_b wrong for more than one row (cpu,
# numpy and huia agree), and has no Einsum kernel
CPU_ONLY = {"matmul", "einsum"}


@pytest.fixture(scope="module")
def op_graph(tmp_path_factory, node_modules):
    g, outs = _op_graph()
    art = g.artifacts([1, 7, 9, 4])
    path = save_artifacts(art, tmp_path_factory.mktemp("opgraph") / "model")
    x = np.random.default_rng(1).normal(size=(1, 7, 9, 4)).astype(np.float32) * 2
    ref = run_tfjs(path, {"x": x}, outputs=[o for o in outs if o not in CPU_ONLY])
    ref.update(run_tfjs(path, {"x": x}, outputs=sorted(CPU_ONLY), backend="cpu"))
    return path, outs, x, ref


def test_op_semantics_match_tfjs(op_graph):
    path, outs, x, ref = op_graph
    model = load_graph_model(path)
    ours = model({"x": x}, outputs=outs)
    for k in outs:
        assert ours[k].dtype == ref[k].dtype or ref[k].dtype == np.float32, (k, ours[k].dtype, ref[k].dtype)
        _assert_close({k: ours[k]}, {k: ref[k]}, f"op graph {k}")
    # exact integer semantics
    for k in ("floordiv", "floormod", "argmax", "topk_idx"):
        np.testing.assert_array_equal(ours[k], ref[k], err_msg=k)


def test_op_semantics_hand_checked(op_graph):
    """Independent of TF.js: a few cases worked out by hand / with numpy."""
    path, _, x, _ = op_graph
    model = load_graph_model(path)
    got = model({"x": x}, outputs=["resize_legacy", "floordiv", "floormod", "ss_masks", "d2s", "topk:1", "rounded",
                                   "splitv:1"])
    # legacy bilinear: src = dst * in/out, no half-pixel shift; row 1 of 5 from 7 rows -> src 1.4
    ys, xs = 1 * 7 / 5, 3 * 9 / 13
    y0, x0 = int(ys), int(xs)
    fy, fx = ys - y0, xs - x0
    img = x[0]
    expect = ((img[y0, x0] * (1 - fx) + img[y0, x0 + 1] * fx) * (1 - fy)
              + (img[y0 + 1, x0] * (1 - fx) + img[y0 + 1, x0 + 1] * fx) * fy)
    np.testing.assert_allclose(got["resize_legacy"][0, 1, 3], expect, rtol=1e-5, atol=1e-5)
    xi = np.trunc(x * np.float32(10)).astype(np.int64)
    np.testing.assert_array_equal(got["floordiv"], xi // -3)
    np.testing.assert_array_equal(got["floormod"], xi % 4)
    np.testing.assert_array_equal(got["ss_masks"], x[:, 1:6:2, ::-2, 0:3])
    n, h, w, c = x.shape
    d2s = x.reshape(n, h, w, 2, 2, 1).transpose(0, 1, 3, 2, 4, 5).reshape(n, h * 2, w * 2, 1)
    np.testing.assert_array_equal(got["d2s"], d2s)
    flat = got["rounded"].reshape(-1)
    order = sorted(range(flat.size), key=lambda i: (-flat[i], i))[:12]  # ties: lowest index first
    np.testing.assert_array_equal(got["topk:1"], order)
    np.testing.assert_array_equal(got["splitv:1"], x[:, 1:5])


def test_fused_batch_norm_conv_hand_checked():
    """_FusedConv2D with FusedBatchNorm (TF emits it, TF.js refuses it): equals conv, then BN, then ReLU."""
    g = _G()
    conv = dict(data_format="NHWC", dilations=[1, 1, 1, 1], explicit_paddings=[], strides=[1, 2, 2, 1],
                padding="SAME")
    w = g.rand("w", 3, 3, 4, 6)
    bn = [g.const("scale", g.rng.uniform(0.5, 2, 6)), g.rand("offset", 6), g.rand("mean", 6),
          g.const("var", g.rng.uniform(0.1, 3, 6))]
    g.op("plain", "Conv2D", ["x", w], **conv)
    g.op("fused", "_FusedConv2D", ["x", w] + bn, fused_ops=["FusedBatchNorm", "Relu"], num_args=4, epsilon=1e-3,
         **conv)
    model = GraphModel(g.artifacts([1, 7, 9, 4]))
    x = np.random.default_rng(2).normal(size=(1, 7, 9, 4)).astype(np.float32)
    got = model({"x": x}, outputs=["plain", "fused"])
    sc, off, mean, var = (g.weights[k] for k in ("scale", "offset", "mean", "var"))
    expect = np.maximum((got["plain"] - mean) * sc / np.sqrt(var + 1e-3) + off, 0)
    np.testing.assert_allclose(got["fused"], expect, rtol=1e-5, atol=1e-5)


# ---- training -------------------------------------------------------------------------------------------------

def test_trainable_gradients_and_round_trip(node_modules, shared_data, out_dir):
    path = _models_dir(node_modules) / "handlandmark-full.json"
    model = load_graph_model(path, trainable=True)
    params = dict(model.named_parameters())
    assert len(params) >= 100, "conv kernels, biases and matmul weights should all be parameters"
    assert set(model.weight_params) <= set(load_artifacts(path).weights) and len(model.weight_params) == len(params)
    x_np = _image_input(shared_data, "handlandmark-full", model.input_specs["input_1"])
    x = torch.from_numpy(x_np)
    before = model.to_artifacts()
    orig = load_artifacts(path)
    for name, arr in orig.weights.items():  # untouched weights come back bit-exact, quantization kept
        np.testing.assert_array_equal(before.weights[name], arr)
    assert before.quantization == orig.quantization

    out = model(x, outputs=["Identity_1"])["Identity_1"]
    assert isinstance(out, torch.Tensor) and out.requires_grad
    out.sum().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    # everything but the three other heads' kernels and biases feeds the presence score
    assert len(grads) == len(params) - 6 and all(float(g.abs().max()) > 0 for g in grads[:10])

    # a few SGD steps push the hand-presence score down
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    start = float(out.detach())
    for _ in range(3):
        opt.zero_grad()
        y = model(x, outputs=["Identity_1"])["Identity_1"].sum()
        y.backward()
        opt.step()
    with torch.no_grad():
        after = float(model(x, outputs=["Identity_1"])["Identity_1"])
    assert after < start

    # save the fine-tuned weights and check them in real TF.js
    saved = save_artifacts(model.to_artifacts(), out_dir / "finetuned", quantize="float32")
    reloaded = load_graph_model(saved)
    ours = model(x_np)
    np.testing.assert_allclose(reloaded(x_np)["Identity_1"], ours["Identity_1"], atol=1e-6)
    # the autograd path (plain PyTorch convs) computes what the inference path (fused oneDNN convs) does
    graded = model(x)
    for k, v in ours.items():
        np.testing.assert_allclose(graded[k].detach().numpy(), v, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(v).max()))
    _assert_close(ours, run_tfjs(saved, x_np), "fine-tuned handlandmark in TF.js")


def test_frozen_model_gives_plain_tensors_for_a_trainable_head(node_modules):
    """Features from a frozen graph feed a torch head that trains (no inference-mode tensors leak out)."""
    model = load_graph_model(_models_dir(node_modules) / "handlandmark-full.json")
    assert not list(model.parameters())
    x = torch.rand(2, 224, 224, 3)
    with pytest.raises(HuiaError, match="shape"):
        model(x)  # batch is fixed at 1 in this model's signature
    feats = model(x[:1], outputs=["model_1/model/global_average_pooling2d/Mean"])[
        "model_1/model/global_average_pooling2d/Mean"]
    assert isinstance(feats, torch.Tensor) and not feats.requires_grad
    head = torch.nn.Linear(feats.shape[1], 2)
    torch.nn.functional.cross_entropy(head(feats), torch.tensor([1])).backward()
    assert head.weight.grad is not None


# ---- errors ---------------------------------------------------------------------------------------------------

def test_control_flow_model_fails_at_load_listing_ops(node_modules):
    path = _models_dir(node_modules) / "handtrack.json"
    with pytest.raises(HuiaError) as err:
        load_graph_model(path)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg
    for op in ("Enter", "Exit", "LoopCond", "Merge", "NextIteration", "Switch", "TensorListReserve"):
        assert op in msg
    ops = {n["op"] for n in json.loads(path.read_text())["modelTopology"]["node"]}
    assert "Conv2D" not in msg and "NonMaxSuppressionV5" in ops and "NonMaxSuppressionV5" not in msg


def test_bad_inputs_raise_clear_errors(node_modules):
    path = _models_dir(node_modules) / "movenet-lightning.json"
    model = load_graph_model(path)
    assert model.input_specs == {"input": ((1, 192, 192, 3), "int32")}
    with pytest.raises(HuiaError, match=r"'input' must have shape 1x192x192x3 \(int32\), got 1x128x128x3"):
        model(np.zeros((1, 128, 128, 3), np.int32))
    with pytest.raises(HuiaError, match="numeric"):
        model(np.full((1, 192, 192, 3), "a"))
    with pytest.raises(HuiaError, match="no input named 'image'"):
        model({"image": np.zeros((1, 192, 192, 3), np.int32)})
    with pytest.raises(HuiaError, match="no node or output named 'nope'"):
        model(np.zeros((1, 192, 192, 3), np.int32), outputs=["nope"])
    # float pixels for an int32 input are accepted (rounded), and give the same result as ints
    xi = np.random.default_rng(0).integers(0, 256, (1, 192, 192, 3)).astype(np.int32)
    np.testing.assert_array_equal(model(xi)["Identity"], model(xi.astype(np.float32))["Identity"])


def _hostile(mutate) -> str:
    """Build the tiny graph x -> Identity after `mutate(g)` adds or edits nodes; the HuiaError's one line."""
    g = _G()
    mutate(g)
    g.op("y", "Identity", ["x"])
    with pytest.raises(HuiaError) as err:
        GraphModel(g.artifacts([1, 4]))
    msg = str(err.value)
    assert "\n" not in msg
    return msg


def test_graphs_that_would_allocate_without_limit_are_refused_at_load():
    """A model.json of a few hundred bytes must not make huia allocate gigabytes (the hostile-input audit: a
    20000x20000 Fill took 1.75 GB just to load, though no output used it)."""
    def fill(g):
        g.const("dims", np.array([20000, 20000], np.int32))
        g.const("v", np.array(1.0, np.float32))
        g.op("big", "Fill", ["dims", "v"], T="DT_FLOAT", index_type="DT_INT32")
    assert "node 'big' (Fill)" in (m := _hostile(fill)) and "400,000,000 elements" in m

    def broadcast(g):
        g.const("small", np.ones((1, 2), np.float32))
        g.const("shape", np.array([100000, 100000, 2], np.int32))
        g.op("big", "BroadcastTo", ["small", "shape"])
    assert "node 'big' (BroadcastTo)" in _hostile(broadcast)

    def tile(g):
        g.const("small", np.ones((2, 2), np.float32))
        g.const("reps", np.array([30000, 30000], np.int32))
        g.op("big", "Tile", ["small", "reps"])
    assert "node 'big' (Tile)" in _hostile(tile)

    def attr_const(g):  # a Const node whose value attr says 10^10 elements and gives one float
        g.nodes.append({"name": "big", "op": "Const", "attr": {"dtype": {"type": "DT_FLOAT"}, "value": {"tensor": {
            "dtype": "DT_FLOAT", "tensorShape": {"dim": [{"size": "100000"}, {"size": "100000"}]},
            "floatVal": [1.0]}}}})
    assert "node 'big' (Const)" in _hostile(attr_const)
    # the limit leaves real constants alone: a 512x512 Fill loads and runs
    g = _G()
    g.const("dims", np.array([512, 512], np.int32))
    g.const("v", np.array(2.0, np.float32))
    g.op("ok", "Fill", ["dims", "v"], T="DT_FLOAT", index_type="DT_INT32")
    g.op("y", "Identity", ["x"])
    assert GraphModel(g.artifacts([1, 4]))(np.zeros((1, 4), np.float32), outputs=["ok"])["ok"].sum() == 2 * 512 * 512


def test_malformed_node_attributes_are_one_line():
    def bad_shape(g):
        g.nodes.append({"name": "p", "op": "Placeholder", "attr": {"dtype": {"type": "DT_FLOAT"},
                                                                  "shape": {"shape": {"dim": [{"size": "abc"}]}}}})
    assert "node 'p' (Placeholder)" in _hostile(bad_shape)

    def bad_b64(g):
        g.nodes.append({"name": "c", "op": "Const", "attr": {"dtype": {"type": "DT_FLOAT"}, "value": {"tensor": {
            "dtype": "DT_FLOAT", "tensorShape": {"dim": [{"size": "1"}]}, "tensorContent": "abc"}}}})
    assert "node 'c' (Const)" in _hostile(bad_b64)
