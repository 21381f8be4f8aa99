"""Affiliation metrics against the authors' implementation (ahstat/affiliation-metrics-py).

Reference values: `affiliation.metrics.pr_from_events` of the authors' package (commit
8d84498, installed from a checkout into /tmp/refvenv) on `metric_cases.affiliation_cases()`,
events from `convert_vector_to_events` and Trange = (0, len), produced with
    /tmp/refvenv/bin/python tests/reference/metric_references.py
The README example of that repository gives precision 0.82 and recall 0.84 (rounded).
"""

import numpy as np
import pytest
from metric_cases import affiliation_cases

from sensitive_hue.metrics import affiliation

REFERENCE = {  # name: (precision, recall)
    "paper_readme_example": (0.8181818181818181, 0.8442760942760943),
    "edges_single_point_spanning_zones": (0.6697214358114012, 0.9220168067226892),
    "zone_without_prediction": (0.5289958407605466, 0.6514285714285714),
    "everything_predicted": (0.5282792855704374, 1.0),
    "random_0": (0.6741704325433988, 0.8512758208393378),
    "random_1": (0.6833192382057951, 0.9901253770739065),
    "random_2": (0.8595449758951051, 0.6554151735552588),
}


@pytest.mark.parametrize("case", affiliation_cases(), ids=lambda case: case[0])
def test_matches_reference_implementation(case):
    name, pred, labels = case
    got = affiliation(pred, labels)
    precision, recall = REFERENCE[name]
    assert (got["precision"], got["recall"]) == pytest.approx((precision, recall), abs=1e-12)
    assert got["f1"] == pytest.approx(2 * precision * recall / (precision + recall), abs=1e-12)


def test_perfect_prediction_and_edge_cases():
    labels = np.array([0, 1, 1, 0, 0, 0, 1, 0, 0, 1])
    assert affiliation(labels, labels) == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert affiliation(labels, np.zeros(10)) is None  # no labelled event: undefined
    nothing = affiliation(np.zeros(10), labels)
    assert nothing["precision"] is None and nothing["recall"] == 0.0 and nothing["f1"] == 0.0


def test_closer_predictions_score_higher():
    labels = np.zeros(200, dtype=int)
    labels[100:110] = 1
    near, far = np.zeros(200), np.zeros(200)
    near[112] = far[160] = 1
    assert affiliation(near, labels)["f1"] > affiliation(far, labels)["f1"]
