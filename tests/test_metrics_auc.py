"""AUC-ROC / AUC-PR: scikit-learn's values, None when a single class makes them undefined."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from sensitive_hue.metrics import auc_pr, auc_roc


def test_agree_with_scikit_learn():
    rng = np.random.default_rng(0)
    labels = (rng.random(2000) < 0.1).astype(int)
    scores = rng.random(2000) + labels * rng.random(2000)
    assert auc_roc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-15)
    assert auc_pr(scores, labels) == pytest.approx(average_precision_score(labels, scores), abs=1e-15)


def test_random_scores_are_near_chance():
    rng = np.random.default_rng(1)
    labels = (rng.random(50_000) < 0.1).astype(int)
    scores = rng.random(50_000)
    assert auc_roc(scores, labels) == pytest.approx(0.5, abs=0.02)
    assert auc_pr(scores, labels) == pytest.approx(labels.mean(), abs=0.01)


def test_single_class_is_none():
    assert auc_roc([0.1, 0.2], [0, 0]) is None and auc_pr([0.1, 0.2], [1, 1]) is None
