"""`huia detect eval` as a TF Object Detection API user expects it: TP/FP/FN, precision and recall at the score
threshold (checked against pycocotools' own matching on real predictions), per-class AP (against COCOeval restricted
to one class), the operating point on the PR curve, pictures of predictions next to the ground truth, the AP of an
export, the held-out loss, validation images kept apart from the held-out split, already-split data.

One tiny two-class run (kangaroo boxes, a third relabelled "wallaby"; 128 px, one epoch, output layers only):
the numbers are not good, they only have to be right.
"""

from __future__ import annotations

import csv
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from huia.cli import main as huia_main
from huia.detect.train import TrainConfig, train
from tests.eval.test_coco_threshold import _cocoeval, pycoco_counts

TINY = dict(epochs=1, input_size=128, batch_size=3, max_images=6, steps_per_epoch=2, members=1, mode="tail",
            views=1)
TINY_ARGS = ["--epochs", "1", "--members", "1", "--input-size", "128", "--batch-size", "3", "--max-images", "4",
             "--steps-per-epoch", "1", "--mode", "tail", "--views", "1"]
HEADER = ["filename", "width", "height", "class", "xmin", "ymin", "xmax", "ymax", "source"]


def _write_csv(path, samples, relabel=True):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        for i, s in enumerate(samples):
            for b in s.boxes.xyxy:
                w.writerow([s.image_path.name, s.width, s.height, "wallaby" if relabel and i % 3 == 0 else "kangaroo",
                            *[int(round(v)) for v in b], ""])


@pytest.fixture(scope="module")
def two_class(shared_data, node_modules, tmp_path_factory):
    """40 kangaroo images as a CSV folder; every third image's boxes are called wallaby. Also the Kaggle layout of
    the same images: images/ + train_labels.csv (the first 32) + test_labels.csv (the last 8)."""
    from huia.data import load_dataset

    root = tmp_path_factory.mktemp("two")
    samples = [s for s in load_dataset(shared_data / "kangaroo") if s.boxes is not None and len(s.boxes)][:40]
    data = root / "two_class"
    (data / "images").mkdir(parents=True)
    for s in samples:
        shutil.copy(s.image_path, data / "images" / s.image_path.name)
    _write_csv(data / "labels.csv", samples)
    kaggle = root / "kaggle"
    shutil.copytree(data / "images", kaggle / "images")
    _write_csv(kaggle / "train_labels.csv", samples[:32])
    _write_csv(kaggle / "test_labels.csv", samples[32:])
    return data, kaggle


@pytest.fixture(scope="module")
def two_run(two_class, tmp_path_factory):
    data, _ = two_class
    out = tmp_path_factory.mktemp("two_run") / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metrics = train(TrainConfig(data=str(data), out=str(out), seed=0, **TINY), quiet=True)
    return out, metrics


def _eval(run, data, capsys, *extra):
    assert huia_main(["detect", "eval", str(run), "--data", str(data), *extra]) == 0
    return capsys.readouterr()


def test_counts_and_per_class_ap_equal_pycocotools_on_real_predictions(two_run, two_class, capsys):
    from huia.detect.cli import eval_run

    out, metrics = two_run
    data, _ = two_class
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = eval_run(out, data)
    assert res["class_names"] == ["kangaroo", "wallaby"] and res["score_threshold"] == 0.3
    gts, dets = res["_gts"], res["_dets"]
    assert sum(len(d) for d in dets) > 0 and sum(len(g) for g in gts) > 0
    js = json.loads(_eval(out, data, capsys, "--json").out)
    ref = pycoco_counts(gts, dets, 2, 0.3)
    for key in ("iou50", "iou75"):
        c = js["at_threshold"][key]
        assert (c["tp"], c["fp"], c["fn"]) == ref[key]
        if c["tp"] + c["fp"]:
            assert c["precision"] == pytest.approx(c["tp"] / (c["tp"] + c["fp"]), abs=1e-6)
        assert c["recall"] == pytest.approx(c["tp"] / (c["tp"] + c["fn"]), abs=1e-6)
    # another threshold, asked for
    js_low = json.loads(_eval(out, data, capsys, "--json", "--threshold", "0.05").out)
    assert js_low["at_threshold"]["score_threshold"] == 0.05
    ref_low = pycoco_counts(gts, dets, 2, 0.05)
    assert tuple(js_low["at_threshold"]["iou50"][k] for k in ("tp", "fp", "fn")) == ref_low["iou50"]
    # per class: COCOeval with catIds restricted to that class
    for k, name in enumerate(["kangaroo", "wallaby"]):
        ev = _cocoeval(gts, dets, 2, cat_ids=[k + 1])
        assert js["per_class"][name]["ap"] == pytest.approx(ev.stats[0], abs=1e-6)
        assert js["per_class"][name]["ap50"] == pytest.approx(ev.stats[1], abs=1e-6)
    per_class_counts = js["at_threshold"]["per_class"]
    assert sum(per_class_counts[n]["iou50"]["tp"] for n in per_class_counts) == js["at_threshold"]["iou50"]["tp"]
    # training wrote the same figures (same images, same model) into metrics.json
    assert metrics["per_class"] == js["per_class"]
    assert metrics["at_threshold"]["iou50"] == js["at_threshold"]["iou50"]
    text = _eval(out, data, capsys).out
    assert "kept detections (score >= 0.30, the model's own threshold" in text
    c = js["at_threshold"]["iou50"]
    assert f"IoU 0.50: TP {c['tp']}  FP {c['fp']}  FN {c['fn']}" in text
    assert "per class:" in text and f"wallaby   AP {js['per_class']['wallaby']['ap']:.3f}" in text
    assert huia_main(["detect", "eval", str(out), "--data", str(data), "--threshold", "2"]) == 2
    assert "--threshold must be in [0, 1]" in capsys.readouterr().err


def test_pr_curve_marks_the_operating_point(two_run, tmp_path):
    """plots/pr_curve.png carries a mark where the model's threshold sits; without it the picture differs only by
    that mark (and its legend line)."""
    from PIL import Image

    from huia.detect.train import write_plots
    from huia.train.common import RunDir

    out, metrics = two_run
    from huia.detect.cli import eval_run

    data = json.loads((out / "config.json").read_text())["data"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = eval_run(out, data)
    plain = RunDir(tmp_path / "plain")
    write_plots(plain, res, [], operating=None)
    assert metrics["at_threshold"]["iou50"]["recall"] is not None
    marked = np.asarray(Image.open(out / "plots" / "pr_curve.png").convert("RGB")).astype(int)
    unmarked = np.asarray(Image.open(plain.plots_dir / "pr_curve.png").convert("RGB")).astype(int)
    assert marked.shape == unmarked.shape
    assert (np.abs(marked - unmarked).sum(axis=2) > 60).sum() > 50


def test_overlay_pictures_show_tp_fp_and_missed(two_run, two_class, tmp_path, capsys):
    from PIL import Image

    from huia.detect.predict import EVAL_COLOURS, draw_eval_overlay
    from huia.types import Detections

    out, _ = two_run
    data, _ = two_class
    text = _eval(out, data, capsys, "--overlay", str(tmp_path / "ov"), "--threshold", "0.05").out
    files = sorted((tmp_path / "ov").glob("*.jpg"))
    assert len(files) == 8 and "pictures: " in text  # one per held-out image
    assert Image.open(files[0]).size[1] > 44
    # the drawing itself, on a blank picture: each kind of box in its own colour
    img = np.zeros((200, 300, 3), np.uint8)
    gt = Detections(np.array([[10, 10, 60, 60], [200, 100, 280, 180]], float), None, np.array([0, 0]), ["k"])
    dets = Detections(np.array([[12, 12, 60, 62], [100, 120, 150, 190]], float), np.array([0.9, 0.5]),
                      np.array([0, 0]), ["k"])
    pic = draw_eval_overlay(img, gt, dets, np.array([True, False]), np.array([True, False]))
    body = pic[44:]

    def colour_at(x, y):
        return tuple(int(v) for v in body[y, x])

    assert colour_at(240, 100) == EVAL_COLOURS["missed"]  # top edge of the missed ground truth
    assert colour_at(125, 120) == EVAL_COLOURS["fp"]      # top edge of the false positive
    assert colour_at(35, 12) == EVAL_COLOURS["tp"]        # top edge of the true positive
    with pytest.raises(SystemExit):
        huia_main(["detect", "eval", "--help"])
    assert "thick yellow = a ground-truth box no prediction found (FN)" in " ".join(capsys.readouterr().out.split())


def _md5s(folder):
    import hashlib

    return {p.relative_to(folder).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_line(capsys, expected):
    err = capsys.readouterr().err.strip()
    assert err == expected, err


def test_overlay_never_lands_on_the_data_and_bad_places_are_one_line(two_run, two_class, tmp_path, capsys):
    """Re-audit 10 findings 3 and 7: `--overlay DATA/images` replaced the held-out photos with annotated copies;
    `--overlay afile/sub` and `/proc/x` ended in tracebacks. Refused in one line naming DIR, before anything is
    written (the data set byte-identical), and before the evaluation runs."""
    out, _ = two_run
    data = tmp_path / "copy"
    shutil.copytree(two_class[0], data)
    before = _md5s(data)
    msg = ": writing there would overwrite or mix with its files; give a separate folder"
    for ov, where in [(data / "images", f"is inside the input folder {data}"), (data, f"is the input folder {data}"),
                      (data / "new", f"is inside the input folder {data}")]:
        assert huia_main(["detect", "eval", str(out), "--data", str(data), "--overlay", str(ov)]) == 2
        _one_line(capsys, f"huia: error: {ov}: --overlay {where}{msg}")
    assert _md5s(data) == before and not (data / "new").exists()
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert huia_main(["detect", "eval", str(out), "--data", str(data), "--overlay", str(afile / "sub")]) == 2
    _one_line(capsys, f"huia: error: {afile / 'sub'}: --overlay: {afile} is a file, not a folder")
    if Path("/proc/self").is_dir():  # Linux: a folder nobody can create a sub-folder in
        assert huia_main(["detect", "eval", str(out), "--data", str(data), "--overlay", "/proc/huia_x"]) == 2
        _one_line(capsys, "huia: error: /proc/huia_x: --overlay: cannot create the folder /proc/huia_x "
                          "(No such file or directory)")
    # a separate folder is fine, and a second run into it replaces its own earlier pictures (as --help says)
    for _ in range(2):
        assert huia_main(["detect", "eval", str(out), "--data", str(data), "--overlay", str(tmp_path / "ov")]) == 0
        n = int(capsys.readouterr().out.split("evaluated on ")[1].split()[0])
        assert len(list((tmp_path / "ov").glob("*.jpg"))) == n > 8 and _md5s(data) == before
    with pytest.raises(SystemExit):
        huia_main(["detect", "eval", "--help"])
    flat = " ".join(capsys.readouterr().out.split())
    assert "one inside the data set or holding its images is refused" in flat
    assert "pictures of an earlier run in DIR with the same names are replaced" in flat


def test_export_is_scored_like_the_browser_runs_it(two_run, two_class, tmp_path, capsys):
    """--export: a float32 export scores exactly as the run; a uint8 one as its own Detector does, with the
    difference from the run printed; an export of other classes is refused."""
    from huia.detect.export import export_run
    from huia.detect.predict import Detector, evaluate_samples

    out, _ = two_run
    data, _ = two_class
    export_run(out, tmp_path / "f32")
    export_run(out, tmp_path / "u8", quantize="uint8")
    run_js = json.loads(_eval(out, data, capsys, "--json").out)
    f32 = json.loads(_eval(out, data, capsys, "--json", "--export", str(tmp_path / "f32")).out)["export"]
    assert f32["quantization"] == "float32"
    for k in ("ap", "ap50", "ar100"):
        assert f32[k] == pytest.approx(run_js[k], abs=1e-6) and abs(f32["minus_run"][k]) < 1e-6
    u8 = json.loads(_eval(out, data, capsys, "--json", "--export", str(tmp_path / "u8")).out)["export"]
    from huia.detect.cli import eval_run

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        test = eval_run(out, data)["_samples"]
        own = evaluate_samples(Detector.from_dir(tmp_path / "u8"), test)
    assert u8["quantization"] == "uint8" and u8["bytes"] < f32["bytes"]
    for k in ("ap", "ap50", "ar100"):
        assert u8[k] == pytest.approx(own[k], abs=1e-6)
        assert u8["minus_run"][k] == pytest.approx(own[k] - run_js[k], abs=1e-5)
    text = _eval(out, data, capsys, "--export", str(tmp_path / "u8")).out
    assert f"export {tmp_path / 'u8'} (uint8" in text and f"AP {u8['ap']:.3f} ({round(u8['minus_run']['ap'], 3) + 0.0:+.3f})" in text
    assert "(the run's model: TP " in text
    doc = json.loads((tmp_path / "f32" / "model.json").read_text())
    doc["userDefinedMetadata"]["huia"]["labels"] = ["a", "b"]
    (tmp_path / "f32" / "model.json").write_text(json.dumps(doc))
    assert huia_main(["detect", "eval", str(out), "--data", str(data), "--export", str(tmp_path / "f32")]) == 2
    assert "exported from another model" in capsys.readouterr().err
    assert huia_main(["detect", "eval", str(out), "--data", str(data), "--export", str(out)]) == 2
    assert "this is a run folder" in capsys.readouterr().err


def test_held_out_loss_is_recorded(two_run):
    out, metrics = two_run
    loss = json.loads((out / "metrics.json").read_text())["held_out_loss"]
    assert loss == metrics["held_out_loss"]
    assert loss["classification_loss"] > 0 and loss["localization_loss"] > 0
    assert loss["total_loss"] == pytest.approx(loss["classification_loss"] + loss["localization_loss"]
                                               + loss["regularization_loss"], abs=1e-5)
    last = np.genfromtxt(out / "log.csv", delimiter=",", names=True)[-1]
    assert loss["regularization_loss"] == pytest.approx(float(last["regularization_loss"]), abs=1e-6)
    assert loss["last_training_step"]["total_loss"] == pytest.approx(float(last["total_loss"]), abs=1e-5)


def test_validation_split_is_labelled_and_eval_still_works(two_class, two_run, tmp_path, capsys):
    """Finding 2: --val-fraction reports validation figures as such, and `detect eval` on the same data then
    scores the untouched held-out split (it refused the run before). (Also: this run's export, same classes and
    size, is not taken for an export of the other run.)"""
    data, _ = two_class
    run = tmp_path / "v"
    assert huia_main(["detect", "train", "--data", str(data), "--out", str(run), *TINY_ARGS,
                      "--val-fraction", "0.25"]) == 0
    text = capsys.readouterr().out
    assert "validation (8 images carved from the training part; the held-out split is untouched)" in text
    assert "held-out (" not in text and "validation loss: classification" in text
    m = json.loads((run / "metrics.json").read_text())  # the loss on validation images is named so (re-audit 10)
    assert m["evaluated_on"] == "validation" and "held_out_loss" not in m
    assert m["val_loss"]["classification_loss"] > 0 and "last_training_step" in m["val_loss"]
    cfg = json.loads((run / "config.json").read_text())
    assert len(cfg["val_images"]) == 8 and len(cfg["test_images"]) == 8
    assert not set(cfg["val_images"]) & set(cfg["test_images"])
    err = _eval(run, data, capsys, "--json").err
    assert "evaluated on the run's held-out split: 8 images" in err
    # a run made before the fix stored its validation images as "test_images": it is evaluated too
    old = dict(cfg, test_images=cfg["val_images"])
    del old["val_images"]
    (run / "config.json").write_text(json.dumps(old))
    assert "evaluated on the run's held-out split: 8 images" in _eval(run, data, capsys, "--json").err
    from huia.detect.export import export_run

    export_run(run, tmp_path / "v_export", quantize="uint8")
    assert huia_main(["detect", "eval", str(two_run[0]), "--data", str(data),
                      "--export", str(tmp_path / "v_export")]) == 2
    assert "not an export of this run" in capsys.readouterr().err


def test_already_split_data_and_the_kaggle_layout(two_class, tmp_path, capsys):
    """--train-fraction 1 trains on every image of the train CSV; `detect eval` refuses the same data, evaluates
    the test CSV, and on a copy of the training data leaves out (by content) the images the run trained on. The
    Kaggle folder (two CSV files) gets a one-line error naming both and what to pass."""
    _, kaggle = two_class
    run = tmp_path / "all"
    assert huia_main(["detect", "train", "--data", str(kaggle), "--out", str(run), *TINY_ARGS]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "2 annotation CSV files here (test_labels.csv, train_labels.csv)" in err
    assert f"--data {kaggle / 'train_labels.csv'} --train-fraction 1" in err and not run.exists()
    assert huia_main(["detect", "train", "--data", str(kaggle / "train_labels.csv"), "--out", str(run),
                      *TINY_ARGS, "--train-fraction", "1"]) == 0
    text = capsys.readouterr().out
    assert "nothing held out (--train-fraction 1)" in text
    m = json.loads((run / "metrics.json").read_text())
    assert m["evaluated_on"] == "none" and m["test_images"] == 0 and "ap" not in m
    assert huia_main(["detect", "eval", str(run), "--data", str(kaggle / "train_labels.csv")]) == 2
    assert "the run trained on every image of this data set (--train-fraction 1)" in capsys.readouterr().err
    assert huia_main(["detect", "eval", str(run), "--data", str(kaggle)]) == 2
    assert "2 annotation CSV files here" in capsys.readouterr().err
    js = json.loads((res := _eval(run, kaggle / "test_labels.csv", capsys, "--json")).out)
    assert "evaluated on 8 images" in res.err and 0 <= js["ap50"] <= 1
    # a CSV data set: the folder its images are in is known after reading it, and refused before any picture
    before = _md5s(kaggle / "images")
    assert huia_main(["detect", "eval", str(run), "--data", str(kaggle / "test_labels.csv"),
                      "--overlay", str(kaggle / "images")]) == 2
    _one_line(capsys, f"huia: error: {kaggle / 'images'}: --overlay is the input folder {kaggle / 'images'}: "
                      "writing there would overwrite or mix with its files; give a separate folder")
    assert _md5s(kaggle / "images") == before
    # the same training images under other names: the 4 it trained on are recognised by content
    copy = tmp_path / "copy"
    (copy / "images").mkdir(parents=True)
    for p in (kaggle / "images").iterdir():
        shutil.copy(p, copy / "images" / f"renamed_{p.name}")
    rows = list(csv.reader(open(kaggle / "train_labels.csv")))
    with open(copy / "labels.csv", "w", newline="") as f:
        csv.writer(f).writerows([rows[0]] + [[f"renamed_{r[0]}", *r[1:]] for r in rows[1:]])
    err = _eval(run, copy, capsys, "--json").err
    assert "evaluated on 28 images (4 the run trained on, or copies of them, were left out)" in err


def test_plural_of_one_image():
    from huia.detect.cli import _images

    assert _images(1) == "1 image" and _images(27) == "27 images"


def test_csv_classes_differing_only_by_case_are_warned(tmp_path):
    from huia.data.csv_format import read_csv

    (tmp_path / "images").mkdir()
    rows = [HEADER, ["a.jpg", 100, 80, "Kangaroo", 1, 1, 50, 50, ""], ["b.jpg", 100, 80, "kangaroo", 1, 1, 50, 50, ""],
            ["b.jpg", 100, 80, "kangaroo", 5, 5, 60, 60, ""], ["c.jpg", 100, 80, "wallaby", 1, 1, 50, 50, ""]]
    with open(tmp_path / "labels.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read_csv(tmp_path / "labels.csv")
    msgs = [str(w.message) for w in caught if "differ only by case" in str(w.message)]
    assert len(msgs) == 1
    assert "'Kangaroo' (1 box) and 'kangaroo' (2 boxes) differ only by case and count as 2 classes" in msgs[0]
    assert "wallaby" not in msgs[0]


def test_export_carries_the_held_out_operating_curve(two_run, two_class, tmp_path, capsys):
    """The export's metadata holds TP/FP/FN per score threshold on the run's held-out images (the Detector page
    shows precision and recall next to its slider from it): each row equals `detect eval --threshold T`."""
    from huia.detect.export import export_run

    out, _ = two_run
    data, _ = two_class
    mj = export_run(out, tmp_path / "exp")
    oc = json.loads(mj.read_text())["userDefinedMetadata"]["huia"]["operating_curve"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert oc["evaluated_on"] == "held-out" and oc["images"] == metrics["test_images"] and oc["iou"] == 0.5
    rows = {round(r[0], 2): r[1:] for r in oc["curve"]}
    assert sorted(rows) == [round(k / 100, 2) for k in range(1, 100)]
    for t in (0.05, 0.3, 0.55):
        got = json.loads(_eval(out, data, capsys, "--json", "--threshold", str(t)).out)["at_threshold"]["iou50"]
        assert rows[t] == [got["tp"], got["fp"], got["fn"]], t
    assert all(a[1] >= b[1] and a[2] >= b[2] for a, b in zip(oc["curve"], oc["curve"][1:]))  # fewer kept as t rises
