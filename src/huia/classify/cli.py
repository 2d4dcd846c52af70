"""`huia classify train|eval|predict`."""

from __future__ import annotations

import argparse
import json

from huia.cli import SUBCOMMAND_METAVAR, dropout_rate, float_range, non_negative_int, positive_int


def _train(args) -> int:
    from huia.classify.train import train_run

    m = train_run(args.data, args.out, task=args.task, shots=args.shots, seed=args.seed, epochs=args.epochs,
                  patience=args.patience, finetune_epochs=args.finetune_epochs, backbone=args.backbone,
                  landmarks=not args.no_landmarks, hidden=args.hidden, dropout=args.dropout, views=args.views,
                  flip=args.flip, val_fraction=args.val_fraction)
    if args.json:
        print(json.dumps(m))
    else:
        va = m.get("val_accuracy")
        print(f"{args.out}: trained {m['task']} classifier on {m['train_samples']} samples "
              f"({m['held_out_samples']} held out) in {m['train_seconds']:.0f}s"
              + (f"; validation accuracy {va:.3f}" if va is not None else ""))
    return 0


def _eval(args) -> int:
    from huia.classify.evaluate import EVAL_KEYS, evaluate_run

    rep = evaluate_run(args.run, args.data, export=args.export)
    if args.json:
        print(json.dumps({k: rep[k] for k in (*EVAL_KEYS, "export")}))
    else:
        lo, hi = rep["accuracy_ci"]
        how = "" if rep.get("accuracy_ci_method", "wilson") == "wilson" else f", {rep['accuracy_ci_method']}"
        ex = rep["export"]
        which = "" if ex is None else f"export ({ex['quantization']}) "
        print(f"{which}accuracy {rep['accuracy']:.4f} [95 % interval {lo:.4f}, {hi:.4f}{how}] on {rep['samples']} "
              f"held-out samples ({rep['skipped_trained_on']} training samples skipped)")
        if ex is not None:
            print(f"  the run's float model: accuracy {ex['run_accuracy']:.4f}; the export agrees on "
                  f"{ex['agreement_with_run']:.1%} of the samples (largest probability change {ex['max_abs_diff']:.4f})")
        for lab, m in rep["per_class"].items():
            print(f"  {lab:>12}: recall {m['recall']:.4f}  precision {m['precision']:.4f}  ({m['support']} samples)")
    return 0


def _cache(args) -> int:
    from huia.classify import cache

    freed = cache.clear() if args.clear else 0
    files, size = cache.usage()
    out = {"path": str(cache.cache_root()), "files": files, "bytes": size, "max_bytes": cache.max_bytes(),
           "freed": freed}
    if args.json:
        print(json.dumps(out))
    else:
        cap = f"{out['max_bytes'] / 2**20:.0f} MB" if out["max_bytes"] else "none"
        print(f"{out['path']}: {files} files, {size / 2**20:.1f} MB (cap {cap})"
              + (f"; cleared {freed / 2**20:.1f} MB" if args.clear else ""))
    return 0


def _predict(args) -> int:
    from huia.classify.predict import predict_paths

    skipped: list[str] = []
    out = predict_paths(args.run, args.target, top=args.top, skipped=skipped)
    if args.json:
        print(json.dumps(out if len(out) != 1 or not args.single else out[0]))
    else:
        for r in out:
            print(f"{r['file']}: " + ", ".join(f"{t['label']} ({t['score']:.3f})" for t in r["top"]))
    if skipped:
        import sys

        print(f"huia: {len(skipped)} of {len(skipped) + len(out)} image(s) skipped (unreadable)", file=sys.stderr)
        return 1
    return 0


def register(sub) -> None:
    p = sub.add_parser("classify", help="train, evaluate and run image / skeleton / keypoint classifiers",
                       description="Few-shot classifiers on a pretrained bundled backbone (gesture images, the Huia "
                                   "article's skeleton images, or keypoint vectors).")
    s = p.add_subparsers(dest="classify_command", metavar=SUBCOMMAND_METAVAR)
    s.required = True

    t = s.add_parser("train", help="train a classifier into a run directory (re-run to resume)",
                     description="DATA (--data) has one folder per class: DATA/<class>/<image> (or the studio "
                                 "capture format: image + keypoints JSON side by side). The run directory gets "
                                 "config.json (labels, backbone, input size, normalization, the files trained on), "
                                 "metrics.json, log.csv, plots/ and model.pt.")
    t.add_argument("--data", required=True, help="dataset folder: DATA/<class>/<image>[.json]")
    t.add_argument("--out", required=True, help="run directory to create (an unfinished one resumes)")
    from huia.classify.tasks import TASKS

    t.add_argument("--task", choices=list(TASKS), default="image",
                   help="; ".join(f"{k}: {v.description}" for k, v in TASKS.items()) + " (default: image)")
    t.add_argument("--shots", type=positive_int, default=None,
                   help="train on N >= 1 samples per class; the rest is held out for `classify eval` (default: all)")
    t.add_argument("--seed", type=int, default=0, help="random seed (same seed, same run; default 0)")
    t.add_argument("--epochs", type=positive_int, default=300,
                   help="max head epochs, >= 1; early stopping usually ends sooner (default 300)")
    t.add_argument("--patience", type=non_negative_int, default=40,
                   help="early-stopping patience in epochs (0: no early stopping; default 40)")
    t.add_argument("--finetune-epochs", type=non_negative_int, default=0,
                   help="phase 2: epochs training ALL layers at 3e-6 (slow on CPU; default 0 = off)")
    t.add_argument("--backbone", default=None, help="handlandmark-full | posenet-mobilenet (default per task)")
    t.add_argument("--no-landmarks", action="store_true", help="image task: do not add the 21 hand landmarks")
    t.add_argument("--hidden", type=non_negative_int, default=256,
                   help="hidden units of the head (0: linear head; default 256)")
    t.add_argument("--dropout", type=dropout_rate, default=0.5,
                   help="dropout before the output layer, in [0, 1) (default 0.5)")
    t.add_argument("--views", type=non_negative_int, default=4,
                   help="augmented views per training sample besides the original (0: no augmentation; default 4)")
    t.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                   help="horizontal flips in augmentation (default: on for images, off for poses where left/right "
                        "matters)")
    t.add_argument("--val-fraction", type=float_range(0, 1, hi_open=True), default=0.2,
                   help="share of the training shots kept aside for early stopping, in [0, 1) (0: none; default 0.2)")
    t.add_argument("--json", action="store_true", help="print metrics as JSON")
    t.set_defaults(func=_train)

    e = s.add_parser("eval", help="accuracy on samples the run did not train on",
                     description="Evaluates on every sample of DATA (--data, one sub-folder per class) except the "
                                 "files (by path or content) the run trained on.")
    e.add_argument("run", help="run directory")
    e.add_argument("--data", required=True, help="dataset folder with one sub-folder per class")
    e.add_argument("--export", default=None, metavar="DIR",
                   help="evaluate this run's TF.js graph export instead (what `huia export RUN --out DIR` wrote, "
                        "quantized weights included) as the browser runs it, and say how often it agrees with "
                        "the run's float model")
    e.add_argument("--json", action="store_true", help='print {"accuracy", "per_class", "confusion", ...}')
    e.set_defaults(func=_eval)

    q = s.add_parser("predict", help="classify an image or every image in a folder",
                     description="Classify IMAGE, or every image in DIR and its sub-folders (hidden .folders "
                                 "excepted; a keypoints JSON beside an image is used by pose runs). Prints each "
                                 "file (relative to DIR) with its TOP classes and probabilities. An unreadable "
                                 "image is skipped with a 'huia: warning:' line and the others are predicted; the "
                                 "exit code is then 1 (0: all predicted, 2: bad run or arguments).")
    q.add_argument("run", help="run directory (from `huia classify train`)")
    q.add_argument("target", help="IMAGE or DIR (searched recursively)")
    q.add_argument("--top", type=positive_int, default=3, help="how many classes to list per image (default 3)")
    q.add_argument("--json", action="store_true",
                   help="print a JSON list of {file, label, score, top}; file is relative to DIR")
    q.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    q.set_defaults(func=_predict)

    c = s.add_parser("cache", help="show or clear the backbone-feature cache",
                     description="Training caches each sample's backbone features (per augmented view) so re-runs "
                                 "and evaluation skip the backbone. The cache lives in $HUIA_CACHE_DIR/features "
                                 "(default ~/.cache/huia/features) and is kept under $HUIA_CACHE_MAX_MB megabytes "
                                 "(default 2048; 0: no cap) by removing the least recently used features.")
    c.add_argument("--clear", action="store_true", help="delete every cached feature")
    c.add_argument("--json", action="store_true", help='print {"path", "files", "bytes", "max_bytes", "freed"}')
    c.set_defaults(func=_cache)
