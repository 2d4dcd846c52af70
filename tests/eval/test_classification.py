"""Classification report against hand-computed numbers."""

from __future__ import annotations

import numpy as np
import pytest

from huia.eval.classification import classification_report, confusion_matrix, top_k_accuracy


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
