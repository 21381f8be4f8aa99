"""VUS against the reference implementation (TheDatumOrg/VUS) on fixed inputs.

The reference values were produced by the authors' code, `vus` 0.0.6 from PyPI
(`vus.utils.metrics.metricor().RangeAUC_volume_opt`, the function behind `get_metrics(...,
metric="vus")`), on the inputs of `metric_cases.vus_cases()`, with
    /tmp/refvenv/bin/python tests/reference/metric_references.py
(environment set-up in that script's docstring).
"""

import numpy as np
import pytest
from metric_cases import vus_cases

from sensitive_hue.errors import ConfigError
from sensitive_hue.metrics import vus

REFERENCE = {  # name: (VUS-ROC, VUS-PR)
    "random": (0.8799647482690108, 0.6442483156980894),
    "ties": (0.8675910877153906, 0.6546190557608064),
    "one_segment_few_thresholds": (0.7139908089075491, 0.22594504921624206),
    "buffer_100": (0.9380318066798322, 0.7699761855906619),
    "dense_segments": (0.9063094160843677, 0.975948835553247),
    "short_series": (0.9605395592228928, 0.9545420514966463),
    "edges_and_single_point": (0.8275541012967811, 0.4270071901381293),
}


@pytest.mark.parametrize("case", vus_cases(), ids=lambda case: case[0])
def test_matches_reference_implementation(case):
    name, scores, labels, buffer, n_thresholds = case
    got = vus(scores, labels, buffer=buffer, n_thresholds=n_thresholds)
    assert (got["vus_roc"], got["vus_pr"]) == pytest.approx(REFERENCE[name], abs=1e-12)


def test_depends_only_on_the_ranking():
    _, scores, labels, buffer, _ = vus_cases()[0]
    assert vus(np.exp(3 * scores) - 7, labels, buffer) == pytest.approx(vus(scores, labels, buffer), abs=1e-12)


def test_longer_buffer_forgives_a_late_detection():
    labels = np.zeros(400, dtype=int)
    labels[200:220] = 1
    scores = np.zeros(400)
    scores[222:226] = 1.0  # flags just after the segment
    assert vus(scores, labels, buffer=40)["vus_pr"] > vus(scores, labels, buffer=0)["vus_pr"] + 0.1


def test_single_class_is_undefined_and_bad_buffer_is_an_error():
    scores = np.random.default_rng(0).random(50)
    assert vus(scores, np.zeros(50)) is None
    assert vus(scores, np.ones(50)) is None
    with pytest.raises(ConfigError, match="vus_buffer"):
        vus(scores, np.r_[np.zeros(25), np.ones(25)], buffer=-1)
