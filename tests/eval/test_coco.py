"""huia.eval.coco.coco_evaluate against pycocotools' COCOeval (the oracle) on random and adversarial cases."""

from __future__ import annotations


import numpy as np
import pytest

from huia.eval.coco import coco_evaluate, format_summary
from huia.types import Detections

pycocotools = pytest.importorskip("pycocotools")
from tests.oracles.pycocotools_oracle import cocoeval  # noqa: E402

KEYS = ["ap", "ap50", "ap75", "ap_small", "ap_medium", "ap_large",
        "ar1", "ar10", "ar100", "ar_small", "ar_medium", "ar_large"]


def pycoco(gts: list[Detections], dets: list[Detections], K: int, crowd=None):
    """Run COCOeval on the same boxes; returns (stats [12], eval dict)."""
    ev = cocoeval(gts, dets, K, crowd=crowd)
    return np.array(ev.stats), ev.eval


def check_equal(gts, dets, K, crowd=None):
    ours = coco_evaluate(gts, dets, num_classes=K, gt_crowd=crowd)
    stats, ev = pycoco(gts, dets, K, crowd)
    got = np.array([ours[k] for k in KEYS])
    np.testing.assert_allclose(got, stats, atol=1e-6, rtol=0)
    np.testing.assert_allclose(ours["_precision_full"], ev["precision"], atol=1e-6, rtol=0)
    np.testing.assert_allclose(ours["precision"], ev["precision"][:, :, :, 0, 2], atol=1e-6, rtol=0)
    np.testing.assert_allclose(ours["recall"], ev["recall"][:, :, 0, 2], atol=1e-6, rtol=0)
    np.testing.assert_allclose(ours["scores"], ev["scores"][:, :, :, 0, 2], atol=1e-6, rtol=0)
    return ours


def random_case(rng, n_images, K, max_gt, max_det, jitter=0.15, quantize=False, crowd_p=0.0):
    gts, dets, crowd = [], [], []
    for _ in range(n_images):
        ng = rng.integers(0, max_gt + 1)
        xy = rng.uniform(0, 400, (ng, 2))
        wh = rng.uniform(4, 200, (ng, 2))
        g = np.concatenate([xy, xy + wh], 1)
        gc = rng.integers(0, K, ng)
        crowd.append(rng.random(ng) < crowd_p)
        nd = rng.integers(0, max_det + 1)
        # detections: mostly jittered copies of gts (some wrong class), plus clutter
        src = rng.integers(0, max(ng, 1), nd)
        base = g[src] if ng else rng.uniform(0, 400, (nd, 4))
        if not ng:
            base[:, 2:] = base[:, :2] + rng.uniform(4, 200, (nd, 2))
        size = np.concatenate([base[:, 2:] - base[:, :2]] * 2, 1)
        d = base + rng.normal(0, jitter, (nd, 4)) * size
        d[:, 2:] = np.maximum(d[:, 2:], d[:, :2] + 1)
        clutter = rng.random(nd) < 0.3
        d[clutter, :2] = rng.uniform(0, 400, (clutter.sum(), 2))
        d[clutter, 2:] = d[clutter, :2] + rng.uniform(4, 200, (clutter.sum(), 2))
        dc = gc[src] if ng else rng.integers(0, K, nd)
        wrong = rng.random(nd) < 0.1
        dc = np.where(wrong, rng.integers(0, K, nd), dc)
        s = rng.random(nd)
        if quantize:  # many exact score ties
            s = np.round(s * 4) / 4
            d = np.round(d)
            g = np.round(g)
            g[:, 2:] = np.maximum(g[:, 2:], g[:, :2] + 1)
            d[:, 2:] = np.maximum(d[:, 2:], d[:, :2] + 1)
        gts.append(Detections(g, None, gc))
        dets.append(Detections(d, s, dc))
    return gts, dets, crowd


@pytest.mark.parametrize("seed", range(6))
def test_random_equals_pycocotools(seed):
    rng = np.random.default_rng(seed)
    K = [1, 3, 7, 1, 20, 2][seed]
    gts, dets, _ = random_case(rng, n_images=12, K=K, max_gt=6, max_det=15)
    check_equal(gts, dets, K)


def test_score_ties_and_integer_boxes():
    rng = np.random.default_rng(100)
    gts, dets, _ = random_case(rng, n_images=15, K=2, max_gt=5, max_det=12, jitter=0.05, quantize=True)
    check_equal(gts, dets, 2)


def test_more_than_100_detections_per_image():
    rng = np.random.default_rng(7)
    gts, dets, _ = random_case(rng, n_images=3, K=2, max_gt=30, max_det=260)
    assert max(len(d) for d in dets) > 100
    check_equal(gts, dets, 2)


def test_crowd_ground_truth():
    rng = np.random.default_rng(11)
    gts, dets, crowd = random_case(rng, n_images=10, K=3, max_gt=6, max_det=15, crowd_p=0.3)
    assert any(c.any() for c in crowd)
    check_equal(gts, dets, 3, crowd)


def test_no_detections_at_all():
    rng = np.random.default_rng(3)
    gts, dets, _ = random_case(rng, n_images=5, K=2, max_gt=4, max_det=0)
    dets = [Detections.empty() for _ in gts]
    ours = check_equal(gts, dets, 2)
    assert ours["ap"] == 0.0 and ours["ar100"] == 0.0


def test_images_without_ground_truth_and_empty_class():
    rng = np.random.default_rng(5)
    gts, dets, _ = random_case(rng, n_images=8, K=4, max_gt=4, max_det=8)
    gts[2] = Detections.empty()
    gts[5] = Detections.empty()
    # class 3 never appears in ground truth but has detections: -1 for it, excluded from the mean
    gts = [Detections(g.xyxy, None, np.minimum(g.class_ids, 2)) for g in gts]
    ours = check_equal(gts, dets, 4)
    assert ours["per_class_ap"]["3"] == -1.0


def test_no_ground_truth_anywhere_gives_minus_one():
    dets = [Detections([[0, 0, 10, 10]], [0.9], [0])]
    ours = check_equal([Detections.empty()], dets, 1)
    assert ours["ap"] == -1.0


def test_iou_exactly_on_thresholds():
    # gt [0,0,100,100]; det shifted so IoU is exactly 0.5 / 0.75 / just below: boundaries decide TP vs FP
    g = Detections([[0, 0, 100, 100]], None, [0])
    cases = []
    for iou in (0.5, 0.75, 0.95, 0.7):
        # det [0, 0, 100, x]: IoU = x / 100 for x <= 100
        cases.append((g, Detections([[0, 0, 100, 100 * iou]], [0.5], [0])))
    cases.append((g, Detections([[0, 0, 100, 100 * 0.5 - 1e-4]], [0.5], [0])))
    gts = [c[0] for c in cases]
    dets = [c[1] for c in cases]
    check_equal(gts, dets, 1)
    for g1, d1 in cases:
        check_equal([g1], [d1], 1)


def test_duplicate_detections_and_two_overlapping_gts():
    # two gts with equal IoU to one det (tie -> COCOeval takes the later gt), duplicates become FPs
    g = Detections([[0, 0, 10, 10], [5, 0, 15, 10], [100, 100, 150, 150]], None, [0, 0, 0])
    d = Detections([[2.5, 0, 12.5, 10], [2.5, 0, 12.5, 10], [100, 100, 150, 150], [101, 101, 150, 150]],
                   [0.9, 0.9, 0.8, 0.8], [0, 0, 0, 0])
    check_equal([g, g], [d, d[::-1]], 1)


def test_small_medium_large_areas():
    rng = np.random.default_rng(21)
    gts, dets = [], []
    for _ in range(10):
        sizes = rng.choice([10.0, 31.9, 32.0, 50.0, 96.0, 96.1, 300.0], 6)
        xy = rng.uniform(0, 300, (6, 2))
        g = np.concatenate([xy, xy + sizes[:, None]], 1)
        d = g + rng.normal(0, 3, g.shape)
        d[:, 2:] = np.maximum(d[:, 2:], d[:, :2] + 1)
        gts.append(Detections(g, None, np.zeros(6, int)))
        dets.append(Detections(d, rng.random(6), np.zeros(6, int)))
    ours = check_equal(gts, dets, 1)
    assert ours["ap_small"] > -1 and ours["ap_large"] > -1


def test_perfect_detections_score_one():
    g = [Detections([[0, 0, 10, 10], [20, 20, 60, 70]], None, [0, 1])]
    d = [Detections([[0, 0, 10, 10], [20, 20, 60, 70]], [0.9, 0.8], [0, 1])]
    ours = check_equal(g, d, 2)
    assert ours["ap"] == pytest.approx(1.0) and ours["ap50"] == pytest.approx(1.0)
    assert "Average Precision" in format_summary(ours)


def test_equal_iou_tie_takes_the_later_ground_truth():
    # det A (0.9) has IoU 0.6 with both g0 and g1; det B (0.8) overlaps only g1. COCOeval gives A the later gt (g1),
    # so B becomes a false positive and g0 is missed; taking the first gt instead would make all three TPs.
    g = Detections([[0, 0, 10, 10], [5, 0, 15, 10]], None, [0, 0])
    d = Detections([[2.5, 0, 12.5, 10], [5, 0, 15, 10]], [0.9, 0.8], [0, 0])
    ours = check_equal([g], [d], 1)
    assert ours["ap50"] < 0.99


def test_many_score_ties_large_lists():
    # quantized scores on long lists: the stable (mergesort) order of COCOeval decides which tied det counts first
    rng = np.random.default_rng(42)
    gts, dets, _ = random_case(rng, n_images=6, K=1, max_gt=40, max_det=150, jitter=0.1, quantize=True)
    check_equal(gts, dets, 1)
