"""`huia classify eval RUN --data DIR`: accuracy on samples the run never trained on.

The run's config.json lists every training file with its SHA-1; evaluation skips any sample whose path or content
matches one (so a copy of a training image under another name does not count as held-out either)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from huia.classify import dataset as D
from huia.classify.predict import load_run, predict_proba
from huia.eval.classification import classification_report
from huia.errors import HuiaError


def held_out_samples(config: dict, ds: D.Dataset) -> tuple[list, int]:
    trained_paths = {t["path"] for t in config.get("trained_on", [])}
    trained_sha = {t["sha1"] for t in config.get("trained_on", [])}
    keep, skipped = [], 0
    for s in ds.samples:
        if str(s.image_path.resolve()) in trained_paths or \
                hashlib.sha1(Path(s.image_path).read_bytes()).hexdigest() in trained_sha:
            skipped += 1
        else:
            keep.append(s)
    return keep, skipped


def evaluate_run(run_dir: str | Path, data_dir: str | Path, *, plot: bool = True) -> dict:
    run = load_run(run_dir)
    ds = D.load_dataset(data_dir, labels=run.labels, quiet=True)
    samples, skipped = held_out_samples(run.config, ds)
    if not samples:
        raise HuiaError(f"every sample was used for training ({skipped}); nothing held out to evaluate", data_dir)
    probs = predict_proba(run, samples, desc="evaluate")
    y = ds.targets(samples)
    pred = probs.argmax(1)
    rep = classification_report(y, pred, run.labels)  # accuracy, per-class P/R/F1, confusion (rows = truth)
    rep.update({"samples": len(samples), "skipped_trained_on": skipped, "labels": run.labels,
                "errors": [{"file": str(s.image_path), "label": s.label, "predicted": run.labels[int(p)]}
                           for s, p, t in zip(samples, pred, y) if p != t][:50]})
    if plot:
        from huia.eval.plots import plot_confusion

        (Path(run_dir) / "plots").mkdir(exist_ok=True)
        plot_confusion(np.asarray(rep["confusion"]), run.labels, Path(run_dir) / "plots" / "eval_confusion.png")
    return rep
