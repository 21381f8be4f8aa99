"""End to end through main.py on a tiny synthetic two-entity dataset (tiny network, 2 epochs)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from sensitive_hue import main_cli
from sensitive_hue.cli import run_cli
from sensitive_hue.data.store import load_entity

from pipeline_fixtures import ROOT, synthetic_entity, tiny_config, write_dataset

ENTITIES = ("machine-1-1", "machine-1-2")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_main(config: Path, processed: Path, out: Path, *extra: str, raw: Path | None = None) -> int:
    argv = ["--config_path", str(config), "--data_name", "SMD", "--processed_dir", str(processed),
            "--out_dir", str(out), "--raw_dir", str(raw or processed.parent / "no_raw"), *extra]
    return run_cli(main_cli.main, argv)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One training run: (config path, processed dir, out dir)."""
    base = tmp_path_factory.mktemp("e2e")
    _, config = tiny_config(base)
    processed = base / "processed"
    write_dataset(processed, "SMD", [synthetic_entity(name, i) for i, name in enumerate(ENTITIES)])
    out = base / "out"
    assert run_main(config, processed, out) == 0
    return config, processed, out


def _results(out: Path) -> dict:
    return json.loads((out / "SMD" / "results.json").read_text())


def _strip_timings(results: dict) -> dict:
    """results.json without what legitimately differs between runs (timings, mode, command)."""
    results = json.loads(json.dumps(results))
    for key in ("timings", "mode", "command"):
        results.pop(key)
    for entity in results["entities"].values():
        entity.pop("timings")
        entity.pop("mode")
    return results


def test_every_output_exists_and_is_valid(trained):
    config, processed, out = trained
    root = out / "SMD"
    results = _results(out)
    assert set(results["entities"]) == set(ENTITIES)
    assert results["mode"] == "train" and results["seed"] == 7 and results["detector"] == "sensitive_mamba"
    assert results["config"]["step_num_in"] == 16 and "torch" in results["versions"]
    assert results["overall"]["n_entities"] == 2 and "paper_protocol" in results["overall"]
    assert "label_free" in results["overall"] and results["timings"]["total_s"] > 0
    assert "oracle" in results["protocol_note"] or "test labels" in results["protocol_note"]
    for png in ("reconstruction.png", "fn_visualize.png"):
        assert (root / png).read_bytes()[:8] == PNG_MAGIC
    assert "train SMD" in (root / "run.log").read_text()
    for name in ENTITIES:
        entity = load_entity(processed, "SMD", name)
        scores = np.load(root / "scores" / f"{name}.npy")
        assert scores.shape == (len(entity.test),) and np.isfinite(scores).all()
        result = json.loads((root / name / "result.json").read_text())
        assert result == results["entities"][name]
        assert result["training"]["epochs_run"] == results["epochs_run"][name] == 2
        assert result["metrics"]["paper_protocol"]["f1_pa"] is not None
        assert (root / name / "epochs.csv").read_text().count("\n") == 1 + 2
        assert np.load(root / name / "reconstruction.npy").shape == entity.test.shape
        for png in ("reconstruction.png", "fn_visualize.png"):
            assert (root / name / png).read_bytes()[:8] == PNG_MAGIC
        checkpoint = torch.load(root / name / "model.pt", weights_only=True)
        assert checkpoint["f_in"] == 3 and checkpoint["config"]["dim_model"] == 16
        assert checkpoint["scaler"]["scaler"] == entity.meta["scaler"]
        assert checkpoint["score_stats"]["median"].shape == (3,)
        assert checkpoint["thresholds"]["threshold"] is not None
        assert set(checkpoint["versions"]) >= {"torch", "numpy", "sensitive_hue"}
        np.testing.assert_array_equal(checkpoint["val_scores"].numpy(), np.load(root / name / "val_scores.npy"))


def test_test_mode_reproduces_results_from_the_checkpoints(trained, tmp_path):
    config, processed, out = trained
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    (copy / "SMD" / "scores" / f"{ENTITIES[0]}.npy").unlink()
    assert run_main(config, processed, copy, "--test", "--no_plots") == 0
    again = _results(copy)
    assert again["mode"] == "test"
    assert _strip_timings(again) == _strip_timings(_results(out))
    for name in ENTITIES:
        assert (copy / "SMD" / "scores" / f"{name}.npy").read_bytes() == (out / "SMD" / "scores" / f"{name}.npy").read_bytes()


def test_same_seed_same_scores_and_test_data_never_used_for_training(trained, tmp_path):
    """Retrain the first entity with the same seed but different test data: the checkpoint (weights,
    validation statistics, thresholds) is unchanged, so validation never saw the test part."""
    config, processed, out = trained
    name = ENTITIES[0]
    original = synthetic_entity(name, 0)
    rerun_processed = tmp_path / "processed"
    write_dataset(rerun_processed, "SMD", [original])
    rerun = tmp_path / "same"
    assert run_main(config, rerun_processed, rerun, "--entities", "1", "--no_plots") == 0
    assert (rerun / "SMD" / "scores" / f"{name}.npy").read_bytes() == (out / "SMD" / "scores" / f"{name}.npy").read_bytes()

    changed = synthetic_entity(name, 0)
    changed.test[:] = np.random.default_rng(5).normal(size=changed.test.shape).astype(np.float32) * 4
    write_dataset(tmp_path / "processed2", "SMD", [changed])
    other = tmp_path / "other"
    assert run_main(config, tmp_path / "processed2", other, "--entities", name, "--no_plots") == 0
    a = torch.load(out / "SMD" / name / "model.pt", weights_only=True)
    b = torch.load(other / "SMD" / name / "model.pt", weights_only=True)
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    assert torch.equal(a["val_scores"], b["val_scores"]) and a["thresholds"] == b["thresholds"]
    assert torch.equal(a["score_stats"]["median"], b["score_stats"]["median"])


def _one_line_error(capsys, text: str) -> None:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    assert text in err, err


def test_corrupted_missing_or_foreign_checkpoint_is_a_clear_error(trained, tmp_path, capsys):
    config, processed, out = trained
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    checkpoint = copy / "SMD" / ENTITIES[1] / "model.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    assert run_main(config, processed, copy, "--test", "--no_plots") == 2
    _one_line_error(capsys, "not a checkpoint written by this tool (a truncated or corrupt archive)")
    checkpoint.unlink()
    assert run_main(config, processed, copy, "--test", "--no_plots") == 2
    _one_line_error(capsys, "no trained model")
    assert run_main(config, processed, copy, "--test", "--entities", ENTITIES[0], "--set", "dim_model=32") == 2
    _one_line_error(capsys, "dim_model")
    wider = [synthetic_entity(ENTITIES[0], 0)]
    wider[0].train = np.hstack([wider[0].train, wider[0].train[:, :1]])
    wider[0].test = np.hstack([wider[0].test, wider[0].test[:, :1]])
    for part in ("train", "test"):
        wider[0].meta["shape"][part] = list(getattr(wider[0], part).shape)
    write_dataset(tmp_path / "wide", "SMD", wider)
    assert run_main(config, tmp_path / "wide", copy, "--test", "--entities", ENTITIES[0]) == 2
    _one_line_error(capsys, "features")


def test_missing_data_says_how_to_get_it(tmp_path, capsys):
    _, config = tiny_config(tmp_path)
    out = tmp_path / "out"
    assert run_main(config, tmp_path / "processed", out, raw=tmp_path / "raw") == 2
    _one_line_error(capsys, "download SMD")
    assert not out.exists()


def test_score_norm_test_refits_on_test_scores_without_retraining(trained, tmp_path):
    """--test --set score_norm=test: the same checkpoints, median/IQR fitted on the unlabelled test
    scores (validation scores follow into the same units); threshold-free ranks within a feature
    change, the checkpoint does not."""
    config, processed, out = trained
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    model = (out / "SMD" / ENTITIES[0] / "model.pt").read_bytes()
    assert run_main(config, processed, copy, "--test", "--no_plots", "--set", "score_norm=test") == 0
    again = _results(copy)
    assert again["config"]["score_norm"] == "test"
    assert again["entities"][ENTITIES[0]]["score_norm"] == "test"
    assert (copy / "SMD" / ENTITIES[0] / "model.pt").read_bytes() == model
    scores = np.load(copy / "SMD" / "scores" / f"{ENTITIES[0]}.npy")
    assert not np.array_equal(scores, np.load(out / "SMD" / "scores" / f"{ENTITIES[0]}.npy"))
    checkpoint = torch.load(copy / "SMD" / ENTITIES[0] / "model.pt", weights_only=True)
    raw = checkpoint["val_raw"].numpy()
    assert raw.shape[0] == again["entities"][ENTITIES[0]]["n_validation_points"] == len(checkpoint["val_scores"])


def test_test_mode_records_how_the_models_were_trained_not_the_configs_training_settings(trained, tmp_path):
    """--test with a config whose seed and epochs differ from the models': results.json names the models'
    (the seed a table groups rows by), and scores are the same."""
    import yaml

    config, processed, out = trained
    document = yaml.safe_load(config.read_text())
    trained_seed, trained_epochs = document["shared"]["seed"], document["shared"]["max_epoch"]
    document["shared"].update(seed=trained_seed + 92, max_epoch=trained_epochs + 3)
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump(document))
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    assert run_main(other, processed, copy, "--test", "--no_plots") == 0
    again = _results(copy)
    assert again["seed"] == again["config"]["seed"] == trained_seed
    assert again["config"]["max_epoch"] == trained_epochs
    np.testing.assert_array_equal(np.load(copy / "SMD" / "scores" / f"{ENTITIES[0]}.npy"),
                                  np.load(out / "SMD" / "scores" / f"{ENTITIES[0]}.npy"))


def test_score_combine_rescores_a_trained_model_without_retraining(trained, tmp_path):
    """--test --set score_combine=mean: the same checkpoint and statistics, the per-feature scores combined
    the other way, in the test scores and in the validation scores the label-free thresholds come from."""
    from sensitive_hue import BaseDetector
    from sensitive_hue.data.store import load_entity

    config, processed, out = trained
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    model = (out / "SMD" / ENTITIES[0] / "model.pt").read_bytes()
    assert run_main(config, processed, copy, "--test", "--no_plots", "--set", "score_combine=mean") == 0
    assert _results(copy)["config"]["score_combine"] == "mean"
    assert (copy / "SMD" / ENTITIES[0] / "model.pt").read_bytes() == model
    estimator = BaseDetector.load(out / "SMD" / ENTITIES[0] / "model.pt", device="cpu")
    assert estimator.score_stats_.how == "topk"  # the default it was trained with (3 features: k = 1, the max)
    points = estimator.score_series(load_entity(processed, "SMD", ENTITIES[0]).test)
    keep = np.setdiff1d(np.arange(points.contributions.shape[1]), estimator.score_stats_.ignore_dims)
    np.testing.assert_array_equal(points.scores, points.contributions[:, keep].max(axis=1))
    rescored = np.load(copy / "SMD" / "scores" / f"{ENTITIES[0]}.npy")
    np.testing.assert_allclose(rescored, points.contributions[:, keep].mean(axis=1))
    assert not np.allclose(rescored, points.scores)
    val = estimator.score_stats_.contributions(estimator.val_raw_)[:, keep].mean(axis=1)
    np.testing.assert_allclose(np.load(copy / "SMD" / ENTITIES[0] / "val_scores.npy"), val)


def test_unknown_pyod_detector_or_bad_pyod_params_stop_before_writing(trained, tmp_path, capsys):
    config, processed, _ = trained
    out = tmp_path / "out"
    assert run_main(config, processed, out, "--model", "pyod:NoSuchModel") == 2
    _one_line_error(capsys, "PyOD has no detector class NoSuchModel")
    assert run_main(config, processed, out, "--model", "pyod:IForest", "--set", "pyod_params={n_estimators: 0.5}") == 2
    _one_line_error(capsys, "config key 'pyod_params' for pyod:IForest")
    assert run_main(config, processed, out, "--model", "pyod:not a name") == 2
    _one_line_error(capsys, "pyod:<PyOD detector>")
    assert not out.exists()


@pytest.mark.parametrize("model", ["pca", "maxz", "random", "pyod:IForest"])
def test_controls_go_through_the_same_pipeline(trained, tmp_path, model):
    config, processed, _ = trained
    out = tmp_path / model
    assert run_main(config, processed, out, "--model", model, "--entities", ENTITIES[1]) == 0
    results = _results(out)
    assert results["detector"] == model and results["entities"][ENTITIES[1]]["training"]["epochs_run"] == 0
    assert (out / "SMD" / "fn_visualize.png").read_bytes()[:8] == PNG_MAGIC
    assert (out / "SMD" / ENTITIES[1] / "reconstruction.npy").exists() == (model == "pca")
    assert results["overall"]["per_entity_mean"]["auc_pr"] is not None
    assert run_main(config, processed, out, "--model", model, "--entities", ENTITIES[1], "--test", "--no_plots") == 0
    assert _strip_timings(_results(out)) == _strip_timings(results)


def test_demo_is_preprocessed_when_missing(tmp_path, caplog):
    path = tmp_path / "tiny_demo.yaml"
    path.write_text("demo:\n  encode_layer_num: 1\n  dim_model: 16\n  dim_hidden_fc: 16\n  d_state: 4\n"
                    "  step_num_in: 16\n  stride: 8\n  max_epoch: 1\n  device: cpu\n  mamba_backend: torch\n")
    argv = ["--config_path", str(ROOT / "config" / "star.yaml"), "--overlay", str(path), "--data_name", "demo",
            "--processed_dir", str(tmp_path / "processed"), "--out_dir", str(tmp_path / "out"), "--no_plots"]
    assert run_cli(main_cli.main, argv) == 0
    assert "preprocessing the raw data" in (tmp_path / "out" / "demo" / "run.log").read_text()
    assert (tmp_path / "processed" / "demo" / "index.json").is_file()
    assert len(np.load(tmp_path / "out" / "demo" / "scores" / "demo.npy")) == 4000


def test_pot_fallback_is_announced_with_its_reason(tmp_path, caplog):
    import logging

    from sensitive_hue.estimators import label_free_thresholds

    from sensitive_hue.logs import get_logger

    cfg, _ = tiny_config(tmp_path, threshold_method="pot")
    get_logger().addHandler(caplog.handler)  # the CLI's setup_logging stops propagation to the root logger
    try:
        with caplog.at_level(logging.WARNING, logger="sensitive_hue"):
            found = label_free_thresholds(cfg, np.r_[np.zeros(990), np.ones(10)], "machine-1-1")
    finally:
        get_logger().removeHandler(caplog.handler)
    assert found["method"] == "val_quantile" and found["pot"]["threshold"] is None
    (message,) = {record.getMessage() for record in caplog.records}  # once, whichever handler saw it
    assert "machine-1-1: POT cannot fit the 1000 validation scores" in message
    assert "falls back to their 0.99 quantile" in message


def test_test_mode_on_a_subset_keeps_the_fuller_results_json(trained, tmp_path):
    config, processed, out = trained
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    before = (copy / "SMD" / "results.json").read_bytes()
    assert run_main(config, processed, copy, "--test", "--no_plots", "--entities", ENTITIES[1]) == 0
    assert (copy / "SMD" / "results.json").read_bytes() == before
    subset = json.loads((copy / "SMD" / "results-test-subset.json").read_text())
    assert list(subset["entities"]) == [ENTITIES[1]] and subset["mode"] == "test"
