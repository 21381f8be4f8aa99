"""PA%K (Kim et al., AAAI 2022): point adjustment only for segments of which more than K% is found.

At threshold t, a labelled segment of length L is fully counted as detected iff more than K% of
its points pass the threshold (`count * 100 > K * L`, strict as in the paper), else its points
count one by one. K = 0 is the usual PA (one point suffices); K = 100 never adjusts, i.e. plain
F1. The area under F1(K) for K = 0..100 (K as a fraction, trapezoid rule) is the summary.

Two threshold semantics are provided:
- `pa_k_best`: for each K, the best F1 over every threshold (oracle, test labels), so
  K = 0 equals the best F1-PA and K = 100 equals the best F1 of `best_f1`.
- `pa_k_at_threshold`: one fixed threshold for every K (e.g. a label-free one), so K = 0
  equals F1-PA and K = 100 equals F1 at that threshold.

Exact search per K: a segment is adjusted iff t <= its m-th largest score v_m, m = floor(K*L/100)+1
(m > L: never). Adjusted or not, its TP at t equals the number of its points whose score, raised
to at least v_m, passes t. So PA%K at every threshold is plain point-wise F1 on scores raised
within each segment to v_m, and the exact O(N log N) best-F1 search applies unchanged.
"""

from __future__ import annotations

import numpy as np

from .checks import check_scores
from .f1 import best_from_positives, prf
from .segments import segments

K_VALUES = np.arange(101)


def pa_k_auc(f1_at_k) -> float:
    """Area under F1(K) for K = 0..100 with K scaled to [0, 1] (trapezoid rule)."""
    f1 = np.asarray(f1_at_k, dtype=np.float64)
    return float(np.sum((f1[1:] + f1[:-1]) / 2) / (len(f1) - 1))


def _sorted_segments(scores: np.ndarray, labels: np.ndarray):
    """Anomalous scores, their segment index, segment lengths, and the scores sorted decreasingly within each segment."""
    starts, ends = segments(labels)
    lengths = ends - starts
    seg_id = np.repeat(np.arange(len(starts)), lengths)
    anomalous = scores[labels == 1]
    return anomalous, seg_id, lengths, anomalous[np.lexsort((-anomalous, seg_id))]


def pa_k_best(scores, labels, k_values=K_VALUES) -> list[dict] | None:
    """For each K, the best PA%K F1 over all thresholds (oracle): list of best-F1 dicts, or None without anomalies."""
    scores, labels = check_scores(scores, labels)
    return pa_k_best_checked(scores, labels, k_values)


def pa_k_best_checked(scores: np.ndarray, labels: np.ndarray, k_values=K_VALUES) -> list[dict] | None:
    """`pa_k_best` on arrays already validated by `check_scores`."""
    if not labels.any():
        return None
    anomalous, seg_id, lengths, grouped = _sorted_segments(scores, labels)
    offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    neg_sorted = np.sort(scores[labels == 0])
    ones = np.ones(len(anomalous), dtype=np.int64)
    out = []
    for k in k_values:
        m = (int(k) * lengths) // 100 + 1  # points needed: count * 100 > K * L
        adjusted = m <= lengths
        floor = np.full(len(lengths), -np.inf)
        floor[adjusted] = grouped[offsets[adjusted] + m[adjusted] - 1]
        raised = np.maximum(anomalous, floor[seg_id])
        out.append(best_from_positives(raised, ones, neg_sorted))
    return out


def pa_k_at_threshold(scores, labels, threshold: float, k_values=K_VALUES) -> list[float] | None:
    """PA%K F1 for each K at one fixed threshold; None without anomalies."""
    scores, labels = check_scores(scores, labels)
    return pa_k_at_threshold_checked(scores, labels, threshold, k_values)


def pa_k_at_threshold_checked(scores: np.ndarray, labels: np.ndarray, threshold: float, k_values=K_VALUES) -> list[float] | None:
    """`pa_k_at_threshold` on arrays already validated by `check_scores`."""
    if not labels.any():
        return None
    tp, fp, n_pos = pa_k_counts(scores, labels, threshold, k_values)
    return [prf(int(t), fp, n_pos - int(t))[2] for t in tp]


def pa_k_counts(scores: np.ndarray, labels: np.ndarray, threshold: float, k_values=K_VALUES) -> tuple[np.ndarray, int, int]:
    """At one threshold: (TP for each K, FP, number of anomalous points), on validated arrays."""
    pred = scores >= threshold
    starts, ends = segments(labels)
    lengths = ends - starts
    found = _segment_counts(pred, starts, ends)
    adjusted = found[None, :] * 100 > np.asarray(k_values)[:, None] * lengths[None, :]
    tp = np.where(adjusted, lengths[None, :], found[None, :]).sum(axis=1)
    return tp, int(np.sum(pred & (labels == 0))), int(lengths.sum())


def _segment_counts(pred: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Number of predicted points inside each segment."""
    cum = np.concatenate(([0], np.cumsum(pred, dtype=np.int64)))
    return cum[ends] - cum[starts]
