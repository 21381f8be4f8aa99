"""PA%K: definition checked by brute force; K=0 is F1-PA and K=100 is F1 without PA."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensitive_hue.metrics import best_f1, f1_at_threshold, pa_k_at_threshold, pa_k_auc, pa_k_best


def naive_pa_k_f1(scores, labels, threshold, k):
    """Kim et al.: a segment is fully counted iff more than K% of its points are flagged."""
    pred = scores >= threshold
    adjusted = pred.copy()
    i = 0
    while i < len(labels):
        if labels[i]:
            j = i
            while j < len(labels) and labels[j]:
                j += 1
            if pred[i:j].sum() > k / 100 * (j - i):
                adjusted[i:j] = True
            i = j
        else:
            i += 1
    tp = int(np.sum(adjusted & (labels == 1)))
    fp = int(np.sum(adjusted & (labels == 0)))
    fn = int(np.sum(~adjusted & (labels == 1)))
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


series = st.lists(st.tuples(st.integers(0, 6), st.integers(0, 1)), min_size=1, max_size=30).filter(
    lambda pairs: any(label for _, label in pairs)
)
K_SAMPLE = [0, 1, 20, 33, 50, 66, 99, 100]


@settings(max_examples=150, deadline=None)
@given(series)
def test_best_per_k_equals_brute_force(pairs):
    scores = np.array([s for s, _ in pairs], dtype=float)
    labels = np.array([y for _, y in pairs])
    got = pa_k_best(scores, labels, k_values=K_SAMPLE)
    for k, result in zip(K_SAMPLE, got):
        brute = max(naive_pa_k_f1(scores, labels, t, k) for t in np.unique(scores))
        assert result["f1"] == pytest.approx(brute, abs=1e-12)
        assert naive_pa_k_f1(scores, labels, result["threshold"], k) == pytest.approx(result["f1"], abs=1e-12)


@settings(max_examples=150, deadline=None)
@given(series, st.integers(0, 6))
def test_fixed_threshold_equals_brute_force(pairs, threshold):
    scores = np.array([s for s, _ in pairs], dtype=float)
    labels = np.array([y for _, y in pairs])
    got = pa_k_at_threshold(scores, labels, threshold, k_values=K_SAMPLE)
    assert got == pytest.approx([naive_pa_k_f1(scores, labels, threshold, k) for k in K_SAMPLE], abs=1e-12)


def _data():
    rng = np.random.default_rng(0)
    labels = np.zeros(5000, dtype=int)
    for start in rng.integers(0, 4900, 15):
        labels[start : start + rng.integers(1, 100)] = 1
    return rng.random(5000) + 0.4 * labels * rng.random(5000), labels


def test_k0_is_f1_pa_and_k100_is_f1():
    scores, labels = _data()
    curve = pa_k_best(scores, labels)
    assert len(curve) == 101
    assert curve[0]["f1"] == pytest.approx(best_f1(scores, labels, point_adjust=True)["f1"], abs=1e-15)
    assert curve[100]["f1"] == pytest.approx(best_f1(scores, labels)["f1"], abs=1e-15)
    f1s = [c["f1"] for c in curve]
    assert all(a >= b - 1e-15 for a, b in zip(f1s, f1s[1:]))  # stricter K never helps
    threshold = 0.9
    fixed = pa_k_at_threshold(scores, labels, threshold)
    assert fixed[0] == pytest.approx(f1_at_threshold(scores, labels, threshold, point_adjust=True)["f1"])
    assert fixed[100] == pytest.approx(f1_at_threshold(scores, labels, threshold)["f1"])


def test_auc_and_no_anomaly():
    assert pa_k_auc([0.5] * 101) == pytest.approx(0.5)
    assert pa_k_auc(np.linspace(1, 0, 101)) == pytest.approx(0.5)
    assert pa_k_best([0.1, 0.2], [0, 0]) is None and pa_k_at_threshold([0.1, 0.2], [0, 0], 0.1) is None
