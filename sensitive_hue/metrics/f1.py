"""Precision, recall and F1 at a threshold, and the exact best F1 over every threshold.

Convention everywhere: a point is predicted anomalous when `score >= threshold`.

Exact best F1 in O(N log N). F1 = 2TP / (TP + FP + P) (P = number of anomalous points) only
changes when the threshold crosses a score value, so it suffices to try every distinct score.
At equal TP a higher threshold has fewer or equal FP, so the best threshold is always the score
of a *positive* item: we sort the positives once (cumulative TP) and count the negatives above
each candidate with a binary search in the sorted negative scores (FP). Under point adjustment a
labelled segment of length L is detected iff its maximum score passes the threshold, so the
positives are the segments (value = segment maximum, weight = L) instead of the points. The
result equals a brute-force search over all distinct thresholds (tested) and is never below the
paper's 1000-quantile search, whose thresholds give subsets of these predictions.
"""

from __future__ import annotations

import numpy as np

from .checks import check_scores
from .segments import point_adjust as _point_adjust
from .segments import segment_max, segments


def prf(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    """(precision, recall, F1); a ratio with a zero denominator is 0."""
    precision = tp / (tp + fp) if tp + fp > 0 else 0.0
    recall = tp / (tp + fn) if tp + fn > 0 else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp > 0 else 0.0
    return float(precision), float(recall), float(f1)


def _result(threshold, tp: int, fp: int, fn: int) -> dict:
    precision, recall, f1 = prf(tp, fp, fn)
    return {
        "threshold": None if threshold is None else float(threshold),
        "f1": f1,
        "precision": precision,
        "recall": recall,
        "tp": int(tp),
        "fp": int(fp),
        "fn": int(fn),
    }


def _no_anomaly(fp: int = 0) -> dict:
    """Result when the labels have no anomaly: F1/precision/recall are undefined."""
    return {"threshold": None, "f1": None, "precision": None, "recall": None, "tp": 0, "fp": int(fp), "fn": 0}


def f1_at_threshold(scores, labels, threshold: float, point_adjust: bool = False) -> dict:
    """Precision, recall, F1 (and tp/fp/fn) of `scores >= threshold`, optionally after PA."""
    scores, labels = check_scores(scores, labels)
    tp, fp, fn = counts_at_threshold(scores, labels, threshold, point_adjust)
    if not labels.any():
        return {**_no_anomaly(fp), "threshold": float(threshold)}
    return _result(threshold, tp, fp, fn)


def counts_at_threshold(scores: np.ndarray, labels: np.ndarray, threshold: float, point_adjust: bool) -> tuple[int, int, int]:
    """(tp, fp, fn) of `scores >= threshold` on validated arrays, optionally after PA."""
    pred = scores >= threshold
    if point_adjust:
        pred = _point_adjust(pred, labels)
    truth = labels == 1
    tp = int(np.sum(pred & truth))
    return tp, int(np.sum(pred & ~truth)), int(truth.sum()) - tp


def best_from_positives(pos_values: np.ndarray, pos_weights: np.ndarray, neg_sorted: np.ndarray) -> dict:
    """Best F1 over all thresholds, given positive items (value, weight) and sorted negative scores.

    TP(t) = total weight of positives with value >= t, FP(t) = negatives with score >= t.
    Ties in F1 resolve to the highest threshold.
    """
    n_pos = int(pos_weights.sum())
    order = np.argsort(pos_values, kind="stable")[::-1]
    values = pos_values[order]
    tp_cum = np.cumsum(pos_weights[order])
    last_of_tie = np.r_[values[1:] != values[:-1], True]
    thresholds = values[last_of_tie]
    tp = tp_cum[last_of_tie]
    fp = len(neg_sorted) - np.searchsorted(neg_sorted, thresholds, side="left")
    f1 = 2.0 * tp / (tp + fp + n_pos)
    best = int(np.argmax(f1))
    return _result(thresholds[best], int(tp[best]), int(fp[best]), n_pos - int(tp[best]))


def best_f1(scores, labels, point_adjust: bool = False) -> dict:
    """Exact best F1 over every distinct threshold: dict(threshold, f1, precision, recall, tp, fp, fn).

    With `point_adjust`, F1 is computed after PA (the paper's F1-PA). Without any anomaly in
    `labels` the values are None and the threshold that predicts nothing is implied (fp = 0).
    """
    scores, labels = check_scores(scores, labels)
    return best_f1_checked(scores, labels, point_adjust)


def best_f1_checked(scores: np.ndarray, labels: np.ndarray, point_adjust: bool) -> dict:
    """`best_f1` on arrays already validated by `check_scores`."""
    truth = labels == 1
    if not truth.any():
        return _no_anomaly()
    neg_sorted = np.sort(scores[~truth])
    if point_adjust:
        starts, ends = segments(labels)
        return best_from_positives(segment_max(scores, starts, ends), ends - starts, neg_sorted)
    pos = scores[truth]
    return best_from_positives(pos, np.ones(len(pos), dtype=np.int64), neg_sorted)
