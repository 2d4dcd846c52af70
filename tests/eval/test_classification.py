"""Classification report against hand-computed numbers; the accuracy interval against published values."""

from __future__ import annotations

import numpy as np
import pytest

from huia.eval.classification import classification_report, confusion_matrix, top_k_accuracy, wilson_interval


def test_hand_computed_report():
    labels = ["a", "b", "c"]
    y_true = ["a", "a", "a", "b", "b", "c"]
    y_pred = ["a", "a", "b", "b", "c", "c"]
    r = classification_report(y_true, y_pred, labels)
    assert r["confusion"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert r["accuracy"] == pytest.approx(4 / 6)
    assert r["per_class"]["a"] == pytest.approx({"accuracy": 2 / 3, "precision": 1.0, "recall": 2 / 3,
                                                 "f1": 0.8, "support": 3})
    assert r["per_class"]["b"]["precision"] == pytest.approx(0.5)
    assert r["per_class"]["c"]["precision"] == pytest.approx(0.5) and r["per_class"]["c"]["recall"] == 1.0
    assert r["balanced_accuracy"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    # same with indexes
    idx = classification_report([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2], labels)
    assert idx["confusion"] == r["confusion"]


def test_never_predicted_class_is_zero_not_nan():
    r = classification_report([0, 1], [0, 0], ["x", "y"])
    assert r["per_class"]["y"] == {"accuracy": 0.0, "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    with pytest.raises(ValueError, match="not in the label list"):
        classification_report(["q"], ["x"], ["x", "y"])


def test_confusion_and_topk():
    assert confusion_matrix([0, 1, 1], [1, 1, 1], 2).tolist() == [[0, 1], [0, 2]]
    s = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])
    assert top_k_accuracy(s, [2, 0, 1], k=1) == pytest.approx(1 / 3)
    assert top_k_accuracy(s, [2, 0, 1], k=2) == pytest.approx(1.0)


@pytest.mark.parametrize("k,n,lo,hi", [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605),
                                       (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)])
def test_wilson_interval_matches_newcombe_1998(k, n, lo, hi):
    """Newcombe (1998), Statistics in Medicine 17:857, Table II, method 3 (score interval without continuity
    correction), the paper's four worked examples."""
    got = wilson_interval(k, n)
    assert got == pytest.approx([lo, hi], abs=6e-5)


def test_wilson_interval_keeps_its_coverage_where_wald_does_not():
    """Exact coverage (binomial sums) over p in 0.02..0.98 at n = 30: Wilson's averages close to 95 %; the textbook
    Wald interval, for comparison, falls well short (so the check can tell the two apart)."""
    from math import comb

    n = 30
    ps = np.linspace(0.02, 0.98, 49)
    pmf = np.array([[comb(n, k) * p ** k * (1 - p) ** (n - k) for k in range(n + 1)] for p in ps])
    wilson = np.array([wilson_interval(k, n) for k in range(n + 1)])
    ph = np.arange(n + 1) / n
    wald = np.stack([ph - 1.96 * np.sqrt(ph * (1 - ph) / n), ph + 1.96 * np.sqrt(ph * (1 - ph) / n)], 1)

    def coverage(iv):
        return np.array([pmf[i][(iv[:, 0] <= p) & (p <= iv[:, 1])].sum() for i, p in enumerate(ps)])

    assert 0.935 <= coverage(wilson).mean() <= 0.965
    assert coverage(wald).mean() < 0.92


def test_report_carries_the_accuracy_interval():
    r = classification_report([0] * 60, [0] * 60, ["x"])
    assert r["accuracy"] == 1.0 and r["accuracy_ci"] == pytest.approx([0.9398, 1.0], abs=1e-4)
    with pytest.raises(ValueError, match="level"):
        wilson_interval(3, 10, level=95)


def test_grouped_accuracy_interval_counts_sources_not_copies():
    """6 photos, each with 10 copies that share its fate (right or wrong): resampled by photo the interval is as wide
    as the 6 photos allow, far wider than Wilson's on 66 'independent' samples."""
    from huia.eval.classification import grouped_accuracy_interval

    correct_photos = np.array([1, 1, 0, 1, 0, 1], bool)
    correct = np.repeat(correct_photos, 11)
    groups = [list(range(11 * i, 11 * i + 11)) for i in range(6)]
    grouped = grouped_accuracy_interval(correct, groups)
    naive = wilson_interval(int(correct.sum()), len(correct))
    by_photo = grouped_accuracy_interval(correct_photos, [[i] for i in range(6)])
    assert grouped == pytest.approx(by_photo, abs=0.02)  # the copies add nothing
    assert grouped[1] - grouped[0] > 2 * (naive[1] - naive[0])
    assert grouped[0] <= 4 / 6 <= grouped[1]
