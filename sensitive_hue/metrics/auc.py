"""Threshold-free ranking metrics on continuous scores (scikit-learn)."""

from __future__ import annotations

from sklearn.metrics import average_precision_score, roc_auc_score

from .checks import check_scores


def auc_roc(scores, labels) -> float | None:
    """Area under the ROC curve; None when the labels have a single class (undefined)."""
    scores, labels = check_scores(scores, labels)
    if labels.min() == labels.max():
        return None
    return float(roc_auc_score(labels, scores))


def auc_pr(scores, labels) -> float | None:
    """Area under the precision-recall curve as average precision (step-wise, no interpolation).

    None when the labels have a single class. A random score gets about the anomaly ratio.
    """
    scores, labels = check_scores(scores, labels)
    if labels.min() == labels.max():
        return None
    return float(average_precision_score(labels, scores))
