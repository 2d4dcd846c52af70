"""`huia tfjs info|run|quantize`: inspect, run and quantize any TF.js model from the command line."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import numpy as np

from huia.cli import SUBCOMMAND_METAVAR, positive_float
from huia.errors import HuiaError
from huia.tfjs.artifacts import MiB, QUANTIZATION_DTYPES, load_artifacts, resolve_model_json, save_artifacts


def describe(art) -> dict:
    """A summary of a model: what `huia tfjs info` prints."""
    counts: collections.Counter = collections.Counter()
    stored: collections.Counter = collections.Counter()
    for name, arr in art.weights.items():
        q = art.quantization.get(name)
        key = f"{q['dtype']} (from {arr.dtype})" if q else str(arr.dtype)
        counts[key] += 1
        stored[key] += int(arr.size)
    topo = art.model_topology
    if art.is_graph_model:
        ops = collections.Counter(n.get("op") for n in topo.get("node", []))
        structure = {"ops": dict(sorted(ops.items()))}
    else:
        cfg = topo.get("model_config", topo)
        layers = cfg.get("config", {}).get("layers", []) if isinstance(cfg.get("config"), dict) else cfg.get("config", [])
        structure = {"class_name": cfg.get("class_name"),
                     "layers": dict(collections.Counter(layer.get("class_name") for layer in layers or []))}
    sig = art.signature or {}
    return {
        "path": str(art.path), "format": art.format, "generatedBy": art.generated_by, "convertedBy": art.converted_by,
        "inputs": {k: v.get("name") for k, v in (sig.get("inputs") or {}).items()},
        "outputs": {k: v.get("name") for k, v in (sig.get("outputs") or {}).items()},
        **structure,
        "weights": {"count": len(art.weights), "bytes": art.nbytes(), "by_dtype": dict(counts),
                    "elements_by_dtype": dict(stored)},
        "shards": art.shard_paths,
        "userDefinedMetadata": art.user_defined_metadata,
    }


def _cmd_info(args) -> int:
    info = describe(load_artifacts(args.model))
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    # a model saved by TF.js itself (model.save(), the Gestures page's Download) has no converter: say nothing of one
    made = [f"{what} by {info[key]}" for what, key in (("generated", "generatedBy"), ("converted", "convertedBy"))
            if info[key]]
    print(f"{info['path']}\n  format: {info['format']}" + (f"  ({', '.join(made)})" if made else ""))
    for k in ("inputs", "outputs"):
        if info[k]:
            print(f"  {k}: " + ", ".join(f"{a} -> {b}" if a != b else a for a, b in info[k].items()))
    if "ops" in info:
        print("  ops: " + ", ".join(f"{op} x{n}" for op, n in info["ops"].items()))
    else:
        print(f"  {info['class_name']}: " + ", ".join(f"{c} x{n}" for c, n in info["layers"].items()))
    w = info["weights"]
    print(f"  weights: {w['count']} tensors, {w['bytes'] / MiB:.2f} MiB stored; " +
          ", ".join(f"{k}: {n}" for k, n in w["by_dtype"].items()))
    print(f"  shards: {', '.join(info['shards'])}")
    meta = info["userDefinedMetadata"]
    if meta:
        lines = metadata_lines(meta)
        shortened = any(line.endswith(")") and "...(" in line for line in lines)
        print("  metadata" + (" (shortened; --json prints all of it)" if shortened else "") + ":")
        for line in lines:
            print(f"    {line}")
    return 0


def metadata_lines(meta, width: int = 100) -> list[str]:
    """One `key: value` line per metadata entry, a long value cut at about `width` characters with its size
    (a mixed-precision export carries a dict of dozens of tensors: one 3 KB line helps nobody)."""
    if not isinstance(meta, dict):
        meta = {"value": meta}
    out = []
    for key, value in meta.items():
        text = json.dumps(value)
        if len(text) > width:
            size = f"{len(value)} entries, " if isinstance(value, (dict, list)) else ""
            text = f"{text[:width]}...({size}{len(text)} characters)"
        out.append(f"{key}: {text}")
    return out


def _parse_inputs(items: list[str]) -> dict[str, np.ndarray]:
    feeds = {}
    for item in items or []:
        if "=" not in item:
            raise HuiaError(f"--input expects NAME=FILE.npy, got {item!r}")
        name, file = item.split("=", 1)
        path = Path(file)
        if not path.is_file():
            raise HuiaError("input file not found", path)
        try:
            feeds[name] = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise HuiaError(f"not a readable .npy array ({exc})", path) from None
    if not feeds:
        raise HuiaError("give at least one --input NAME=FILE.npy")
    return feeds


def _cmd_run(args) -> int:
    from huia.tfjs.graph import load_graph_model

    art = load_artifacts(args.model)
    if not art.is_graph_model:
        raise HuiaError(f"this is a {art.format or 'layers'} model; `huia tfjs run` runs graph models only (see "
                        "it with `huia tfjs info`; in the browser it loads with tf.loadLayersModel)", art.path)
    model = load_graph_model(art)
    feeds = _parse_inputs(args.input)
    outputs = [o.strip() for o in args.outputs.split(",") if o.strip()] if args.outputs else None
    result = model(feeds if len(feeds) > 1 or list(feeds)[0] else list(feeds.values())[0], outputs=outputs)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **{k: np.asarray(v) for k, v in result.items()})
    for k, v in result.items():
        v = np.asarray(v)
        print(f"{k}: shape {list(v.shape)} {v.dtype}")
    print(f"wrote {out}")
    return 0


def _cmd_quantize(args) -> int:
    src = resolve_model_json(args.src)
    art = load_artifacts(src)
    before = art.nbytes()
    if args.calibrate and not args.mixed:
        raise HuiaError("--calibrate only applies with --mixed")
    if args.mixed:
        from huia.tfjs.quantize import mixed_precision

        if args.dtype != "uint8":
            raise HuiaError(f"--mixed applies to uint8 (uint16/float16 are precise enough per tensor), "
                            f"not {args.dtype}")
        evaluate = _calibration(art, _parse_inputs(args.calibrate)) if args.calibrate else None
        art.quantization, report = mixed_precision(art, "uint8", fallback="uint16", evaluate=evaluate,
                                                   progress=True)
        dst = save_artifacts(art, args.dst, quantize=None, shard_bytes=int(args.shard_mb * MiB))
        extra = (f"; {report['kept_fallback']} of {report['tensors']} tensors kept uint16 "
                 f"({report['method']}" + (f", output deviation {report['deviation']:.4f})" if evaluate else ")"))
    else:
        dst = save_artifacts(art, args.dst, quantize=args.dtype, shard_bytes=int(args.shard_mb * MiB))
        extra = ""
    after = load_artifacts(dst)
    print(f"wrote {dst}: weights {before / MiB:.2f} MiB -> {after.nbytes() / MiB:.2f} MiB ({args.dtype}, "
          f"{len(after.shard_paths)} shard(s)){extra}")
    return 0


def _calibration(art, feeds: dict[str, np.ndarray]):
    """weights -> the graph model's outputs on the calibration inputs (flattened and concatenated)."""
    import copy

    from huia.tfjs.graph import GraphModel

    if not art.is_graph_model:
        raise HuiaError("--calibrate needs a graph model (layers models use the data-free policy)", art.path)

    def evaluate(weights):
        trial = copy.copy(art)
        trial.weights = weights
        out = GraphModel(trial)(feeds if len(feeds) > 1 or list(feeds)[0] else list(feeds.values())[0])
        return np.concatenate([np.asarray(v, np.float64).reshape(-1) for _, v in sorted(out.items())])

    return evaluate


def register(sub) -> None:
    p = sub.add_parser("tfjs", help="inspect, run and quantize TF.js models (no TensorFlow needed)",
                       description="Read, run and quantize TensorFlow.js graph and layers models with PyTorch.")
    tsub = p.add_subparsers(dest="tfjs_command", metavar=SUBCOMMAND_METAVAR)
    tsub.required = True

    ip = tsub.add_parser("info", help="format, inputs, outputs, ops or layers, weights and shards of a model",
                         description="Describe a TF.js model: its format and producer, signature inputs and "
                         "outputs, op counts (graph model) or layer counts (layers model), weights by stored dtype, "
                         "shard files, and userDefinedMetadata (long values shortened; --json prints everything).")
    ip.add_argument("model", help="model.json (or a folder holding one)")
    ip.add_argument("--json", action="store_true", help="machine-readable output")
    ip.set_defaults(func=_cmd_info)

    rp = tsub.add_parser("run", help="run a graph model on .npy inputs and save its outputs to .npz",
                         description="Run a TF.js graph model on numpy inputs. Output names are graph node names "
                         "(without ':0') or signature keys; any intermediate node can be asked for.")
    rp.add_argument("model", help="model.json (or a folder holding one)")
    rp.add_argument("--input", action="append", metavar="NAME=FILE.npy",
                    help="an input tensor (repeat for several; NAME is the signature key or placeholder name)")
    rp.add_argument("--outputs", metavar="NODE,...", help="comma-separated node names (default: the model's outputs)")
    rp.add_argument("--out", required=True, metavar="OUT.npz", help="where to write the outputs")
    rp.set_defaults(func=_cmd_run)

    qp = tsub.add_parser("quantize", help="re-write a model with uint8, uint16 or float16 weights",
                         description="Quantize every float32 weight exactly as TF.js reads it: uint8/uint16 affine "
                         "(value = q*scale + min, 0 kept exact) or float16. Writes DST/model.json + shards.")
    qp.add_argument("src", help="source model.json (or folder)")
    qp.add_argument("dst", help="destination folder")
    qp.add_argument("--dtype", required=True, choices=list(QUANTIZATION_DTYPES),
                    help="weight storage: uint8 (4x smaller, affine per tensor), uint16 (2x, near lossless), "
                    "float16 (2x)")
    qp.add_argument("--shard-mb", type=positive_float, default=4.0,
                    help="shard size in MiB, > 0 (default 4, as the TF.js converter)")
    qp.add_argument("--mixed", action="store_true",
                    help="with --dtype uint8: keep the tensors that per-tensor uint8 would damage as uint16 (the TF.js "
                    "converter's --quantize_uint8 stores all as uint8). Without --calibrate the choice is data-free: "
                    "a tensor whose worst 10%% of input or output channels lose >10%% of their signal stays uint16")
    qp.add_argument("--calibrate", action="append", metavar="NAME=FILE.npy",
                    help="with --mixed: real model inputs; tensors are then kept uint16, most sensitive first, until "
                    "the outputs stay within 2%% of float32 on these inputs (graph models)")
    qp.set_defaults(func=_cmd_quantize)
