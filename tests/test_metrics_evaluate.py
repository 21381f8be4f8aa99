"""The evaluation entry points: structure, pooling over entities, undefined cases, documentation."""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from sensitive_hue.config import load_config
from sensitive_hue.errors import DataError
from sensitive_hue.metrics import (
    METRIC_DOCS,
    affiliation,
    auc_pr,
    best_f1,
    evaluate_entity,
    evaluate_overall,
    format_summary,
    pot_threshold,
    vus,
)

STAR = Path(__file__).resolve().parents[1] / "config" / "star.yaml"


def make_entity(seed, n=4000, n_segments=8, strength=0.5, val=True):
    rng = np.random.default_rng(seed)
    labels = np.zeros(n, dtype=np.int8)
    for start in rng.integers(0, n - 300, n_segments):
        labels[start : start + rng.integers(20, 300)] = 1
    scores = rng.random(n) + strength * labels * rng.random(n)
    return scores, labels, (rng.random(2000) if val else None)


def leaf_paths(tree, prefix=""):
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and path not in METRIC_DOCS:
            yield from leaf_paths(value, path + ".")
        else:
            yield path


def undocumented(result):
    return [p for p in leaf_paths(result) if p not in METRIC_DOCS and p.rsplit(".", 1)[0] not in METRIC_DOCS]


def test_entity_structure_is_documented_and_json():
    result = evaluate_entity(*make_entity(0))
    json.dumps(result, allow_nan=False)
    assert {"paper_protocol", "label_free", "continuous", "pa_k", "affiliation", "anomaly_ratio", "n_points", "n_segments"} <= set(result)
    assert result["paper_protocol"]["note"] == "threshold tuned on test labels (oracle); PA = point adjustment"
    assert set(result["label_free"]) == {"pot", "val_quantile"}
    assert {"threshold", "f1", "f1_pa", "precision", "recall"} <= set(result["label_free"]["pot"])
    assert set(result["continuous"]) == {"auc_roc", "auc_pr", "vus_roc", "vus_pr"}
    assert len(result["pa_k"]["f1_at_k"]) == 101
    assert undocumented(result) == []
    for doc in METRIC_DOCS.values():
        assert doc["definition"] and doc["source"]


def test_entity_values_are_those_of_the_building_blocks():
    scores, labels, val = make_entity(1)
    result = evaluate_entity(scores, labels, val)
    paper = result["paper_protocol"]
    assert paper["f1_pa"] == best_f1(scores, labels, point_adjust=True)["f1"]
    assert paper["f1"] == best_f1(scores, labels)["f1"] == result["pa_k"]["f1_at_k"][100]
    assert result["pa_k"]["f1_at_k"][0] == pytest.approx(paper["f1_pa"])
    assert result["continuous"]["auc_pr"] == auc_pr(scores, labels)
    assert result["continuous"]["vus_pr"] == vus(scores, labels, buffer=100)["vus_pr"]
    assert result["affiliation"]["f1"] == affiliation(scores >= paper["threshold"], labels)["f1"]
    assert result["label_free"]["pot"]["threshold"] == pot_threshold(val, 1e-4, 0.98)
    assert "label_free" not in evaluate_entity(scores, labels)


def test_random_scores_pass_the_paper_metric_but_not_the_others():
    scores, labels, val = make_entity(2, n=20_000, n_segments=10, strength=0.0)
    result = evaluate_entity(scores, labels, val)
    assert result["paper_protocol"]["f1_pa"] > 0.75  # the paper's figure looks good for noise
    assert result["paper_protocol"]["f1"] < 0.3
    assert result["pa_k"]["auc"] < 0.5
    assert result["continuous"]["auc_pr"] < 1.5 * result["anomaly_ratio"]
    assert abs(result["continuous"]["auc_roc"] - 0.5) < 0.05


def test_no_anomaly_gives_a_message_and_nulls():
    scores, _, val = make_entity(3)
    result = evaluate_entity(scores, np.zeros(len(scores)), val)
    text = json.dumps(result, allow_nan=False)
    assert "NaN" not in text and "no anomaly" in result["message"]
    assert result["paper_protocol"]["f1_pa"] is None and result["continuous"]["vus_pr"] is None
    assert result["pa_k"]["auc"] is None and result["affiliation"]["f1"] is None
    assert result["label_free"]["pot"]["n_predicted"] >= 0 and result["label_free"]["pot"]["f1"] is None
    assert "no anomaly" in format_summary(result)


def test_overall_pools_entities_as_the_paper():
    entities = [make_entity(4), make_entity(5, strength=0.2), make_entity(6, n_segments=0)]
    entities[2] = (entities[2][0], np.zeros(4000, dtype=np.int8), entities[2][2])
    result = evaluate_overall(entities)
    json.dumps(result, allow_nan=False)
    assert result["n_entities"] == 3 and result["entities_without_anomaly"] == [2]
    assert undocumented(result) == []
    means = result["per_entity_mean"]
    singles = [evaluate_entity(*entity) for entity in entities[:2]]
    assert means["n_entities"]["auc_pr"] == 2  # the entity without anomalies is left out
    assert means["auc_pr"] == pytest.approx(np.mean([r["continuous"]["auc_pr"] for r in singles]))
    assert means["f1_oracle"] == pytest.approx(np.mean([r["paper_protocol"]["f1"] for r in singles]))
    assert means["auc_pr"] != pytest.approx(result["continuous"]["auc_pr"])  # not the concatenated figure
    assert set(result["aggregation"]) == {"paper_protocol", "label_free", "continuous", "pa_k", "affiliation", "per_entity_mean"}
    for point_adjust, suffix in ((True, "_pa"), (False, "")):
        per_entity = [best_f1(s, y, point_adjust=point_adjust) for s, y, _ in entities]
        tp, fp, fn = (sum(r[key] for r in per_entity) for key in ("tp", "fp", "fn"))
        assert result["paper_protocol"][f"f1{suffix}"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
        assert result["paper_protocol"][f"thresholds{suffix}"][2] is None  # nothing flagged without anomalies
    all_scores = np.concatenate([s for s, _, _ in entities])
    all_labels = np.concatenate([y for _, y, _ in entities])
    assert result["continuous"]["auc_pr"] == auc_pr(all_scores, all_labels)
    pot = result["label_free"]["pot"]
    assert len(pot["thresholds"]) == 3
    pred = np.concatenate([s >= t for (s, _, _), t in zip(entities, pot["thresholds"])])
    assert pot["n_predicted"] == int(pred.sum())
    single = evaluate_overall([entities[0]])
    assert single["paper_protocol"]["f1_pa"] == evaluate_entity(*entities[0])["paper_protocol"]["f1_pa"]
    assert "label_free" not in evaluate_overall([entities[0], entities[1][:2]])


def test_label_free_failure_is_reported_not_raised():
    scores, labels, _ = make_entity(7)
    result = evaluate_overall([(scores, labels, np.zeros(500)), make_entity(8)])
    assert result["label_free"]["pot"]["threshold"] is None
    assert result["label_free"]["pot"]["message"].startswith("entity 0:")
    assert result["label_free"]["val_quantile"]["f1"] is not None
    assert "n/a" in format_summary(result)


def test_bad_input_names_the_entity():
    good = make_entity(9)
    with pytest.raises(DataError, match="entity 1 scores"):
        evaluate_overall([good, (np.r_[good[0][:-1], np.nan], good[1], None)])
    with pytest.raises(DataError, match="entity 0 validation scores"):
        evaluate_overall([(good[0], good[1], np.array([np.inf])), good])
    with pytest.raises(DataError, match="no entity"):
        evaluate_overall([])


def test_settings_come_from_the_config():
    scores, labels, val = make_entity(10)
    cfg = load_config(STAR, "demo")
    assert evaluate_entity(scores, labels, val, cfg=cfg)["settings"]["vus_buffer"] == cfg.vus_buffer
    short = evaluate_entity(scores, labels, val, cfg=SimpleNamespace(pot_risk=1e-3, pot_level=0.9, val_quantile=0.9, vus_buffer=0))
    assert short["continuous"]["vus_pr"] == vus(scores, labels, buffer=0)["vus_pr"]
    assert short["label_free"]["val_quantile"]["threshold"] == pytest.approx(np.quantile(val, 0.9))


def test_summary_labels_the_paper_protocol():
    text = format_summary(evaluate_entity(*make_entity(11)))
    assert "(paper protocol: oracle threshold, PA)" in text and "label-free POT threshold" in text
    assert len(text.splitlines()) <= 6
