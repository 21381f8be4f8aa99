"""What every key of an evaluation result means, and where the metric comes from (for reports)."""

from __future__ import annotations

_ORACLE = "threshold tuned on the test labels (oracle): an upper bound no deployed detector can use"
_PA = "point adjustment (Xu et al., WWW 2018): a labelled segment counts as fully detected when any of its points is flagged"

METRIC_DOCS: dict[str, dict[str, str]] = {
    "n_points": {"definition": "number of scored time steps", "source": "-"},
    "n_segments": {"definition": "number of labelled anomaly segments (maximal runs of label 1)", "source": "-"},
    "anomaly_ratio": {
        "definition": "share of time steps labelled anomalous; a random score gets AUC-PR close to this",
        "source": "-",
    },
    "message": {"definition": "why some values are null (no anomaly, or a single class), else null", "source": "-"},
    "settings": {"definition": "metric settings used (POT risk/level, validation quantile, VUS buffer and thresholds)", "source": "config"},
    "paper_protocol.f1_pa": {
        "definition": f"best F1 after PA over every distinct threshold; {_ORACLE}. {_PA}. Uniform random scores reach 0.93-0.97 on MSL/SMAP",
        "source": "SensitiveHUE / SensitiveMamba papers' protocol; exact search instead of their 1000 quantiles",
    },
    "paper_protocol.precision_pa": {"definition": "precision after PA at threshold_pa", "source": "as f1_pa"},
    "paper_protocol.recall_pa": {"definition": "recall after PA at threshold_pa", "source": "as f1_pa"},
    "paper_protocol.threshold_pa": {
        "definition": "threshold of f1_pa (scores >= threshold are flagged); multi-entity: `thresholds_pa`, one per entity",
        "source": "-",
    },
    "paper_protocol.f1": {
        "definition": f"best point-wise F1 without PA over every distinct threshold; {_ORACLE}",
        "source": "standard point-wise F1",
    },
    "paper_protocol.precision": {"definition": "point-wise precision at `threshold`", "source": "as f1"},
    "paper_protocol.recall": {"definition": "point-wise recall at `threshold`", "source": "as f1"},
    "paper_protocol.threshold": {
        "definition": "threshold of f1; multi-entity: `thresholds`, one per entity",
        "source": "-",
    },
    "paper_protocol.thresholds_pa": {"definition": "multi-entity: threshold_pa of each entity (null: no anomaly, nothing flagged)", "source": "-"},
    "paper_protocol.thresholds": {"definition": "multi-entity: threshold of each entity (null: no anomaly, nothing flagged)", "source": "-"},
    "paper_protocol.note": {"definition": "reminder that these figures use the test labels to pick the threshold", "source": "-"},
    "label_free.pot": {
        "definition": "threshold from the validation scores only, by POT (GPD tail fit, risk `pot_risk`, initial level "
        "`pot_level`); F1 with and without PA, PA%K AUC and affiliation F1 at that threshold; n_predicted = points flagged",
        "source": "Siffer et al., KDD 2017 (POT, the initial step of SPOT)",
    },
    "label_free.val_quantile": {
        "definition": "threshold = the `val_quantile` quantile of the validation scores; same figures as pot",
        "source": "-",
    },
    "continuous.auc_roc": {
        "definition": "area under the ROC curve of the continuous scores (no threshold); 0.5 = random",
        "source": "scikit-learn roc_auc_score",
    },
    "continuous.auc_pr": {
        "definition": "average precision of the continuous scores (area under the precision-recall curve); random = anomaly_ratio",
        "source": "scikit-learn average_precision_score",
    },
    "continuous.vus_roc": {
        "definition": "volume under the range-ROC surface: range-AUC-ROC with soft buffers around segments, averaged over "
        "buffer lengths 0..vus_buffer; robust to small misalignments of labels",
        "source": "Paparrizos et al., VLDB 2022; reference code TheDatumOrg/VUS (RangeAUC_volume_opt), 250 thresholds",
    },
    "continuous.vus_pr": {
        "definition": "volume under the range-PR surface, as vus_roc with precision-recall areas",
        "source": "Paparrizos et al., VLDB 2022",
    },
    "pa_k.f1_at_k": {
        "definition": "F1 under PA%K for K = 0..100: a segment is adjusted only when more than K% of it is flagged; "
        f"for each K the best threshold ({_ORACLE}); K=0 equals f1_pa, K=100 equals f1",
        "source": "Kim et al., AAAI 2022",
    },
    "pa_k.auc": {
        "definition": "area under f1_at_k with K scaled to [0, 1] (trapezoid); far less inflated than f1_pa",
        "source": "Kim et al., AAAI 2022",
    },
    "pa_k.note": {"definition": "threshold semantics of f1_at_k", "source": "-"},
    "affiliation.precision": {
        "definition": "mean over labelled events of how close flagged instants in the event's zone are to the event "
        "(probability-calibrated distance); at the oracle threshold of paper_protocol.f1",
        "source": "Huet, Navarro, Rossi, KDD 2022; reference code ahstat/affiliation-metrics-py",
    },
    "affiliation.recall": {
        "definition": "mean over labelled events of how close the event's instants are to the nearest flagged instant",
        "source": "Huet et al., KDD 2022",
    },
    "affiliation.f1": {"definition": "harmonic mean of affiliation precision and recall", "source": "Huet et al., KDD 2022"},
    "affiliation.threshold": {"definition": "threshold of the binary predictions scored (oracle, as paper_protocol.f1)", "source": "-"},
    "affiliation.note": {"definition": "which predictions the affiliation figures score", "source": "-"},
    "n_entities": {"definition": "multi-entity only: entities pooled", "source": "-"},
    "entities_without_anomaly": {
        "definition": "multi-entity only: 0-based indices of entities with no labelled anomaly (their oracle threshold flags nothing)",
        "source": "-",
    },
    "aggregation": {"definition": "multi-entity only: how each section pools the entities", "source": "-"},
    **{f"per_entity_mean.{key}": {
        "definition": f"multi-entity only: {what} of each entity alone, averaged over the entities where it is defined "
                      "(no anomaly: left out); no score scales are mixed across entities",
        "source": "TSB-AD (Liu & Paparrizos, NeurIPS 2024); Sarfraz et al., ICML 2024"}
       for key, what in (("auc_roc", "AUC-ROC"), ("auc_pr", "AUC-PR"), ("vus_roc", "VUS-ROC"), ("vus_pr", "VUS-PR"),
                         ("f1_oracle", "best F1 without PA at a threshold tuned on the entity's test labels (oracle)"))},
    "per_entity_mean.n_entities": {"definition": "multi-entity only: entities averaged in each per-entity mean", "source": "-"},
    "per_entity_mean.note": {"definition": "how the per-entity means are formed", "source": "-"},
}
