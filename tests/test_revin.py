"""RevIN's denorm decides whether a level shift longer than the window is detected (models/revin.py).

Trained end to end on a tiny network: with `paper` (the reconstruction's own statistics) the interior
of a 150-row level shift scores above the normal region's 99th percentile; with `stored` (the exact
inverse) the reconstruction follows the shifted level and the interior scores like normal data.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sensitive_hue.data.store import ProcessedEntity
from sensitive_hue.entity import run_entity

from pipeline_fixtures import F_IN, tiny_config

SHIFT = slice(150, 300)  # 150 rows, the window is 16


def _level_shift_entity() -> ProcessedEntity:
    rng = np.random.default_rng(0)

    def series(rows: int, offset: int) -> np.ndarray:
        t = np.arange(offset, offset + rows)[:, None]
        return (np.sin(2 * np.pi * t / 25 + np.array([0.0, 1.0, 2.0])) + 0.1 * rng.standard_normal((rows, F_IN))
                ).astype(np.float32)

    train, test = series(800, 0), series(400, 800)
    test[SHIFT, 1] += 2.0
    labels = np.zeros(400, dtype=np.int8)
    labels[SHIFT] = 1
    meta = {"shape": {"train": list(train.shape), "test": list(test.shape)}, "scaler": None, "columns": None,
            "kept_dims": list(range(F_IN))}
    return ProcessedEntity("shift", train, test, labels, meta)


def _interior_and_normal(tmp_path, mode: str) -> tuple[np.ndarray, np.ndarray]:
    cfg, _ = tiny_config(tmp_path, revin_denorm=mode, stride=1, steps_per_epoch=10, max_epoch=3)
    scores = run_entity(cfg, _level_shift_entity(), 1, torch.device("cpu")).points.scores
    w = cfg.step_num_in  # leave out the rows whose windows straddle an edge of the shift
    return scores[SHIFT.start + w:SHIFT.stop - w], np.r_[scores[:SHIFT.start - w], scores[SHIFT.stop + w:]]


@pytest.mark.parametrize("mode", ["paper", "stored"])
def test_interior_of_a_long_level_shift(tmp_path, mode):
    interior, normal = _interior_and_normal(tmp_path, mode)
    p99 = np.percentile(normal, 99)
    above = float((interior > p99).mean())
    if mode == "paper":
        assert np.median(interior) > p99 and above >= 0.75, (above, np.median(interior), p99)
    else:  # the reconstruction follows the shifted level: blind inside it
        assert np.median(interior) < p99 and above <= 0.05, (above, np.median(interior), p99)
