"""Pose estimators on real images and video: TF.js oracles for the image ops and the atrous PoseNet graphs, the
MoveNet video pipeline against the reference keypoints of pose_1.mp4, multi-person on three_people.jpg, BlazePose,
and clear errors on bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from huia.errors import HuiaError
from huia.pose import create_estimator, estimate
from huia.pose.calculators.image import crop_and_resize, resize_bilinear
from huia.pose.spec import COCO_NAMES

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def pose_video(shared_data):
    return shared_data / "pose-video"


@pytest.fixture(scope="module")
def rgb(pose_video):
    from huia.pose.estimate import load_rgb

    return {name: load_rgb(pose_video / name) for name in ("pose.jpg", "three_people.jpg")}


def _run_image_ops(cases):
    job = Path(tempfile.mkdtemp(prefix="huia-imgops-"))
    try:
        spec = []
        for i, c in enumerate(cases):
            (job / f"in_{i}.bin").write_bytes(np.ascontiguousarray(c["image"], np.float32).tobytes())
            spec.append({"op": c["op"], "file": f"in_{i}.bin", "shape": list(c["image"].shape),
                         "box": [float(v) for v in c.get("box", [])], "size": list(c["size"])})
        (job / "job.json").write_text(json.dumps({"cases": spec}))
        proc = subprocess.run(["node", str(HERE / "image_ops_oracle.mjs"), str(job)], capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, (job / "error.txt").read_text() if (job / "error.txt").exists() else proc.stderr
        shapes = json.loads((job / "result.json").read_text())["shapes"]
        return [np.frombuffer((job / f"out_{i}.bin").read_bytes(), np.float32).reshape(s) for i, s in enumerate(shapes)]
    finally:
        shutil.rmtree(job, ignore_errors=True)


@pytest.mark.usefixtures("node_modules")
def test_image_ops_match_tfjs():
    rng = np.random.default_rng(0)
    img = rng.uniform(0, 255, (57, 83, 3)).astype(np.float32)
    boxes = [(0, 0, 1, 1), (0.1, 0.2, 0.7, 0.9), (-0.3, -0.1, 1.2, 1.4), (0.4, 0.4, 0.41, 0.43), (0.9, 0.8, 0.2, 0.1)]
    cases = [{"op": "cropAndResize", "image": img, "box": b, "size": (19, 23)} for b in boxes]
    cases += [{"op": "resize", "image": img, "size": s} for s in [(19, 23), (120, 97), (57, 83)]]
    ref = _run_image_ops(cases)
    for c, r in zip(cases, ref):
        ours = crop_and_resize(c["image"], c["box"], c["size"]) if c["op"] == "cropAndResize" else \
            resize_bilinear(c["image"], c["size"])
        np.testing.assert_allclose(ours, r, atol=2e-3, rtol=0, err_msg=str(c.get("box", c["size"])))


def test_posenet_output_stride_plans():
    from huia.pose.posenet.model import convert_output_stride, layer_strides_and_rates
    from huia.models import get_model
    from huia.tfjs.artifacts import load_artifacts

    assert layer_strides_and_rates(32) == [(s, 1) for s in [2, 1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]]
    assert [r for _, r in layer_strides_and_rates(8)] == [1] * 7 + [2] * 6 + [4]
    art = load_artifacts(get_model("posenet").path)
    # converting to 8 and back to 16 restores the bundled graph's strides and dilations exactly
    back = convert_output_stride(convert_output_stride(art, 8), 16)
    strip = lambda topo: {n["name"]: (n.get("attr", {}).get("strides"), n.get("attr", {}).get("dilations"))  # noqa
                          for n in topo["node"] if "Conv2d" in n["name"]}
    assert strip(back.model_topology) == strip(art.model_topology)
    with pytest.raises(HuiaError, match="output stride"):
        convert_output_stride(art, 12)


@pytest.mark.usefixtures("node_modules")
@pytest.mark.parametrize("stride", [8, 32])
def test_posenet_atrous_graph_matches_tfjs(stride, tmp_path):
    """Our stride-changed graph computes what TF.js computes with the same edited model.json."""
    from huia.pose.posenet.model import OUTPUTS, convert_output_stride, load_posenet_graph
    from huia.models import get_model
    from huia.tfjs.artifacts import load_artifacts, save_artifacts
    from tests.oracles.tfjs_node import run_tfjs

    art = convert_output_stride(load_artifacts(get_model("posenet").path), stride)
    model_json = save_artifacts(art, tmp_path / f"posenet{stride}")
    x = np.random.default_rng(stride).uniform(-1, 1, (1, 129, 129, 3)).astype(np.float32)
    ref = run_tfjs(model_json, {"image": x}, outputs=list(OUTPUTS.values()), backend="cpu")
    ours = load_posenet_graph(stride)(x, outputs=list(OUTPUTS.values()))
    side = (129 - 1) // stride + 1
    for name in OUTPUTS.values():
        assert ref[name].shape[1:3] == (side, side)
        np.testing.assert_allclose(np.asarray(ours[name]), ref[name], atol=2e-3, rtol=1e-3, err_msg=name)


def test_posenet_scaling_flip_and_options(rgb):
    img = rgb["pose.jpg"]
    h, w = img.shape[:2]
    a = estimate(img, model="posenet")[0]
    b = estimate(img, model="posenet", flip_horizontal=True)[0]
    np.testing.assert_allclose(b.to_array()[:, 0], w - 1 - a.to_array()[:, 0], atol=1e-6)
    arr = a.to_array()
    assert arr[:, 0].min() >= -20 and arr[:, 0].max() <= w + 20 and arr[:, 1].max() <= h + 20
    # stride 8 and image_scale_factor paths land on the same person (within a few cells)
    c = estimate(img, model="posenet", output_stride=8)[0]
    d = estimate(img, model="posenet", image_scale_factor=0.5)[0]
    conf = (arr[:, 2] > 0.5) & (c.to_array()[:, 2] > 0.5)
    assert conf.sum() >= 10
    assert np.median(np.linalg.norm(c.to_array()[conf, :2] - arr[conf, :2], axis=1)) < 15
    assert np.median(np.linalg.norm(d.to_array()[:, :2] - arr[:, :2], axis=1)) < 25


def test_models_agree_on_one_person(rgb):
    """Independent models find the same body on pose.jpg: PoseNet and BlazePose against MoveNet Thunder."""
    img = rgb["pose.jpg"]
    ref = estimate(img, model="movenet-thunder")[0]
    assert [k.name for k in ref.keypoints] == list(COCO_NAMES)
    for model in ("posenet", "blazepose"):
        poses = estimate(img, model=model)
        assert len(poses) == 1
        d = np.linalg.norm(poses[0].to_array()[:, :2] - ref.to_array()[:, :2], axis=1)
        # PoseNet (older, 16 px cells) misplaces the far leg of this lunge; the rest must agree
        assert (d < 25).sum() >= 14, (model, d.round(1))
    bp = estimate(img, model="blazepose")[0]
    assert bp.extra["landmarks"].shape == (33, 5) and len(bp.extra["landmark_names"]) == 33


def test_three_people(rgb):
    img = rgb["three_people.jpg"]
    for model in ("posenet", "movenet-multipose"):
        poses = estimate(img, model=model, multi=True)
        assert len(poses) == 3, (model, [p.score for p in poses])
        noses = sorted(p["nose"].x for p in poses)
        assert min(np.diff(noses)) > 100  # three different people, not one found three times


@pytest.mark.slow
def test_movenet_video_matches_reference(pose_video):
    """MoveNet Lightning over pose_1.mp4 vs the tfjs-models pose-detection reference output (pose_1.json)."""
    from huia.pose.video import estimate_video

    ref = json.loads((pose_video / "pose_1.json").read_text())
    want = np.array([[[f[n]["x"], f[n]["y"]] for n in COCO_NAMES] for f in ref])
    frames = estimate_video(pose_video / "pose_1.mp4", create_estimator("movenet-lightning"))
    assert len(frames) == len(want) == 120
    assert all(len(p) == 1 for p in frames)
    got = np.array([p[0].to_array()[:, :2] for p in frames])
    err = np.linalg.norm(got - want, axis=2)
    print(f"movenet-lightning video: mean {err.mean():.2f} px, worst frame {err.mean(axis=1).max():.2f} px")
    assert err.mean() <= 5.0
    assert err.mean(axis=1).max() <= 30.0


def test_bad_input_errors(tmp_path, rgb):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg at all")
    with pytest.raises(HuiaError, match="broken.jpg"):
        estimate(bad)
    with pytest.raises(HuiaError):
        estimate(tmp_path / "missing.png")
    with pytest.raises(HuiaError, match="shape"):
        estimate(np.zeros((10, 0, 3), np.uint8))
    with pytest.raises(HuiaError, match="unknown pose model"):
        estimate(rgb["pose.jpg"], model="openpose")
    with pytest.raises(HuiaError, match="output stride"):
        create_estimator("posenet", output_stride=12)


@pytest.mark.usefixtures("node_modules")
def test_real_posenet_maps_decode_like_js(rgb):
    """On real PoseNet outputs (three people), the numpy decoders give the reference JS decoders' poses."""
    from huia.pose.posenet import decode_multiple_poses, decode_single_pose
    from huia.pose.posenet.model import PoseNet
    from tests.oracles.posenet_oracle import run_js_decoder

    pn = PoseNet(multi=True, input_resolution=513)
    x, *_ = pn.prepare(rgb["three_people.jpg"])
    m = pn.run_model(x.astype(np.float32))
    cases = [dict(scores=m["heatmap"], offsets=m["offsets"], fwd=m["fwd"], bwd=m["bwd"], stride=16, mode="multi",
                  max_poses=10, score_threshold=0.3, nms_radius=20),
             dict(scores=m["heatmap"], offsets=m["offsets"], stride=16, mode="single")]
    ref, _ = run_js_decoder(cases)
    ours = [decode_multiple_poses(m["heatmap"], m["offsets"], m["fwd"], m["bwd"], 16, 10, 0.3, 20),
            [decode_single_pose(m["heatmap"], m["offsets"], 16)]]
    assert len(ours[0]) == len(ref[0]) >= 3
    for got, want in zip(ours, ref):
        for p, q in zip(got, want):
            np.testing.assert_allclose(p.to_array(), [[k["x"], k["y"], k["score"]] for k in q["keypoints"]],
                                       atol=1e-3, rtol=0)
            assert p.score == pytest.approx(q["score"], abs=1e-6)


def test_library_calls_fail_loudly_not_silently(rgb):
    """As a library (the hostile-input audit, area 3): a typo'd option, an impossible combination, a 0..1 float
    image or an unhashable option used to give no poses or a foreign exception; each is now one HuiaError."""
    img = rgb["pose.jpg"]
    with pytest.raises(HuiaError, match="posenet has no option 'flip'.*flip_horizontal"):
        estimate(img, model="posenet", flip=True)
    with pytest.raises(HuiaError, match="blazepose finds one person"):
        estimate(img, model="blazepose", multi=True)
    with pytest.raises(HuiaError, match="input_resolution must be a number of pixels"):
        estimate(img, model="posenet", input_resolution=-5)
    with pytest.raises(HuiaError, match=r"values are in \[0, 1\]"):
        estimate(img / 255.0, model="movenet-lightning")
    with pytest.raises(HuiaError, match="dtype object"):
        estimate(np.empty((4, 4, 3), dtype=object), model="movenet-lightning")
    with pytest.raises(HuiaError, match="pose options must be"):
        estimate(img, model="posenet", output_stride={16: 1})
    # the same image as floats in 0..255 is fine, and a list option is a tuple
    assert len(estimate(img.astype(np.float32), model="movenet-lightning")) == 1
    assert len(estimate(img, model="posenet", input_resolution=[257, 257])) == 1
