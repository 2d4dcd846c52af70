"""Plots are real PNGs whose pixels depend on the data (kept under test-output/ for a human to look at)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from huia.eval.coco import coco_evaluate
from huia.eval.plots import plot_confusion, plot_curves, plot_pr_curve
from huia.train.common import RunDir
from huia.types import Detections


def _png(path):
    im = np.asarray(Image.open(path).convert("RGB"))
    assert im.shape[0] > 200 and im.shape[1] > 200
    assert im.std() > 5  # not blank
    return im


def test_curves_from_log_csv(out_dir):
    run = RunDir(out_dir / "run")
    rng = np.random.default_rng(0)
    for step in range(1, 121):
        row = {"epoch": (step - 1) // 20, "step": step, "loss": 2.0 / step ** 0.5 + rng.normal(0, 0.05),
               "localization_loss": 0.5 / step ** 0.3, "lr": 1e-3 * 0.98 ** step}
        if step % 20 == 0:
            row.update(val_loss=1.5 / step ** 0.4, val_accuracy=1 - 1 / step ** 0.5)
        run.log(row)
    a = _png(plot_curves(run.log_path, run.plot_path("curves.png")))
    b = _png(plot_curves(run.read_log()[:40], out_dir / "curves_short.png"))
    assert a.shape != b.shape or not np.array_equal(a, b)
    assert (run.plots_dir / "curves.png").is_file()


def test_confusion_png(out_dir):
    cm = [[40, 2, 0], [3, 30, 7], [0, 1, 45]]
    im = _png(plot_confusion(cm, ["fist", "palm", "point"], out_dir / "confusion.png"))
    other = _png(plot_confusion(np.diag([40, 40, 46]), ["fist", "palm", "point"], out_dir / "confusion_diag.png"))
    assert im.shape == other.shape and not np.array_equal(im, other)


def test_pr_curve_png(out_dir):
    rng = np.random.default_rng(1)
    gts, dets = [], []
    for _ in range(20):
        g = rng.uniform(0, 200, (3, 2))
        g = np.concatenate([g, g + rng.uniform(20, 80, (3, 2))], 1)
        d = g + rng.normal(0, 6, g.shape)
        gts.append(Detections(g, None, [0, 1, 1], ["kangaroo", "wallaby"]))
        dets.append(Detections(d, rng.random(3), [0, 1, 1], ["kangaroo", "wallaby"]))
    res = coco_evaluate(gts, dets)
    _png(plot_pr_curve(res, out_dir / "pr.png"))
    _png(plot_pr_curve(res["precision"][:, :, 0], out_dir / "pr_array.png"))


def test_curves_mark_where_a_phase_starts(out_dir):
    """A refit restarts from scratch; the plot marks the phase boundary (a dashed line with its name) instead of
    letting the jump read as a divergence. Without the phase column the same numbers plot without it."""
    rows = [{"step": s, "phase": "head" if s <= 60 else "refit", "loss": 1.0 / (s if s <= 60 else s - 60) ** 0.5}
            for s in range(1, 121)]
    marked = _png(plot_curves(rows, out_dir / "curves_phases.png", phase_notes={"refit": "refit: new head"}))
    plain = _png(plot_curves([{k: v for k, v in r.items() if k != "phase"} for r in rows],
                             out_dir / "curves_no_phases.png"))
    assert marked.shape == plain.shape
    diff = np.abs(marked.astype(int) - plain.astype(int)).sum(axis=2) > 60
    cols = np.flatnonzero(diff.sum(axis=0) > 0.3 * marked.shape[0] * 0.5)  # a tall vertical mark, not just text
    assert cols.size, "no phase line drawn"
