"""Numerical faults: a NaN loss or NaN scores fail that entity only (named epoch and batch), the run goes
on with the next entity, the last good training state is kept, and the exit code is non-zero."""

from __future__ import annotations

import json
import math

import numpy as np
import torch

from sensitive_hue import entity as entity_job, training
from sensitive_hue.estimators import entity_seed, validation_split

from pipeline_fixtures import TINY, synthetic_entity, tiny_config, write_dataset
from test_pipeline import run_main


def _error_line(capsys) -> str:
    """The run's final stderr line (progress bars come before it)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    line = err[err.rindex("error: "):]
    assert line.count("\n") == 1 and line.endswith("\n")
    return line


def test_nan_in_one_entitys_data_fails_it_alone_and_the_run_goes_on(tmp_path, capsys, monkeypatch):
    _, config = tiny_config(tmp_path)
    processed, out = tmp_path / "processed", tmp_path / "out"
    bad_train, good, bad_test = (synthetic_entity(f"machine-1-{i}", i) for i in (1, 2, 3))
    bad_train.train[40:60, 1] = np.nan  # NaN in the processed training data
    bad_test.test[100:104, 2] = np.nan  # NaN in the processed test data: the scores turn NaN
    write_dataset(processed, "SMD", [bad_train, good, bad_test])
    evaluated = []
    evaluate = entity_job.evaluate_entity

    def recording(scores, *args, **kwargs):
        evaluated.append(scores)
        return evaluate(scores, *args, **kwargs)

    monkeypatch.setattr(entity_job, "evaluate_entity", recording)

    assert run_main(config, processed, out, "--no_plots") == 2
    err = _error_line(capsys)
    assert "2 of 3 entities failed: machine-1-1: non-finite training loss (nan) at epoch 1, batch " in err
    assert "machine-1-3: test scores of machine-1-3: " in err and "NaN or infinite" in err
    assert f"the others' results are in {out / 'SMD' / 'results.json'}" in err
    results = json.loads((out / "SMD" / "results.json").read_text())
    assert list(results["entities"]) == ["machine-1-2"]
    assert set(results["failed_entities"]) == {"machine-1-1", "machine-1-3"}
    assert len(evaluated) == 1 and np.isfinite(evaluated[0]).all()  # NaN scores never reached the metrics
    for name in ("machine-1-1", "machine-1-3"):
        assert not (out / "SMD" / name / "result.json").exists()
        assert not (out / "SMD" / "scores" / f"{name}.npy").exists()
    assert not (out / "SMD" / "machine-1-1" / "model.pt").exists()
    assert "machine-1-1 failed: non-finite training loss" in (out / "SMD" / "run.log").read_text()


def test_nan_loss_in_a_later_epoch_keeps_the_last_good_state(tmp_path, capsys, monkeypatch):
    _, config = tiny_config(tmp_path)
    processed, out = tmp_path / "processed", tmp_path / "out"
    entity = synthetic_entity("machine-1-1", 0)
    write_dataset(processed, "SMD", [entity])
    cfg, _ = tiny_config(tmp_path)
    seed = entity_seed(cfg, entity.name)
    train_starts = validation_split(cfg, len(entity.train), seed, entity.name).train_starts
    per_epoch = math.ceil(len(train_starts) / TINY["batch_size"])
    calls = []
    loss = training.training_loss

    def nan_in_epoch_2_batch_2(model, x, cfg, **kwargs):
        losses = loss(model, x, cfg, **kwargs)
        calls.append(1)
        return {**losses, "total": losses["total"] * math.nan} if len(calls) == per_epoch + 2 else losses

    monkeypatch.setattr(training, "training_loss", nan_in_epoch_2_batch_2)
    assert run_main(config, processed, out, "--no_plots") == 2
    err = _error_line(capsys)
    assert "machine-1-1: non-finite training loss (nan) at epoch 2, batch 2" in err and "no entity finished" in err
    log = (out / "SMD" / "run.log").read_text()
    assert f"its last good epoch (1) is kept in {out / 'SMD' / 'machine-1-1' / 'train_state.pt'}" in log
    saved = torch.load(out / "SMD" / "machine-1-1" / "train_state.pt", map_location="cpu", weights_only=True)
    assert saved["epoch"] == 1 and saved["best_epoch"] == 1
    assert all(torch.isfinite(value).all() for value in saved["model"].values())
    assert not (out / "SMD" / "results.json").exists()

    # resuming that state with other settings is refused before anything is written
    def files():  # every file and its mtime (folders' mtimes move with the run's transient .lock)
        return sorted((path, path.stat().st_mtime_ns) for path in out.rglob("*") if path.is_file())

    before = files()
    assert run_main(config, processed, out, "--no_plots", "--resume", "--max_epoch", "3") == 2
    assert "--resume found an interrupted run with other settings (max_epoch=2, now 3)" in _error_line(capsys)
    assert files() == before
