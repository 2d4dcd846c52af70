"""huia detect: graph surgery, losses, a tiny training run (loss falls, resume == uninterrupted, seed reproduces),
eval/predict JSON, the truncated kangaroo image, and the export run in real TF.js in Node.

The full-size kangaroo run is a benchmark (benchmarks/detector.py), not a test: here training is a few steps on a
few images at 128x128, evaluated on the real held-out split (numbers only checked for shape/range).
"""

from __future__ import annotations

import json
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from huia.cli import main as huia_main
from huia.detect import dataset as D
from huia.detect.model import (BOXES, DETECTIONS, HEATMAP, INPUT, CenterNetDetector, adapt_centernet,
                               load_base_artifacts, preprocess, rows_to_detections)
from huia.detect.train import TrainConfig, box_loss, focal_loss, pick_class_channels, train
from huia.errors import HuiaError
from huia.types import Detections
from tests.conftest import REPO_ROOT

SIZE = 128
TINY = dict(epochs=2, input_size=SIZE, batch_size=3, max_images=6, steps_per_epoch=2, members=1)


@pytest.fixture(scope="module")
def kangaroo(shared_data, node_modules):
    return shared_data / "kangaroo"


@pytest.fixture(scope="module")
def base():
    try:
        return load_base_artifacts()
    except HuiaError as exc:
        pytest.skip(str(exc))


def _numpy_decode(heat: np.ndarray, ltrb: np.ndarray, k: int = 100) -> np.ndarray:
    """Independent oracle for the graph's decoding: 3x3 peaks of the heat map, top k, boxes from the distances."""
    g, _, c = heat.shape
    pad = np.pad(heat, ((1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
    win = np.max([pad[dy:dy + g, dx:dx + g] for dy in range(3) for dx in range(3)], axis=0)
    peaks = np.where(heat == win, heat, 0).reshape(-1)
    order = np.argsort(-peaks, kind="stable")[:k]
    rows = []
    for i in order:
        cell, cls = divmod(int(i), c)
        y, x = divmod(cell, g)
        l, t, r, b = ltrb[y, x]
        rows.append([x * 4 - l, y * 4 - t, x * 4 + r, y * 4 + b, peaks[i], cls])
    return np.array(rows, np.float32)


def test_adapted_graph_decodes_like_numpy(base, shared_data):
    """Re-wired for 128x128 and 2 classes, the in-graph decoding equals a numpy decoding of the graph's heads."""
    from huia.data.images import load_image
    from huia.tfjs.graph import load_graph_model

    art = adapt_centernet(base, input_size=SIZE, class_channels=[0, 16])
    g = load_graph_model(art)
    x = preprocess(load_image(shared_data / "pose-video" / "three_people.jpg"), SIZE)
    out = g({INPUT: x}, outputs=[HEATMAP, BOXES, DETECTIONS])
    assert out[HEATMAP].shape == (1, SIZE // 4, SIZE // 4, 2)
    rows = out[DETECTIONS][0]
    ref = _numpy_decode(out[HEATMAP][0], out[BOXES][0])
    top = ref[:10]
    assert rows[0, 4] > 0.2 and rows[0, 5] == 0  # people are seen as class 0 (COCO person), even at 128x128
    np.testing.assert_allclose(rows[:10, 4], top[:, 4], atol=1e-6)
    np.testing.assert_allclose(rows[:10, :4], top[:, :4], atol=1e-3)
    np.testing.assert_array_equal(rows[:10, 5], top[:, 5])


def test_rows_to_detections_scales_clips_and_thresholds():
    rows = np.array([[10, 20, 60, 100, 0.9, 0], [-5, 0, 30, 140, 0.5, 0], [0, 0, 10, 10, 0.1, 0],
                     [50, 50, 50, 60, 0.8, 0]], np.float32)
    d = rows_to_detections(rows, width=256, height=64, input_size=128, class_names=["k"], score_threshold=0.2)
    np.testing.assert_allclose(d.xyxy, [[20, 10, 120, 50], [0, 0, 60, 64]])
    np.testing.assert_allclose(d.scores, [0.9, 0.5])
    assert d.labels == ["k", "k"]


def test_adapt_rejects_bad_input_size(base):
    with pytest.raises(HuiaError, match="multiple of 32"):
        adapt_centernet(base, input_size=300, class_channels=[0])


def test_targets_and_losses_hand_checked():
    boxes = Detections(np.array([[16, 16, 48, 80]], np.float32), None, np.array([0]), ["k"])
    t = D.make_targets(boxes, 1, 128)
    cy, cx = np.argwhere(t.heat[:, :, 0] == 1)[0]
    assert (cx, cy) == (8, 12)  # centre (32, 48) / stride 4
    assert t.weight[cy, cx] > 0 and np.all(t.boxes[cy, cx] == [16, 16, 48, 80])
    assert np.all(t.weight[t.heat[:, :, 0] < 0.05] == 0)
    # perfect distances at every regression cell -> zero GIoU loss; a shifted box -> positive
    g = 32
    ys, xs = np.mgrid[0:g, 0:g] * 4.0
    ltrb = np.stack([xs - 16, ys - 16, 48 - xs, 80 - ys], -1)[None].astype(np.float32)
    lb = box_loss(torch.from_numpy(ltrb), torch.from_numpy(t.boxes[None]), torch.from_numpy(t.weight[None]))
    assert float(lb) < 1e-5
    lb2 = box_loss(torch.from_numpy(ltrb + 6), torch.from_numpy(t.boxes[None]), torch.from_numpy(t.weight[None]))
    assert float(lb2) > 0.05
    heat = torch.from_numpy(t.heat[None])
    good = torch.where(heat == 1, torch.tensor(6.0), torch.tensor(-6.0))
    assert float(focal_loss(good, heat)) < float(focal_loss(torch.zeros_like(good), heat))


def test_truncated_image_loads_with_warning(kangaroo):
    """00090.jpg is truncated: training/eval load what decodes (full size, as its XML says) and warn naming it."""
    from huia.data import load_dataset

    s = [x for x in load_dataset(kangaroo) if x.image_path.name == "00090.jpg"]
    assert len(s) == 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        (img,) = D.load_images(s)
    assert any("00090.jpg" in str(w.message) and "truncated" in str(w.message) for w in caught)
    assert img.shape[:2] == (s[0].height, s[0].width)


def test_loss_falls_on_a_fixed_batch(kangaroo, base):
    """A few Adam steps on 4 fixed images lower the total loss (the training step really learns)."""
    from huia.train.common import seed_everything

    seed_everything(0)
    tr, _, names = D.load_split(kangaroo, seed=0)
    tr = tr[:4]
    imgs = D.load_images(tr)
    x, bxs = D.resize_batch(imgs, [s.boxes for s in tr], SIZE)
    tg = [D.make_targets(b, 1, SIZE) for b in bxs]
    heat = torch.from_numpy(np.stack([t.heat for t in tg]))
    tbox = torch.from_numpy(np.stack([t.boxes for t in tg]))
    wgt = torch.from_numpy(np.stack([t.weight for t in tg]))
    model = CenterNetDetector(adapt_centernet(base, input_size=SIZE, class_channels=[23]), names, SIZE)
    opt = torch.optim.Adam(model.trainable_parameters(), lr=5e-4)
    losses = []
    for _ in range(6):
        logits, ltrb = model(torch.from_numpy(x))
        loss = focal_loss(logits, heat) + 5 * box_loss(ltrb, tbox, wgt)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < 0.8 * losses[0], losses


def test_class_channel_pick_does_not_depend_on_file_order(kangaroo, base):
    """The COCO channel a class starts from is chosen over every training image: the reported split's images in
    their order and reversed pick the same channel (a first-24-images pick chose dog one way and bird the other),
    and a class without boxes falls back to a COCO animal."""
    from huia.detect.model import COCO_ANIMALS

    tr, _, names = D.load_split(kangaroo, seed=0)
    imgs = D.load_images(tr)
    bxs = [D.remap_classes(s.boxes, names) for s in tr]
    forward = pick_class_channels(base, imgs, bxs, 1, 320)
    backward = pick_class_channels(base, imgs[::-1], bxs[::-1], 1, 320)
    assert forward == backward
    assert forward[0] in COCO_ANIMALS  # a kangaroo looks like an animal to COCO, not a person or a car
    two = [Detections(b.xyxy, None, np.zeros(len(b), np.int64), ["kangaroo", "wombat"]) for b in bxs[:4]]
    assert pick_class_channels(base, imgs[:4], two, 2, 320)[1] in COCO_ANIMALS


@pytest.fixture(scope="module")
def tiny_run(kangaroo, tmp_path_factory):
    out = tmp_path_factory.mktemp("detect") / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metrics = train(TrainConfig(data=str(kangaroo), out=str(out), seed=0, **TINY), quiet=True)
    return out, metrics


def test_tiny_run_folder(tiny_run):
    out, metrics = tiny_run
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["task"] == "detect" and cfg["class_names"] == ["kangaroo"]
    assert not set(cfg["train_images"]) & set(cfg["test_images"])  # never evaluated on training images
    assert len(cfg["test_images"]) == 27
    rows = (out / "log.csv").read_text().splitlines()
    assert rows[0].split(",")[:7] == ["step", "epoch", "lr", "classification_loss", "localization_loss",
                                      "regularization_loss", "total_loss"]
    assert len(rows) == 1 + 4
    for name in ("loss.png", "pr_curve.png"):
        assert (out / "plots" / name).stat().st_size > 1000
    doc = json.loads((out / "model" / "model.json").read_text())
    assert doc["generatedBy"].startswith("huia (fine-tuned from ") and doc["convertedBy"] == "huia"
    m = json.loads((out / "metrics.json").read_text())
    for k in ("ap", "ap50", "ap75", "ar1", "ar10", "ar100"):
        assert 0.0 <= m[k] <= 1.0 and m[k] == metrics[k]


def test_resume_and_seed_reproduce(tiny_run, kangaroo, tmp_path):
    """Interrupted after epoch 1 then resumed == uninterrupted run with the same seed (log and metrics)."""
    out, metrics = tiny_run
    other = tmp_path / "run"
    cfg = TrainConfig(data=str(kangaroo), out=str(other), seed=0, **TINY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert train(cfg, quiet=True, stop_after_epochs=1) is None
        assert len((other / "log.csv").read_text().splitlines()) == 1 + 2
        again = train(TrainConfig(data=str(kangaroo), out=str(other), seed=0, **TINY), quiet=True)
    a = np.genfromtxt(out / "log.csv", delimiter=",", names=True)
    b = np.genfromtxt(other / "log.csv", delimiter=",", names=True)
    for k in ("classification_loss", "localization_loss", "total_loss"):
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5)
    for k in ("ap", "ap50", "ar100"):
        assert abs(again[k] - metrics[k]) < 1e-6
    # a different configuration cannot silently resume into the same folder
    with pytest.raises(HuiaError, match="different configuration"):
        train(TrainConfig(data=str(kangaroo), out=str(other), seed=1, **TINY), quiet=True)


def test_eval_json(tiny_run, kangaroo, capsys):
    out, metrics = tiny_run
    assert huia_main(["detect", "eval", str(out), "--data", str(kangaroo), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert set(res) == {"ap", "ap50", "ap75", "ar1", "ar10", "ar100", "at_threshold"}  # one class: no per_class
    at = res.pop("at_threshold")
    assert at["score_threshold"] == 0.3 and at["iou50"] == metrics["at_threshold"]["iou50"]
    for k in res:
        assert abs(res[k] - metrics[k]) < 1e-5
    # --ci adds the bootstrap intervals, the same as metrics.json's (same images, same default draws)
    assert huia_main(["detect", "eval", str(out), "--data", str(kangaroo), "--json", "--ci"]) == 0
    ci = json.loads(capsys.readouterr().out)["ci"]
    assert ci == json.loads((out / "metrics.json").read_text())["ci"] and ci["resamples"] == 1000
    for k in res:
        assert ci[k][0] <= res[k] + 1e-9 and res[k] <= ci[k][1] + 1e-9, (k, ci[k], res[k])
    # the text output shows them too
    assert huia_main(["detect", "eval", str(out), "--data", str(kangaroo)]) == 0
    text = capsys.readouterr().out
    assert "95 % bootstrap intervals over the 27 held-out images" in text
    assert f"AP50 {res['ap50']:.3f} [{ci['ap50'][0]:.2f}, {ci['ap50'][1]:.2f}]" in text


def test_predict_json_and_overlay(tiny_run, kangaroo, tmp_path, capsys):
    out, _ = tiny_run
    img = kangaroo / "images" / "00090.jpg"  # the truncated one goes through predict too
    assert huia_main(["detect", "predict", str(out), str(img), "--json", "--threshold", "0.05",
                      "--overlay", str(tmp_path / "ov")]) == 0
    res = json.loads(capsys.readouterr().out)
    assert list(res) == ["00090.jpg"]
    from PIL import Image

    w, h = Image.open(img).size
    for d in res["00090.jpg"]:
        assert set(d) == {"box", "label", "score"} and d["label"] == "kangaroo" and 0.05 <= d["score"] <= 1
        x1, y1, x2, y2 = d["box"]
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
    assert (tmp_path / "ov" / "00090.jpg").is_file()


def test_eval_on_another_data_set_skips_what_the_run_trained_on(tiny_run, kangaroo, tmp_path, capsys):
    """`huia data split` then `detect eval --data split/test` (the README flow) evaluates exactly the held-out
    images, with the same numbers; given the train part, it leaves out the images the run trained on, by content."""
    out, metrics = tiny_run
    assert huia_main(["data", "split", str(kangaroo), "--train", "0.8", "--seed", "0",
                      "--out", str(tmp_path / "split")]) == 0
    capsys.readouterr()
    assert huia_main(["detect", "eval", str(out), "--data", str(tmp_path / "split" / "test"), "--json"]) == 0
    cap = capsys.readouterr()
    res = json.loads(cap.out)
    assert "evaluated on 27 images" in cap.err and "left out" not in cap.err
    for k in ("ap", "ap50", "ar100"):
        assert res[k] == pytest.approx(metrics[k], abs=1e-6)
    # the train part: the 6 images the tiny run used are recognised and left out, the other 102 are evaluated
    assert huia_main(["detect", "eval", str(out), "--data", str(tmp_path / "split" / "train"), "--json"]) == 0
    assert "evaluated on 102 images (6 the run trained on, or copies of them, were left out)" in capsys.readouterr().err
    # augmented copies of the test images are fine to evaluate on; copies of trained images are left out
    assert huia_main(["data", "augment", str(tmp_path / "split" / "train"), str(tmp_path / "aug"), "--times", "1"]) == 0
    capsys.readouterr()
    assert huia_main(["detect", "eval", str(out), "--data", str(tmp_path / "aug"), "--json"]) == 0
    assert "evaluated on 204 images (12 the run trained on, or copies of them, were left out)" in capsys.readouterr().err


def test_run_of_another_kind_and_bad_settings_are_named(tiny_run, kangaroo, tmp_path, capsys):
    out, _ = tiny_run
    other = tmp_path / "cls"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"task": "classify"}))
    assert huia_main(["detect", "predict", str(other), str(kangaroo / "images" / "00001.jpg")]) == 2
    assert "this is a classify run, not a detector" in capsys.readouterr().err
    for flag, value, words in [("--batch-size", "0", "--batch-size must be at least 1"),
                               ("--lr", "-1", "--lr must be a positive number"),
                               ("--ema", "1.5", "--ema (a decay) must be in [0, 1)"),
                               ("--wise", "5", "--wise must be in [0, 1]"),
                               ("--input-size", "100", "--input-size must be a multiple of 32"),
                               ("--train-fraction", "1.5", "--train-fraction must be in (0, 1]")]:
        run = tmp_path / f"r{flag}"
        assert huia_main(["detect", "train", "--data", str(kangaroo), "--out", str(run), flag, value]) == 2, flag
        err = capsys.readouterr().err
        assert words in err and len(err.strip().splitlines()) == 1, err
        assert not run.exists()  # refused before anything was written
    # a failing run (bad data) leaves no empty run folder behind
    bad = tmp_path / "bad"
    (bad / "annots").mkdir(parents=True)
    (bad / "images").mkdir()
    (bad / "annots" / "x.xml").write_text("<annotation><filename>x.jpg</filename")
    assert huia_main(["detect", "train", "--data", str(bad), "--out", str(tmp_path / "r_bad")]) == 2
    capsys.readouterr()
    assert not (tmp_path / "r_bad").exists()
    # an export folder is not a run folder
    assert huia_main(["export", str(out), "--out", str(tmp_path / "exp")]) == 0
    assert huia_main(["detect", "train", "--data", str(kangaroo), "--out", str(tmp_path / "exp")]) == 2
    assert "holds an exported model, not a training run" in capsys.readouterr().err
    # ... and a run's own folder is not an export target (it replaced the run's float32 model with uint8)
    before = (out / "model" / "model.json").read_bytes()
    assert huia_main(["export", str(out), "--out", str(out / "model"), "--quantize", "uint8"]) == 2
    assert "choose a folder outside the run" in capsys.readouterr().err
    assert (out / "model" / "model.json").read_bytes() == before
    # the same guard for a classifier run (checked before any data is read)
    assert huia_main(["classify", "train", "--data", str(tmp_path / "nodata"), "--out", str(tmp_path / "exp")]) == 2
    assert "holds an exported model, not a training run" in capsys.readouterr().err


def test_predict_overlay_never_lands_on_the_inputs(tiny_run, kangaroo, tmp_path, capsys):
    """Re-audit 10 findings 3 and 7: `predict IMAGES --overlay IMAGES` replaced the photos with drawn copies, and
    `--overlay afile/sub` or `/proc/x` ended in tracebacks. Each is one line naming DIR, nothing written."""
    import hashlib

    out, _ = tiny_run
    src = [kangaroo / "images" / f"0000{i}.jpg" for i in (1, 2, 3)]

    def make(folder, names):
        for name, s in zip(names, src):
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(s.read_bytes())

    def md5s():
        return {p: hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(tmp_path.rglob("*")) if p.is_file()}

    imgs, anc, anc2, afile = tmp_path / "imgs", tmp_path / "anc", tmp_path / "anc2", tmp_path / "afile"
    make(imgs, ["00001.jpg", "sub/00001.jpg"])
    make(anc, ["imgs/00001.jpg", "imgs/imgs/00001.jpg"])  # --overlay anc mirrors imgs/00001.jpg onto an input
    make(anc2, ["imgs/a.jpg", "imgs/imgs/b.jpg"])  # ... or writes anc2/imgs/b.jpg among the inputs
    afile.write_text("x")
    before = md5s()
    mix = ": writing there would overwrite or mix with its files; give a separate folder"
    cases = [(imgs, imgs, f"{imgs}: --overlay is the input folder {imgs}{mix}"),
             (imgs, imgs / "ov", f"{imgs / 'ov'}: --overlay is inside the input folder {imgs}{mix}"),
             (imgs / "00001.jpg", imgs, f"{imgs}: --overlay is the input folder {imgs}{mix}"),
             (anc / "imgs", anc, f"{anc}: --overlay would overwrite the input image {anc / 'imgs' / '00001.jpg'}; "
                                 "give a separate folder"),
             (anc2 / "imgs", anc2, f"{anc2}: --overlay would write imgs/b.jpg inside the input folder "
                                   f"{anc2 / 'imgs'}; give a separate folder"),
             (imgs, afile / "sub", f"{afile / 'sub'}: --overlay: {afile} is a file, not a folder"),
             (imgs, afile, f"{afile}: --overlay must be a folder; this is a file")]
    if Path("/proc/self").is_dir():
        cases.append((imgs, Path("/proc/huia_x"),
                      "/proc/huia_x: --overlay: cannot create the folder /proc/huia_x (No such file or directory)"))
    for images, overlay, line in cases:
        assert huia_main(["detect", "predict", str(out), str(images), "--overlay", str(overlay)]) == 2, line
        cap = capsys.readouterr()
        assert cap.err.strip() == f"huia: error: {line}" and cap.out == ""
    assert md5s() == before  # byte-identical, and no file added anywhere
    # a folder of its own works, also next to the inputs
    assert huia_main(["detect", "predict", str(out), str(anc / "imgs"), "--overlay", str(anc / "ov")]) == 0
    capsys.readouterr()
    assert sorted(p.relative_to(anc / "ov").as_posix() for p in (anc / "ov").rglob("*.jpg")) == [
        "00001.jpg", "imgs/00001.jpg"]
    with pytest.raises(SystemExit):
        huia_main(["detect", "predict", "--help"])
    assert "pictures of an earlier run in DIR with the same names are replaced" in " ".join(
        capsys.readouterr().out.split())


def test_predict_skips_an_unreadable_image_and_says_so(tiny_run, kangaroo, tmp_path, capsys):
    out, _ = tiny_run
    folder = tmp_path / "imgs"
    folder.mkdir()
    for name in ("00001.jpg", "00002.jpg"):
        (folder / name).write_bytes((kangaroo / "images" / name).read_bytes())
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    (folder / "sub").mkdir()
    (folder / "sub" / "00001.jpg").write_bytes((kangaroo / "images" / "00003.jpg").read_bytes())
    (folder / ".quarantine").mkdir()
    (folder / ".quarantine" / "x.jpg").write_bytes((kangaroo / "images" / "00004.jpg").read_bytes())
    assert huia_main(["detect", "predict", str(out), str(folder), "--json", "--threshold", "0.05",
                      "--overlay", str(tmp_path / "ov")]) == 1
    cap = capsys.readouterr()
    # keys are paths relative to the folder: same-named images in sub-folders stay apart; hidden folders skipped
    assert sorted(json.loads(cap.out)) == ["00001.jpg", "00002.jpg", "sub/00001.jpg"]
    assert (tmp_path / "ov" / "sub" / "00001.jpg").is_file() and (tmp_path / "ov" / "00001.jpg").is_file()
    assert "broken.jpg" in cap.err and "1 of 4 images could not be read" in cap.err
    assert huia_main(["detect", "predict", str(out), str(folder), "--threshold", "1.5"]) == 2
    assert "--threshold must be in [0, 1]" in capsys.readouterr().err


def test_bad_inputs_are_one_line_errors(tmp_path, capsys):
    assert huia_main(["detect", "train", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("huia: error: ") and "nope" in err and len(err.strip().splitlines()) == 1
    assert huia_main(["detect", "eval", str(tmp_path), "--data", str(tmp_path), "--json"]) == 2
    assert "config.json" in capsys.readouterr().err


def _iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


JS_DECODE = """
import { rowsToBoxes } from '%s';
const [rows, w, h, n, thr] = JSON.parse(process.argv[2]);
console.log(JSON.stringify(rowsToBoxes(rows, w, h, n, ['kangaroo'], thr)));
"""


@pytest.mark.parametrize("quantize", [None, "uint8"])
def test_export_runs_in_tfjs_like_predict(tiny_run, kangaroo, tmp_path, capsys, quantize):
    """The export loads in real TF.js (Node, wasm); its rows through web/js/detector.js's post-processing give the
    boxes `huia detect predict` gives on the exported model (IoU >= 0.99, score +-1e-3)."""
    from huia.data.images import load_image
    from huia.detect.export import export_run
    from tests.oracles.tfjs_node import run_tfjs

    out, _ = tiny_run
    exp = tmp_path / "export"
    mj = export_run(out, exp, quantize=quantize, fmt="graph")
    doc = json.loads(mj.read_text())
    meta = doc["userDefinedMetadata"]["huia"]
    assert meta["labels"] == ["kangaroo"] and meta["input_size"] == [SIZE, SIZE]
    assert meta["postprocessing"]["output"] == DETECTIONS and "score_threshold" in meta
    assert all(p.stat().st_size <= 4 * 1024 * 1024 for p in exp.glob("*.bin"))
    img_path = kangaroo / "images" / "00001.jpg"
    img = load_image(img_path)
    h, w = img.shape[:2]
    rows = run_tfjs(mj, {INPUT: preprocess(img, SIZE)}, [DETECTIONS])[DETECTIONS][0]
    thr = 0.05
    script = tmp_path / "decode.mjs"
    script.write_text(JS_DECODE % (REPO_ROOT / "web" / "js" / "detector.js").as_uri())
    js = json.loads(subprocess.run(["node", str(script), json.dumps([rows.reshape(-1).tolist(), w, h, SIZE, thr])],
                                   capture_output=True, text=True, check=True).stdout)
    assert huia_main(["detect", "predict", str(exp), str(img_path), "--json", "--threshold", str(thr)]) == 0
    py = json.loads(capsys.readouterr().out)["00001.jpg"]
    assert len(py) >= 1
    big = [d for d in py if d["score"] > thr + 2e-3]  # a box right at the threshold may flip either way
    assert len(js) >= len(big)
    for p, j in zip(big, js):
        assert abs(p["score"] - j["score"]) <= 1e-3
        assert _iou(p["box"], j["box"]) >= 0.99
        assert j["label"] == "kangaroo"


def _straight_and_resumed(kangaroo, tmp_path, tiny: dict):
    """The same tiny run twice: straight through into a/, and interrupted after one epoch then resumed into b/."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = train(TrainConfig(data=str(kangaroo), out=str(tmp_path / "a"), **tiny), quiet=True)
        assert train(TrainConfig(data=str(kangaroo), out=str(tmp_path / "b"), **tiny), quiet=True,
                     stop_after_epochs=1) is None
        b = train(TrainConfig(data=str(kangaroo), out=str(tmp_path / "b"), **tiny), quiet=True)
    return a, b


def test_tail_mode_trains_and_resumes(kangaroo, tmp_path):
    """The cheap mode (cached head features, output convs only): runs, and resume == uninterrupted."""
    a, b = _straight_and_resumed(kangaroo, tmp_path, dict(TINY, max_images=4, batch_size=2, mode="tail", views=2))
    la = np.genfromtxt(tmp_path / "a" / "log.csv", delimiter=",", names=True)
    lb = np.genfromtxt(tmp_path / "b" / "log.csv", delimiter=",", names=True)
    np.testing.assert_allclose(la["total_loss"], lb["total_loss"], rtol=1e-5)
    assert abs(a["ap"] - b["ap"]) < 1e-6 and (tmp_path / "b" / "model" / "model.json").is_file()


def test_ema_resumes_and_validation_split_stays_inside_training(kangaroo, tmp_path):
    """--ema: the weight average is checkpointed, so an interrupted + resumed run ships the same model as an
    uninterrupted one; --val-fraction: the images evaluated are carved from the training part, never held-out, and
    are recorded as validation images: the run's held-out split stays the plain one, which `detect eval` scores."""
    a, b = _straight_and_resumed(kangaroo, tmp_path, dict(TINY, max_images=4, batch_size=2, mode="tail", views=2,
                                                          ema=0.5, val_fraction=0.25))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, held_out, _ = D.load_split(kangaroo, seed=0)
    assert abs(a["ap"] - b["ap"]) < 1e-6 and a["ar100"] == b["ar100"]
    wa = json.loads((tmp_path / "a" / "config.json").read_text())
    from huia.data.split import sample_key
    from huia.tfjs.artifacts import load_artifacts

    held = {sample_key(s) for s in held_out}
    assert wa["val_images"] and not set(wa["val_images"]) & held
    assert not set(wa["val_images"]) & set(wa["train_images"])
    assert sorted(wa["test_images"]) == sorted(held)  # the held-out split is untouched
    ma_json = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert ma_json["evaluated_on"] == "validation" and ma_json["val_images"] == len(wa["val_images"])
    assert "test_images" not in ma_json
    ma, mb = load_artifacts(tmp_path / "a" / "model"), load_artifacts(tmp_path / "b" / "model")
    for k, v in ma.weights.items():
        np.testing.assert_allclose(v, mb.weights[k], rtol=1e-5, atol=1e-6)


def test_wise_zero_ships_the_coco_start(kangaroo, tmp_path):
    """--wise interpolates the shipped weights between the COCO start (0) and the fine-tuned ones (1)."""
    from huia.tfjs.artifacts import load_artifacts

    tiny = dict(TINY, max_images=4, batch_size=2, mode="tail", views=1, epochs=1, wise=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train(TrainConfig(data=str(kangaroo), out=str(tmp_path / "w"), **tiny), quiet=True)
    cfg = json.loads((tmp_path / "w" / "config.json").read_text())
    start = adapt_centernet(load_base_artifacts(), input_size=SIZE, class_channels=cfg["class_channels"])
    shipped = load_artifacts(tmp_path / "w" / "model").weights
    trained = [k for k in start.weights if "CenternetHead/centernet_" in k and "_output/" in k]
    assert trained
    for k in trained:
        np.testing.assert_allclose(shipped[k], start.weights[k], rtol=1e-5, atol=1e-6)


def test_soup_ships_the_mean_of_its_members_and_resumes(kangaroo, tmp_path, capsys):
    """--members K: K runs on the same split with different augmentation draws; the shipped weights are their mean
    (checked against numpy on the members' own model.json files); member 0 is the plain one-member run; an
    interrupted soup resumes member by member and ships the same model."""
    from huia.tfjs.artifacts import load_artifacts

    tiny = dict(TINY, max_images=4, batch_size=2, mode="tail", views=2, members=2)
    a, b = _straight_and_resumed(kangaroo, tmp_path, tiny)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = train(TrainConfig(data=str(kangaroo), out=str(tmp_path / "plain"), **dict(tiny, members=1)),
                      quiet=True)
    m0, m1 = (load_artifacts(tmp_path / "a" / "members" / str(k) / "model").weights for k in (0, 1))
    soup = load_artifacts(tmp_path / "a" / "model").weights
    moved = [k for k in soup if not np.array_equal(m0[k], m1[k])]
    assert moved, "the two members drew the same augmentations"
    for k in soup:
        np.testing.assert_allclose(soup[k], (m0[k].astype(np.float64) + m1[k]) / 2, rtol=1e-6, atol=1e-7)
    mp = load_artifacts(tmp_path / "plain" / "model").weights
    for k in mp:
        np.testing.assert_allclose(m0[k], mp[k], rtol=1e-5, atol=1e-6)
    assert len(a["members"]) == 2 and abs(a["ap"] - b["ap"]) < 1e-6
    assert abs(a["members"][0]["ap"] - plain["ap"]) < 1e-6
    assert (tmp_path / "a" / "plots" / "loss.png").is_file()
    assert huia_main(["detect", "train", "--data", str(kangaroo), "--out", str(tmp_path / "c"), "--members", "0"]) == 2
    assert "--members must be between 1 and 16" in capsys.readouterr().err
    assert huia_main(["detect", "train", "--data", str(kangaroo), "--out", str(tmp_path / "c"),
                      "--backbone-lr", "0"]) == 2
    assert "--backbone-lr (the backbone's share of the learning rate) must be in (0, 1], got 0.0" in \
        capsys.readouterr().err


def test_soup_picks_the_class_channel_once(kangaroo, tmp_path, monkeypatch):
    """Soup members share the split, so the COCO channel pick (a pass over every training image) is made by member 0
    and handed to the others, which start from the same channel."""
    import huia.detect.train as T

    calls = []
    real = T.pick_class_channels
    monkeypatch.setattr(T, "pick_class_channels", lambda *a, **k: calls.append(1) or real(*a, **k))
    tiny = dict(TINY, epochs=1, max_images=3, batch_size=3, steps_per_epoch=1, mode="tail", views=1, members=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train(TrainConfig(data=str(kangaroo), out=str(tmp_path / "s"), **tiny), quiet=True)
    chans = [json.loads((tmp_path / "s" / "members" / str(k) / "config.json").read_text())["class_channels"]
             for k in range(3)]
    assert len(calls) == 1 and chans[0] == chans[1] == chans[2]


@pytest.mark.parametrize("train_backbone", [True, False])
def test_backbone_learning_rate_share_and_freezing(kangaroo, tmp_path, train_backbone):
    """One Adam step moves every trained weight by about the step's learning rate (|g| / |g|), so the largest change
    per part shows its learning rate: the head at lr, the MobileNetV3 at backbone_lr x lr when it trains, and
    when it is frozen the layers feeding the stride-16 taps do not move at all."""
    from huia.detect.model import BACKBONE_PREFIX, TAPS, _ancestors
    from huia.detect.train import _lr_at
    from huia.tfjs.artifacts import load_artifacts

    cfg = TrainConfig(data=str(kangaroo), out=str(tmp_path / "r"), **dict(
        TINY, epochs=1, steps_per_epoch=1, max_images=2, batch_size=2, train_backbone=train_backbone,
        backbone_lr=0.1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train(cfg, quiet=True)
    step_lr = _lr_at(0, 1, cfg.lr, warmup=2)
    chans = json.loads((tmp_path / "r" / "config.json").read_text())["class_channels"]
    start = adapt_centernet(load_base_artifacts(), input_size=SIZE, class_channels=chans)
    shipped = load_artifacts(tmp_path / "r" / "model").weights
    frozen = _ancestors({n["name"]: n for n in start.model_topology["node"]}, TAPS)
    moved = {"head": 0.0, "backbone": 0.0, "frozen": 0.0}
    for k, v in start.weights.items():
        if v.dtype.kind != "f":
            continue
        d = float(np.abs(shipped[k].astype(np.float64) - v).max())
        part = ("frozen" if not train_backbone and k in frozen else
                "backbone" if k.startswith(BACKBONE_PREFIX) else "head")
        moved[part] = max(moved[part], d)
    assert moved["head"] == pytest.approx(step_lr, rel=0.02)
    if train_backbone:
        assert moved["backbone"] == pytest.approx(0.1 * step_lr, rel=0.02)
    else:
        assert moved["frozen"] == 0.0
        assert moved["backbone"] == pytest.approx(step_lr, rel=0.02)  # MobileNetV3 blocks 12-14 after the taps


def test_an_unknown_base_detector_is_refused_not_ignored(tmp_path):
    """TrainConfig.base_model is recorded in config.json; a value huia would not load must not be accepted
    silently (it would train the bundled CenterNet and record the other name)."""
    from huia.detect.train import TrainConfig

    with pytest.raises(HuiaError, match="base_model: huia fine-tunes the bundled 'centernet' only, got nanodet"):
        TrainConfig(data=str(tmp_path), out=str(tmp_path / "r"), base_model="nanodet")
    assert TrainConfig(data=str(tmp_path), out=str(tmp_path / "r")).base_model == "centernet"
