"""The operating point (TP/FP/FN, precision, recall at one score threshold) and per-class AP, against hand-computed
cases and pycocotools' own matching (COCOeval.evalImgs dtMatches / gtMatches) and COCOeval restricted to one class."""

from __future__ import annotations


import numpy as np
import pytest

from huia.eval.coco import (coco_evaluate, format_summary, format_threshold_counts, match_detections,
                            per_class_metrics, threshold_counts)
from huia.types import Detections
from tests.eval.test_coco import random_case

pycocotools = pytest.importorskip("pycocotools")
from tests.oracles.pycocotools_oracle import cocoeval  # noqa: E402


def _cocoeval(gts: list[Detections], dets: list[Detections], K: int, cat_ids=None):
    return cocoeval(gts, dets, K, cat_ids=cat_ids)


def pycoco_counts(gts: list[Detections], dets: list[Detections], K: int, score_threshold: float) -> dict:
    """TP/FP/FN at ``score_threshold`` read off pycocotools' evalImgs (area all, maxDets 100), IoU 0.50 and 0.75:
    a kept detection with dtMatches > 0 is a TP, with 0 an FP; FN = ground truths - TP."""
    ev = _cocoeval(gts, dets, K)
    all_rng = ev.params.areaRng[ev.params.areaRngLbl.index("all")]
    out = {}
    for key, t in (("iou50", 0), ("iou75", 5)):
        tp = fp = ngt = 0
        for e in ev.evalImgs:
            if e is None or e["aRng"] != all_rng:
                continue
            keep = np.asarray(e["dtScores"]) >= score_threshold
            m = np.asarray(e["dtMatches"])[t] > 0 if len(e["dtIds"]) else np.zeros(0, bool)
            ig = np.asarray(e["dtIgnore"])[t].astype(bool) if len(e["dtIds"]) else np.zeros(0, bool)
            tp += int((keep & m & ~ig).sum())
            fp += int((keep & ~m & ~ig).sum())
            ngt += int((~np.asarray(e["gtIgnore"]).astype(bool)).sum())
        out[key] = (tp, fp, ngt - tp)
    return out


def _det(boxes, scores=None, ids=None, names=("kangaroo", "wallaby")):
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    ids = np.zeros(len(boxes), np.int64) if ids is None else np.asarray(ids, np.int64)
    return Detections(boxes, None if scores is None else np.asarray(scores, np.float64), ids, list(names))


def test_article_example_by_hand():
    """The article's picture: 10 kangaroos, 3 found (TP 3, FN 7) and 2 false hits (FP 2): recall 30 %, precision
    60 %. Around it: a detection below the threshold on a kangaroo (not kept, so that kangaroo stays missed), a
    second box on an already found kangaroo (FP: one kangaroo, one match), a box of the wrong class (FP), a loose box
    (IoU 0.64: TP at 0.50, FP at 0.75)."""
    g = _det([[100 * i, 0, 100 * i + 50, 50] for i in range(10)])
    kept = [[0, 0, 50, 50], [100, 0, 150, 50], [200, 0, 250, 50],  # 3 exact hits
            [0, 2, 50, 52],                                         # duplicate of kangaroo 0 (lower score)
            [2000, 0, 2050, 50]]                                    # nothing there
    d = _det(kept + [[300, 0, 350, 50]], [0.9, 0.8, 0.7, 0.6, 0.5, 0.1])
    c = threshold_counts([g], [d], 0.3)
    assert c["iou50"] == {"tp": 3, "fp": 2, "fn": 7, "precision": 0.6, "recall": 0.3}
    assert c["per_class"]["kangaroo"]["iou50"] == c["iou50"]
    assert c["per_class"]["wallaby"]["iou50"] == {"tp": 0, "fp": 0, "fn": 0, "precision": None, "recall": None}
    # threshold 0: the low box finds kangaroo 3
    assert threshold_counts([g], [d], 0.0)["iou50"] == {"tp": 4, "fp": 2, "fn": 6, "precision": 0.666667,
                                                         "recall": 0.4}
    # wrong class and a loose box: 40x50 inside 50x50 -> IoU 0.8; 50x32 -> 0.64
    g2 = _det([[0, 0, 50, 50], [100, 0, 150, 50]])
    d2 = _det([[0, 0, 50, 50], [100, 0, 150, 32], [0, 0, 50, 50]], [0.9, 0.8, 0.7], [1, 0, 0])
    c2 = threshold_counts([g2], [d2], 0.3)
    assert c2["iou50"] == {"tp": 2, "fp": 1, "fn": 0, "precision": 0.666667, "recall": 1.0}
    assert c2["iou75"] == {"tp": 1, "fp": 2, "fn": 1, "precision": 0.333333, "recall": 0.5}
    assert c2["per_class"]["wallaby"]["iou50"] == {"tp": 0, "fp": 1, "fn": 0, "precision": 0.0, "recall": None}
    # nothing kept: precision undefined, not 0
    assert threshold_counts([g2], [d2], 0.95)["iou50"]["precision"] is None
    text = format_threshold_counts(c)
    assert "at score >= 0.30, IoU 0.50: TP 3  FP 2  FN 7  precision 0.600  recall 0.300" in text
    assert "IoU 0.75" in text


@pytest.mark.parametrize("seed", range(6))
def test_counts_equal_pycocotools_matching(seed):
    rng = np.random.default_rng(seed)
    K = 1 + seed % 3
    gts, dets, _ = random_case(rng, 12, K, 6, 9, quantize=seed % 2 == 1)
    for thr in (0.0, 0.3, 0.5, 0.77):
        ours = threshold_counts(gts, dets, thr)
        ref = pycoco_counts(gts, dets, K, thr)
        for key in ("iou50", "iou75"):
            assert (ours[key]["tp"], ours[key]["fp"], ours[key]["fn"]) == ref[key], (seed, thr, key)


@pytest.mark.parametrize("seed", range(4))
def test_matching_then_cutting_equals_cutting_then_matching(seed):
    """Greedy by score: the TP/FP of a kept detection does not depend on the lower ones, so the counts read off the
    full matching equal a matching of the kept detections alone (what the overlays draw)."""
    rng = np.random.default_rng(100 + seed)
    gts, dets, _ = random_case(rng, 10, 2, 6, 10)
    for thr in (0.2, 0.6):
        c = threshold_counts(gts, dets, thr)
        tp = fp = fn = 0
        for g, d in zip(gts, dets):
            kept = d[d.scores >= thr]
            dt_tp, gt_found = match_detections(g, kept, (0.5,))
            tp += int(dt_tp.sum())
            fp += int((~dt_tp).sum())
            fn += int((~gt_found).sum())
        assert (tp, fp, fn) == (c["iou50"]["tp"], c["iou50"]["fp"], c["iou50"]["fn"])


@pytest.mark.parametrize("seed", range(3))
def test_per_class_ap_equals_cocoeval_restricted_to_the_class(seed):
    rng = np.random.default_rng(200 + seed)
    K = 3
    gts, dets, _ = random_case(rng, 15, K, 5, 8)
    res = coco_evaluate(gts, dets, num_classes=K, class_names=["a", "b", "c"])
    per = per_class_metrics(res)
    assert list(per) == ["a", "b", "c"]
    for k, name in enumerate(per):
        ev = _cocoeval(gts, dets, K, cat_ids=[k + 1])
        assert per[name]["ap"] == pytest.approx(ev.stats[0], abs=1e-6)
        assert per[name]["ap50"] == pytest.approx(ev.stats[1], abs=1e-6)
        assert per[name]["ap75"] == pytest.approx(ev.stats[2], abs=1e-6)


def test_minus_one_is_explained():
    """A size range without any ground-truth box is COCO's -1: the printout says what that means."""
    g = _det([[0, 0, 200, 200]])  # one large box only
    res = coco_evaluate([g], [_det([[0, 0, 200, 200]], [0.9])])
    text = format_summary(res)
    assert "= -1.000" in text
    assert "(-1.000 = no ground-truth box in that size range here: medium, small;" in text
    both = coco_evaluate([_det([[0, 0, 20, 20], [0, 0, 50, 50], [0, 0, 200, 200]])],
                         [_det([[0, 0, 200, 200]], [0.9])])
    assert "-1.000" not in format_summary(both)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_operating_curve_equals_threshold_counts_at_every_threshold(seed):
    from huia.eval.coco import operating_curve

    gts, dets, _ = random_case(np.random.default_rng(seed), 12, 3, 5, 9)
    curve = operating_curve(gts, dets)
    assert [r[0] for r in curve] == [round(k / 100, 2) for k in range(1, 100)]
    for t, tp, fp, fn in curve:
        want = threshold_counts(gts, dets, t)["iou50"]
        assert (tp, fp, fn) == (want["tp"], want["fp"], want["fn"]), t
