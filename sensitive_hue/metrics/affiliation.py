"""Affiliation precision and recall (Huet, Navarro, Rossi, KDD 2022).

Time is continuous: point i covers [i, i + 1). The series [0, N) is cut into one zone per labelled
event J = [a, b): the zone boundary between two events is the midpoint of the gap between them.
Inside the zone E = [e0, e1] of J, only the predicted intervals that fall in E count:
- precision of J: mean over predicted instants x in E of P(dist(X, J) >= dist(x, J)), X uniform
  on E; it is 1 inside J and decays with the distance. Zones without predictions are skipped.
- recall of J: mean over instants y in J of P(|X - y| >= dist(y, predictions in E)); 0 when E
  has no prediction.
Precision and recall average these over zones; F1 is their harmonic mean. Every integrand is
piecewise linear in time, so each integral is evaluated exactly by the trapezoid rule between
its breakpoints. Written from the paper's definitions; tested against values produced by the
authors' package (`ahstat/affiliation-metrics-py`).
"""

from __future__ import annotations

import numpy as np

from .checks import check_scores
from .segments import segments


def _events(binary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    starts, ends = segments(binary)
    return starts.astype(np.float64), ends.astype(np.float64)


def _zones(gt_starts: np.ndarray, gt_ends: np.ndarray, n: int) -> np.ndarray:
    """Zone boundaries: [0, mid_1, ..., mid_{k-1}, n]."""
    mids = (gt_ends[:-1] + gt_starts[1:]) / 2
    return np.concatenate(([0.0], mids, [float(n)]))


def _cut(pred_starts, pred_ends, bounds):
    """Cut predicted intervals at zone boundaries: (zone index, start, end) of each non-empty piece."""
    inner = bounds[1:-1]
    first = np.searchsorted(inner, pred_starts, side="right")
    last = np.searchsorted(inner, pred_ends, side="left")
    count = last - first + 1
    zone = np.repeat(first, count) + (np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count))
    start = np.maximum(np.repeat(pred_starts, count), bounds[zone])
    end = np.minimum(np.repeat(pred_ends, count), bounds[zone + 1])
    keep = end > start
    return zone[keep], start[keep], end[keep]


def _precision_integrals(zone, start, end, a, b, e0, e1):
    """Integral over each piece of P(dist(X, J) >= dist(x, J)) for its zone's event J = [a, b]."""
    a, b, e0, e1 = a[zone], b[zone], e0[zone], e1[zone]
    left, right, width = a - e0, e1 - b, e1 - e0
    points = np.column_stack((start, a, b, a - right, b + left, end))
    points = np.sort(np.clip(points, start[:, None], end[:, None]), axis=1)
    u, v = points[:, :-1], points[:, 1:]
    mid = (u + v) / 2
    inside = (mid >= a[:, None]) & (mid <= b[:, None])
    before = mid < a[:, None]

    def survival(x):
        dist = np.where(before, a[:, None] - x, x - b[:, None])
        value = (np.maximum(left[:, None] - dist, 0) + np.maximum(right[:, None] - dist, 0)) / width[:, None]
        return np.where(inside, 1.0, value)

    return np.sum((survival(u) + survival(v)) / 2 * (v - u), axis=1)


def _recall(a: float, b: float, e0: float, e1: float, starts: np.ndarray, ends: np.ndarray) -> float:
    """Recall of event J = [a, b) with zone [e0, e1] given the sorted predicted pieces in the zone."""
    edges = np.concatenate((starts, ends))
    points = np.concatenate(([a, b], edges, (ends[:-1] + starts[1:]) / 2, (edges + e0) / 2, (edges + e1) / 2))
    points = np.unique(np.clip(points, a, b))
    u, v = points[:-1], points[1:]
    mid = (u + v) / 2
    m = len(starts)
    right = np.searchsorted(starts, mid, side="right")  # first piece starting after mid
    left = np.maximum(right - 1, 0)  # last piece starting at or before mid (when right > 0)
    has_left, has_right = right > 0, right < m
    inside = has_left & (mid <= ends[left])
    dist_left = np.where(has_left, mid - ends[left], np.inf)
    dist_right = np.where(has_right, starts[np.minimum(right, m - 1)] - mid, np.inf)
    pivot = np.where(dist_left <= dist_right, ends[left], starts[np.minimum(right, m - 1)])
    width = e1 - e0

    def survival(y):
        dist = np.abs(y - pivot)
        value = 1 - (np.minimum(dist, y - e0) + np.minimum(dist, e1 - y)) / width
        return np.where(inside, 1.0, value)

    return float(np.sum((survival(u) + survival(v)) / 2 * (v - u)) / (b - a))


def affiliation(pred, labels) -> dict | None:
    """{"precision", "recall", "f1"} of binary predictions; None when `labels` has no anomaly.

    Precision is None (undefined) when nothing is predicted; F1 is then 0.
    """
    pred, labels = check_scores(pred, labels, scores_name="predictions")
    gt_starts, gt_ends = _events(labels)
    if len(gt_starts) == 0:
        return None
    bounds = _zones(gt_starts, gt_ends, len(labels))
    e0, e1 = bounds[:-1], bounds[1:]
    zone, start, end = _cut(*_events(pred > 0), bounds)

    integrals = _precision_integrals(zone, start, end, gt_starts, gt_ends, e0, e1)
    covered = np.bincount(zone, weights=end - start, minlength=len(gt_starts))
    with_pred = covered > 0
    per_zone = np.bincount(zone, weights=integrals, minlength=len(gt_starts))[with_pred] / covered[with_pred]
    precision = float(per_zone.mean()) if with_pred.any() else None

    recalls = np.zeros(len(gt_starts))
    for j in np.flatnonzero(with_pred):
        mine = zone == j
        recalls[j] = _recall(gt_starts[j], gt_ends[j], e0[j], e1[j], start[mine], end[mine])
    recall = float(recalls.mean())
    f1 = 2 * precision * recall / (precision + recall) if precision is not None and precision + recall > 0 else 0.0
    return {"precision": precision, "recall": recall, "f1": float(f1)}
