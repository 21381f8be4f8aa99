"""Detectors behind one interface: network, PCA and random controls; their checkpoint state."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sensitive_hue.data.windows import holdout_blocks
from sensitive_hue.detectors import MaxZDetector, NetworkDetector, PCADetector, RandomDetector, build_detector
from sensitive_hue.errors import CheckpointError

from pipeline_fixtures import F_IN, synthetic_entity, tiny_config

CPU = torch.device("cpu")


def _fit(detector, train):
    cfg = detector.cfg
    split = holdout_blocks(len(train), cfg.step_num_in, cfg.stride, cfg.val_ratio, cfg.val_blocks, 0)
    return detector.fit(train, split), split


@pytest.mark.parametrize("model, kind", [("sensitive_mamba", NetworkDetector), ("pca", PCADetector),
                                         ("maxz", MaxZDetector), ("random", RandomDetector)])
def test_build_detector_by_name(tmp_path, model, kind):
    cfg, _ = tiny_config(tmp_path, model=model)
    assert isinstance(build_detector(cfg, F_IN, CPU, 0), kind)


def test_pca_scores_points_off_the_training_subspace(tmp_path):
    cfg, _ = tiny_config(tmp_path, model="pca", pca_variance=0.9)
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(1, 4))
    train = (rng.normal(size=(400, 1)) @ basis + 0.01 * rng.normal(size=(400, 4))).astype(np.float32)
    detector = PCADetector(cfg, 4, CPU, 0)
    _fit(detector, train)
    assert detector.components.shape == (1, 4)
    normal = (np.array([[2.0]]) @ basis).astype(np.float32)
    direction = np.array([0.0, 0.0, 1.0, 0.0]) - basis[0] * basis[0, 2] / (basis[0] @ basis[0])
    off = normal + (3.0 * direction / np.linalg.norm(direction)).astype(np.float32)  # 3 away from the subspace
    raw, recon = detector.point_scores(np.vstack([normal, off]))
    assert raw.shape == (2, 4) and recon.shape == (2, 4)
    assert raw[0].sum() < 1e-3 and raw[1].sum() == pytest.approx(9.0, rel=0.01)


def test_validation_scores_are_the_block_rows_scored_like_a_test_series(tmp_path):
    cfg, _ = tiny_config(tmp_path, model="pca")
    train = synthetic_entity("e", 0).train
    detector = PCADetector(cfg, F_IN, CPU, 0)
    _, split = _fit(detector, train)
    rows = np.concatenate([np.arange(start, end) for start, end in split.blocks])
    np.testing.assert_array_equal(detector.validation_scores(train, split), detector.point_scores(train)[0][rows])


def test_pca_and_maxz_are_fitted_without_the_validation_rows(tmp_path):
    cfg, _ = tiny_config(tmp_path, model="maxz")
    train = synthetic_entity("e", 0).train.copy()
    split = holdout_blocks(len(train), cfg.step_num_in, cfg.stride, cfg.val_ratio, cfg.val_blocks, 0)
    start, end = split.blocks[0]
    train[start:end] = 1e6  # would dominate the mean and std if the block were used
    detector = MaxZDetector(cfg, F_IN, CPU, 0)
    detector.fit(train, split)
    assert np.abs(detector.mean).max() < 1 and detector.std.max() < 2


def test_maxz_is_the_absolute_z_score_against_training_statistics(tmp_path):
    cfg, _ = tiny_config(tmp_path, model="maxz")
    rng = np.random.default_rng(0)
    train = np.column_stack([rng.normal(2, 3, 400), rng.normal(-1, 0.5, 400), np.full(400, 4.0)]).astype(np.float32)
    detector = MaxZDetector(cfg, 3, CPU, 0)
    _, split = _fit(detector, train)
    raw, recon = detector.point_scores(np.array([[2.0 + 9.0, -1.0, 4.0]], dtype=np.float32))
    assert recon is None
    assert raw[0, 0] == pytest.approx(3.0, rel=0.1) and raw[0, 1] < 0.2 and raw[0, 2] == 0.0  # constant: std 1
    again = MaxZDetector(cfg, 3, CPU, 0)
    again.load_state_dict(detector.state_dict())
    np.testing.assert_array_equal(again.point_scores(train)[0], detector.point_scores(train)[0])
    with pytest.raises(CheckpointError, match="maxz"):
        again.load_state_dict({"seed": 1})


def test_pca_state_round_trip_and_feature_check(tmp_path):
    cfg, _ = tiny_config(tmp_path, model="pca")
    train = synthetic_entity("e", 0).train
    detector = PCADetector(cfg, F_IN, CPU, 0)
    _fit(detector, train)
    again = PCADetector(cfg, F_IN, CPU, 0)
    again.load_state_dict(detector.state_dict())
    np.testing.assert_array_equal(again.point_scores(train)[0], detector.point_scores(train)[0])
    with pytest.raises(CheckpointError, match="3 features, the data has 5"):
        PCADetector(cfg, 5, CPU, 0).load_state_dict(detector.state_dict())


def test_random_detector_is_seeded_uniform_and_ignores_the_data(tmp_path):
    cfg, _ = tiny_config(tmp_path, model="random")
    series = synthetic_entity("e", 0).test
    a, b = RandomDetector(cfg, F_IN, CPU, 11), RandomDetector(cfg, F_IN, CPU, 11)
    raw, recon = a.point_scores(series)
    assert recon is None and raw.shape == series.shape
    assert 0 <= raw.min() and raw.max() < 1 and abs(raw.mean() - 0.5) < 0.05
    np.testing.assert_array_equal(raw, b.point_scores(series * 100)[0])
    assert not np.array_equal(raw, RandomDetector(cfg, F_IN, CPU, 12).point_scores(series)[0])
    split = holdout_blocks(len(series), cfg.step_num_in, 1, 0.5, 1, 0)
    assert not np.array_equal(a.validation_scores(series, split), raw[:split.n_val_points])  # separate streams
    c = RandomDetector(cfg, F_IN, CPU, 0)
    c.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(c.point_scores(series)[0], raw)


def test_network_state_round_trip_and_shape_mismatch(tmp_path):
    cfg, _ = tiny_config(tmp_path, max_epoch=1)
    entity = synthetic_entity("e", 0)
    torch.manual_seed(0)
    detector = NetworkDetector(cfg, F_IN, CPU, 0)
    summary, split = _fit(detector, entity.train)
    assert summary.epochs_run == 1 and len(summary.history) == 1
    torch.manual_seed(1)
    again = NetworkDetector(cfg, F_IN, CPU, 0)
    again.load_state_dict(detector.state_dict())
    raw, recon = detector.point_scores(entity.test)
    np.testing.assert_array_equal(again.point_scores(entity.test)[0], raw)
    assert raw.shape == entity.test.shape and recon.shape == entity.test.shape
    assert detector.validation_scores(entity.train, split).shape == (split.n_val_points, F_IN)
    wider, _ = tiny_config(tmp_path, dim_model=32)
    with pytest.raises(CheckpointError, match="do not fit"):
        NetworkDetector(wider, F_IN, CPU, 0).load_state_dict(detector.state_dict())
