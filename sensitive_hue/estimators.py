"""Detectors as scikit-learn / PyOD-style estimators: the one path from data to scores.

    from sensitive_hue import SensitiveMamba
    detector = SensitiveMamba(max_epoch=2, steps_per_epoch=10).fit(X_train)   # normal data, any scale
    scores = detector.decision_function(X_test)     # one score per row
    flags = detector.predict(X_test)                # 0/1 at detector.threshold_ (label-free)

`fit` z-scores the columns with the training rows' statistics, holds out the validation blocks,
trains, scores every validation row, fits the per-feature score statistics and the label-free
thresholds. `main.py` runs exactly this per entity (`entity.run_entity` calls `fit_series` on the
preprocessed, already z-scored series) and `--detect` scores with `from_checkpoint`, so a model
trained either way saves, loads and scores the same (`save` / `load` use main.py's checkpoint
format, read with `torch.load(weights_only=True)`).

Parameters are the config keys of `config.Config` under their names (`dim_model`, `max_epoch`,
`revin_denorm`, ...); they are checked when `fit` builds the configuration, with the same messages
as a YAML file's keys. Library code leaves process state alone: no progress bars unless
`verbose=True`, no logging handlers, no thread settings.
"""

from __future__ import annotations

import dataclasses
import platform
from pathlib import Path
from typing import Any, Callable, ClassVar, Optional

import numpy as np
import torch

from . import __version__, io, progress
from .config import FIELDS, PYOD_PREFIX, Config
from .data.preprocess import apply_scaler, fit_scaler
from .data.windows import Split, holdout_blocks
from .detectors import build_detector
from .errors import CheckpointError, ConfigError, DataError
from .logs import get_logger
from .metrics.checks import check_values
from .metrics.thresholds import label_free_thresholds as thresholds_of
from .scoring import PointScores, ScoreStats, ignored_dims, score_series, summarise
from .seeding import derive_seed, set_seed
from .training import FitSummary, TrainState

CHECKPOINT_FORMAT = 2  # 2: contiguous validation blocks, raw validation scores kept (val_raw)
# The network of `config/star.yaml`'s csv section: what an estimator builds unless told otherwise.
NETWORK_DEFAULTS = {"encode_layer_num": 4, "dim_model": 64, "dim_hidden_fc": 128}
OWN_PARAMS = ("name", "device", "seed", "verbose", "threshold_method")


def versions() -> dict[str, str]:
    import sklearn

    found = {"sensitive_hue": __version__, "python": platform.python_version(), "torch": torch.__version__,
             "numpy": np.__version__, "scikit-learn": sklearn.__version__}
    return {name: str(version) for name, version in found.items()}  # plain str: torch's is a subclass


def resolve_device(name: str | torch.device) -> torch.device:
    """`auto` -> cuda when available, else cpu; `cuda` without a GPU is a ConfigError."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available here; use --device cpu or --device auto")
    return torch.device(name)


def entity_seed(cfg: Config, entity: str) -> int:
    """Depends only on (global seed, dataset, entity, detector): never on scheduling order."""
    return derive_seed(cfg.seed, cfg.data_name, entity, cfg.model)


def validation_split(cfg: Config, length: int, seed: int, name: str) -> Split:
    """The entity's training windows and validation blocks (`data.windows.holdout_blocks`, seeded)."""
    return holdout_blocks(length, cfg.step_num_in, cfg.stride, cfg.val_ratio, cfg.val_blocks,
                          derive_seed(seed, "split"), f"entity {name}")


def score_combine(cfg: Config) -> str:
    """How the detector's normalised per-feature scores combine: `cfg.score_combine`, except for the maxz
    control, which is the max by definition (the largest |z|)."""
    return "max" if cfg.model == "maxz" else cfg.score_combine


def label_free_thresholds(cfg: Config, val_scores: np.ndarray, name: str = "") -> dict:
    """`metrics.thresholds.label_free_thresholds` with the config's settings; a POT that cannot fit (the
    validation quantile is deployed instead) is a warning that says why."""
    found = thresholds_of(val_scores, cfg.threshold_method, cfg.pot_risk, cfg.pot_level, cfg.val_quantile)
    if found["fallback"]:
        get_logger().warning("%s: POT cannot fit the %d validation scores (%s); the label-free threshold falls "
                             "back to their %g quantile", name or "entity", len(val_scores), found["fallback"],
                             cfg.val_quantile)
    return found


def _as_features(X: Any, what: str = "X") -> tuple[np.ndarray, Optional[list[str]]]:
    """A finite float64 (rows, features) array and the column names of a DataFrame (else None)."""
    names = None
    if hasattr(X, "columns") and hasattr(X, "to_numpy"):
        names = [str(c) for c in X.columns]
        X = X.to_numpy()
    try:
        values = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{what}: not a numeric 2-D array ({exc}); pass an array or DataFrame of numbers") from None
    if values.ndim != 2:
        raise DataError(f"{what}: expected a 2-D array (rows, features), got shape {values.shape}; use "
                        "X.reshape(-1, 1) for one feature")
    check_values(values.ravel(), name=what)
    return values, names


class BaseDetector:
    """Fit on normal data, then score rows; PyOD's `BaseDetector` conventions.

    Parameters
    ----------
    name : str, default "series"
        Entity name: with `seed`, it fixes the random streams exactly as `main.py` does for an entity
        of that name, so the same configuration gives the same scores both ways.
    device : {"auto", "cpu", "cuda"}, default "auto"
    seed : int, default 2025
    verbose : bool, default False
        Progress bars (on a terminal) while fitting and scoring.
    threshold_method : {"quantile", "pot"}, default "quantile"
        Which label-free threshold becomes `threshold_`: the `val_quantile` quantile of the validation
        scores, or POT (falling back to the quantile, with a warning, where its tail fit fails).
    **params
        Any key of `config.Config` (e.g. `dim_model=64`, `max_epoch=5`, `steps_per_epoch=10`,
        `step_num_in=100`, `revin_denorm="paper"`, `val_quantile=0.99`).

    Attributes
    ----------
    threshold_ : float
        The deployed label-free threshold (no labels are used).
    decision_scores_ : ndarray of shape (n_validation_rows,)
        Scores of the held-out validation rows of the training data.
    thresholds_ : dict
        Both label-free thresholds (POT and validation quantile) and which one is deployed.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when `fit` got a DataFrame.
    config_ : Config
        The validated configuration that was fitted.
    """

    model: ClassVar[str] = ""

    def __init__(self, *, name: str = "series", device: str = "auto", seed: int = 2025, verbose: bool = False,
                 threshold_method: str = "quantile", **params: Any) -> None:
        self.name, self.device, self.seed, self.verbose = name, device, seed, verbose
        self.threshold_method = threshold_method
        self.params = dict(params)

    # --- scikit-learn parameter protocol ------------------------------------------------------------

    def get_params(self, deep: bool = True) -> dict:
        return {**{key: getattr(self, key) for key in OWN_PARAMS}, **self.params}

    def set_params(self, **params: Any) -> "BaseDetector":
        for key, value in params.items():
            if key in OWN_PARAMS:
                setattr(self, key, value)
            else:
                self.params[key] = value
        return self

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({shown})"

    def make_config(self, n_features: int) -> Config:
        """The validated configuration for `n_features` columns (ConfigError naming a bad parameter)."""
        unknown = [key for key in self.params if key not in FIELDS]
        if unknown:
            raise ConfigError(f"{type(self).__name__}: unknown parameter '{unknown[0]}'; parameters are the config keys: "
                              f"{', '.join(FIELDS)}")
        values = {**NETWORK_DEFAULTS, "data_name": "csv", "model": self.model, "f_in": n_features, "seed": self.seed,
                  "device": self.device if isinstance(self.device, str) else self.device.type,
                  "threshold_method": self.threshold_method, **self.params}
        return Config.from_dict(values, f"{type(self).__name__} parameters")

    # --- fitting --------------------------------------------------------------------------------------

    def fit(self, X: Any, y: Any = None) -> "BaseDetector":
        """Fit on normal data `X` (rows, features), any scale; `y` is ignored (unsupervised)."""
        values, names = _as_features(X)
        mean, std, constant = fit_scaler(values)
        cfg = self.make_config(values.shape[1])
        self.scaler_ = {"scaler": {"kind": "zscore", "fitted_on": "train", "mean": mean.tolist(), "std": std.tolist(),
                                   "constant_columns": constant},
                        "columns": names, "kept_dims": list(range(values.shape[1]))}
        with progress.shown(self.verbose):
            self.fit_series(cfg, self._scaled(values), seed=entity_seed(cfg, self.name))
        return self

    def fit_series(self, cfg: Config, train: np.ndarray, *, seed: int, index: int = 1, device: Any = None,
                   on_epoch_end: Optional[Callable[[TrainState], None]] = None,
                   resume: Optional[dict] = None) -> FitSummary:
        """Fit on a series already in model units (`main.py`'s preprocessed, z-scored training series):
        validation blocks held out, training, validation scores, score statistics, label-free thresholds.
        `index`: the entity's 1-based position (for `score_ignore_dims`); `resume`: a saved training state."""
        set_seed(seed)
        f_in = int(train.shape[1])
        self.config_, self.seed_, self.entity_index_ = cfg, seed, index
        self.device_ = resolve_device(device if device is not None else cfg.device)
        self.detector_ = build_detector(cfg, f_in, self.device_, seed)
        split = validation_split(cfg, len(train), seed, self.name)
        get_logger().info("%s: %d training windows, %d validation rows in %d held-out blocks", self.name,
                          len(split.train_starts), split.n_val_points, len(split.blocks))
        self.fit_summary_ = self.detector_.fit(train, split, desc=self.name, on_epoch_end=on_epoch_end, resume=resume)
        self.val_raw_ = self.detector_.validation_scores(train, split)
        self.score_stats_ = ScoreStats.fit(self.val_raw_, ignored_dims(cfg, index, f_in), score_combine(cfg))
        self.decision_scores_ = self.score_stats_.combine(self.score_stats_.contributions(self.val_raw_))
        self.thresholds_ = label_free_thresholds(cfg, self.decision_scores_, self.name)
        self.threshold_ = float(self.thresholds_["threshold"])
        self.val_blocks_ = [list(block) for block in split.blocks]
        self.n_features_in_ = f_in
        if not hasattr(self, "scaler_"):  # fitted on model units: the caller's data was normalised already
            self.scaler_ = {"scaler": None, "columns": None, "kept_dims": list(range(f_in))}
        return self.fit_summary_

    # --- scoring --------------------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "detector_"):
            raise ConfigError(f"this {type(self).__name__} is not fitted yet; call fit(X) (or load a checkpoint) first")

    def _scaled(self, values: np.ndarray) -> np.ndarray:
        stats = (getattr(self, "scaler_", None) or {}).get("scaler")
        if stats is None:
            return values.astype(np.float32)
        scaled, bad = apply_scaler(values, np.asarray(stats["mean"]), np.asarray(stats["std"]))
        if bad is not None:
            row, col = bad
            raise DataError(f"X: {values[row, col]} at row {row}, column {col} overflows float32 after the training "
                            "normalisation; rescale the data")
        return scaled

    def _input(self, X: Any) -> np.ndarray:
        """`X` checked against what was fitted, in model units."""
        self._check_fitted()
        values, names = _as_features(X)
        if values.shape[1] != self.n_features_in_:
            raise DataError(f"X has {values.shape[1]} features, but this detector was fitted with "
                            f"{self.n_features_in_}; pass the same columns")
        fitted = getattr(self, "feature_names_in_", None)
        if names is not None and fitted is not None and list(names) != list(fitted):
            raise DataError(f"X's columns {names[:5]}... differ from the fitted ones {list(fitted)[:5]}...; pass the "
                            "columns of fit, in the same order")
        window = self.config_.step_num_in
        if self.model in ("sensitive_mamba", "sensitive_hue") and len(values) < window:
            raise DataError(f"X has {len(values)} rows, fewer than one window (step_num_in={window}); pass at least "
                            f"{window} rows")
        return self._scaled(values)

    def score_series(self, series: np.ndarray, score_norm: str = "validation") -> PointScores:
        """Scores, per-feature contributions and reconstruction of a series in model units (`main.py`'s path)."""
        self._check_fitted()
        with progress.shown(self.verbose or progress.enabled()):
            return score_series(self.detector_, self.score_stats_, series, score_norm)

    def decision_function(self, X: Any) -> np.ndarray:
        """One anomaly score per row of `X` (higher = more anomalous)."""
        return self.score_series(self._input(X)).scores

    def predict(self, X: Any) -> np.ndarray:
        """0/1 per row: 1 where the score is >= `threshold_` (label-free)."""
        self._check_fitted()
        if self.threshold_ is None:
            raise CheckpointError("this detector's checkpoint stores no label-free threshold; set threshold_ or refit")
        return (self.decision_function(X) >= self.threshold_).astype(np.int64)

    def feature_scores(self, X: Any) -> np.ndarray:
        """(rows, features): each feature's normalised score; a row's score is the max over the counted features,
        so the largest entries say which sensors raised an alarm."""
        return self.score_series(self._input(X)).contributions

    # --- checkpoints ----------------------------------------------------------------------------------

    @property
    def feature_names_in_(self) -> np.ndarray:
        names = getattr(self, "scaler_", {}).get("columns")
        if not names:
            raise AttributeError("feature_names_in_: fitted without column names (not a DataFrame)")
        return np.asarray(names, dtype=object)

    def checkpoint(self, *, dataset: Optional[str] = None, input_columns: Optional[dict] = None) -> dict:
        """The checkpoint dict main.py writes as model.pt (tensors and plain data only)."""
        self._check_fitted()
        cfg = self.config_
        return {
            "format": CHECKPOINT_FORMAT, "detector": cfg.model, "dataset": dataset or cfg.data_name, "entity": self.name,
            "entity_index": self.entity_index_, "seed": self.seed_, "state_dict": self.detector_.state_dict(),
            "config": cfg.to_dict(), "f_in": self.n_features_in_, "scaler": self.scaler_,
            "score_stats": self.score_stats_.to_state(),
            "val_scores": torch.from_numpy(np.asarray(self.decision_scores_, dtype=np.float64).copy()),
            "val_summary": summarise(self.decision_scores_),
            "val_raw": torch.from_numpy(np.asarray(self.val_raw_, dtype=np.float32)), "val_blocks": self.val_blocks_,
            "thresholds": self.thresholds_, "training": self.fit_summary_.to_dict(), "versions": versions(),
            "input": input_columns or {"timestamp_column": None, "label_column": None},
        }

    @classmethod
    def from_checkpoint(cls, checkpoint: dict, *, cfg: Optional[Config] = None, device: Any = "auto",
                        verbose: bool = False) -> "BaseDetector":
        """A fitted estimator from a checkpoint dict (e.g. main.py's model.pt). `cfg`: the configuration to score
        with (main.py passes the current one, already checked against the stored one), else the stored one."""
        try:
            stored = Config.from_stored(checkpoint["config"])
        except (KeyError, TypeError, ConfigError) as exc:
            raise CheckpointError(f"checkpoint config does not load ({exc}); retrain it with this version") from None
        cfg = cfg or stored
        estimator = _kind(cfg.model, name=str(checkpoint.get("entity", "series")), device=str(device),
                          seed=stored.seed, verbose=verbose, threshold_method=cfg.threshold_method)
        try:
            f_in = int(checkpoint["f_in"])
            estimator.config_, estimator.seed_ = cfg, int(checkpoint["seed"])
            estimator.entity_index_ = int(checkpoint.get("entity_index", 1))
            estimator.device_ = resolve_device(device if device != "auto" else cfg.device)
            set_seed(estimator.seed_)
            estimator.detector_ = build_detector(cfg, f_in, estimator.device_, estimator.seed_)
            estimator.detector_.load_state_dict(checkpoint["state_dict"])
            estimator.score_stats_ = ScoreStats.from_state(checkpoint["score_stats"], f_in)
            estimator.decision_scores_ = checkpoint["val_scores"].numpy()
            estimator.val_raw_ = checkpoint["val_raw"].numpy().astype(np.float64)
            estimator.val_blocks_ = checkpoint.get("val_blocks")
            estimator.fit_summary_ = FitSummary(**{**_summary_fields(checkpoint["training"]), "history": []})
            estimator.n_features_in_ = f_in
            estimator.scaler_ = checkpoint["scaler"]
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise CheckpointError(f"checkpoint is malformed ({type(exc).__name__}: {exc}); retrain it") from None
        estimator.thresholds_ = checkpoint.get("thresholds") or {}
        if estimator.score_stats_.how != score_combine(cfg):  # e.g. --test --set score_combine=max: same statistics
            estimator.score_stats_ = dataclasses.replace(estimator.score_stats_, how=score_combine(cfg))
            estimator.decision_scores_ = estimator.score_stats_.combine(
                estimator.score_stats_.contributions(estimator.val_raw_))
            estimator.thresholds_ = label_free_thresholds(cfg, estimator.decision_scores_, estimator.name)
        threshold = estimator.thresholds_.get("threshold")
        estimator.threshold_ = None if threshold is None else float(threshold)  # None: predict() refuses
        return estimator

    def save(self, path: str | Path) -> Path:
        """Write the checkpoint (atomically) where `load` and `main.py --test/--detect` read it."""
        io.save_torch(path, self.checkpoint())
        return Path(path)

    @classmethod
    def load(cls, path: str | Path, device: str = "auto", verbose: bool = False) -> "BaseDetector":
        """A fitted estimator from a model.pt written by `save` or by main.py (any detector)."""
        checkpoint = io.load_torch(path, "checkpoint", "fit and save the model again")
        if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(f"{path}: not a checkpoint written by this version (format "
                                  f"{checkpoint.get('format') if isinstance(checkpoint, dict) else '?'}, expected "
                                  f"{CHECKPOINT_FORMAT}); fit and save the model again")
        return cls.from_checkpoint(checkpoint, device=device, verbose=verbose)


def _summary_fields(training: dict) -> dict:
    return {"epochs_run": training.get("epochs_run", 0), "best_epoch": training.get("best_epoch", 0),
            "best_val_nll": training.get("best_val_nll"), "stopped_early": training.get("stopped_early", False),
            "seconds": training.get("fit_seconds", 0.0)}


class SensitiveMamba(BaseDetector):
    """SensitiveMamba: a Mamba (S6) encoder with a heteroscedastic reconstruction loss and TS2Vec-style
    hierarchical contrastive learning; the score is each feature's NLL, normalised, max over features.

    Parameters and attributes: see `BaseDetector`. Network defaults: 4 layers, d_model 64, FFN 128,
    window 100 (`encode_layer_num`, `dim_model`, `dim_hidden_fc`, `step_num_in`).

    Examples
    --------
    >>> import numpy as np
    >>> from sensitive_hue import SensitiveMamba
    >>> t = np.arange(1200)[:, None]
    >>> X = np.sin(t / 8 + np.arange(3)) + 0.05 * np.random.default_rng(0).normal(size=(1200, 3))
    >>> model = SensitiveMamba(encode_layer_num=1, dim_model=16, dim_hidden_fc=16, d_state=4, step_num_in=32,
    ...                        max_epoch=1, steps_per_epoch=2, batch_size=8, device="cpu").fit(X[:800])
    >>> scores = model.decision_function(X[800:])
    >>> scores.shape, model.predict(X[800:]).dtype.kind
    ((400,), 'i')
    """

    model = "sensitive_mamba"


class SensitiveHUE(BaseDetector):
    """The attention-encoder predecessor (SensitiveHUE): the same heads, losses and scoring as
    `SensitiveMamba` with multi-head self-attention instead of the Mamba mixer (`head_num` heads).

    Examples
    --------
    >>> import numpy as np
    >>> from sensitive_hue import SensitiveHUE
    >>> X = np.random.default_rng(0).normal(size=(600, 2))
    >>> SensitiveHUE(encode_layer_num=1, dim_model=16, dim_hidden_fc=16, step_num_in=24, max_epoch=1,
    ...              steps_per_epoch=1, batch_size=8, contrastive=False, device="cpu").fit(X).n_features_in_
    2
    """

    model = "sensitive_hue"


class PCA(BaseDetector):
    """Control: squared per-feature reconstruction error of a PCA fitted on the training rows, keeping
    `pca_variance` (0.9) of the variance. No training epochs.

    Examples
    --------
    >>> import numpy as np
    >>> from sensitive_hue import PCA
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 1)) @ rng.normal(size=(1, 4)) + 0.01 * rng.normal(size=(500, 4))
    >>> detector = PCA().fit(X)
    >>> bool(detector.decision_function(X[:1] + [[0, 0, 5, 0]])[0] > detector.threshold_)
    True
    """

    model = "pca"


class MaxZ(BaseDetector):
    """Control: the largest |z| over features against the training mean and std (no model).

    Examples
    --------
    >>> import numpy as np
    >>> from sensitive_hue import MaxZ
    >>> X = np.random.default_rng(0).normal(size=(500, 3))
    >>> detector = MaxZ().fit(X)
    >>> int(detector.feature_scores([[0.0, 9.0, 0.0]]).argmax())
    1
    """

    model = "maxz"


class RandomScores(BaseDetector):
    """Control: uniform random scores from a seeded generator (what a detector must beat).

    Examples
    --------
    >>> import numpy as np
    >>> from sensitive_hue import RandomScores
    >>> X = np.zeros((300, 2))
    >>> scores = RandomScores(seed=1).fit(X).decision_function(X)
    >>> bool((scores == RandomScores(seed=1).fit(X).decision_function(X)).all())
    True
    """

    model = "random"


class PyOD(BaseDetector):
    """Control: any PyOD detector by its class name (`detector="IForest"`, "ECOD", "COPOD", "KNN", ...),
    fitted on the training rows (validation blocks left out) with `pyod_params` as its keyword arguments,
    run through the same validation, normalisation, thresholds and metrics as every detector here
    (`main.py --model pyod:IForest`). It scores each row once; `feature_scores` repeats that score
    for every feature.

    Examples
    --------
    >>> import numpy as np
    >>> from sensitive_hue.estimators import PyOD
    >>> X = np.random.default_rng(0).normal(size=(400, 3))
    >>> detector = PyOD("IForest", pyod_params={"n_estimators": 50}, seed=0).fit(X)
    >>> bool(detector.decision_function(np.vstack([X[:5], [[9.0, 9.0, 9.0]]]))[-1] > detector.threshold_)
    True
    """

    def __init__(self, detector: str = "IForest", *, pyod_params: Optional[dict] = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.detector, self.pyod_params = detector, dict(pyod_params or {})

    @property
    def model(self) -> str:  # type: ignore[override]
        return f"{PYOD_PREFIX}{self.detector}"

    def get_params(self, deep: bool = True) -> dict:
        return {"detector": self.detector, "pyod_params": dict(self.pyod_params), **super().get_params(deep)}

    def set_params(self, **params: Any) -> "PyOD":
        for key in ("detector", "pyod_params"):
            if key in params:
                setattr(self, key, params.pop(key))
        return super().set_params(**params)

    def make_config(self, n_features: int) -> Config:
        return super().make_config(n_features).replace(pyod_params=self.pyod_params, _section=f"{type(self).__name__} parameters")


ESTIMATORS = {kind.model: kind for kind in (SensitiveMamba, SensitiveHUE, PCA, MaxZ, RandomScores)}


def _kind(model: str, **kwargs: Any) -> BaseDetector:
    if model.startswith(PYOD_PREFIX):
        return PyOD(model[len(PYOD_PREFIX):], **kwargs)
    return ESTIMATORS[model](**kwargs)


def estimator_for(cfg: Config, name: str) -> BaseDetector:
    """An unfitted estimator of `cfg.model` for entity `name` (what main.py fits per entity)."""
    return _kind(cfg.model, name=name, device=cfg.device, seed=cfg.seed, threshold_method=cfg.threshold_method)


__all__ = ["BaseDetector", "SensitiveMamba", "SensitiveHUE", "PCA", "MaxZ", "RandomScores", "PyOD", "ESTIMATORS",
           "estimator_for", "CHECKPOINT_FORMAT"]
