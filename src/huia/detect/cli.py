"""`huia detect train|eval|predict`: a custom object detector from a VOC/CSV/COCO folder, on a CPU."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from huia.errors import HuiaError


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
                   help="share of images used for training (default 0.8; the rest is the held-out split)")
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
                        "(default 0: none; for choosing settings without touching the held-out split)")
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
                                    "on images the run did NOT train on. --data the run was trained on: its "
                                    "held-out split (the same split as training). Any other data set (e.g. the "
                                    "test/ part of `huia data split`): all of its images except any the run "
                                    "trained on, recognised by content, whatever their names.")
    e.add_argument("run", help="run folder made by `huia detect train`")
    e.add_argument("--data", required=True,
                   help="the data set the run was trained on, or another data set with the same classes")
    e.add_argument("--json", action="store_true", help="print {ap, ap50, ap75, ar1, ar10, ar100} as JSON")
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
    r.add_argument("--overlay", default=None, help="also write copies of the images with the boxes drawn here")
    r.add_argument("--json", action="store_true", help="print JSON (default: one line per box)")
    r.set_defaults(func=_cmd_predict)


def _default_members() -> int:
    from huia.detect.train import TrainConfig

    return TrainConfig.members


def _cmd_train(args) -> int:
    from huia.detect.model import DEFAULT_INPUT_SIZE
    from huia.detect.train import TrainConfig, train

    out = Path(args.out)
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
        from huia.eval.coco import describe_intervals, format_with_intervals

        ci = metrics.get("ci") or {}
        print(f"held-out ({metrics['test_images']} images): {format_with_intervals(metrics, ci)}  "
              f"({metrics['train_seconds']:.0f} s)")
        print(f"  ({describe_intervals(ci, metrics['test_images'])}{' in brackets' if ci.get('resamples') else ''})")
        print(f"run: {out}  (export: huia export {out} --out DIR)")
    return 0


def eval_run(run: str | Path, data: str | Path) -> dict:
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
        _, test, _ = load_split(data, seed=int(cfg["seed"]), train=float(cfg.get("train_fraction", 0.8)),
                                classes=classes)
        keys = [sample_key(s) for s in test]
        if cfg.get("test_images") and sorted(keys) != sorted(cfg["test_images"]):
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
        samples = [s for s in load_dataset(data, classes=classes) if s.boxes is not None]
        originals = originals_by_group(samples)
        test = [s for s in samples if not shares_source(s, seen, originals)]
        skipped = len(samples) - len(test)
        if not test:
            raise HuiaError(f"the run trained on every image here ({skipped}); nothing held out to evaluate", data)
        note = f"{len(test)} images" + (f" ({skipped} the run trained on, or copies of them, were left out)"
                                        if skipped else "")
    res = evaluate_samples(Detector.from_dir(rd.path), test)
    res["evaluated_on"] = note
    return res


def _cmd_eval(args) -> int:
    from huia.eval.coco import (bootstrap_intervals, describe_intervals, format_summary, format_with_intervals,
                                summary)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # truncated-image warnings already shown at training time
        res = eval_run(args.run, args.data)
    if args.json:
        out = summary(res)
        if args.ci:
            out["ci"] = bootstrap_intervals(res)
        print(f"evaluated on {res['evaluated_on']}", file=sys.stderr)
        print(json.dumps(out))
    else:
        ci = bootstrap_intervals(res)
        n = len(res["_per_image"])
        print(f"evaluated on {res['evaluated_on']}")
        print(format_summary(res))
        print("\n" + describe_intervals(ci, n) + f":\n  {format_with_intervals(res, ci)}")
    return 0


def _cmd_predict(args) -> int:
    from huia.data.images import load_image, save_image
    from huia.detect.predict import Detector, draw_overlay, list_images

    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise HuiaError(f"--threshold must be in [0, 1], got {args.threshold}")
    det = Detector.from_dir(args.run)
    files = list_images(args.images)
    root = Path(args.images) if Path(args.images).is_dir() else None
    result = {}
    overlay = Path(args.overlay) if args.overlay else None
    if overlay:
        if overlay.exists() and not overlay.is_dir():
            raise HuiaError("--overlay must be a folder (the drawn copies go in it); this is a file", overlay)
        overlay.mkdir(parents=True, exist_ok=True)
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
        key = f.relative_to(root).as_posix() if root is not None else f.name
        result[key] = d.to_json()
        if overlay:  # mirrors the folder's layout, so same-named images in two sub-folders stay apart
            drawn = overlay / Path(key).with_suffix(".jpg")
            drawn.parent.mkdir(parents=True, exist_ok=True)
            save_image(draw_overlay(img, d), drawn)
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
