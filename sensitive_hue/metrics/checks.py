"""Input checks shared by every metric: finite 1-D scores, binary labels of the same length."""

from __future__ import annotations

import numpy as np

from ..errors import DataError

SCORE_LIMIT = float(np.finfo(np.float32).max)  # larger magnitudes overflow the statistics of POT, VUS and AUC


def check_scores(scores, labels, *, scores_name: str = "scores", labels_name: str = "labels") -> tuple[np.ndarray, np.ndarray]:
    """Validate a (scores, labels) pair; return them as float64 and int8 arrays.

    Raises `DataError` naming `scores_name` / `labels_name` on: not 1-D, empty, NaN or inf
    scores, labels other than 0/1, or different lengths.
    """
    scores = check_values(scores, name=scores_name)
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise DataError(f"{labels_name}: expected a 1-D array of 0/1 labels, got shape {labels.shape}")
    if labels.dtype == bool:
        labels = labels.astype(np.int8)
    elif not np.issubdtype(labels.dtype, np.number):
        raise DataError(f"{labels_name}: labels must be numbers 0/1, got dtype {labels.dtype}")
    elif not np.isin(labels, (0, 1)).all():
        bad = labels[~np.isin(labels, (0, 1))][:3]
        raise DataError(f"{labels_name}: labels must be 0 (normal) or 1 (anomaly); found {bad.tolist()}")
    if len(labels) != len(scores):
        raise DataError(
            f"{scores_name} has {len(scores)} points but {labels_name} has {len(labels)}; "
            "give one score per labelled time step"
        )
    return scores, labels.astype(np.int8)


def check_values(values, *, name: str = "scores") -> np.ndarray:
    """Validate a 1-D, non-empty, finite numeric array (e.g. validation scores) within the float32 range
    (|x| <= 3.4e38: beyond it, differences and squares of scores overflow float64); return float64."""
    values = np.asarray(values)
    if values.ndim != 1:
        raise DataError(f"{name}: expected a 1-D array (one score per time step), got shape {values.shape}")
    if values.size == 0:
        raise DataError(f"{name}: the array is empty")
    if not (np.issubdtype(values.dtype, np.number) or values.dtype == bool) or np.iscomplexobj(values):
        raise DataError(f"{name}: scores must be real numbers, got dtype {values.dtype}")
    values = values.astype(np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataError(f"{name}: {int(bad.sum())} score(s) are NaN or infinite (first at index {first}); fix the scoring step")
    big = np.abs(values) > SCORE_LIMIT
    if big.any():
        first = int(np.flatnonzero(big)[0])
        raise DataError(f"{name}: {int(big.sum())} score(s) are beyond the float32 range (|x| <= {SCORE_LIMIT:.3g}; "
                        f"first {values[first]:g} at index {first}); rescale the scores (e.g. divide them or take a log)")
    return values
