"""The Python API (sensitive_hue.estimators): fit / decision_function / predict on arrays, the same
scores as main.py for the same configuration and seed, checkpoints shared both ways, clear errors."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from sensitive_hue import MaxZ, PCA, RandomScores, SensitiveHUE, SensitiveMamba, estimators
from sensitive_hue.cli import run_cli
from sensitive_hue.errors import CheckpointError, ConfigError, DataError
from sensitive_hue.main_cli import main as main_cli
from sensitive_hue.preprocess_cli import main as preprocess_cli

from pipeline_fixtures import TINY

TINY_PARAMS = {k: v for k, v in TINY.items() if k not in ("device", "seed")}


def _series(rows: int, seed: int = 0) -> np.ndarray:
    t = np.arange(rows)[:, None]
    rng = np.random.default_rng(seed)
    return 10.0 + 3.0 * np.sin(2 * np.pi * t / 25 + np.array([0.0, 1.0, 2.0])) + 0.3 * rng.normal(size=(rows, 3))


@pytest.fixture(scope="module")
def data():
    train, test = _series(400), _series(240, seed=1)
    test[100:140, 1] += 6.0
    labels = np.zeros(240, dtype=np.int8)
    labels[100:140] = 1
    return train, test, labels


@pytest.fixture(scope="module")
def fitted(data):
    return SensitiveMamba(device="cpu", seed=7, **TINY_PARAMS).fit(data[0])


def test_fit_score_predict_on_raw_arrays(fitted, data):
    _, test, labels = data
    scores = fitted.decision_function(test)
    assert scores.shape == (240,) and np.isfinite(scores).all()
    assert scores[labels == 1].mean() > np.percentile(scores[labels == 0], 90)  # the shift scores high
    flags = fitted.predict(test)
    assert set(np.unique(flags)) <= {0, 1} and np.array_equal(flags, (scores >= fitted.threshold_).astype(int))
    contributions = fitted.feature_scores(test)
    assert contributions.shape == (240, 3)
    assert int(np.median(contributions[labels == 1].argmax(axis=1))) == 1  # the shifted sensor raises the alarm
    assert fitted.n_features_in_ == 3 and len(fitted.decision_scores_) == round(400 * TINY["val_ratio"])  # validation rows
    assert fitted.thresholds_["method"] == "val_quantile" and fitted.config_.model == "sensitive_mamba"


def test_same_scores_as_main_py_for_the_same_config_and_seed(data, tmp_path):
    train, test, labels = data
    names = ["a", "b", "c"]
    pd.DataFrame(train, columns=names).to_csv(tmp_path / "plant.csv", index=False)
    frame = pd.DataFrame(test, columns=names)
    frame["label"] = labels
    frame.to_csv(tmp_path / "plant_test.csv", index=False)
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({"shared": TINY, "csv": {"f_in": None}}))
    common = ["--config_path", str(config), "--data_name", "csv"]
    assert run_cli(preprocess_cli, [*common, "--train_csv", str(tmp_path / "plant.csv"), "--test_csv",
                                    str(tmp_path / "plant_test.csv"), "--out_dir", str(tmp_path / "processed")]) == 0
    out = tmp_path / "out"
    assert run_cli(main_cli, [*common, "--processed_dir", str(tmp_path / "processed"), "--out_dir", str(out),
                              "--raw_dir", str(tmp_path), "--no_plots"]) == 0
    cli_scores = np.load(out / "csv" / "scores" / "plant.npy")

    ours = SensitiveMamba(name="plant", device="cpu", seed=TINY["seed"], **TINY_PARAMS)
    ours.fit(pd.DataFrame(train, columns=names))
    assert np.array_equal(ours.decision_function(pd.DataFrame(test, columns=names)), cli_scores)  # bit for bit
    assert list(ours.feature_names_in_) == names

    loaded = estimators.BaseDetector.load(out / "csv" / "plant" / "model.pt", device="cpu")  # main.py -> Python
    assert isinstance(loaded, SensitiveMamba) and np.array_equal(loaded.decision_function(test), cli_scores)
    assert loaded.threshold_ == ours.threshold_


def test_save_and_load_round_trip_and_main_py_reads_it(fitted, data, tmp_path):
    _, test, _ = data
    path = fitted.save(tmp_path / "model.pt")
    again = SensitiveMamba.load(path, device="cpu")
    assert np.array_equal(again.decision_function(test), fitted.decision_function(test))
    assert again.threshold_ == fitted.threshold_ and again.get_params()["threshold_method"] == "quantile"
    stored = torch.load(path, weights_only=True)  # plain tensors and data: main.py's checkpoint format
    assert stored["format"] == estimators.CHECKPOINT_FORMAT and stored["detector"] == "sensitive_mamba"
    assert stored["scaler"]["scaler"]["kind"] == "zscore"


@pytest.mark.parametrize("kind", [PCA, MaxZ, RandomScores])
def test_controls_share_the_interface(kind, data):
    train, test, labels = data
    detector = kind(seed=3).fit(train)
    scores = detector.decision_function(test)
    assert scores.shape == (240,) and detector.predict(test).shape == (240,)
    if kind is not RandomScores:
        assert scores[labels == 1].mean() > scores[labels == 0].mean()


def test_attention_variant_fits(data):
    model = SensitiveHUE(device="cpu", seed=1, contrastive=False, **TINY_PARAMS).fit(data[0])
    assert model.decision_function(data[1]).shape == (240,)


def test_parameters_follow_scikit_learn(fitted):
    params = fitted.get_params()
    assert params["dim_model"] == TINY["dim_model"] and params["seed"] == 7 and params["verbose"] is False
    clone = type(fitted)(**params)
    assert clone.get_params() == params and not hasattr(clone, "threshold_")
    assert clone.set_params(max_epoch=9, seed=1) is clone and clone.params["max_epoch"] == 9 and clone.seed == 1
    assert "SensitiveMamba(" in repr(clone)


def test_clear_errors(fitted, data):
    train, test, _ = data
    with pytest.raises(ConfigError, match="not fitted yet"):
        SensitiveMamba().decision_function(test)
    with pytest.raises(DataError, match="4 features, but this detector was fitted with 3"):
        fitted.decision_function(np.hstack([test, test[:, :1]]))
    bad = test.copy()
    bad[5, 2] = np.nan
    with pytest.raises(DataError, match="NaN"):
        fitted.decision_function(bad)
    with pytest.raises(DataError, match="fewer than one window"):
        fitted.decision_function(test[:5])
    with pytest.raises(DataError, match="2-D"):
        fitted.decision_function(test[:, 0])
    with pytest.raises(ConfigError, match="unknown parameter 'dim_modle'"):
        SensitiveMamba(dim_modle=8).fit(train)
    with pytest.raises(ConfigError, match="'max_epoch'"):
        SensitiveMamba(max_epoch=0, **{k: v for k, v in TINY_PARAMS.items() if k != "max_epoch"}).fit(train)
    with pytest.raises(DataError, match="differ from the fitted ones"):
        frame = MaxZ().fit(pd.DataFrame(train, columns=["a", "b", "c"]))
        frame.decision_function(pd.DataFrame(test, columns=["c", "b", "a"]))
    with pytest.raises(CheckpointError, match="not a checkpoint written by this tool"):
        SensitiveMamba.load(__file__)


@pytest.fixture
def fresh_logging():
    """The package logger as a new Python session has it (the CLI tests above configured it for a terminal)."""
    from sensitive_hue.logs import get_logger

    logger = get_logger()
    saved = (list(logger.handlers), logger.propagate, logger.level)
    for handler in saved[0]:
        logger.removeHandler(handler)
    logger.propagate, logger.level = True, 0
    yield
    for handler in saved[0]:
        logger.addHandler(handler)
    logger.propagate, logger.level = saved[1], saved[2]


def test_no_progress_output_unless_verbose(data, capsys, fresh_logging):
    MaxZ().fit(data[0]).decision_function(data[1])
    SensitiveMamba(device="cpu", seed=2, **{**TINY_PARAMS, "max_epoch": 1}).fit(data[0]).decision_function(data[1])
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_docstring_examples_run(fresh_logging):
    failures, tried = doctest.testmod(estimators, optionflags=doctest.ELLIPSIS)
    assert tried >= 5 and failures == 0


def test_pyod_detectors_run_through_the_same_harness(data, tmp_path):
    from sensitive_hue.estimators import PyOD

    train, test, labels = data
    forest = PyOD("IForest", pyod_params={"n_estimators": 50}, seed=4).fit(train)
    scores = forest.decision_function(test)
    assert scores.shape == (240,) and scores[labels == 1].mean() > scores[labels == 0].mean()
    assert forest.get_params()["detector"] == "IForest" and forest.config_.pyod_params == {"n_estimators": 50}
    again = PyOD.load(forest.save(tmp_path / "forest.pt"))  # refitted from the stored rows, never unpickled
    assert np.array_equal(again.decision_function(test), scores)
    assert PyOD("ECOD").fit(train).decision_function(test).shape == (240,)
    with pytest.raises(ConfigError, match="PyOD has no detector class NoSuchModel"):
        PyOD("NoSuchModel").fit(train)
    with pytest.raises(ConfigError, match="pyod_params"):
        PyOD("IForest", pyod_params={"no_such_argument": 1}).fit(train)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # PyOD 2.0.5's own IForest under scikit-learn 1.7 (tags)
def test_pyod_style_round_trip_matches_pyods_own_conventions(data):
    """Our estimators answer the calls a PyOD user makes, with PyOD's shapes and types."""
    from pyod.models.iforest import IForest

    train, test, _ = data
    theirs = IForest(random_state=0).fit(train)
    for ours in (MaxZ().fit(train), SensitiveMamba(device="cpu", seed=1, **{**TINY_PARAMS, "max_epoch": 1}).fit(train)):
        for method in ("decision_function", "predict"):
            mine, pyods = getattr(ours, method)(test), getattr(theirs, method)(test)
            assert mine.shape == pyods.shape and mine.dtype.kind == pyods.dtype.kind
        assert np.isscalar(ours.threshold_) and ours.decision_scores_.ndim == theirs.decision_scores_.ndim == 1


def test_top_k_combination_and_checkpoints_from_before_it():
    """12 features: the default point score is the mean of the 2 largest normalised feature scores; maxz keeps
    its max. A checkpoint written before score_combine existed (no key in its config or statistics) took the
    max, and still scores with it."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 12))
    for model, k in ((PCA(), 2), (MaxZ(), 1)):
        fitted = model.fit(X)
        points = fitted.score_series(fitted._input(X[:50]))
        expect = np.sort(points.contributions, axis=1)[:, -k:].mean(axis=1)
        np.testing.assert_allclose(points.scores, expect)
    checkpoint = PCA().fit(X).checkpoint()
    del checkpoint["config"]["score_combine"], checkpoint["score_stats"]["combine"]
    old = estimators.BaseDetector.from_checkpoint(checkpoint, device="cpu")
    assert old.config_.score_combine == old.score_stats_.how == "max"
    points = old.score_series(old._input(X[:50]))
    np.testing.assert_array_equal(points.scores, points.contributions.max(axis=1))
