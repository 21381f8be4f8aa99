"""Exact best F1 (with and without point adjustment) against brute force over every threshold."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensitive_hue.errors import DataError
from sensitive_hue.metrics import best_f1, check_scores, f1_at_threshold


def naive_point_adjust(pred, labels):
    """Loop version of PA, independent of the package's."""
    pred = list(pred)
    i = 0
    while i < len(labels):
        if labels[i] == 1:
            j = i
            while j < len(labels) and labels[j] == 1:
                j += 1
            if any(pred[i:j]):
                pred[i:j] = [True] * (j - i)
            i = j
        else:
            i += 1
    return np.array(pred, dtype=bool)


def naive_f1(pred, labels):
    tp = int(np.sum(pred & (labels == 1)))
    fp = int(np.sum(pred & (labels == 0)))
    fn = int(np.sum(~pred & (labels == 1)))
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def brute_force_best(scores, labels, point_adjust):
    best = 0.0
    for threshold in np.unique(scores):
        pred = scores >= threshold
        if point_adjust:
            pred = naive_point_adjust(pred, labels)
        best = max(best, naive_f1(pred, labels))
    return best


series = st.lists(st.tuples(st.integers(0, 8), st.integers(0, 1)), min_size=1, max_size=40).filter(
    lambda pairs: any(label for _, label in pairs)
)


@settings(max_examples=300, deadline=None)
@given(series, st.booleans(), st.booleans())
def test_best_f1_equals_brute_force(pairs, point_adjust, continuous):
    scores = np.array([s for s, _ in pairs], dtype=float)
    if continuous:  # break most ties
        scores = scores + np.linspace(0, 0.5, len(scores))
    labels = np.array([y for _, y in pairs])
    got = best_f1(scores, labels, point_adjust=point_adjust)
    assert got["f1"] == pytest.approx(brute_force_best(scores, labels, point_adjust), abs=1e-12)
    # the reported threshold, precision and recall are those of that F1
    again = f1_at_threshold(scores, labels, got["threshold"], point_adjust=point_adjust)
    for key in ("f1", "precision", "recall", "tp", "fp", "fn"):
        assert again[key] == pytest.approx(got[key], abs=1e-12)


def paper_quantile_search(scores, labels, point_adjust):
    """The paper's search: 999 inner quantiles of linspace(0, 1, 1001), pred = score >= thr."""
    best = 0.0
    for q in np.linspace(0, 1, 1001)[1:-1]:
        pred = scores >= np.quantile(scores, q)
        if point_adjust:
            pred = naive_point_adjust(pred, labels)
        best = max(best, naive_f1(pred, labels))
    return best


@pytest.mark.parametrize("point_adjust", [False, True])
def test_never_below_the_paper_quantile_search(point_adjust):
    rng = np.random.default_rng(3)
    labels = np.zeros(3000, dtype=int)
    for start in rng.integers(0, 2900, 12):
        labels[start : start + rng.integers(1, 80)] = 1
    scores = rng.random(3000) + 0.3 * labels * rng.random(3000)
    exact = best_f1(scores, labels, point_adjust=point_adjust)["f1"]
    assert exact >= paper_quantile_search(scores, labels, point_adjust) - 1e-12


def test_point_adjust_hand_case():
    labels = np.array([1, 1, 0, 0, 1, 0, 1])
    scores = np.array([0.1, 0.9, 0.2, 0.3, 0.1, 0.0, 0.8])
    # threshold 0.8: segments [0, 2) and [6, 7) detected, the single point at 4 missed
    adjusted = f1_at_threshold(scores, labels, 0.8, point_adjust=True)
    assert (adjusted["tp"], adjusted["fp"], adjusted["fn"]) == (3, 0, 1)
    plain = f1_at_threshold(scores, labels, 0.8)
    assert (plain["tp"], plain["fp"], plain["fn"]) == (2, 0, 2)
    # threshold 0.1 catches the single point too but flags the normal 0.2 and 0.3: F1 0.8 < 6/7
    best = best_f1(scores, labels, point_adjust=True)
    assert best["f1"] == pytest.approx(6 / 7) and best["threshold"] == 0.8


def test_no_anomaly_gives_none_not_nan():
    got = best_f1(np.array([0.1, 0.5]), np.array([0, 0]), point_adjust=True)
    assert got["f1"] is None and got["threshold"] is None and got["fp"] == 0
    at = f1_at_threshold(np.array([0.1, 0.5]), np.array([0, 0]), 0.3)
    assert at["f1"] is None and at["fp"] == 1


@pytest.mark.parametrize(
    "scores, labels, match",
    [
        ([0.1, np.nan], [0, 1], "NaN or infinite"),
        ([0.1, np.inf], [0, 1], "NaN or infinite"),
        ([0.1, 0.2], [0, 1, 0], "has 2 points but labels has 3"),
        ([0.1, 0.2], [0, 2], "0 \\(normal\\) or 1"),
        ([[0.1, 0.2]], [0, 1], "1-D"),
        ([], [], "empty"),
    ],
)
def test_check_scores_rejects_bad_input(scores, labels, match):
    with pytest.raises(DataError, match=match):
        check_scores(scores, labels)
