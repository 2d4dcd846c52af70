"""``huia data ...``: check, convert, split and augment data sets.

Every command reads the whole source first and reports each bad file on its own line (``huia: problem: FILE:
what``). With problems, nothing is written and the exit code is 2; ``--skip-bad`` writes the valid files and exits 1
(so a script still notices). Output goes to a temporary folder renamed into place at the end, and an existing
non-empty destination is never overwritten.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from huia.errors import HuiaError

# Other `huia data` subcommands living in their own modules: each exposes `register(data_subparsers)`.
EXTRA_MODULES: list[str] = ["huia.data.review"]


def register(subparsers) -> None:
    p = subparsers.add_parser("data", help="check, convert, split and augment data sets",
                              description="Data sets: Pascal VOC folders (annots/*.xml + images/), the article's CSV "
                              "(filename,width,height,class,xmin,ymin,xmax,ymax,source), COCO JSON, and class "
                              "folders / the studio's capture format (DIR/<label>/<id>.jpg + <id>.json).")
    from huia.cli import SUBCOMMAND_METAVAR

    sub = p.add_subparsers(dest="data_command", metavar=SUBCOMMAND_METAVAR)
    sub.required = True

    c = sub.add_parser("check", help="validate a data set and list every problem",
                       description="Read a data set (format auto-detected), decode every image, and list each bad "
                       "file: malformed XML/CSV/JSON, boxes outside the image or inverted, missing or unreadable "
                       "images, unknown classes. Exit 0 if clean, 1 if there are problems.")
    c.add_argument("src", type=Path, help="data set folder or annotation file")
    _common(c, skip=False)
    c.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    c.set_defaults(func=cmd_check)

    v = sub.add_parser("convert", help="convert between VOC, CSV and COCO (labelmap.pbtxt written alongside)",
                       description="Convert a detection data set. The source format is auto-detected. Images are "
                       "copied byte for byte; DST gets images/, the annotations and labelmap.pbtxt.")
    v.add_argument("src", type=Path, help="source data set (VOC folder, CSV file/folder, COCO JSON/folder)")
    v.add_argument("dst", type=Path, help="output folder (must not exist or be empty; not inside SRC)")
    v.add_argument("--to", required=True, choices=["voc", "csv", "coco"], help="output format")
    _common(v)
    v.set_defaults(func=cmd_convert)

    s = sub.add_parser("split", help="deterministic stratified train/test split",
                       description="Split a data set into OUT/train and OUT/test. The split depends only on the "
                       "seed and each sample's label + file name (sha256 order), so it is the same on any machine "
                       "(with --by time, on the capture times in studio capture names: each class's latest "
                       "captures are held out); "
                       "classes (detection: the set of classes in an image) are split in the same ratio. An "
                       "original and its augmented copies (SRC/provenance.json from `huia data augment`, else the "
                       "<name>_augNN file names) always go to the same side. OUT/split.json lists the files. "
                       "OUT must lie outside SRC.")
    s.add_argument("src", type=Path, help="source data set (any format)")
    s.add_argument("--out", type=Path, required=True,
                   help="output folder (must not exist or be empty; not inside SRC)")
    s.add_argument("--train", type=float, default=0.8, help="training fraction (default 0.8)")
    s.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
    s.add_argument("--by", choices=["hash", "time"], default="hash",
                   help="hash (default): seeded hash order. time: studio captures only (file names start with the "
                   "capture time); each class's latest captures are held out and the seed plays no part. Use it for "
                   "frames taken in bursts: a hashed split puts a frame's near-twin from the same burst on the other "
                   "side, and the test accuracy then measures training frames")
    s.add_argument("--to", choices=["voc", "csv", "coco", "folders"], default=None,
                   help="output format (default: same as the source)")
    _common(s)
    s.set_defaults(func=cmd_split)

    a = sub.add_parser("augment", help="offline augmentation: originals + N augmented copies of each image",
                       description="Write every original plus --times augmented copies (one geometric transform "
                       "moving pixels, boxes and keypoints together; colour; JPEG quality), named <name>_augNN. "
                       "Class folders and the capture format keep their keypoints JSON (moved); VOC/CSV/COCO keep "
                       "their boxes (moved, clipped, dropped when mostly out of frame). DST/provenance.json records "
                       "each written file's source image (path + SHA-1), so `data split` keeps copies with their "
                       "original and `classify eval` never counts an original whose copy was trained on. To "
                       "evaluate honestly, split first and augment only the training part: `huia data split DIR "
                       "--out S`, then `huia data augment S/train S-train-aug`. DST must lie outside SRC.")
    a.add_argument("src", type=Path, help="source data set (any format)")
    a.add_argument("dst", type=Path, help="output folder (must not exist or be empty; not inside SRC)")
    a.add_argument("--times", type=int, default=10, help="augmented copies per image (default 10)")
    a.add_argument("--seed", type=int, default=0, help="augmentation seed (default 0)")
    a.add_argument("--preset", choices=["detect", "classify", "strong"], default=None,
                   help="strength (default: classify for class folders, detect for box data sets)")
    a.add_argument("--no-flip", action="store_true",
                   help="never mirror (for classes whose meaning depends on left/right)")
    _common(a, skip=False, verify=False)  # a source with problems is refused: check/split --skip-bad it first
    a.set_defaults(func=cmd_augment)

    for name in EXTRA_MODULES:
        importlib.import_module(name).register(sub)


def _common(p: argparse.ArgumentParser, *, skip: bool = True, verify: bool = True) -> None:
    p.add_argument("--from", dest="fmt", choices=["voc", "csv", "coco", "folders"], default=None,
                   help="source format (default: auto-detect)")
    p.add_argument("--classes", default=None,
                   help="comma-separated class list; anything else is reported as an unknown class "
                   "(default: the source's labelmap.pbtxt, else every class found)")
    if skip:
        p.add_argument("--skip-bad", action="store_true",
                       help="write the valid files anyway (problems are still listed and the exit code is 1)")
    if verify:
        p.add_argument("--no-verify", action="store_true",
                       help="do not decode every image (faster; only headers are checked)")


def _read(args, *, verify: bool = True):
    """Read + (optionally) decode every image; print problems and warnings; returns (samples, problems, fmt)."""
    from huia.data import read_dataset
    from huia.data.images import check_image
    from huia.train.common import progress

    import warnings as pywarnings

    classes = [c.strip() for c in args.classes.split(",") if c.strip()] if args.classes else None
    with pywarnings.catch_warnings(record=True) as caught:  # the readers' warnings (e.g. CSV case twins) count too
        pywarnings.simplefilter("always")
        samples, problems, fmt = read_dataset(args.src, args.fmt, classes)
    warnings: list[str] = [str(w.message) for w in caught]
    if verify and not getattr(args, "no_verify", False):
        good = []
        for s in progress(samples, desc="checking images"):
            err, warn = check_image(s.image_path)
            if err:
                problems.append(err)
            else:
                good.append(s)
            if warn:
                warnings.append(warn)
        samples = good
    for w in warnings:
        print(f"huia: warning: {w}", file=sys.stderr)
    for prob in problems:
        print(f"huia: problem: {prob}", file=sys.stderr)
    return samples, problems, fmt, warnings


def _gate(args, problems: list[str]) -> None:
    if problems and not getattr(args, "skip_bad", False):
        raise HuiaError(f"{len(problems)} problem(s) listed above; nothing written "
                        "(fix them, or pass --skip-bad to write the valid files)", args.src)


def _check_apart(src: Path, dst: Path) -> None:
    """Refuse an output folder inside the source data set (it would become part of the data set: the audit's
    `data augment sd sd/aug` broke `sd`), or a source inside the output folder. Checked before reading."""
    root = (src.parent if src.is_file() else src).resolve()
    out = dst.resolve()
    if out == root or root in out.parents:
        raise HuiaError(f"output folder lies inside the source data set {src} (choose a folder outside it)", dst)
    if out in root.parents:
        raise HuiaError(f"output folder contains the source data set {src} (choose a folder beside it)", dst)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fresh_dst(dst: Path) -> Path:
    if dst.exists() and (not dst.is_dir() or any(dst.iterdir())):
        raise HuiaError("output exists and is not an empty folder (refusing to overwrite)", dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", dir=dst.parent))
    # mkdtemp makes 0700; the renamed folder must get what a plain mkdir gives (readable by the group/web server)
    tmp.chmod(0o777 & ~_umask())
    return tmp


def _commit(tmp: Path, dst: Path) -> None:
    if dst.exists():
        dst.rmdir()  # empty (checked by _fresh_dst)
    tmp.rename(dst)


def _class_counts(samples) -> dict:
    counts: dict[str, int] = {}
    for s in samples:
        names = s.boxes.labels if s.boxes is not None else [s.label]
        for n in names:
            counts[str(n)] = counts.get(str(n), 0) + 1
    return dict(sorted(counts.items()))


def cmd_check(args) -> int:
    samples, problems, fmt, warnings = _read(args)
    report = {"format": fmt, "samples": len(samples), "problems": problems, "warnings": warnings,
              "classes": _class_counts(samples)}
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        kind = "boxes" if fmt != "folders" else "images"
        print(f"{args.src}: {fmt}, {len(samples)} valid images, {kind} per class: "
              + ", ".join(f"{k}={v}" for k, v in report["classes"].items()))
        print(f"{len(problems)} problem(s), {len(warnings)} warning(s)")
    return 1 if problems else 0


def cmd_convert(args) -> int:
    from huia.data import data_format, write_dataset
    from huia.data.base import dataset_class_names

    _check_apart(args.src, args.dst)
    samples, problems, fmt, _ = _read(args)
    if not data_format(fmt).boxes:
        raise HuiaError("class folders have no boxes to convert to a detection format", args.src)
    _gate(args, problems)
    tmp = _fresh_dst(args.dst)
    try:
        write_dataset(samples, tmp, args.to, dataset_class_names(samples))
        _commit(tmp, args.dst)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"wrote {len(samples)} images ({fmt} -> {args.to}) to {args.dst}")
    return 1 if problems else 0


def _empty_split_message(samples, train, test) -> str:
    """Why a split left one side empty, with the per-class counts (a class needs 2 independent samples - an
    original and its augmented copies count once - to give one to each side)."""
    from collections import Counter

    from huia.data.split import sample_groups, stratum

    empty = "train" if not train else "test"
    if not samples:
        return "no samples to split"
    counts = Counter(stratum(s).split(":", 1)[-1] or "(no boxes)" for s in samples)
    groups = Counter(stratum(samples[g[0]]).split(":", 1)[-1] or "(no boxes)" for g in sample_groups(samples))
    per = ", ".join(f"{c} {n}" + (f" ({groups[c]} original(s))" if groups[c] != n else "")
                    for c, n in sorted(counts.items()))
    return (f"the {empty} part would be empty ({len(train)} train + {len(test)} test); class counts: {per}; "
            f"each class needs 2+ independent samples for a test part")


def cmd_split(args) -> int:
    from huia.data import data_format, write_dataset
    from huia.data.base import dataset_class_names
    from huia.data.split import sample_key, split_samples
    from huia.train.common import write_json

    _check_apart(args.src, args.out)
    samples, problems, fmt, _ = _read(args)
    to = args.to or fmt
    if data_format(fmt).boxes != data_format(to).boxes:
        raise HuiaError(f"cannot split a {fmt} data set into {to}", args.src)
    _gate(args, problems)
    by = args.by
    try:
        train, test = split_samples(samples, args.train, args.seed, by=by)
    except HuiaError as exc:
        raise HuiaError(exc.message, exc.path or args.src) from None
    if not train or not test:
        raise HuiaError(_empty_split_message(samples, train, test), args.src)
    if all(s.label is not None for s in samples):
        present = sorted({str(s.label) for s in samples})
        if len(present) == 1:
            print(f"huia: warning: one class only ({present[0]}): a classifier needs at least 2 (empty class "
                  "folders are not classes)", file=sys.stderr)
        alone = sorted(set(present) - {str(s.label) for s in test})
        if alone:
            print(f"huia: warning: no test sample for class(es) {', '.join(alone)} (too few samples); the test "
                  "part cannot measure them", file=sys.stderr)
    names = dataset_class_names(samples)
    tmp = _fresh_dst(args.out)
    try:
        write_dataset(train, tmp / "train", to, names if to != "folders" else None)
        write_dataset(test, tmp / "test", to, names if to != "folders" else None)
        write_json(tmp / "split.json", {"source": str(args.src), "format": to, "seed": args.seed, "by": by,
                                        "train_fraction": args.train,
                                        "train": [sample_key(s) for s in train], "test": [sample_key(s) for s in test]})
        _commit(tmp, args.out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"wrote {len(train)} train + {len(test)} test images ({to}) to {args.out}")
    return 1 if problems else 0


def cmd_augment(args) -> int:
    from huia.data import data_format
    from huia.data.augment import Augmenter, augment_dataset

    _check_apart(args.src, args.dst)
    samples, problems, fmt, _ = _read(args, verify=False)
    del samples
    if problems:
        raise HuiaError(f"{len(problems)} problem(s) listed above; nothing written (fix them, or get a clean copy "
                        "with `huia data split`/`convert --skip-bad` first)", args.src)
    preset = args.preset or ("detect" if data_format(fmt).boxes else "classify")
    aug = Augmenter.preset(preset)
    if args.no_flip:
        aug.hflip = 0.0
    tmp = _fresh_dst(args.dst)
    try:
        info = augment_dataset(args.src, tmp, args.times, seed=args.seed, augmenter=aug, fmt=fmt)
        _commit(tmp, args.dst)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    boxes = f", {info['boxes']} boxes" if fmt != "folders" else ""
    print(f"wrote {info['written']} images ({info['originals']} originals x (1 + {args.times}){boxes}) to {args.dst}")
    return 0
