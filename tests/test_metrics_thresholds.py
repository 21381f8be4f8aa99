"""Label-free thresholds: POT recovers known tail quantiles; quantile threshold; clear errors."""

import numpy as np
import pytest
from scipy.stats import norm

from sensitive_hue.errors import ConfigError, DataError
from sensitive_hue.metrics import pot_fit, pot_threshold, quantile_threshold


@pytest.mark.parametrize("seed", range(4))
def test_pot_on_exponential_finds_the_true_quantile(seed):
    samples = np.random.default_rng(seed).exponential(size=100_000)
    fit = pot_fit(samples, risk=1e-4, level=0.98)
    assert fit.threshold == pytest.approx(-np.log(1e-4), rel=0.05)  # true 1 - 1e-4 quantile: 9.21
    assert abs(fit.shape) < 0.1 and fit.scale == pytest.approx(1.0, rel=0.1)  # exponential tail: GPD(0, 1)
    assert fit.n_peaks == 2000 and fit.level_used == 0.98
    assert fit.to_dict()["threshold"] == fit.threshold


def test_pot_on_normal_extrapolates_beyond_the_sample_quantile():
    samples = np.random.default_rng(0).standard_normal(20_000)
    assert pot_threshold(samples, risk=1e-3, level=0.95) == pytest.approx(norm.ppf(1 - 1e-3), rel=0.05)


def test_pot_lowers_the_level_for_small_validation_sets():
    fit = pot_fit(np.random.default_rng(0).exponential(size=200), risk=1e-3, level=0.98)
    assert fit.level_used == pytest.approx(0.95) and fit.n_peaks == 10 and fit.threshold > fit.init_threshold


def test_pot_errors_are_clear():
    with pytest.raises(DataError, match="at least 20 scores"):
        pot_fit(np.arange(5.0))
    with pytest.raises(DataError, match="no tail"):
        pot_fit(np.r_[np.zeros(990), np.ones(10)])
    with pytest.raises(ConfigError, match="pot_risk"):
        pot_fit(np.random.default_rng(0).random(1000), risk=0.5, level=0.98)
    with pytest.raises(DataError, match="NaN"):
        pot_fit(np.r_[np.ones(100), np.nan])


def test_quantile_threshold():
    assert quantile_threshold(np.arange(101.0), 0.99) == pytest.approx(99.0)
    with pytest.raises(ConfigError, match="val_quantile"):
        quantile_threshold(np.arange(10.0), 1.5)


def test_label_free_thresholds_deploy_the_asked_method_and_fall_back_with_the_reason():
    from sensitive_hue.metrics.thresholds import label_free_thresholds, method_key, pick

    scores = np.random.default_rng(0).exponential(size=2000)
    quantile = label_free_thresholds(scores, "quantile")
    assert quantile["method"] == "val_quantile" and quantile["threshold"] == pytest.approx(np.quantile(scores, 0.99))
    assert quantile["fallback"] is None and quantile["pot"]["threshold"] is not None
    pot = label_free_thresholds(scores, "pot")
    assert pot["method"] == "pot" and pot["threshold"] == pot["pot"]["threshold"]
    ties = label_free_thresholds(np.r_[np.zeros(990), np.ones(10)], "pot")
    assert ties["method"] == "val_quantile" and "no tail" in ties["fallback"]
    assert pick(ties, "pot") == "val_quantile" and pick(pot, "pot") == "pot" and pick({}, "pot") is None
    assert method_key("quantile") == "val_quantile"
    with pytest.raises(ConfigError, match="threshold_method"):
        method_key("median")
