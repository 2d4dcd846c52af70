"""`huia classify eval RUN --data DIR`: accuracy on samples the run never trained on.

The run's config.json lists every training file with its SHA-1 and the SHA-1 of the file it was made from
(``source_sha1``: an augmented copy's original, from provenance.json or the ``<stem>_augNN`` naming). Evaluation
skips a sample whose path or content matches a trained file (a renamed copy does not count as held-out either),
and a sample that shares a source with a trained file: the original of a trained augmented copy, or another copy
of a trained original, has been seen by the model in all but pixel noise."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from huia.classify import dataset as D
from huia.classify.predict import load_run, predict_proba
from huia.data.provenance import file_sha1, originals_by_group, source_sha1
from huia.eval.classification import classification_report, grouped_accuracy_interval
from huia.errors import HuiaError


def held_out_samples(config: dict, ds: D.Dataset) -> tuple[list, int]:
    keep, reasons = held_out_with_reasons(config, ds)
    return keep, sum(reasons.values())


def held_out_with_reasons(config: dict, ds: D.Dataset) -> tuple[list, dict[str, int]]:
    """``(held-out samples, {reason: number skipped})``; reasons are ``trained_on`` (same file or same bytes)
    and ``same_source`` (an augmented copy of, or the original of, a trained sample)."""
    trained = config.get("trained_on", [])
    trained_paths = {t["path"] for t in trained}
    trained_sha = {t["sha1"] for t in trained}
    trained_src = {t["source_sha1"] for t in trained if t.get("source_sha1")}
    originals = originals_by_group(ds.samples)
    keep: list = []
    reasons = {"trained_on": 0, "same_source": 0}
    for s in ds.samples:
        own = file_sha1(s.image_path)
        if str(Path(s.image_path).resolve()) in trained_paths or own in trained_sha:
            reasons["trained_on"] += 1
            continue
        src = source_sha1(s, originals)
        if own in trained_src or (src is not None and (src in trained_sha or src in trained_src)):
            reasons["same_source"] += 1
            continue
        keep.append(s)
    return keep, reasons


EVAL_KEYS = ("accuracy", "accuracy_ci", "accuracy_ci_method", "per_class", "confusion", "samples", "skipped_reasons",
             "skipped_trained_on", "labels")


def export_proba(run, export_dir: str | Path, samples: list, batch: int = 32) -> tuple[np.ndarray, str]:
    """Probabilities of RUN's TF.js graph export (quantized or not) on ``samples``, run by huia's graph executor
    (which matches TF.js to ~1e-5): what the browser will compute. Returns (probs, quantization)."""
    from huia.classify.export import INPUT_NAME, OUTPUT_NAME
    from huia.classify.predict import run_inputs
    from huia.classify.tasks import get_task
    from huia.tfjs.artifacts import load_artifacts
    from huia.tfjs.graph import GraphModel

    p = Path(export_dir)
    mj = p / "model.json" if p.is_dir() else p
    if not mj.is_file():
        raise HuiaError("no model.json here (expected a folder written by `huia export`)", p)
    art = load_artifacts(mj)
    meta = (art.user_defined_metadata or {})
    huia_meta = meta.get("huia") or {}
    if huia_meta.get("task") != "classify":
        raise HuiaError("not a huia classifier export (userDefinedMetadata.huia.task != 'classify')", mj)
    if huia_meta.get("format") != "graph" or not art.is_graph_model:
        raise HuiaError("a layers export is a head without its input pipeline; evaluate the run's graph export "
                        "(`huia export RUN --format graph`)", mj)
    if huia_meta.get("classifier") != run.task or meta.get("labels") != run.labels:
        raise HuiaError(f"exported from another run (a {huia_meta.get('classifier')!r} classifier of "
                        f"{meta.get('labels')}, the run is a {run.task!r} classifier of {run.labels})", mj)
    from huia.classify.export import run_fingerprint

    made_from = huia_meta.get("model_sha1")
    if made_from is None:
        raise HuiaError("this export does not say which run made it (exported before huia recorded it); export "
                        "the run again to evaluate it", mj)
    if made_from != run_fingerprint(run):
        raise HuiaError("exported from another run (or from this run before it was trained again): its weights "
                        "are not this run's model.pt", mj)
    feed = INPUT_NAME if get_task(run.task).has_backbone else "features"
    g = GraphModel(art)
    out = []
    for i in range(0, len(samples), batch):
        x = run_inputs(run, samples[i:i + batch])
        out.append(np.asarray(g({feed: x}, outputs=[OUTPUT_NAME])[OUTPUT_NAME], np.float32))
    return np.concatenate(out), str(huia_meta.get("quantization") or "float32")


def evaluate_run(run_dir: str | Path, data_dir: str | Path, *, plot: bool = True, quiet: bool = False,
                 export: str | Path | None = None) -> dict:
    """Held-out accuracy of RUN (its float PyTorch model), or with ``export`` of that run's TF.js export as the
    browser runs it (quantized weights included), with how often the export agrees with the float model."""
    run = load_run(run_dir)
    ds = D.load_dataset(data_dir, labels=run.labels, quiet=True)
    samples, reasons = held_out_with_reasons(run.config, ds)
    skipped = sum(reasons.values())
    why = (f"{reasons['trained_on']} trained on (same file or same content), {reasons['same_source']} made from "
           "the same source image as a trained sample (augmented copy or its original)")
    if not samples:
        raise HuiaError(f"every sample was used for training or shares its source image with one ({why}); "
                        "nothing held out to evaluate (split the captures with `huia data split` before "
                        "augmenting, and evaluate on the test part)", data_dir)
    if skipped and not quiet:
        print(f"huia: note: {data_dir}: skipped {skipped} sample(s): {why}", file=sys.stderr)
    probs = predict_proba(run, samples, desc="evaluate")
    exported = None
    if export is not None:
        float_probs = probs
        probs, quantization = export_proba(run, export, samples)
        exported = {"path": str(export), "quantization": quantization,
                    "agreement_with_run": float((probs.argmax(1) == float_probs.argmax(1)).mean()),
                    "max_abs_diff": float(np.abs(probs - float_probs).max()),
                    "run_accuracy": float((float_probs.argmax(1) == ds.targets(samples)).mean())}
    y = ds.targets(samples)
    pred = probs.argmax(1)
    rep = classification_report(y, pred, run.labels)  # accuracy, per-class P/R/F1, confusion (rows = truth)
    from huia.data.split import sample_groups

    groups = sample_groups(samples)
    if len(groups) < len(samples):  # augmented copies among the held-out samples: resample by source image
        rep["accuracy_ci"] = grouped_accuracy_interval(pred == y, groups)
        rep["accuracy_ci_method"] = f"bootstrap over {len(groups)} source images"
    else:
        rep["accuracy_ci_method"] = "wilson"
    rep.update({"samples": len(samples), "skipped_trained_on": skipped,
                "skipped_reasons": reasons, "labels": run.labels,
                "errors": [{"file": str(s.image_path), "label": s.label, "predicted": run.labels[int(p)]}
                           for s, p, t in zip(samples, pred, y) if p != t][:50]})
    rep["export"] = exported
    if exported is None:  # the run's own last evaluation: `huia export` carries it into the model's metadata
        from huia.train.common import write_json

        write_json(Path(run_dir) / "eval.json", {**{k: rep[k] for k in EVAL_KEYS}, "data": str(Path(data_dir))})
    if plot:
        from huia.eval.plots import plot_confusion

        (Path(run_dir) / "plots").mkdir(exist_ok=True)
        name = "eval_confusion.png" if exported is None else "eval_confusion_export.png"
        plot_confusion(np.asarray(rep["confusion"]), run.labels, Path(run_dir) / "plots" / name)
    return rep
