"""Training loop: early stopping keeps the best weights, StepLR, loss CSV, non-finite loss, seeding."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
import torch

from sensitive_hue import training
from sensitive_hue.data.windows import holdout_blocks
from sensitive_hue.errors import TrainingError
from sensitive_hue.models import build_network
from sensitive_hue.seeding import set_seed

from pipeline_fixtures import F_IN, synthetic_entity, tiny_config


def _setup(tmp_path, train=None, **overrides):
    cfg, _ = tiny_config(tmp_path, **overrides)
    train = synthetic_entity("e", 0).train if train is None else train
    split = holdout_blocks(len(train), cfg.step_num_in, cfg.stride, cfg.val_ratio, cfg.val_blocks, 1)
    set_seed(cfg.seed)
    state = training.new_state(cfg, build_network(cfg, F_IN))
    return cfg, state, (training.train_loader(cfg, train, split.train_starts, shuffle_seed=3), split.val_series(train))


def test_early_stopping_keeps_the_best_epoch_weights(tmp_path, monkeypatch):
    cfg, state, (train_loader, val_blocks) = _setup(tmp_path, max_epoch=10, patience=2)
    scripted = iter([3.0, 2.0, 2.5, 2.1, 1.0])  # best at epoch 2, then 2 epochs without improvement
    monkeypatch.setattr(training, "validation_nll", lambda *args: next(scripted))
    snapshots = {}
    summary = training.fit(state, train_loader, val_blocks, cfg, torch.device("cpu"),
                           on_epoch_end=lambda s: snapshots.update({s.epoch: {k: v.clone() for k, v in s.model.state_dict().items()}}))
    assert summary.epochs_run == 4 and summary.best_epoch == 2 and summary.stopped_early
    assert summary.best_val_nll == 2.0
    assert [row["val_nll"] for row in summary.history] == [3.0, 2.0, 2.5, 2.1]
    final = state.model.state_dict()
    assert all(torch.equal(final[k], snapshots[2][k]) for k in final)
    assert not all(torch.equal(final[k], snapshots[4][k]) for k in final)  # training did move on after epoch 2


def test_steplr_halves_the_rate_every_step_size_epochs(tmp_path):
    cfg, state, (train_loader, val_blocks) = _setup(tmp_path, max_epoch=5, patience=10, lr_step_size=2, lr_gamma=0.5)
    summary = training.fit(state, train_loader, val_blocks, cfg, torch.device("cpu"))
    assert [row["lr"] for row in summary.history] == pytest.approx([1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4])
    assert summary.epochs_run == 5
    assert summary.best_val_nll == min(row["val_nll"] for row in summary.history)


def test_epochs_csv_has_one_row_per_epoch(tmp_path):
    cfg, state, (train_loader, val_blocks) = _setup(tmp_path)
    summary = training.fit(state, train_loader, val_blocks, cfg, torch.device("cpu"))
    rows = list(csv.DictReader(io.StringIO(training.epochs_csv(summary.history))))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert set(rows[0]) == set(training.EPOCH_COLUMNS)
    assert all(np.isfinite(float(r["val_nll"])) for r in rows)


def test_nan_in_training_data_stops_with_epoch_and_batch(tmp_path):
    train = synthetic_entity("e", 0).train.copy()
    train[40:60, 1] = np.nan
    cfg, state, (train_loader, val_blocks) = _setup(tmp_path, train=train)
    with pytest.raises(TrainingError, match=r"epoch 1, batch \d+"):
        training.fit(state, train_loader, val_blocks, cfg, torch.device("cpu"))


def test_same_seed_gives_identical_weights(tmp_path):
    weights = []
    for _ in range(2):
        cfg, state, (train_loader, val_blocks) = _setup(tmp_path, max_epoch=1)
        training.fit(state, train_loader, val_blocks, cfg, torch.device("cpu"))
        weights.append(state.model.state_dict())
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_validation_nll_is_the_mean_point_score_of_every_block_row(tmp_path):
    from sensitive_hue.scoring import network_point_scores

    cfg, state, (_, val_blocks) = _setup(tmp_path)
    want = np.concatenate([network_point_scores(state.model, b, cfg, torch.device("cpu"))[0] for b in val_blocks])
    assert training.validation_nll(state.model, val_blocks, cfg, torch.device("cpu")) == pytest.approx(want.mean())


def test_steps_per_epoch_fixes_the_optimiser_steps(tmp_path, monkeypatch):
    cfg, state, (train_loader, val_blocks) = _setup(tmp_path, max_epoch=2, steps_per_epoch=3)
    steps = []
    loss = training.training_loss
    monkeypatch.setattr(training, "training_loss", lambda *a, **k: (steps.append(len(a[1])), loss(*a, **k))[1])
    training.fit(state, train_loader, val_blocks, cfg, torch.device("cpu"))
    assert steps == [cfg.batch_size] * 6  # 3 full batches per epoch, however many windows the series has
