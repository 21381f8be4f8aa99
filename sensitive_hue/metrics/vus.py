"""VUS-ROC and VUS-PR (Paparrizos et al., VLDB 2022, "Volume Under the Surface").

Range-AUC with a buffer of length w: each labelled segment [s, e] gets soft labels
sqrt(1 - d / w) on the w // 2 points before and after it (d = distance to the segment; where
buffers overlap they add up, capped at 1). At threshold t, with pred = score >= t:
- TP = (anomalous points predicted) + (sum of soft labels of predicted buffer points),
- P' = P + (sum of soft labels of predicted buffer points) / 2,
- existence = share of buffered segments (segments widened by w // 2, merged when they touch)
  that contain at least one predicted point,
- TPR = min(TP / P', 1) * existence, FPR = (#pred - TP) / (N - P'), precision = TP / #pred.
The ROC curve runs from (0, 0) through the thresholds to (1, 1) (trapezoid area); the PR area is
sum_k (TPR_k - TPR_{k-1}) * precision_k. VUS averages both areas over w = 0, 1, ..., buffer.

As the reference implementation (`RangeAUC_volume_opt` in TheDatumOrg/VUS and TSB-AD), the
thresholds are `n_thresholds` scores at evenly spaced ranks of the sorted scores. This module is
an independent vectorised implementation: sums over predicted points are read from cumulative
sums in score order, and existence from the sorted maxima of the buffered segments, so the cost
is O(N log N + buffer * (N + n_thresholds)) instead of O(buffer * n_thresholds * N).
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .checks import check_scores
from .segments import segment_max, segments


def _soft_labels(n: int, starts: np.ndarray, last: np.ndarray, labels: np.ndarray, w: int):
    """Indices and values of the buffer soft labels for buffer length w (anomalies excluded)."""
    half = w // 2
    if half == 0:
        return np.empty(0, np.int64), np.empty(0)
    steps = np.arange(1, half + 1)
    after = (last[:, None] + steps[None, :]).ravel()
    before = (starts[:, None] - steps[None, :]).ravel()
    idx = np.concatenate((after, before))
    dist = np.tile(steps, 2 * len(starts))
    keep = (idx >= 0) & (idx < n)
    idx, dist = idx[keep], dist[keep]
    uniq, inverse = np.unique(idx, return_inverse=True)
    values = np.minimum(np.bincount(inverse, weights=np.sqrt(1 - dist / w)), 1.0)
    normal = labels[uniq] == 0
    return uniq[normal], values[normal]


def _buffered_segments(n: int, starts: np.ndarray, last: np.ndarray, half: int):
    """Segments widened by `half` on each side, merged when they touch or overlap (inclusive ends)."""
    separate = last[:-1] + half < starts[1:] - half
    group_starts = np.maximum(starts[np.r_[True, separate]] - half, 0)
    group_last = np.minimum(last[np.r_[separate, True]] + half, n - 1)
    return group_starts, group_last


def vus(scores, labels, buffer: int = 100, n_thresholds: int = 250) -> dict | None:
    """{"vus_roc", "vus_pr"} averaged over buffer lengths 0..`buffer`; None for single-class labels."""
    scores, labels = check_scores(scores, labels)
    if buffer < 0 or n_thresholds < 1:
        raise ConfigError(f"vus_buffer must be >= 0 and the number of VUS thresholds >= 1, got {buffer} and {n_thresholds}")
    n = len(scores)
    n_anomalous = int(labels.sum())
    if n_anomalous in (0, n):
        return None
    starts, ends = segments(labels)
    last = ends - 1

    ascending = np.sort(scores)
    thresholds = ascending[::-1][np.linspace(0, n - 1, n_thresholds).astype(int)]
    n_pred = n - np.searchsorted(ascending, thresholds, side="left")
    anomalous_sorted = np.sort(scores[labels == 1])
    tp_points = n_anomalous - np.searchsorted(anomalous_sorted, thresholds, side="left")

    roc_areas, pr_areas = [], []
    for w in range(buffer + 1):
        idx, soft = _soft_labels(n, starts, last, labels, w)
        order = np.argsort(scores[idx], kind="stable")
        soft_scores = scores[idx][order]
        soft_suffix = np.concatenate((np.cumsum(soft[order][::-1])[::-1], [0.0]))
        soft_tp = soft_suffix[np.searchsorted(soft_scores, thresholds, side="left")]

        group_starts, group_last = _buffered_segments(n, starts, last, w // 2)
        group_max = np.sort(segment_max(scores, group_starts, group_last + 1))
        existence = (len(group_max) - np.searchsorted(group_max, thresholds, side="left")) / len(group_max)

        tp = tp_points + soft_tp
        p_new = n_anomalous + soft_tp / 2
        tpr = np.minimum(tp / p_new, 1.0) * existence
        fpr = (n_pred - tp) / (n - p_new)
        precision = tp / n_pred

        tpr_curve = np.concatenate(([0.0], tpr, [1.0]))
        fpr_curve = np.concatenate(([0.0], fpr, [1.0]))
        roc_areas.append(np.sum(np.diff(fpr_curve) * (tpr_curve[1:] + tpr_curve[:-1]) / 2))
        pr_areas.append(np.sum(np.diff(tpr_curve[:-1]) * precision))
    return {"vus_roc": float(np.mean(roc_areas)), "vus_pr": float(np.mean(pr_areas))}
