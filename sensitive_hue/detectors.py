"""One interface over the detectors, so the controls go through the same data, scoring and metrics.

- `sensitive_mamba` / `sensitive_hue`: the network (`models.build_network`), scored by per-feature NLL.
- `pca`: squared reconstruction error of a PCA fitted on the training series (cfg.pca_variance kept).
- `maxz`: |z| of each feature against its training mean and std (no model; the point score is then
  the max over features): the simplest per-sensor baseline.
- `random`: uniform scores from a seeded generator (the "is it better than noise" control).
- `pyod:<Name>`: any PyOD detector (e.g. `pyod:IForest`, `pyod:ECOD`) fitted on the training rows,
  with `cfg.pyod_params`; it gives one score per row, which every feature column carries (so the
  same normalisation and max apply). Its state is the training rows it was fitted on, never a
  pickled object: loading a checkpoint refits it, seeded, to the same model.

Every detector gives raw per-feature scores for every point of a series; the validation blocks are
scored exactly as the test series is, and `scoring.ScoreStats` turns raw scores into point scores.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import Callable, Optional

import numpy as np
import torch

from . import train_state
from .config import PYOD_PREFIX, Config
from .data.windows import Split
from .errors import CheckpointError, ConfigError
from .scoring import network_point_scores
from .seeding import derive_seed
from .training import FitSummary, TrainState, fit, new_state, train_loader


class Detector(ABC):
    """Fit on a training series, then give raw per-feature scores."""

    name: str

    def __init__(self, cfg: Config, f_in: int, device: torch.device, seed: int) -> None:
        self.cfg, self.f_in, self.device, self.seed = cfg, f_in, device, seed

    @abstractmethod
    def fit(self, train: np.ndarray, split: Split, desc: str = "",
            on_epoch_end: Optional[Callable[[TrainState], None]] = None, resume: Optional[dict] = None) -> FitSummary:
        """Learn from the training series only: windows at `split.train_starts`, never the rows of
        `split.blocks` (held out for validation).

        `resume`: a saved `train_state.snapshot` to continue from (detectors with epochs only)."""

    @abstractmethod
    def point_scores(self, series: np.ndarray) -> tuple[np.ndarray, Optional[np.ndarray]]:
        """Raw per-feature scores (T, F) float64 and the reconstruction (T, F) or None."""

    def validation_scores(self, train: np.ndarray, split: Split) -> np.ndarray:
        """Raw per-feature scores (n_val_points, F) of every row of the validation blocks, each block
        scored as a test series is."""
        return np.concatenate([self.point_scores(block)[0] for block in split.val_series(train)])

    @abstractmethod
    def state_dict(self) -> dict:
        """Tensors and plain data that restore the fitted detector (checkpoint `state_dict`)."""

    @abstractmethod
    def load_state_dict(self, state: dict) -> None:
        """Restore from `state_dict()` output; CheckpointError when it does not fit."""


def _training_rows(train: np.ndarray, split: Split) -> np.ndarray:
    """The training series without its validation blocks (float64), for detectors fitted on rows."""
    keep = np.ones(len(train), dtype=bool)
    for start, end in split.blocks:
        keep[start:end] = False
    return np.asarray(train, dtype=np.float64)[keep]


def _no_training(seconds: float = 0.0) -> FitSummary:
    return FitSummary(epochs_run=0, best_epoch=0, best_val_nll=None, stopped_early=False, seconds=seconds,
                      history=[])


class NetworkDetector(Detector):
    """SensitiveMamba or the attention encoder (SensitiveHUE), trained with NLL (+ contrastive)."""

    def __init__(self, cfg: Config, f_in: int, device: torch.device, seed: int) -> None:
        from .models import build_network

        super().__init__(cfg, f_in, device, seed)
        self.name = cfg.model
        self.model = build_network(cfg, f_in).to(device)

    def fit(self, train, split, desc="", on_epoch_end=None, resume=None):
        loader = train_loader(self.cfg, train, split.train_starts, derive_seed(self.seed, "shuffle"))
        state = new_state(self.cfg, self.model)
        if resume is not None:
            train_state.restore(state, resume, loader)
        return fit(state, loader, split.val_series(train), self.cfg, self.device, desc, on_epoch_end)

    def point_scores(self, series):
        return network_point_scores(self.model, series, self.cfg, self.device)

    def state_dict(self):
        return {key: value.detach().cpu() for key, value in self.model.state_dict().items()}

    def load_state_dict(self, state):
        try:
            self.model.load_state_dict(state, strict=True)
        except (RuntimeError, KeyError, TypeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            raise CheckpointError(f"checkpoint weights do not fit the configured {self.name} network ({first}); "
                                  "use the config it was trained with or retrain without --test") from None
        self.model.eval()


class PCADetector(Detector):
    """Squared per-feature reconstruction error of a PCA fitted on the training series."""

    name = "pca"

    def __init__(self, cfg, f_in, device, seed):
        super().__init__(cfg, f_in, device, seed)
        self.mean: Optional[np.ndarray] = None
        self.components: Optional[np.ndarray] = None

    def fit(self, train, split, desc="", on_epoch_end=None, resume=None):
        from sklearn.decomposition import PCA

        tic = time.perf_counter()
        pca = PCA(n_components=self.cfg.pca_variance if self.cfg.pca_variance < 1 else None, svd_solver="full")
        pca.fit(_training_rows(train, split))
        self.mean, self.components = pca.mean_, pca.components_
        return _no_training(time.perf_counter() - tic)

    def _errors(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        centred = np.asarray(x, dtype=np.float64) - self.mean
        recon = centred @ self.components.T @ self.components + self.mean
        return (x - recon) ** 2, recon

    def point_scores(self, series):
        errors, recon = self._errors(series)
        return errors, recon.astype(np.float32)

    def state_dict(self):
        return {"mean": torch.from_numpy(self.mean.copy()), "components": torch.from_numpy(self.components.copy())}

    def load_state_dict(self, state):
        try:
            mean, components = state["mean"].numpy(), state["components"].numpy()
        except (KeyError, TypeError, AttributeError) as exc:
            raise CheckpointError(f"checkpoint has no PCA state ({exc!r}); retrain with --model pca") from None
        if mean.shape != (self.f_in,) or components.ndim != 2 or components.shape[1] != self.f_in:
            raise CheckpointError(f"checkpoint PCA was fitted on {mean.shape[0]} features, the data has {self.f_in}; "
                                  "retrain without --test")
        self.mean, self.components = mean, components


class MaxZDetector(Detector):
    """|x - mean| / std per feature, with the training rows' mean and std (no model, nothing learnt
    beyond two numbers per feature); a feature constant in training gets std 1."""

    name = "maxz"

    def __init__(self, cfg, f_in, device, seed):
        super().__init__(cfg, f_in, device, seed)
        self.mean: Optional[np.ndarray] = None
        self.std: Optional[np.ndarray] = None

    def fit(self, train, split, desc="", on_epoch_end=None, resume=None):
        rows = _training_rows(train, split)
        std = rows.std(axis=0)
        self.mean, self.std = rows.mean(axis=0), np.where(std > 0, std, 1.0)
        return _no_training()

    def point_scores(self, series):
        return np.abs(np.asarray(series, dtype=np.float64) - self.mean) / self.std, None

    def state_dict(self):
        return {"mean": torch.from_numpy(self.mean.copy()), "std": torch.from_numpy(self.std.copy())}

    def load_state_dict(self, state):
        try:
            mean, std = state["mean"].numpy(), state["std"].numpy()
        except (KeyError, TypeError, AttributeError) as exc:
            raise CheckpointError(f"checkpoint has no maxz state ({exc!r}); retrain with --model maxz") from None
        if mean.shape != (self.f_in,) or std.shape != (self.f_in,):
            raise CheckpointError(f"checkpoint maxz was fitted on {mean.shape[0]} features, the data has {self.f_in}; "
                                  "retrain without --test")
        self.mean, self.std = mean, std


class RandomDetector(Detector):
    """Uniform per-feature scores from generators seeded by (seed, purpose): the noise control."""

    name = "random"

    def fit(self, train, split, desc="", on_epoch_end=None, resume=None):
        return _no_training()

    def _uniform(self, rows: int, purpose: str) -> np.ndarray:
        return np.random.default_rng(derive_seed(self.seed, purpose)).uniform(size=(rows, self.f_in))

    def validation_scores(self, train, split):
        return self._uniform(split.n_val_points, "validation")  # a stream of its own, not the test one

    def point_scores(self, series):
        return self._uniform(len(series), "points"), None

    def state_dict(self):
        return {"seed": int(self.seed)}

    def load_state_dict(self, state):
        if not isinstance(state.get("seed"), int):
            raise CheckpointError("checkpoint has no random-detector seed; retrain with --model random")
        self.seed = state["seed"]


def pyod_class(name: str):
    """The PyOD detector class `name` (e.g. IForest, from pyod.models.iforest); ConfigError when absent."""
    import importlib
    import re

    try:
        import pyod  # noqa: F401
    except ImportError:
        raise ConfigError(f"model pyod:{name} needs PyOD: pip install -r requirements.txt (it pins pyod)") from None
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    for module in dict.fromkeys((name.lower(), snake)):
        try:
            found = getattr(importlib.import_module(f"pyod.models.{module}"), name, None)
        except ImportError:
            continue
        if isinstance(found, type):
            return found
    raise ConfigError(f"model pyod:{name}: PyOD has no detector class {name} (looked in pyod.models.{name.lower()}); "
                      "e.g. pyod:IForest, pyod:ECOD, pyod:COPOD, pyod:HBOS, pyod:KNN, pyod:LOF")


class PyODDetector(Detector):
    """A PyOD detector as a control: fitted on the training rows (validation blocks left out)."""

    def __init__(self, cfg, f_in, device, seed):
        super().__init__(cfg, f_in, device, seed)
        self.name = cfg.model
        self.kind = pyod_class(cfg.model[len(PYOD_PREFIX):])
        self.rows: Optional[np.ndarray] = None
        self.model = None

    def _fit_rows(self, rows: np.ndarray) -> None:
        import inspect
        import warnings

        params = dict(self.cfg.pyod_params)
        if "random_state" in inspect.signature(self.kind.__init__).parameters:
            params.setdefault("random_state", int(self.seed % 2**31))
        try:
            model = self.kind(**params)
        except TypeError as exc:
            raise ConfigError(f"config key 'pyod_params' for {self.name}: {exc}") from None
        try:
            with warnings.catch_warnings():  # PyOD / scikit-learn chatter (e.g. future defaults) is not ours to print
                warnings.simplefilter("ignore")
                model.fit(rows)
        except (TypeError, ValueError) as exc:  # scikit-learn's InvalidParameterError is both
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            raise ConfigError(f"config key 'pyod_params' for {self.name} ({dict(self.cfg.pyod_params)}): {first}") from None
        self.rows, self.model = rows, model

    def fit(self, train, split, desc="", on_epoch_end=None, resume=None):
        tic = time.perf_counter()
        self._fit_rows(_training_rows(train, split).astype(np.float32))
        return _no_training(time.perf_counter() - tic)

    def point_scores(self, series):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores = np.asarray(self.model.decision_function(np.asarray(series, dtype=np.float32)), dtype=np.float64)
        return np.repeat(scores[:, None], self.f_in, axis=1), None

    def state_dict(self):
        return {"rows": torch.from_numpy(self.rows.copy())}

    def load_state_dict(self, state):
        try:
            rows = state["rows"].numpy()
        except (KeyError, TypeError, AttributeError) as exc:
            raise CheckpointError(f"checkpoint has no {self.name} state ({exc!r}); retrain with --model {self.name}") from None
        if rows.ndim != 2 or rows.shape[1] != self.f_in:
            raise CheckpointError(f"checkpoint {self.name} was fitted on {rows.shape[-1]} features, the data has "
                                  f"{self.f_in}; retrain without --test")
        self._fit_rows(rows)


def check_pyod(cfg: Config, f_in: int) -> None:
    """For a pyod:<Name> model, ConfigError now (before any output is written) when the class does not
    exist or `pyod_params` does not fit it: a trial fit on 64 rows of noise."""
    if cfg.model.startswith(PYOD_PREFIX):
        trial = PyODDetector(cfg, f_in, torch.device("cpu"), 0)
        trial._fit_rows(np.random.default_rng(0).normal(size=(64, f_in)).astype(np.float32))


def build_detector(cfg: Config, f_in: int, device: torch.device, seed: int) -> Detector:
    """The detector named by `cfg.model`, untrained."""
    if cfg.model.startswith(PYOD_PREFIX):
        return PyODDetector(cfg, f_in, device, seed)
    if cfg.model == "pca":
        return PCADetector(cfg, f_in, device, seed)
    if cfg.model == "maxz":
        return MaxZDetector(cfg, f_in, device, seed)
    if cfg.model == "random":
        return RandomDetector(cfg, f_in, device, seed)
    return NetworkDetector(cfg, f_in, device, seed)
