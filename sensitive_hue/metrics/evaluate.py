"""The metrics entry points: every metric for one entity or for a pooled multi-entity dataset.

One code path serves both: an entity is a dataset of one. Pooling rules (see `AGGREGATION`)
follow the paper where it has one (each entity thresholded on its own, predictions
concatenated) and are stated for the rest. Results are nested JSON-able dicts; values that are
undefined (e.g. no anomaly in the labels) are None, never NaN.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from .affiliation import affiliation
from .auc import auc_pr, auc_roc
from .checks import check_scores, check_values
from .f1 import best_f1_checked, counts_at_threshold, prf
from .pak import K_VALUES, pa_k_auc, pa_k_best_checked, pa_k_counts
from .segments import segments
from .thresholds import METHOD_KEYS, label_free_thresholds
from .vus import vus

VUS_THRESHOLDS = 250  # thresholds per buffer length, as the VUS reference implementation
PAPER_NOTE = "threshold tuned on test labels (oracle); PA = point adjustment"
PA_K_NOTE = "for each K the best threshold on the test labels (oracle); K=0 equals f1_pa, K=100 equals f1"
AGGREGATION = {
    "paper_protocol": "each entity thresholded on its own test labels (oracle, as the paper), predictions concatenated, "
    "then precision/recall/F1 with and without PA; an entity without anomalies flags nothing",
    "label_free": "each entity thresholded from its own validation scores, predictions concatenated",
    "continuous": "computed on the concatenated scores and labels: entity score scales are mixed, so a detector whose "
    "scales differ across entities is penalised even if it ranks well within each",
    "pa_k": "for each K, each entity at its own best threshold for that K, counts summed",
    "affiliation": "concatenated oracle predictions (each entity at its paper_protocol.f1 threshold) against concatenated labels",
    "per_entity_mean": "each metric computed on each entity alone, then the unweighted mean over the entities where it is "
    "defined (entities without anomalies are left out); the convention of TSB-AD and Sarfraz et al. (ICML 2024)",
}
PER_ENTITY_MEAN_KEYS = ("auc_roc", "auc_pr", "vus_roc", "vus_pr", "f1_oracle")
_SETTINGS = ("pot_risk", "pot_level", "val_quantile", "vus_buffer")


def _settings(cfg) -> dict:
    from ..config import FIELDS

    values = {name: getattr(cfg, name) if cfg is not None else FIELDS[name].default for name in _SETTINGS}
    return {**values, "vus_thresholds": VUS_THRESHOLDS}


def _checked(entities) -> list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    if len(entities) == 0:
        raise DataError("no entity to evaluate: the list of (scores, labels, val_scores) is empty")
    out = []
    for i, entity in enumerate(entities):
        scores, labels, val = (tuple(entity) + (None,))[:3]
        prefix = "" if len(entities) == 1 else f"entity {i} "
        scores, labels = check_scores(scores, labels, scores_name=f"{prefix}scores", labels_name=f"{prefix}labels")
        val = None if val is None else check_values(val, name=f"{prefix}validation scores")
        out.append((scores, labels, val))
    return out


def _prf_dict(tp: int, fp: int, fn: int, suffix: str = "") -> dict:
    if tp + fn == 0:
        return {f"f1{suffix}": None, f"precision{suffix}": None, f"recall{suffix}": None}
    precision, recall, f1 = prf(tp, fp, fn)
    return {f"f1{suffix}": f1, f"precision{suffix}": precision, f"recall{suffix}": recall}


def _counts(result: dict) -> tuple[int, int, int]:
    return result["tp"], result["fp"], result["fn"]


def _sum_counts(counts) -> tuple[int, int, int]:
    """Element-wise sum of (tp, fp, fn) tuples."""
    counts = list(counts)
    return tuple(int(sum(c[i] for c in counts)) for i in range(3))


def _paper_protocol(entities, best, best_pa) -> dict:
    out = {**_prf_dict(*_sum_counts(map(_counts, best_pa)), "_pa"), **_prf_dict(*_sum_counts(map(_counts, best)))}
    if len(entities) == 1:
        out["threshold_pa"], out["threshold"] = best_pa[0]["threshold"], best[0]["threshold"]
    else:
        out["thresholds_pa"] = [r["threshold"] for r in best_pa]
        out["thresholds"] = [r["threshold"] for r in best]
    out["note"] = PAPER_NOTE
    return out


def _predictions(entities, thresholds) -> np.ndarray:
    """Concatenated binary predictions; a None threshold flags nothing."""
    parts = [scores >= t if t is not None else np.zeros(len(scores), bool) for (scores, _, _), t in zip(entities, thresholds)]
    return np.concatenate(parts)


def _at_thresholds(entities, thresholds, labels_all) -> dict:
    """F1 with/without PA, PA%K AUC and affiliation F1 of per-entity thresholds, pooled."""
    plain = [counts_at_threshold(s, y, t, False) for (s, y, _), t in zip(entities, thresholds)]
    adjusted = [counts_at_threshold(s, y, t, True) for (s, y, _), t in zip(entities, thresholds)]
    out = {**_prf_dict(*_sum_counts(plain)), **_prf_dict(*_sum_counts(adjusted), "_pa")}
    pak = [pa_k_counts(s, y, t) for (s, y, _), t in zip(entities, thresholds)]
    tp = np.sum([p[0] for p in pak], axis=0)
    fp, n_pos = sum(p[1] for p in pak), sum(p[2] for p in pak)
    out["pa_k_auc"] = pa_k_auc([prf(int(t), fp, n_pos - int(t))[2] for t in tp]) if n_pos else None
    pred = _predictions(entities, thresholds)
    aff = affiliation(pred, labels_all)
    out["affiliation_f1"] = None if aff is None else aff["f1"]
    out["n_predicted"] = int(pred.sum())
    return out


def _label_free(entities, settings, labels_all) -> dict:
    """Each entity thresholded from its own validation scores (`thresholds.label_free_thresholds`, the
    detector's own computation), by each method; a method that fails on any entity is reported with why."""
    found = [label_free_thresholds(val, "quantile", settings["pot_risk"], settings["pot_level"], settings["val_quantile"])
             for _, _, val in entities]
    out = {}
    for name in METHOD_KEYS.values():
        failed = [(i, f[name]["message"]) for i, f in enumerate(found) if f[name]["threshold"] is None]
        if failed:
            i, message = failed[0]
            out[name] = {"threshold": None, "message": message if len(entities) == 1 else f"entity {i}: {message}"}
            continue
        thresholds = [f[name]["threshold"] for f in found]
        key = {"threshold": thresholds[0]} if len(entities) == 1 else {"thresholds": thresholds}
        out[name] = {**key, **_at_thresholds(entities, thresholds, labels_all)}
    return out


def _continuous(scores, labels, settings) -> dict:
    volume = vus(scores, labels, settings["vus_buffer"], VUS_THRESHOLDS)
    return {
        "auc_roc": auc_roc(scores, labels),
        "auc_pr": auc_pr(scores, labels),
        "vus_roc": None if volume is None else volume["vus_roc"],
        "vus_pr": None if volume is None else volume["vus_pr"],
    }


def _pa_k(entities) -> dict:
    curves = [pa_k_best_checked(s, y) for s, y, _ in entities]
    curves = [c for c in curves if c is not None]
    if not curves:
        return {"auc": None, "f1_at_k": None, "note": PA_K_NOTE}
    f1 = [prf(*_sum_counts(_counts(c[k]) for c in curves))[2] for k in range(len(K_VALUES))]
    return {"auc": pa_k_auc(f1), "f1_at_k": f1, "note": PA_K_NOTE}


def _message(labels: np.ndarray) -> str | None:
    if not labels.any():
        return "no anomaly in the labels: F1, PA%K, AUC, VUS and affiliation are undefined (null); label-free thresholds still report n_predicted (false alarms)"
    if labels.all():
        return "every point is labelled anomalous: AUC-ROC, AUC-PR and VUS are undefined (null)"
    return None


def _evaluate(entities, cfg) -> dict:
    settings = _settings(cfg)
    scores = np.concatenate([s for s, _, _ in entities])
    labels = np.concatenate([y for _, y, _ in entities])
    best = [best_f1_checked(s, y, False) for s, y, _ in entities]
    best_pa = [best_f1_checked(s, y, True) for s, y, _ in entities]
    oracle_pred = _predictions(entities, [r["threshold"] for r in best])
    aff = affiliation(oracle_pred, labels)
    result = {
        "n_points": int(len(labels)),
        "n_segments": int(sum(len(segments(y)[0]) for _, y, _ in entities)),
        "anomaly_ratio": float(labels.mean()),
        "message": _message(labels),
        "settings": settings,
        "paper_protocol": _paper_protocol(entities, best, best_pa),
        "continuous": _continuous(scores, labels, settings),
        "pa_k": _pa_k(entities),
        "affiliation": {
            "precision": None if aff is None else aff["precision"],
            "recall": None if aff is None else aff["recall"],
            "f1": None if aff is None else aff["f1"],
            **({"threshold": best[0]["threshold"]} if len(entities) == 1 else {}),
            "note": "binary predictions at the oracle threshold of paper_protocol.f1",
        },
    }
    if all(val is not None for _, _, val in entities):
        result["label_free"] = _label_free(entities, settings, labels)
    return result


def evaluate_entity(scores, labels, val_scores=None, *, cfg=None) -> dict:
    """Every metric for one entity (see `METRIC_DOCS`); `label_free` only when `val_scores` is given.

    `cfg` supplies pot_risk, pot_level, val_quantile and vus_buffer (defaults of `Config` when None).
    """
    return _evaluate(_checked([(scores, labels, val_scores)]), cfg)


def per_entity_mean(per_entity: list[dict]) -> dict:
    """Unweighted mean over entities of each `PER_ENTITY_MEAN_KEYS` metric, from `evaluate_entity`
    results; entities where a metric is undefined (None) are left out of its mean."""
    values = {key: [] for key in PER_ENTITY_MEAN_KEYS}
    for metrics in per_entity:
        found = {**metrics["continuous"], "f1_oracle": metrics["paper_protocol"]["f1"]}
        for key in PER_ENTITY_MEAN_KEYS:
            if found[key] is not None:
                values[key].append(float(found[key]))
    out = {key: (float(np.mean(v)) if v else None) for key, v in values.items()}
    out["n_entities"] = {key: len(v) for key, v in values.items()}
    out["note"] = AGGREGATION["per_entity_mean"]
    return out


def evaluate_overall(entities, *, cfg=None, per_entity: list[dict] | None = None) -> dict:
    """Every metric pooled over entities given as (scores, labels, val_scores) tuples (see `AGGREGATION`),
    and `per_entity_mean`: the threshold-free metrics and oracle F1 of each entity alone, averaged.

    `label_free` appears only when every entity has validation scores. `per_entity`: the entities'
    `evaluate_entity` results when already computed (same order), else they are computed here.
    """
    entities = _checked(entities)
    result = _evaluate(entities, cfg)
    if per_entity is None:
        per_entity = [_evaluate([entity], cfg) for entity in entities]
    result["per_entity_mean"] = per_entity_mean(per_entity)
    result["n_entities"] = len(entities)
    result["entities_without_anomaly"] = [i for i, (_, y, _) in enumerate(entities) if not y.any()]
    result["aggregation"] = AGGREGATION
    return result
