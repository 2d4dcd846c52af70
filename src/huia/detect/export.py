"""Export a trained detector run to a TF.js graph model (called by `huia export RUN --out DIR`).

The run already holds the fine-tuned graph (``RUN/model``, float32): exporting re-writes it in 4 MiB shards with the
chosen weight quantization and the huia metadata (labels, input size, normalisation, score threshold,
post-processing) in ``userDefinedMetadata``. The graph itself is untouched, so what the browser runs is what
`huia detect eval` measured (up to quantization).
"""

from __future__ import annotations

import json
from pathlib import Path

from huia.errors import HuiaError

QUANTIZE = (None, "float32", "float16", "uint16", "uint8")
MIXED_TOLERANCE = 0.05  # uint8 export: max change of heat map / boxes on training images before uint16 is kept


def export_run(run_dir: str | Path, out_dir: str | Path, *, quantize: str | None = None, fmt: str = "graph",
               score_threshold: float | None = None) -> Path:
    """Write ``out_dir/model.json`` + shards; returns the model.json path."""
    from huia.tfjs.artifacts import DEFAULT_SHARD_BYTES, load_artifacts, save_artifacts

    if fmt not in (None, "graph"):
        raise HuiaError(f"a detector exports as a TF.js graph model only (got --format {fmt}): its decoding uses "
                        "ops (TopK, Gather) that have no layers-model form")
    if quantize not in QUANTIZE:
        raise HuiaError(f"unknown quantization {quantize!r} (choose float32, float16, uint16 or uint8)")
    run = Path(run_dir)
    model_dir = run / "model"
    if not (model_dir / "model.json").is_file():
        raise HuiaError("no trained model in this run (expected model/model.json; did training finish?)", run)
    art = load_artifacts(model_dir)
    meta = dict(art.user_defined_metadata or {})
    huia = dict(meta.get("huia") or {})
    if huia.get("task") != "detect":
        raise HuiaError("not a detector run (model metadata task is not 'detect')", model_dir)
    if score_threshold is not None:
        huia["score_threshold"] = float(score_threshold)
    huia["quantization"] = quantize or "float32"
    curve = _operating_curve(run)
    if curve:
        huia["operating_curve"] = curve
    meta["huia"] = huia
    art.user_defined_metadata = meta
    # the in-graph decoding constants (grid size, class count ...) are int32 and stay exact
    if quantize == "uint8":
        evaluate = calibration_fn(run, art)
        if evaluate is not None:
            # calibrated mixed precision (huia.tfjs.quantize): every float tensor uint8 unless the heat map / boxes
            # on a few training images move too much, then uint16
            from huia.tfjs.quantize import candidates_of, mixed_precision

            art.quantization, report = mixed_precision(art, "uint8", fallback="uint16",
                                                       candidates=candidates_of(art), evaluate=evaluate,
                                                       progress=True, tolerance=MIXED_TOLERANCE)
            huia["mixed_precision"] = report
            return save_artifacts(art, out_dir, quantize=None, shard_bytes=DEFAULT_SHARD_BYTES)
    # no training images to calibrate on: small float tensors (biases, folded batch-norm offsets, scalars) stay
    # float32 (with uint8 they cost the kangaroo run AP 0.32 -> 0.12; float32 costs +0.25 MB and no AP)
    return save_artifacts(art, out_dir, quantize=quantize or "float32", shard_bytes=DEFAULT_SHARD_BYTES,
                          quantize_min_size=min_quant_size(quantize))


def _operating_curve(run: Path) -> dict | None:
    """The run's held-out (or validation) TP/FP/FN per score threshold from metrics.json, for the Detector page to
    show precision and recall next to its threshold slider (measured with the run's float model)."""
    try:
        m = json.loads((run / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    curve = m.get("operating_curve")
    if not isinstance(curve, list) or not curve or m.get("evaluated_on") not in ("held-out", "validation"):
        return None
    images = m.get("val_images" if m["evaluated_on"] == "validation" else "test_images")
    return {"evaluated_on": m["evaluated_on"], "images": images, "iou": 0.5,
            "rows": "score threshold, TP, FP, FN", "curve": curve}


def calibration_fn(run: Path, art, n: int = 6):
    """weights -> (heat map, heat-weighted boxes / input size) on ``n`` of the run's own training images, run by
    huia's graph executor (which matches TF.js); None when the run's data set is gone."""
    import copy
    import json
    import warnings

    import numpy as np

    from huia.data.split import sample_key
    from huia.detect import dataset as D
    from huia.detect.model import BOXES, HEATMAP, INPUT, preprocess
    from huia.tfjs.graph import GraphModel

    try:
        cfg = json.loads((run / "config.json").read_text())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            train_s, _, _ = D.load_split(cfg["data"], seed=int(cfg["seed"]), train=float(cfg["train_fraction"]),
                                         classes=cfg.get("class_names") or None)
            keys = set(cfg.get("train_images") or [])
            train_s = [s for s in train_s if sample_key(s) in keys]
            train_s = train_s[::max(1, len(train_s) // n)][:n]
            images = D.load_images(train_s)
    except (OSError, KeyError, ValueError, HuiaError):
        return None
    if not images:
        return None
    size = int(art.user_defined_metadata["huia"]["input_size"][0])
    x = np.concatenate([preprocess(im, size) for im in images])

    def evaluate(weights: dict) -> np.ndarray:
        trial = copy.copy(art)
        trial.weights = weights
        g = GraphModel(trial)
        outs = [g({INPUT: x[i:i + 1]}, outputs=[HEATMAP, BOXES]) for i in range(len(x))]
        heat = np.concatenate([np.asarray(o[HEATMAP]) for o in outs])
        wh = np.concatenate([np.asarray(o[BOXES]) for o in outs]) / size * heat.max(-1, keepdims=True)
        return np.concatenate([heat.ravel(), wh.ravel()])

    return evaluate


def min_quant_size(quantize: str | None) -> int:
    return {"uint8": 4096, "uint16": 2, "float16": 2}.get(quantize or "", 0)


def export_pretrained(out_dir: str | Path, labels: list[str], coco_channels: list[int], *, input_size: int = 320,
                      quantize: str | None = None, score_threshold: float = 0.3) -> Path:
    """The bundled COCO CenterNet re-wired as a huia detector for some COCO classes, without training (e.g.
    ``["person"], [0]``): a zero-shot baseline, and a small real detector for testing the browser plumbing."""
    from huia.detect.model import adapt_centernet, load_base_artifacts
    from huia.detect.train import model_metadata
    from huia.tfjs.artifacts import save_artifacts

    if len(labels) != len(coco_channels):
        raise HuiaError(f"{len(labels)} labels but {len(coco_channels)} COCO channels")
    art = adapt_centernet(load_base_artifacts(), input_size=input_size, class_channels=list(coco_channels))
    art.quantization = {}
    art.user_defined_metadata = model_metadata(list(labels), input_size, score_threshold)
    art.user_defined_metadata["huia"]["quantization"] = quantize or "float32"
    return save_artifacts(art, out_dir, quantize=quantize or "float32", quantize_min_size=min_quant_size(quantize))
