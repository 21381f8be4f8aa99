"""Evaluation metrics for anomaly scores: pure numpy functions of (scores, labels).

The paper's protocol (oracle threshold, point adjustment) is reported under `paper_protocol`
beside metrics that a random score cannot inflate; `METRIC_DOCS` defines every result key.
"""

from .affiliation import affiliation
from .auc import auc_pr, auc_roc
from .checks import check_scores, check_values
from .docs import METRIC_DOCS
from .evaluate import evaluate_entity, evaluate_overall
from .f1 import best_f1, f1_at_threshold
from .pak import pa_k_at_threshold, pa_k_auc, pa_k_best
from .segments import point_adjust, segments
from .summary import format_summary, label_warning
from .thresholds import PotFit, pot_fit, pot_threshold, quantile_threshold
from .vus import vus

__all__ = [
    "METRIC_DOCS",
    "PotFit",
    "affiliation",
    "auc_pr",
    "auc_roc",
    "best_f1",
    "check_scores",
    "check_values",
    "evaluate_entity",
    "evaluate_overall",
    "f1_at_threshold",
    "format_summary",
    "label_warning",
    "pa_k_at_threshold",
    "pa_k_auc",
    "pa_k_best",
    "point_adjust",
    "pot_fit",
    "pot_threshold",
    "quantile_threshold",
    "segments",
    "vus",
]
