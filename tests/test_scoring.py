"""Scoring: every point gets a score from the right window position; validation-fitted normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sensitive_hue.errors import CheckpointError, ConfigError
from sensitive_hue.losses import pointwise_nll
from sensitive_hue.metrics.checks import SCORE_LIMIT, check_values
from sensitive_hue.scoring import (LOG_PREC_CAP, ScoreStats, ignored_dims, network_point_scores, scoring_nll,
                                   select_position, top_k)

from pipeline_fixtures import tiny_config


class PositionModel(torch.nn.Module):
    """Reconstructs x + (position in the window), no uncertainty: the squared error is position**2,
    and reconstruction - input reveals which window position a point's score came from."""

    def forward(self, x, mask=None, return_latent=False, decode_steps=None):
        position = torch.arange(x.shape[1], dtype=x.dtype)[None, :, None]
        recon = x + position
        return (recon if decode_steps is None else recon[:, decode_steps]), None


def _series(length: int, features: int = 2) -> np.ndarray:
    return (np.arange(length * features, dtype=np.float32).reshape(length, features) * 10)


def _expected_positions(length: int, window: int, pos: int) -> np.ndarray:
    t = np.arange(length)
    start = np.clip(t - pos, 0, length - window)  # the window holding t at `pos`, else the nearest one
    return t - start


@pytest.mark.parametrize("select_pos", ["mid", "tail"])
@pytest.mark.parametrize("length", [16, 17, 50, 133])
def test_every_point_scored_from_its_window_position(tmp_path, select_pos, length):
    cfg, _ = tiny_config(tmp_path, select_pos=select_pos, score_batch_size=7)
    series = _series(length)
    raw, recon = network_point_scores(PositionModel(), series, cfg, torch.device("cpu"))
    pos = select_position(cfg)
    assert pos == (8 if select_pos == "mid" else 15)
    assert raw.shape == series.shape and recon.shape == series.shape
    positions = _expected_positions(length, cfg.step_num_in, pos)
    np.testing.assert_array_equal(recon - series, np.repeat(positions[:, None], 2, axis=1))
    np.testing.assert_array_equal(raw, np.repeat(positions[:, None] ** 2, 2, axis=1).astype(np.float64))
    if length >= 2 * cfg.step_num_in:
        assert (positions[pos:length - cfg.step_num_in + pos + 1] == pos).all()


def test_series_shorter_than_a_window_is_a_clear_error(tmp_path):
    cfg, _ = tiny_config(tmp_path)
    with pytest.raises(Exception, match="step_num_in"):
        network_point_scores(PositionModel(), _series(10), cfg, torch.device("cpu"))


def test_score_stats_normalise_by_validation_median_and_iqr():
    rng = np.random.default_rng(0)
    val = np.column_stack([rng.normal(5, 2, 1001), rng.normal(-3, 0.5, 1001), np.full(1001, 2.0)])
    stats = ScoreStats.fit(val, ignore_dims=(0,))
    np.testing.assert_allclose(stats.median[:2], np.median(val[:, :2], axis=0))
    q75, q25 = np.percentile(val[:, 1], [75, 25])
    assert stats.iqr[1] == pytest.approx(q75 - q25)
    assert 0 < stats.iqr[2] < 1e-2  # constant feature: floored, never a division by zero
    test = np.array([[1e6, -3.0, 2.0], [5.0, 10.0, 2.0]])
    contributions = stats.contributions(test)
    assert np.isfinite(contributions).all()
    np.testing.assert_allclose(stats.combine(contributions), contributions[:, 1:].max(axis=1))  # dim 0 ignored


def test_score_stats_round_trip_and_feature_count_check():
    stats = ScoreStats.fit(np.random.default_rng(1).normal(size=(50, 4)), ignore_dims=(2,))
    again = ScoreStats.from_state(stats.to_state(), 4)
    np.testing.assert_array_equal(again.median, stats.median)
    np.testing.assert_array_equal(again.iqr, stats.iqr)
    assert again.ignore_dims == (2,)
    with pytest.raises(CheckpointError, match="4 features, the data has 5"):
        ScoreStats.from_state(stats.to_state(), 5)


def test_score_combine_max_topk_mean_over_the_counted_features():
    """max: one feature sets the score; topk: the mean of the ceil(F/10) largest; mean: all; ignored dims
    never count, whatever the combination."""
    assert [top_k(f) for f in (1, 9, 10, 11, 25, 38, 51)] == [1, 1, 1, 2, 3, 4, 6]
    contributions = np.zeros((2, 12))
    contributions[0, :3] = [100.0, 8.0, 6.0]  # dim 0 is ignored below
    contributions[1, 5] = 12.0
    expect = {"max": [8.0, 12.0], "topk": [7.0, 6.0], "mean": [14.0 / 11, 12.0 / 11]}  # 11 dims count: k = 2
    for how, scores in expect.items():
        stats = ScoreStats(median=np.zeros(12), iqr=np.ones(12), ignore_dims=(0,), how=how)
        np.testing.assert_allclose(stats.combine(contributions), scores)
        again = ScoreStats.from_state(stats.to_state(), 12)
        assert again.how == how


def test_checkpoint_statistics_without_a_combination_took_the_max():
    state = ScoreStats.fit(np.random.default_rng(2).normal(size=(50, 3))).to_state()
    del state["combine"]  # written before score_combine existed
    assert ScoreStats.from_state(state, 3).how == "max"
    with pytest.raises(CheckpointError, match="combine features by 'median'"):
        ScoreStats.from_state({**state, "combine": "median"}, 3)


def test_ignored_dims_follow_the_entity_index(tmp_path):
    cfg, _ = tiny_config(tmp_path, score_ignore_dims={3: [1], 8: [0, 2]})
    assert ignored_dims(cfg, 3, 3) == (1,)
    assert ignored_dims(cfg, 8, 3) == (0, 2)
    assert ignored_dims(cfg, 1, 3) == ()
    with pytest.raises(ConfigError, match="score_ignore_dims"):
        ignored_dims(cfg, 8, 2)


class ConfidentModel(torch.nn.Module):
    """Reconstructs zeros with a log-precision that grows with |x|, like an unbounded head far outside the
    training range (MSL P-10 without instance normalisation: log-precision 127 at a value 1,600 stds out)."""

    def forward(self, x, mask=None, return_latent=False, decode_steps=None):
        recon, log_prec = torch.zeros_like(x), x.abs() / 10
        if decode_steps is not None:
            recon, log_prec = recon[:, decode_steps], log_prec[:, decode_steps]
        return recon, log_prec


def test_scoring_nll_is_the_float32_nll_wherever_that_is_finite():
    gen = torch.Generator().manual_seed(0)
    x, recon = torch.randn(4, 8, 3, generator=gen) * 5, torch.randn(4, 8, 3, generator=gen)
    log_prec = torch.randn(4, 8, 3, generator=gen) * 4
    expected = pointwise_nll(x, recon, log_prec)
    got = scoring_nll(x, recon, log_prec)
    assert got.dtype == torch.float64
    assert torch.equal(got, expected.double())  # bit for bit: earlier scores do not move
    assert torch.equal(scoring_nll(x, recon, None), pointwise_nll(x, recon, None).double())


def test_scoring_nll_stays_finite_and_ordered_where_float32_overflows():
    x = torch.tensor([[[10.0], [20.0], [0.0], [1.0]]])
    recon = torch.zeros_like(x)
    log_prec = torch.tensor([[[127.0], [127.0], [200.0], [float("nan")]]])
    assert not torch.isfinite(pointwise_nll(x, recon, log_prec)[0, :3]).any()  # inf, inf, and 0 * inf = NaN
    got = scoring_nll(x, recon, log_prec)[0, :, 0]
    assert torch.isfinite(got[:3]).all() and torch.isnan(got[3])  # a NaN from the network stays a NaN
    assert got[0].item() == pytest.approx(100 * np.exp(LOG_PREC_CAP) - LOG_PREC_CAP)
    assert got[1] > got[0]  # a larger error still scores higher
    assert got[2].item() == -LOG_PREC_CAP


def test_points_far_outside_the_training_range_get_finite_scores(tmp_path):
    cfg, _ = tiny_config(tmp_path)
    series = np.zeros((40, 2), dtype=np.float32)
    series[20:23] = 1600.0  # log-precision 160: exp overflows float32
    nll, _ = network_point_scores(ConfidentModel(), series, cfg, torch.device("cpu"))
    assert np.isfinite(nll).all()
    assert nll[20:23].min() > 1e40 and np.abs(nll[:15]).max() == 0
    stats = ScoreStats.fit(nll[:15] + np.linspace(0, 1, 15)[:, None])  # validation scale ~1
    scores = stats.combine(stats.contributions(nll))
    assert check_values(scores) is not None  # within the range every metric takes ...
    assert scores[20:23].min() == SCORE_LIMIT and scores[:15].max() < 10  # ... the far points tie at its top
