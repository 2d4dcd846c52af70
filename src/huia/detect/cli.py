"""`huia detect train|eval|predict`: a custom object detector from a VOC/CSV/COCO folder, on a CPU."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np

from huia.errors import HuiaError
from huia.train.common import prepare_output


def register(sub) -> None:
    p = sub.add_parser("detect", help="train, evaluate and run a custom object detector",
                       description="Fine-tune the bundled COCO CenterNet (MobileNetV3) on your boxes, evaluate it "
                                   "with the COCO metrics on a held-out split, and run it on images.")
    from huia.cli import SUBCOMMAND_METAVAR

    dsub = p.add_subparsers(dest="detect_command", metavar=SUBCOMMAND_METAVAR)
    dsub.required = True

    t = dsub.add_parser("train", help="fine-tune a detector on a data set (resumes an interrupted run)",
                        description="Split the data set deterministically (80/20 by default), fine-tune on the "
                                    "train part with box-aware augmentation, evaluate on the held-out part. By "
                                    "default three runs that differ only in their augmentation draws are averaged "
                                    "into one model (--members). RUN gets config.json, metrics.json (with each "
                                    "member's metrics), plots/loss.png, plots/pr_curve.png, model/ (TF.js), and "
                                    "members/K/ with each member's log.csv (per-step classification/localization/"
                                    "regularization/total loss). Running the same command again resumes from the "
                                    "last finished epoch.")
    t.add_argument("--data", required=True, help="data set folder (VOC annots/ + images/, CSV or COCO JSON)")
    t.add_argument("--out", required=True, help="run folder to create (or resume)")
    t.add_argument("--epochs", type=int, default=12, help="passes over the training images (default 12)")
    t.add_argument("--seed", type=int, default=0,
                   help="split + augmentation + init seed (default 0); the same seed on the same number of CPU "
                        "threads (2 unless OMP_NUM_THREADS says fewer) reproduces a run exactly")
    t.add_argument("--input-size", type=int, default=None,
                   help="network input side in pixels, multiple of 32 (default 320: ~28 FPS in the browser on "
                        "wasm; 256 is faster and less accurate on small objects)")
    t.add_argument("--batch-size", type=int, default=8, help="images per step (default 8)")
    t.add_argument("--lr", type=float, default=6e-4, help="Adam learning rate (cosine decay, warm-up; default 6e-4)")
    t.add_argument("--train-fraction", type=float, default=0.8,
                   help="share of images used for training (default 0.8; the rest is the held-out split). 1: the "
                        "data set is already split, train on all of it and evaluate with huia detect eval RUN "
                        "--data TEST (images the run trained on are refused there, by content)")
    t.add_argument("--mode", choices=("head", "tail"), default=None,
                   help="head (default): train on images augmented every step (the whole graph unless "
                        "--freeze-backbone); tail: cache the "
                        "head's last feature map for --views augmented views per image and train only the output "
                        "layers (several times cheaper, slightly less accurate)")
    t.add_argument("--views", type=int, default=4, help="tail mode: augmented views per image (default 4)")
    t.add_argument("--freeze-backbone", action="store_true",
                   help="keep the MobileNetV3 up to stride 16 at its COCO weights and train only what follows "
                        "(60 %% of the training time, lower AP: 0.55 vs 0.59 on kangaroo splits)")
    t.add_argument("--backbone-lr", type=float, default=None,
                   help="the backbone's learning rate as a share of --lr (default 0.1: the COCO features are "
                        "nudged, not relearnt)")
    t.add_argument("--augment", choices=("default", "strong"), default="default",
                   help="augmentation ranges: default, or strong (wider zoom, shift, colour; slightly lower AP on "
                        "kangaroo)")
    t.add_argument("--wise", type=float, default=None,
                   help="ship COCO + WISE x (fine-tuned - COCO): interpolating back toward the pretrained weights "
                        "generalises better on small data sets (0..1; default 1 = the fine-tuned weights)")
    t.add_argument("--ema", type=float, default=None,
                   help="decay of an exponential moving average of the trained weights, shipped instead of the "
                        "last weights (0..1; default 0 = off)")
    t.add_argument("--val-fraction", type=float, default=0.0,
                   help="carve this share of the TRAINING part off as a validation split and report metrics on it "
                        "(default 0: none; for choosing settings without touching the held-out split, which stays "
                        "what huia detect eval scores)")
    t.add_argument("--members", type=int, default=None,
                   help="train this many runs with different augmentation draws and ship the average of their "
                        "weights (a model soup: one model's inference cost, K times the training time; default "
                        f"{_default_members()})")
    t.add_argument("--max-images", type=int, default=None, help=argparse.SUPPRESS)
    t.add_argument("--steps-per-epoch", type=int, default=None, help=argparse.SUPPRESS)
    t.add_argument("--json", action="store_true", help="print the held-out metrics as JSON at the end")
    t.set_defaults(func=_cmd_train)

    e = dsub.add_parser("eval", help="COCO metrics of a run on images it did not train on",
                        description="AP@[.5:.95], AP50, AP75, AR@1/10/100 (COCO definitions, equal to pycocotools) "
                                    "on images the run did NOT train on, per class too for several classes, and "
                                    "TP/FP/FN, precision and recall at the score threshold the model ships with "
                                    "(what the Detector page shows), at IoU 0.50 and 0.75. --data the run was "
                                    "trained on: its held-out split (the same split as training). Any other data "
                                    "set (e.g. the test/ part of `huia data split`): all of its images except any "
                                    "the run trained on, recognised by content, whatever their names.")
    e.add_argument("run", help="run folder made by `huia detect train`")
    e.add_argument("--data", required=True,
                   help="the data set the run was trained on, or another data set with the same classes")
    e.add_argument("--threshold", type=float, default=None,
                   help="score threshold for TP/FP/FN, precision and recall (default: the model's own, 0.3); "
                        "AP always uses every detection, as COCO does")
    e.add_argument("--overlay", default=None, metavar="DIR",
                   help="write one picture per evaluated image (NAME.jpg) here with the ground truth and the "
                        "predictions kept at the threshold (matching at IoU 0.50): " + EVAL_LEGEND_HELP + ". DIR must "
                        "be a folder of its own: one inside the data set or holding its images is refused before "
                        "anything is written; pictures of an earlier run in DIR with the same names are replaced")
    e.add_argument("--export", default=None, metavar="DIR",
                   help="also score this export of the run (a `huia export` folder, quantized or not) on the same "
                        "images, as the browser runs it, and say how far its figures are from the run's model")
    e.add_argument("--json", action="store_true",
                   help="print {ap, ap50, ap75, ar1, ar10, ar100, at_threshold, [per_class], [export]} as JSON")
    e.add_argument("--ci", action="store_true",
                   help='with --json: add "ci", 95 %% bootstrap intervals of those figures over the held-out images '
                        "(the text output always shows them)")
    e.set_defaults(func=_cmd_eval)

    r = dsub.add_parser("predict", help="detect objects in an image or a folder of images",
                        description="Boxes in input-image pixels: {file name: [{box: [xmin, ymin, xmax, ymax], "
                                    "label, score}]}; a folder's images are keyed by their path relative to it "
                                    "(sub-folders included, hidden ones not). An image that cannot be read is "
                                    "skipped with a warning naming "
                                    "it; the others are still predicted, and the exit code is then 1.")
    r.add_argument("run", help="run folder (or an exported model folder)")
    r.add_argument("images", help="an image file or a folder of images")
    r.add_argument("--threshold", type=float, default=None, help="minimum score in [0, 1] (default: the model's, 0.3)")
    r.add_argument("--overlay", default=None, metavar="DIR",
                   help="also write copies of the images with the boxes drawn here (NAME.jpg, a folder's layout "
                        "kept). DIR must be a folder of its own: the input folder (or the input image's folder) or "
                        "one inside it is refused before anything is written; pictures of an earlier run in DIR with "
                        "the same names are replaced")
    r.add_argument("--json", action="store_true", help="print JSON (default: one line per box)")
    r.set_defaults(func=_cmd_predict)


EVAL_LEGEND_HELP = ("green = a prediction that matches a ground-truth box (TP), red = a prediction that matches "
                    "none (FP), thick yellow = a ground-truth box no prediction found (FN), thin white = a "
                    "ground-truth box that was found; a legend strip on top of each picture says the same")


def _default_members() -> int:
    from huia.detect.train import TrainConfig

    return TrainConfig.members


def _cmd_train(args) -> int:
    from huia.detect.dataset import check_detection_folder
    from huia.detect.model import DEFAULT_INPUT_SIZE
    from huia.detect.train import TrainConfig, train

    out = Path(args.out)
    check_detection_folder(args.data)  # before anything is written or printed
    if (out / "model.json").is_file() and not (out / "config.json").is_file():
        raise HuiaError("holds an exported model, not a training run; choose a new --out", out)
    size = args.input_size
    if size is None and (out / "config.json").is_file():
        try:
            size = int(json.loads((out / "config.json").read_text()).get("input_size"))
        except (ValueError, TypeError, json.JSONDecodeError):
            size = None
    cfg = TrainConfig(data=args.data, out=args.out, epochs=args.epochs, seed=args.seed,
                      input_size=size or DEFAULT_INPUT_SIZE, batch_size=args.batch_size, lr=args.lr,
                      train_fraction=args.train_fraction, train_backbone=not args.freeze_backbone,
                      backbone_lr=TrainConfig.backbone_lr if args.backbone_lr is None else args.backbone_lr,
                      max_images=args.max_images, steps_per_epoch=args.steps_per_epoch,
                      mode=args.mode or TrainConfig.mode, views=args.views,
                      ema=TrainConfig.ema if args.ema is None else args.ema, val_fraction=args.val_fraction,
                      augment=args.augment, wise=TrainConfig.wise if args.wise is None else args.wise,
                      members=TrainConfig.members if args.members is None else args.members)
    existed = out.exists()
    try:
        metrics = train(cfg)
    except HuiaError:
        if not existed and out.is_dir() and all(p.name == "config.json" for p in out.rglob("*") if p.is_file()):
            import shutil

            # a run that failed before its first checkpoint leaves no folder (only its configs were written)
            shutil.rmtree(out, ignore_errors=True)
        raise
    if args.json:
        print(json.dumps(metrics))
    else:
        print_train_summary(metrics, out)
    return 0


def _images(n: int) -> str:
    return f"{n} image{'' if n == 1 else 's'}"


def print_train_summary(metrics: dict, out: Path) -> None:
    """What `detect train` prints at the end: the held-out (or validation) figures, or where to evaluate."""
    from huia.detect.train import loss_key
    from huia.eval.coco import describe_intervals, format_threshold_counts, format_with_intervals

    where = metrics.get("evaluated_on", "held-out")
    if where == "none":
        print(f"trained on every image ({metrics['train_seconds']:.0f} s); nothing held out (--train-fraction 1): "
              f"evaluate with huia detect eval {out} --data TEST_DATA")
    else:
        n = metrics["val_images"] if where == "validation" else metrics["test_images"]
        ci = metrics.get("ci") or {}
        label = (f"validation ({_images(n)} carved from the training part; the held-out split is untouched)"
                 if where == "validation" else f"held-out ({_images(n)})")
        print(f"{label}: {format_with_intervals(metrics, ci)}  ({metrics['train_seconds']:.0f} s)")
        what = describe_intervals(ci, n)
        if where == "validation":
            what = what.replace("held-out images", "validation images")
        print(f"  ({what}{' in brackets' if ci.get('resamples') else ''})")
        if metrics.get("at_threshold"):
            print("  " + format_threshold_counts(metrics["at_threshold"]).replace("\n", "\n  "))
        for name, m in (metrics.get("per_class") or {}).items():
            print(f"  class {name}: AP {m['ap']:.3f}  AP50 {m['ap50']:.3f}")
        loss = metrics.get(loss_key(where)) or metrics.get("held_out_loss")  # runs before val_loss had its name
        if loss:
            last = loss.get("last_training_step") or {}
            print(f"  {where} loss: " + "  ".join(
                f"{k.split('_')[0]} {loss[k]:.3f}" + (f" (train {last[k]:.3f})" if k in last else "")
                for k in ("classification_loss", "localization_loss", "regularization_loss", "total_loss")))
    print(f"run: {out}  (export: huia export {out} --out DIR)")


def eval_run(run: str | Path, data: str | Path, *, export: str | Path | None = None) -> dict:
    """Held-out COCO metrics of a run. ``data`` the run trained on: its split, recomputed from the run's
    seed/fraction and checked against the stored list. Another data set: every image in it except those the run
    trained on (by content). The result's ``evaluated_on`` says which images were used."""
    from huia.data.split import sample_key
    from huia.detect.dataset import load_split
    from huia.detect.predict import Detector, evaluate_samples
    from huia.train.common import RunDir

    rd = RunDir(run, create=False)
    cfg = rd.load_config()
    if cfg.get("task") != "detect":
        raise HuiaError(f"this is a {cfg.get('task') or 'non-detector'} run, not a detector; use huia classify "
                        "eval", rd.config_path)
    classes = cfg.get("class_names") or None
    if Path(data).resolve() == Path(cfg.get("data", "")).resolve():
        if float(cfg.get("train_fraction", 0.8)) >= 1.0:
            raise HuiaError("the run trained on every image of this data set (--train-fraction 1); evaluate it on "
                            "other data (e.g. the test CSV or the test/ part of a split)", data)
        _, test, _ = load_split(data, seed=int(cfg["seed"]), train=float(cfg.get("train_fraction", 0.8)),
                                classes=classes)
        keys = [sample_key(s) for s in test]
        stored = cfg.get("test_images")
        if float(cfg.get("val_fraction") or 0) and "val_images" not in cfg:
            # made before validation images were recorded apart: "test_images" lists the validation images, so
            # check the held-out split against what the run trained on instead
            stored = None if not set(keys) & set(cfg.get("train_images") or []) else ["(trained on)"]
        if stored and sorted(keys) != sorted(stored):
            raise HuiaError("this data set no longer gives the run's held-out images (were files added, removed or "
                            "renamed?); refusing to evaluate on images the model may have trained on", data)
        note = f"the run's held-out split: {len(test)} images"
    else:
        from huia.data import load_dataset
        from huia.data.provenance import originals_by_group, shares_source

        seen = set(cfg.get("train_seen_sha1") or [])
        if not seen:
            raise HuiaError("this run does not record what it trained on by content (made by an older huia); "
                            f"evaluate it on the data set it trained on: --data {cfg.get('data')}", rd.config_path)
        from huia.detect.dataset import check_detection_folder

        check_detection_folder(data)
        samples = [s for s in load_dataset(data, classes=classes) if s.boxes is not None]
        originals = originals_by_group(samples)
        test = [s for s in samples if not shares_source(s, seen, originals)]
        skipped = len(samples) - len(test)
        if not test:
            raise HuiaError(f"the run trained on every image here ({skipped}); nothing held out to evaluate", data)
        note = f"{len(test)} images" + (f" ({skipped} the run trained on, or copies of them, were left out)"
                                        if skipped else "")
    det = Detector.from_dir(rd.path)
    res = evaluate_samples(det, test)
    res["evaluated_on"] = note
    res["score_threshold"] = det.score_threshold
    if export is not None:
        res["export"] = eval_export(det, export, test, res)
    return res


def eval_export(run_det, export: str | Path, samples, run_res: dict) -> dict:
    """The export's COCO metrics on the run's evaluation images (huia's graph executor on the dequantized weights,
    which is what TF.js computes), next to the run's float model's: the AP the chosen compression costs."""
    from huia.detect.predict import Detector, evaluate_samples
    from huia.eval.coco import HEADLINE_KEYS
    from huia.tfjs.artifacts import load_artifacts

    p = Path(export)
    if (p / "config.json").is_file():
        raise HuiaError("this is a run folder; --export wants a folder written by `huia export RUN --out DIR`", p)
    det = Detector.from_dir(p)
    if det.class_names != run_det.class_names or det.input_size != run_det.input_size:
        raise HuiaError(f"exported from another model (classes {det.class_names}, input {det.input_size}; the run "
                        f"has {run_det.class_names}, input {run_det.input_size})", p)
    exp_art = load_artifacts(det.path)
    _check_same_weights(load_artifacts(run_det.path), exp_art, p)
    res = evaluate_samples(det, samples)
    meta = (exp_art.user_defined_metadata or {}).get("huia") or {}
    files = list(det.path.glob("*")) if det.path.is_dir() else [det.path]
    out = {"path": str(p), "quantization": str(meta.get("quantization") or "float32"),
           "bytes": sum(f.stat().st_size for f in files if f.is_file())}
    out.update({k: round(float(res[k]), 6) for k in HEADLINE_KEYS})
    out["minus_run"] = {k: round(float(res[k]) - float(run_res[k]), 6) for k in HEADLINE_KEYS}
    out["_res"] = res
    return out


def _check_same_weights(run_art, exp_art, path: Path) -> None:
    """An export of this run has the run's weights up to quantization: per-tensor affine uint8 moves a value by at
    most half a step, (max - min) / 510 with the range stretched to hold 0; a full step is allowed. Another run
    with the same classes is refused rather than compared with the wrong model."""
    if set(run_art.weights) != set(exp_art.weights):
        raise HuiaError("not an export of this run (its graph has other weights)", path)
    for name, r in run_art.weights.items():
        if r.dtype.kind != "f" or r.size == 0:
            continue
        e = np.asarray(exp_art.weights[name], np.float64)
        r = np.asarray(r, np.float64)
        span = max(float(r.max()), 0.0) - min(float(r.min()), 0.0)  # the converter keeps 0 exact: range holds 0
        if e.shape != r.shape or np.abs(e - r).max() > span / 255.0 + 1e-6 * (1 + np.abs(r).max()):
            raise HuiaError(f"not an export of this run: weight {name} differs beyond quantization (exported from "
                            "another run?)", path)


def _cmd_eval(args) -> int:
    from huia.eval.coco import (bootstrap_intervals, describe_intervals, format_summary, format_threshold_counts,
                                format_with_intervals, per_class_metrics, summary, threshold_counts)

    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise HuiaError(f"--threshold must be in [0, 1], got {args.threshold}")
    overlay = Path(args.overlay) if args.overlay else None
    if overlay is not None:  # before the evaluation: never onto the data set, and a bad place is one line
        prepare_output(overlay, flag="--overlay", folder=True,
                       inputs=[args.data] if Path(args.data).is_dir() else [])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # truncated-image warnings already shown at training time
        res = eval_run(args.run, args.data, export=args.export)
    thr = res["score_threshold"] if args.threshold is None else args.threshold
    counts = threshold_counts(res["_gts"], res["_dets"], thr, class_names=res["class_names"])
    multi = len(res["class_names"]) > 1
    per_class = per_class_metrics(res) if multi else None
    exp = res.get("export")
    if overlay is not None:
        write_eval_overlays(res, thr, overlay)  # refuses before writing if a picture would land on an input
    if args.json:
        out = summary(res)
        if args.ci:
            out["ci"] = bootstrap_intervals(res)
        out["at_threshold"] = counts if multi else {k: v for k, v in counts.items() if k != "per_class"}
        if per_class:
            out["per_class"] = per_class
        if exp:
            out["export"] = {k: v for k, v in exp.items() if not k.startswith("_")}
            out["export"]["at_threshold"] = {k: v for k, v in threshold_counts(
                exp["_res"]["_gts"], exp["_res"]["_dets"], thr).items() if k != "per_class"}
        print(f"evaluated on {res['evaluated_on']}", file=sys.stderr)
        print(json.dumps(out))
        return 0
    ci = bootstrap_intervals(res)
    n = len(res["_per_image"])
    print(f"evaluated on {res['evaluated_on']}")
    print(format_summary(res))
    print("\n" + describe_intervals(ci, n) + f":\n  {format_with_intervals(res, ci)}")
    own = "the model's own threshold" if args.threshold is None else "--threshold"
    print(f"\nkept detections (score >= {thr:.2f}, {own}; COCO's greedy matching by score):")
    print("  " + format_threshold_counts(counts).replace("\n", "\n  "))
    if per_class:
        print("\nper class:")
        width = max(len(c) for c in per_class)
        for name, m in per_class.items():
            c = counts["per_class"][name]["iou50"]
            pr = "n/a" if c["precision"] is None else f"{c['precision']:.3f}"
            rc = "n/a" if c["recall"] is None else f"{c['recall']:.3f}"
            if m["ap"] == -1.0:
                print(f"  {name:<{width}}  no ground-truth box here (AP undefined)  FP {c['fp']}")
                continue
            print(f"  {name:<{width}}  AP {m['ap']:.3f}  AP50 {m['ap50']:.3f}  AP75 {m['ap75']:.3f}  "
                  f"at {thr:.2f}, IoU 0.50: TP {c['tp']} FP {c['fp']} FN {c['fn']} precision {pr} recall {rc}")
    if exp:
        d = exp["minus_run"]
        print(f"\nexport {exp['path']} ({exp['quantization']}, {exp['bytes'] / 1e6:.2f} MB), as the browser runs it:")
        print("  " + "  ".join(f"{k.upper()} {exp[k]:.3f} ({round(d[k], 3) + 0.0:+.3f})" for k in ("ap", "ap50", "ap75", "ar100"))
              + "  (difference from the run's model in brackets)")
        ec = threshold_counts(exp["_res"]["_gts"], exp["_res"]["_dets"], thr)["iou50"]
        rc = counts["iou50"]
        print(f"  at score >= {thr:.2f}, IoU 0.50: TP {ec['tp']}  FP {ec['fp']}  FN {ec['fn']}  "
              f"(the run's model: TP {rc['tp']}  FP {rc['fp']}  FN {rc['fn']})")
    if overlay is not None:
        print(f"\npictures: {overlay} ({_images(n)}; {EVAL_LEGEND_HELP.split(';')[0]})")
    return 0


def write_eval_overlays(res: dict, threshold: float, out_dir: Path) -> list[Path]:
    """One picture per evaluated image: ground truth and the predictions kept at ``threshold``, matched at IoU 0.5
    by huia.eval.coco.match_detections (the matching the counts use); drawing is huia.detect.predict's."""
    from huia.data.images import load_image
    from huia.detect.predict import draw_eval_overlay
    from huia.eval.coco import match_detections

    names, used = [], set()
    for s in res["_samples"]:
        name = Path(s.image_path).stem
        while name in used:  # same-named images from different folders
            name += "_"
        used.add(name)
        names.append(out_dir / f"{name}.jpg")
    # the images' own folders (a CSV data set's images/ too) and the images themselves are never written to
    sources = [Path(s.image_path) for s in res["_samples"]]
    folders = sorted({p.parent for p in sources})
    prepare_output(out_dir, flag="--overlay", folder=True, inputs=folders)
    refuse_overwriting(names, sources, folders, out_dir, flag="--overlay")
    written = []
    for s, g, d, dest in zip(res["_samples"], res["_gts"], res["_dets"], names):
        kept = d[np.asarray(d.scores) >= threshold]
        dt_tp, gt_found = match_detections(g, kept, (0.5,))
        tp = int(dt_tp[0].sum())
        caption = (f"{Path(s.image_path).name}  score >= {threshold:.2f}, IoU 0.50: TP {tp}  "
                   f"FP {len(kept) - tp}  FN {len(g) - int(gt_found[0].sum())}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = load_image(s.image_path)
        written.append(_save(draw_eval_overlay(img, g, kept, dt_tp[0], gt_found[0], caption=caption), dest))
    return written


def refuse_overwriting(outputs: list[Path], inputs: list[Path], trees: list[Path], where: Path, *,
                       flag: str) -> None:
    """One line naming ``where`` if a planned output file would be one of the input files or land inside one of the
    input folders ``trees`` (an --overlay that is an ancestor of the inputs can still reach them through a
    sub-folder's name); checked before anything is written."""
    real_in = {p.resolve(): p for p in inputs}
    real_trees = {t.resolve(): t for t in trees}
    for out in outputs:
        real = out.resolve()
        hit = real_in.get(real)
        if hit is not None:
            raise HuiaError(f"{flag} would overwrite the input image {hit}; give a separate folder", where)
        for parent in real.parents:
            if parent in real_trees:
                raise HuiaError(f"{flag} would write {out.relative_to(where)} inside the input folder "
                                f"{real_trees[parent]}; give a separate folder", where)


def _save(image: np.ndarray, dest: Path) -> Path:
    from huia.data.images import save_image

    try:
        return save_image(image, dest)
    except OSError as e:
        raise HuiaError(f"cannot write the overlay picture ({e.strerror or e})", dest) from None


def _cmd_predict(args) -> int:
    from huia.data.images import load_image
    from huia.detect.predict import Detector, draw_overlay, list_images

    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise HuiaError(f"--threshold must be in [0, 1], got {args.threshold}")
    det = Detector.from_dir(args.run)
    files = list_images(args.images)
    root = Path(args.images) if Path(args.images).is_dir() else None
    result = {}
    overlay = Path(args.overlay) if args.overlay else None
    keys = {f: f.relative_to(root).as_posix() if root is not None else f.name for f in files}
    if overlay:  # checked before any image is read: never onto the inputs, a bad place is one line
        tree = root if root is not None else files[0].parent  # a single image: its folder is off limits too
        prepare_output(overlay, flag="--overlay", folder=True, inputs=[tree])
        refuse_overwriting([overlay / Path(k).with_suffix(".jpg") for k in keys.values()], files, [tree], overlay,
                           flag="--overlay")
    failed = 0
    for f in files:
        try:
            img = load_image(f)
        except HuiaError as e:
            if len(files) == 1:
                raise
            failed += 1  # one unreadable file in a folder does not cost the others their boxes
            warnings.warn(str(e), stacklevel=1)
            continue
        d = det.predict(img, args.threshold)
        key = keys[f]
        result[key] = d.to_json()
        if overlay:  # mirrors the folder's layout, so same-named images in two sub-folders stay apart
            _save(draw_overlay(img, d), overlay / Path(key).with_suffix(".jpg"))
    if args.json:
        print(json.dumps(result))
    else:
        for name, boxes in result.items():
            if not boxes:
                print(f"{name}: no detections")
            for b in boxes:
                print(f"{name}: {b['label']} {b['score']:.2f} at {', '.join(f'{v:.0f}' for v in b['box'])}")
    if failed:
        print(f"huia: {failed} of {len(files)} images could not be read (see the warnings)", file=sys.stderr)
        return 1
    return 0
