"""PNG plots for run directories: training curves from log.csv, confusion matrix, precision-recall curves.

Drawn with matplotlib's object API on an Agg canvas (no pyplot, no global backend switch), so plotting works
headless, in threads and next to other code using pyplot. Computing stays elsewhere (huia.eval.coco /
classification); these functions only draw what they are given.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

X_KEYS = ("step", "epoch", "iteration", "iter")
SKIP_KEYS = {"time", "wall_time", "elapsed", "timestamp", "phase"}


def _figure(w: float, h: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, out_png) -> Path:
    p = Path(out_png)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    tmp = p.with_name(f".{p.stem}.tmp.png")
    fig.savefig(tmp, format="png")
    tmp.replace(p)
    return p


def _num(v):
    if v is None or v == "":
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _columns(log) -> dict[str, list]:
    """log.csv path / RunDir / list of row dicts / dict of lists -> dict of equal-length lists."""
    if hasattr(log, "log_path"):
        log = log.log_path
    if isinstance(log, (str, Path)):
        with open(log, newline="", encoding="utf-8") as f:
            log = list(csv.DictReader(f))
    if isinstance(log, dict):
        n = max((len(v) for v in log.values()), default=0)
        return {k: list(v) + [None] * (n - len(v)) for k, v in log.items()}
    cols: dict[str, list] = {}
    for i, row in enumerate(log):
        for k in row:
            cols.setdefault(k, [None] * i)
        for k in cols:
            cols[k].append(row.get(k))
    return cols


def _group(name: str) -> str:
    n = name.lower()
    if "loss" in n:
        return "loss"
    if n in ("lr", "learning_rate") or n.endswith("_lr"):
        return "learning rate"
    return "metric"


def plot_curves(log, out_png, *, x: str | None = None, title: str | None = None, smooth: bool = True,
                phase_notes: dict[str, str] | None = None, x_label: str | None = None) -> Path:
    """Training curves from ``log.csv`` (or rows/columns): one panel for losses, one for metrics (accuracy, AP,
    ...), one for the learning rate; x is ``step`` (else ``epoch``, else the row number). Noisy per-step series
    (> 50 points) are drawn faint with a moving average on top, labelled as such. A ``phase`` column (e.g. head,
    refit, finetune) draws a dashed line where each phase starts, named by ``phase_notes`` when given: a restart
    must not read as a divergence."""
    cols = _columns(log)
    if x is None:
        x = next((k for k in X_KEYS if k in cols and any(_num(v) is not None for v in cols[k])), None)
    n = max((len(v) for v in cols.values()), default=0)
    xs = [_num(v) for v in cols[x]] if x else list(range(n))
    groups: dict[str, list[str]] = {}
    for k, vals in cols.items():
        if k == x or k in X_KEYS or k.lower() in SKIP_KEYS:
            continue
        if sum(_num(v) is not None for v in vals) == 0:
            continue
        groups.setdefault(_group(k), []).append(k)
    order = [g for g in ("loss", "metric", "learning rate") if g in groups]
    if not order:
        order = ["loss"]
        groups["loss"] = []
    starts = []  # (x, phase) where each phase after the first begins
    phases = cols.get("phase") or []
    for j in range(1, len(phases)):
        if phases[j] and phases[j] != phases[j - 1] and j < len(xs) and xs[j] is not None:
            starts.append((xs[j], str(phases[j])))
    fig = _figure(6.0 * len(order), 4.2)
    for i, g in enumerate(order):
        ax = fig.add_subplot(1, len(order), i + 1)
        for k in groups[g]:
            pts = [(a, _num(b), phases[j] if j < len(phases) else None)
                   for j, (a, b) in enumerate(zip(xs, cols[k])) if a is not None and _num(b) is not None]
            if not pts:
                continue
            px = np.array([p[0] for p in pts], np.float64)
            py = np.array([p[1] for p in pts], np.float64)
            if smooth and len(px) > 50 and g != "learning rate":
                line, = ax.plot(px, py, alpha=0.25, linewidth=0.8)
                ema = np.empty_like(py)
                alpha = 2.0 / (min(len(py), 200) / 10 + 1)
                acc = py[0]
                for j, v in enumerate(py):
                    if j and pts[j][2] != pts[j - 1][2]:
                        acc = v  # a new phase starts over: do not average across the restart
                    acc = alpha * v + (1 - alpha) * acc
                    ema[j] = acc
                ax.plot(px, ema, color=line.get_color(), linewidth=1.6, label=f"{k} (moving average)")
            else:
                ax.plot(px, py, marker="o" if len(px) <= 30 else None, markersize=3, linewidth=1.4, label=k)
        for at, phase in starts:
            ax.axvline(at, color="0.4", linestyle="--", linewidth=0.9)
            ax.annotate((phase_notes or {}).get(phase, phase), (at, 1.0), xycoords=("data", "axes fraction"),
                        xytext=(3, -3), textcoords="offset points", va="top", fontsize=7, color="0.3", rotation=90)
        ax.set_xlabel(x_label or x or "row")
        ax.set_title("accuracy" if g == "metric" and groups[g] and all("acc" in k for k in groups[g]) else g)
        if g == "learning rate":
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        if groups[g]:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, out_png)


def plot_confusion(matrix, labels: list[str], out_png, *, normalize: bool = True, title: str | None = None) -> Path:
    """Confusion matrix (rows = true, columns = predicted). Colour is the row-normalised rate when ``normalize``;
    each cell prints the count."""
    cm = np.asarray(matrix, np.float64)
    k = len(labels)
    rates = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalize else cm
    size = max(4.0, 0.5 * k + 2.5)
    fig = _figure(size + 1.0, size)
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1 if normalize else max(cm.max(), 1))
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class" if normalize else "count")
    ax.set_xticks(range(k), labels=labels, rotation=45 if k > 6 else 0, ha="right" if k > 6 else "center")
    ax.set_yticks(range(k), labels=labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if k <= 30:
        for i in range(k):
            for j in range(k):
                if cm[i, j]:
                    ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=8 if k > 12 else 10,
                            color="white" if rates[i, j] > 0.5 * (1 if normalize else cm.max()) else "black")
    n = cm.sum()
    acc = np.trace(cm) / n if n else float("nan")
    ax.set_title(title or f"confusion matrix (accuracy {acc:.3f}, n={int(n)})")
    return _save(fig, out_png)


def plot_pr_curve(result, out_png, *, labels: list[str] | None = None, rec_thresholds=None,
                  title: str | None = None) -> Path:
    """Precision-recall curves. ``result`` is a :func:`huia.eval.coco.coco_evaluate` dict (per class: IoU 0.50,
    0.75 and the mean over .50:.95, as COCO's AP averages them), a precision array [T, R, K] / [T, R] (one class) / [R], or a
    dict ``{name: (recall, precision)}`` of raw curves."""
    fig = _figure(6.4, 4.8)
    ax = fig.add_subplot(1, 1, 1)
    if isinstance(result, dict) and "precision" in result:
        prec = np.asarray(result["precision"], np.float64)
        rec = np.asarray(result.get("recall_thresholds", np.linspace(0, 1, prec.shape[1])))
        names = labels or result.get("class_names") or [str(i) for i in range(prec.shape[2])]
        thr = np.asarray(result.get("iou_thresholds", np.linspace(0.5, 0.95, prec.shape[0])))
        for kk in range(prec.shape[2]):
            if (prec[:, :, kk] < 0).all():
                continue  # class without ground truth
            prefix = f"{names[kk]}: " if prec.shape[2] > 1 else ""
            colour = f"C{kk % 10}"
            for ti, style in ((int(np.argmin(np.abs(thr - 0.5))), "-"), (int(np.argmin(np.abs(thr - 0.75))), "--")):
                p = prec[ti, :, kk]
                ax.plot(rec, p, style, color=colour, label=f"{prefix}IoU {thr[ti]:.2f} (AP {p.mean():.3f})")
            mean = prec[:, :, kk].mean(axis=0)
            ax.plot(rec, mean, ":", color=colour, linewidth=2,
                    label=f"{prefix}mean IoU .50:.95 (AP {mean.mean():.3f})")
    elif isinstance(result, dict):
        for name, (r, p) in result.items():
            ax.plot(r, p, label=str(name))
    else:
        prec = np.asarray(result, np.float64)
        if prec.ndim == 1:
            prec = prec[None, :, None]
        elif prec.ndim == 2:  # [T, R]: one class
            prec = prec[:, :, None]
        rec = np.asarray(rec_thresholds if rec_thresholds is not None else np.linspace(0, 1, prec.shape[1]))
        names = labels or [str(i) for i in range(prec.shape[2])]
        for kk in range(prec.shape[2]):
            p = prec[:, :, kk].mean(axis=0)
            ax.plot(rec, p, label=f"{names[kk]} (AP {p.mean():.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title(title or "precision-recall")
    return _save(fig, out_png)


def mark_operating_point(ax, counts: dict, score_threshold: float, *, color=None) -> None:
    """Mark on a PR axis where one score threshold sits: ``counts`` is one IoU entry of
    :func:`huia.eval.coco.threshold_counts` ({tp, fp, fn, precision, recall}); nothing is drawn when precision or
    recall is undefined (no detection kept, no ground truth)."""
    p, r = counts.get("precision"), counts.get("recall")
    if p is None or r is None:
        return
    ax.plot([r], [p], marker="o", markersize=8, markerfacecolor="none", markeredgewidth=2, color=color,
            linestyle="none", label=f"score >= {score_threshold:.2f}: P {p:.2f} R {r:.2f} "
                                    f"(TP {counts['tp']}, FP {counts['fp']}, FN {counts['fn']})")
