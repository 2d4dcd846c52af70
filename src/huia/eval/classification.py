"""Classification metrics: accuracy, per-class precision/recall/F1, confusion matrix, top-k.

The report dict is what ``huia classify eval --json`` prints: ``{"accuracy", "accuracy_ci", "per_class":
{label: {...}}, "confusion": [[...]], "labels": [...], "n"}`` where ``confusion[i][j]`` counts true class ``i``
predicted as ``j`` and ``accuracy_ci`` is the 95 % Wilson score interval of the accuracy.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np


def _to_index(y, labels: list[str]) -> np.ndarray:
    y = list(y) if not isinstance(y, np.ndarray) else y
    if len(y) and isinstance(y[0], str):  # np.str_ is a str too
        index = {n: i for i, n in enumerate(labels)}
        missing = sorted({v for v in y if v not in index})
        if missing:
            raise ValueError(f"labels not in the label list: {missing[:5]}")
        return np.array([index[v] for v in y], np.int64)
    return np.asarray(y, np.int64).reshape(-1)


def wilson_interval(successes: int, n: int, level: float = 0.95) -> list[float]:
    """Wilson score interval of a proportion (Wilson 1927; Newcombe 1998, method 3).

    Why Wilson and not the textbook p +- z*sqrt(p(1-p)/n): held-out sets here are small and accuracies near 1,
    where that interval collapses to a point at 100 % (or leaves [0, 1]); Wilson's stays inside [0, 1] and keeps
    close to its nominal coverage. 60 of 60 right is [0.940, 1.0], not "100 %"."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n <= 0:
        return [float("nan"), float("nan")]
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, {n}], got {successes}")
    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [max(0.0, float(centre - half)), min(1.0, float(centre + half))]


def grouped_accuracy_interval(correct, groups: list[list[int]], level: float = 0.95, n: int = 2000,
                              seed: int = 0) -> list[float]:
    """Percentile-bootstrap interval of the accuracy when samples come in groups that are not independent (an
    original and its augmented copies): whole groups are drawn. Wilson's interval counts every copy as a new
    sample: 6 photos x 11 copies looked like 66 samples, an interval ~3x too tight."""
    c = np.asarray(correct, np.float64).reshape(-1)
    units = [np.asarray(g, np.int64) for g in groups if len(g)]
    sums = np.array([c[u].sum() for u in units])
    sizes = np.array([len(u) for u in units], np.float64)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(units), (n, len(units)))
    acc = sums[pick].sum(1) / sizes[pick].sum(1)
    tail = 100.0 * (1.0 - level) / 2.0
    lo, hi = np.percentile(acc, [tail, 100.0 - tail])
    return [float(lo), float(hi)]


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """[K, K] int64 counts, rows = true class, columns = predicted class."""
    t = np.asarray(y_true, np.int64).reshape(-1)
    p = np.asarray(y_pred, np.int64).reshape(-1)
    if len(t) != len(p):
        raise ValueError(f"{len(t)} true labels but {len(p)} predictions")
    cm = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


def top_k_accuracy(scores: np.ndarray, y_true, k: int = 1) -> float:
    """Fraction of rows whose true class is among the k highest scores (ties broken by class order)."""
    s = np.asarray(scores, np.float64)
    t = np.asarray(y_true, np.int64).reshape(-1)
    if len(t) == 0:
        return float("nan")
    topk = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return float(np.mean((topk == t[:, None]).any(axis=1)))


def classification_report(y_true, y_pred, labels: list[str]) -> dict:
    """Accuracy, per-class precision/recall/F1/support and the confusion matrix. ``y_true``/``y_pred`` are class
    indexes or label strings. Precision of a class never predicted is 0 (as is F1), not NaN, so JSON stays valid."""
    labels = list(labels)
    t = _to_index(y_true, labels)
    p = _to_index(y_pred, labels)
    cm = confusion_matrix(t, p, len(labels))
    n = int(cm.sum())
    per = {}
    for i, name in enumerate(labels):
        tp = int(cm[i, i])
        support = int(cm[i].sum())
        predicted = int(cm[:, i].sum())
        prec = tp / predicted if predicted else 0.0
        rec = tp / support if support else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per[name] = {"accuracy": rec, "precision": prec, "recall": rec, "f1": f1, "support": support}
    with_support = [v["recall"] for v in per.values() if v["support"]]
    return {"accuracy": float(np.trace(cm) / n) if n else float("nan"),
            "accuracy_ci": wilson_interval(int(np.trace(cm)), n),
            "balanced_accuracy": float(np.mean(with_support)) if with_support else float("nan"),
            "per_class": per, "confusion": cm.tolist(), "labels": labels, "n": n}
