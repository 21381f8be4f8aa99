"""Anomaly segments (maximal runs of label 1) and point adjustment (PA, Xu et al. WWW 2018)."""

from __future__ import annotations

import numpy as np


def segments(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) index of every run of 1s in `labels`, as int64 arrays."""
    padded = np.concatenate(([0], np.asarray(labels, dtype=np.int8), [0]))
    change = np.diff(padded)
    return np.flatnonzero(change == 1).astype(np.int64), np.flatnonzero(change == -1).astype(np.int64)


def segment_max(values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Maximum of `values[s:e]` for each (s, e); ranges must be non-empty, sorted and disjoint."""
    if len(starts) == 0:
        return np.empty(0, dtype=values.dtype)
    cuts = np.column_stack((starts, ends)).ravel()
    if cuts[-1] == len(values):
        cuts = cuts[:-1]
    return np.maximum.reduceat(values, cuts)[::2]


def point_adjust(pred: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """PA: every labelled segment with at least one predicted point becomes fully predicted."""
    pred = np.asarray(pred, dtype=bool).copy()
    starts, ends = segments(labels)
    if len(starts):
        hit = segment_max(pred.astype(np.int8), starts, ends) > 0
        anomalies = np.flatnonzero(np.asarray(labels) == 1)  # in segment order
        pred[anomalies[np.repeat(hit, ends - starts)]] = True
    return pred
