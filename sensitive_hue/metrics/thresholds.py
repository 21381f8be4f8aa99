"""Thresholds chosen without test labels, from validation scores only.

POT (peaks over threshold, Siffer et al., KDD 2017, the initial step of SPOT): take the `level`
quantile t of the validation scores, fit a generalised Pareto distribution (GPD, shape g,
scale s) by maximum likelihood to the excesses X - t of the scores above t, and return the score
exceeded with probability `risk`:  z = t + s / g * ((risk * n / n_peaks) ** -g - 1)
(z = t - s * log(risk * n / n_peaks) when g = 0). The streaming part of SPOT, which would keep
refitting on test scores, is not used: thresholds are fixed before the test data is seen.
When there are too few validation scores for `min_peaks` excesses at `level`, the level is
lowered to 1 - min_peaks / n (recorded as `level_used`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import genpareto

from ..errors import ConfigError, DataError
from .checks import check_values

MIN_PEAKS = 10


@dataclass(frozen=True)
class PotFit:
    """A POT threshold and the tail model behind it."""

    threshold: float
    init_threshold: float  # t, the `level_used` quantile of the validation scores
    level_used: float
    shape: float  # GPD shape g
    scale: float  # GPD scale s
    n_peaks: int
    n_scores: int
    risk: float

    def to_dict(self) -> dict:
        """Plain JSON-able dict (stored in checkpoints and results)."""
        return asdict(self)


def pot_fit(val_scores, risk: float = 1e-4, level: float = 0.98, min_peaks: int = MIN_PEAKS) -> PotFit:
    """Fit POT on validation scores; `DataError` when the scores cannot support a tail fit."""
    scores = check_values(val_scores, name="validation scores")
    if not 0 < level < 1:
        raise ConfigError(f"pot_level must be in (0, 1), got {level}")
    if not 0 < risk < 1:
        raise ConfigError(f"pot_risk must be in (0, 1), got {risk}")
    n = len(scores)
    if n < 2 * min_peaks:
        raise DataError(f"validation scores: POT needs at least {2 * min_peaks} scores, got {n}; use the validation quantile threshold")
    level_used = min(level, 1 - min_peaks / n)
    init = float(np.quantile(scores, level_used))
    peaks = scores[scores > init] - init
    if len(peaks) < min_peaks or np.ptp(peaks) == 0:
        raise DataError(
            f"validation scores: only {len(peaks)} distinct excesses above the {level_used:.3f} quantile; "
            "the scores have no tail for POT to model (too many ties); use the validation quantile threshold"
        )
    ratio = risk * n / len(peaks)
    if ratio >= 1:
        raise ConfigError(f"pot_risk {risk} must be below the share of peaks {len(peaks) / n:.4f} (about 1 - pot_level)")
    shape, _, scale = genpareto.fit(peaks, floc=0)
    with np.errstate(over="ignore", invalid="ignore"):  # a diverged fit is reported below, not as a RuntimeWarning
        if abs(shape) < 1e-9:
            threshold = init - scale * np.log(ratio)
        else:
            threshold = init + scale / shape * (np.float64(ratio) ** (-shape) - 1)
    if not np.isfinite(threshold):
        raise DataError("validation scores: the GPD fit of POT diverged; use the validation quantile threshold")
    return PotFit(float(threshold), init, float(level_used), float(shape), float(scale), int(len(peaks)), n, float(risk))


def pot_threshold(val_scores, risk: float = 1e-4, level: float = 0.98) -> float:
    """POT threshold on validation scores (see `pot_fit`)."""
    return pot_fit(val_scores, risk, level).threshold


def quantile_threshold(val_scores, q: float = 0.99) -> float:
    """The q-quantile of the validation scores (linear interpolation)."""
    scores = check_values(val_scores, name="validation scores")
    if not 0 < q < 1:
        raise ConfigError(f"val_quantile must be in (0, 1), got {q}")
    return float(np.quantile(scores, q))


# --- the label-free threshold of a detector: computed here only -------------------------------------------

METHOD_KEYS = {"pot": "pot", "quantile": "val_quantile"}  # config `threshold_method` -> where its threshold is kept


def method_key(threshold_method: str) -> str:
    """The key (`pot` or `val_quantile`) under which `threshold_method`'s threshold is stored."""
    try:
        return METHOD_KEYS[threshold_method]
    except KeyError:
        raise ConfigError(f"threshold_method must be one of {', '.join(METHOD_KEYS)}, got {threshold_method!r}") from None


def label_free_thresholds(val_scores, threshold_method: str = "quantile", risk: float = 1e-4, level: float = 0.98,
                          q: float = 0.99) -> dict:
    """Both label-free thresholds of one entity's validation scores and the one deployed.

    Returns {"pot": `PotFit.to_dict()` or {"threshold": None, "message": why}, "val_quantile": {"threshold",
    "q"}, "method": the key deployed, "threshold": its value, "fallback": the reason when POT was asked for
    but could not fit (the validation quantile is deployed instead), else None}."""
    try:
        pot = pot_fit(val_scores, risk, level).to_dict()
    except DataError as exc:
        pot = {"threshold": None, "message": str(exc)}
    quantile = {"threshold": quantile_threshold(val_scores, q), "q": q}
    wanted = method_key(threshold_method)
    method = wanted if (pot if wanted == "pot" else quantile)["threshold"] is not None else "val_quantile"
    chosen = pot if method == "pot" else quantile
    return {"pot": pot, "val_quantile": quantile, "method": method, "threshold": chosen["threshold"],
            "fallback": pot["message"] if method != wanted else None}


def pick(found: dict, threshold_method: str) -> str | None:
    """The key of the label-free entry to use from `found` ({"pot": ..., "val_quantile": ...}, as stored in a
    checkpoint or in metrics): `threshold_method`'s when it has a threshold, else the other one's, else None."""
    wanted = method_key(threshold_method)
    for key in (wanted, *(k for k in METHOD_KEYS.values() if k != wanted)):
        entry = found.get(key) or {}
        if entry.get("threshold", entry.get("thresholds")) is not None:
            return key
    return None
