"""`huia export RUN --out DIR`: turn a training run into a TF.js model the browser loads.

The run folder says what it is (``config.json`` "task"); each task package knows its model and metadata and
provides ``huia.<task>.export.export_run(run_dir, out_dir, *, quantize, fmt) -> Path``. This command only
validates the input and dispatches: adding a task is one entry in ``TASKS``.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

from huia.errors import HuiaError

TASKS = {"detect": "huia.detect.export", "classify": "huia.classify.export"}
FORMATS = ("graph", "layers")
QUANTIZATIONS = ("uint8", "uint16", "float16")


def read_task(run_dir: Path) -> str:
    if not run_dir.exists():
        raise HuiaError("no such run folder", run_dir)
    if not run_dir.is_dir():
        raise HuiaError("not a run folder (expected a directory with config.json)", run_dir)
    cfg_path = run_dir / "config.json"
    if not cfg_path.is_file():
        raise HuiaError("run folder has no config.json (was it created by `huia detect/classify train`?)", run_dir)
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HuiaError(f"malformed JSON ({exc})", cfg_path) from None
    task = cfg.get("task") if isinstance(cfg, dict) else None
    if not task:
        raise HuiaError('no "task" key (expected "detect" or "classify")', cfg_path)
    if task not in TASKS:
        raise HuiaError(f"unknown task {task!r} (known: {', '.join(TASKS)})", cfg_path)
    return task


def export_run(run_dir: str | Path, out_dir: str | Path, *, quantize: str | None = None, fmt: str = "graph") -> Path:
    """Export a training run; returns the written model.json."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    if fmt not in FORMATS:
        raise HuiaError(f"unknown format {fmt!r} (choose {' or '.join(FORMATS)})")
    if quantize not in (None, *QUANTIZATIONS):
        raise HuiaError(f"unknown quantization {quantize!r} (choose {', '.join(QUANTIZATIONS)})")
    rr, oo = run_dir.resolve(), out_dir.resolve()
    if oo == rr or rr in oo.parents or oo in rr.parents:
        raise HuiaError("--out is the run folder, inside it or around it; an export there would replace the run's "
                        "own model (or the run): choose a folder outside the run", out_dir)
    task = read_task(run_dir)
    try:
        module = importlib.import_module(TASKS[task])
    except ModuleNotFoundError as exc:
        if exc.name and TASKS[task].startswith(exc.name):
            raise HuiaError(f"this huia has no exporter for task {task!r} ({TASKS[task]} is missing)",
                            run_dir) from None
        raise
    if not hasattr(module, "export_run"):
        raise HuiaError(f"{TASKS[task]} has no export_run()", run_dir)
    return Path(module.export_run(run_dir, out_dir, quantize=quantize, fmt=fmt))


def _cmd_export(args) -> int:
    path = export_run(args.run, args.out, quantize=args.quantize, fmt=args.format)
    files = sorted(path.parent.iterdir())
    size = sum(f.stat().st_size for f in files if f.is_file())
    print(f"wrote {path} ({len(files)} files, {size / 1e6:.2f} MB)")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export", help="export a trained run to a TF.js model for the browser",
        description="Export a training run (from `huia detect train` or `huia classify train`) to a TensorFlow.js "
                    "model folder: model.json + 4 MiB weight shards, with labels, input size and preprocessing in "
                    "userDefinedMetadata. Graph models (default) are the fastest to run; layers models can be "
                    "trained further in TF.js (tf.loadLayersModel + model.fit).")
    p.add_argument("run", type=Path, metavar="RUN", help="run folder holding config.json and the trained model")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder to write model.json and shards to "
                   "(a previous export there is replaced atomically; a folder holding anything else is refused)")
    p.add_argument("--format", choices=FORMATS, default="graph",
                   help="graph: tf.loadGraphModel, BN folded, fastest (default); layers: tf.loadLayersModel, "
                        "trainable in the browser")
    p.add_argument("--quantize", choices=QUANTIZATIONS, default=None,
                   help="store weights as uint8, uint16 or float16 (default float32). uint8 is mixed precision: "
                        "the weights whose 8-bit rounding moves the outputs most stay 16-bit (about 3x smaller than "
                        "float32, not 4x); uint16 and float16 are 2x smaller")
    p.set_defaults(func=_cmd_export)
