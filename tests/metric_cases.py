"""Fixed inputs shared by the metric tests and by `reference/metric_references.py`, which
produced the reference values recorded in the tests with the authors' implementations."""

from __future__ import annotations

import numpy as np


def _labels(rng, n: int, n_segments: int, max_len: int) -> np.ndarray:
    labels = np.zeros(n, dtype=np.int64)
    for _ in range(n_segments):
        start = rng.integers(0, n)
        labels[start : start + rng.integers(1, max_len)] = 1
    return labels


def vus_cases() -> list[tuple[str, np.ndarray, np.ndarray, int, int]]:
    """(name, scores, labels, buffer, n_thresholds)."""
    cases = []
    for name, seed, n, n_segments, buffer, n_thresholds, decimals in [
        ("random", 0, 500, 5, 20, 250, None),
        ("ties", 1, 800, 8, 50, 250, 1),
        ("one_segment_few_thresholds", 2, 300, 1, 10, 100, None),
        ("buffer_100", 3, 1000, 12, 100, 250, None),
        ("dense_segments", 4, 400, 30, 30, 250, None),
        ("short_series", 5, 150, 3, 100, 250, None),
    ]:
        rng = np.random.default_rng(seed)
        labels = _labels(rng, n, n_segments, 30)
        scores = rng.random(n) + 0.8 * labels * rng.random(n)
        if decimals is not None:
            scores = np.round(scores, decimals)
        cases.append((name, scores, labels, buffer, n_thresholds))
    rng = np.random.default_rng(6)
    labels = np.zeros(300, dtype=np.int64)
    labels[:7] = labels[150] = labels[290:] = 1  # segments at both edges and a single point
    cases.append(("edges_and_single_point", rng.random(300) + 0.5 * labels, labels, 16, 250))
    return cases


def affiliation_cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, binary predictions, labels)."""
    cases = [
        ("paper_readme_example", np.array([0, 0, 0, 0, 1, 0, 0, 0, 1, 0]), np.array([0, 0, 0, 1, 0, 0, 0, 1, 1, 1])),
    ]
    edges = np.zeros(60, dtype=np.int64)
    edges[:5] = edges[30] = edges[55:] = 1
    pred = np.zeros(60, dtype=np.int64)
    pred[2:4] = pred[14:20] = pred[28:33] = pred[40] = pred[59] = 1
    cases.append(("edges_single_point_spanning_zones", pred, edges))
    no_pred_in_a_zone = pred.copy()
    no_pred_in_a_zone[40:] = 0
    cases.append(("zone_without_prediction", no_pred_in_a_zone, edges))
    cases.append(("everything_predicted", np.ones(60, dtype=np.int64), edges))
    for seed, (n, n_gt, rate, max_len) in enumerate([(300, 4, 0.03, 25), (60, 6, 0.2, 10), (2000, 20, 0.01, 200)]):
        rng = np.random.default_rng(100 + seed)
        labels = _labels(rng, n, n_gt, max_len)
        pred = np.zeros(n, dtype=np.int64)
        for _ in range(rng.poisson(rate * n)):
            start = rng.integers(0, n)
            pred[start : start + rng.integers(1, 8)] = 1
        cases.append((f"random_{seed}", pred, labels))
    return cases
