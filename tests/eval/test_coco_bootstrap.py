"""Bootstrap intervals of COCO metrics: every resample equals pycocotools on that multiset of images, and the
intervals behave as intervals should (they hold the estimate, shrink with more images, collapse when nothing varies)."""

from __future__ import annotations

import numpy as np
import pytest

from huia.eval.coco import HEADLINE_KEYS, bootstrap_intervals, coco_evaluate, resample_metrics
from tests.eval.test_coco import pycoco, random_case

pytest.importorskip("pycocotools")

STAT_INDEX = {"ap": 0, "ap50": 1, "ap75": 2, "ar1": 6, "ar10": 7, "ar100": 8}


@pytest.mark.parametrize("seed,K", [(0, 1), (1, 3)])
def test_each_resample_equals_pycocotools_on_the_resampled_images(seed, K):
    rng = np.random.default_rng(seed)
    gts, dets, _ = random_case(rng, n_images=10, K=K, max_gt=5, max_det=12, quantize=seed == 1)
    res = coco_evaluate(gts, dets, num_classes=K)
    for _ in range(3):
        idx = rng.integers(0, len(gts), len(gts))
        assert len(set(idx.tolist())) < len(idx)  # a real resample: some image drawn twice
        ours = resample_metrics(res, idx)
        stats, _ = pycoco([gts[i] for i in idx], [dets[i] for i in idx], K)
        for k in HEADLINE_KEYS:
            assert ours[k] == pytest.approx(stats[STAT_INDEX[k]], abs=1e-6), k


def test_identity_resample_is_the_estimate():
    rng = np.random.default_rng(4)
    gts, dets, _ = random_case(rng, n_images=8, K=2, max_gt=4, max_det=10)
    res = coco_evaluate(gts, dets, num_classes=2)
    again = resample_metrics(res, range(len(gts)))
    for k in HEADLINE_KEYS:
        assert again[k] == pytest.approx(res[k], abs=1e-12)


def _width(ci, k):
    return ci[k][1] - ci[k][0]


def test_intervals_hold_the_estimate_and_shrink_with_more_images():
    rng = np.random.default_rng(2)
    gts, dets, _ = random_case(rng, n_images=160, K=1, max_gt=4, max_det=8)
    small = coco_evaluate(gts[:20], dets[:20], num_classes=1)
    large = coco_evaluate(gts, dets, num_classes=1)
    ci_small = bootstrap_intervals(small, n=300, seed=0)
    ci_large = bootstrap_intervals(large, n=300, seed=0)
    assert ci_small["resamples"] == 300 and ci_small["level"] == 0.95
    for res, ci in ((small, ci_small), (large, ci_large)):
        for k in ("ap", "ap50", "ar100"):
            assert ci[k][0] <= res[k] <= ci[k][1], (k, res[k], ci[k])
    # 8x the images: the interval should be about sqrt(8) ~ 2.8x narrower; ask for at least 1.8x
    for k in ("ap", "ap50"):
        assert _width(ci_large, k) * 1.8 < _width(ci_small, k), (k, ci_small[k], ci_large[k])
    # same seed, same interval; a narrower level, a narrower interval
    assert bootstrap_intervals(small, n=300, seed=0)["ap"] == ci_small["ap"]
    assert _width(bootstrap_intervals(small, n=300, seed=0, level=0.5), "ap") < _width(ci_small, "ap")


def test_perfect_detections_give_a_point_interval():
    rng = np.random.default_rng(9)
    gts, _, _ = random_case(rng, n_images=12, K=1, max_gt=3, max_det=0)
    from huia.types import Detections
    dets = [Detections(g.xyxy, np.linspace(0.9, 0.5, len(g)), g.class_ids) for g in gts]
    ci = bootstrap_intervals(coco_evaluate(gts, dets, num_classes=1), n=50)
    assert ci["ap"] == [1.0, 1.0] and ci["ap50"] == [1.0, 1.0]


def test_bad_level_is_refused():
    rng = np.random.default_rng(1)
    gts, dets, _ = random_case(rng, n_images=3, K=1, max_gt=2, max_det=3)
    with pytest.raises(ValueError, match="level"):
        bootstrap_intervals(coco_evaluate(gts, dets, num_classes=1), level=95)


def test_copies_resampled_together_keep_the_interval_honest():
    """40 images, each with 2 exact copies (an augmented set at its worst): resampled as 120 independent images the
    interval shrinks by ~sqrt(3); resampled by source (groups) it stays as wide as on the 40 originals."""
    rng = np.random.default_rng(12)
    gts, dets, _ = random_case(rng, n_images=40, K=1, max_gt=3, max_det=6)
    orig = bootstrap_intervals(coco_evaluate(gts, dets, num_classes=1), n=400, seed=1)
    tripled = coco_evaluate(gts * 3, dets * 3, num_classes=1)
    naive = bootstrap_intervals(tripled, n=400, seed=1)
    grouped = bootstrap_intervals(tripled, n=400, seed=1, groups=[[i, i + 40, i + 80] for i in range(40)])
    assert grouped["units"] == 40 and naive["units"] == 120
    for k in ("ap", "ap50"):
        assert _width(naive, k) < 0.75 * _width(orig, k), (k, naive[k], orig[k])
        assert 0.8 * _width(orig, k) < _width(grouped, k) < 1.25 * _width(orig, k), (k, grouped[k], orig[k])
    # the default groups come from the result (evaluate_samples sets them from the samples' provenance)
    tripled["_groups"] = [[i, i + 40, i + 80] for i in range(40)]
    assert bootstrap_intervals(tripled, n=400, seed=1) == grouped


def test_too_few_images_give_no_interval():
    rng = np.random.default_rng(8)
    gts, dets, _ = random_case(rng, n_images=4, K=1, max_gt=3, max_det=6)
    ci = bootstrap_intervals(coco_evaluate(gts, dets, num_classes=1), n=100)
    assert ci["too_few"] == 4 and ci["resamples"] == 0 and "ap" not in ci
    from huia.eval.coco import describe_intervals

    assert describe_intervals(ci, 4).startswith("no intervals: 4 source image(s) are too few")
