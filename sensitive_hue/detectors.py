"""One interface over the detectors, so the controls go through the same data, scoring and metrics.

- `sensitive_mamba` / `sensitive_hue`: the network (`models.build_network`), scored by per-feature NLL.
- `pca`: squared reconstruction error of a PCA fitted on the training series (cfg.pca_variance kept).
- `random`: uniform scores from a seeded generator (the "is it better than noise" control).

Every detector gives raw per-feature scores, both for validation windows (at `select_pos`) and
for every point of a series; `scoring.ScoreStats` turns them into point scores the same way.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import Callable, Optional

import numpy as np
import torch

from . import train_state
from .config import Config
from .errors import CheckpointError
from .scoring import network_point_scores, network_window_scores, select_position
from .seeding import derive_seed
from .training import FitSummary, TrainState, fit, loaders, new_state


class Detector(ABC):
    """Fit on a training series, then give raw per-feature scores."""

    name: str

    def __init__(self, cfg: Config, f_in: int, device: torch.device, seed: int) -> None:
        self.cfg, self.f_in, self.device, self.seed = cfg, f_in, device, seed

    @abstractmethod
    def fit(self, train: np.ndarray, train_starts: np.ndarray, val_starts: np.ndarray, desc: str = "",
            on_epoch_end: Optional[Callable[[TrainState], None]] = None, resume: Optional[dict] = None) -> FitSummary:
        """Learn from the training series only (windows at `train_starts`; `val_starts` held out).

        `resume`: a saved `train_state.snapshot` to continue from (detectors with epochs only)."""

    @abstractmethod
    def window_scores(self, series: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """Raw per-feature scores (N, F) at `select_pos` of the windows starting at `starts`."""

    @abstractmethod
    def point_scores(self, series: np.ndarray) -> tuple[np.ndarray, Optional[np.ndarray]]:
        """Raw per-feature scores (T, F) float64 and the reconstruction (T, F) or None."""

    @abstractmethod
    def state_dict(self) -> dict:
        """Tensors and plain data that restore the fitted detector (checkpoint `state_dict`)."""

    @abstractmethod
    def load_state_dict(self, state: dict) -> None:
        """Restore from `state_dict()` output; CheckpointError when it does not fit."""


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

    def fit(self, train, train_starts, val_starts, desc="", on_epoch_end=None, resume=None):
        train_loader, val_loader = loaders(self.cfg, train, train_starts, val_starts, derive_seed(self.seed, "shuffle"))
        state = new_state(self.cfg, self.model)
        if resume is not None:
            train_state.restore(state, resume, train_loader)
        return fit(state, train_loader, val_loader, self.cfg, self.device, desc, on_epoch_end)

    def window_scores(self, series, starts):
        return network_window_scores(self.model, series, starts, self.cfg, self.device)

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

    def fit(self, train, train_starts, val_starts, desc="", on_epoch_end=None, resume=None):
        from sklearn.decomposition import PCA

        tic = time.perf_counter()
        pca = PCA(n_components=self.cfg.pca_variance if self.cfg.pca_variance < 1 else None, svd_solver="full")
        pca.fit(np.asarray(train, dtype=np.float64))
        self.mean, self.components = pca.mean_, pca.components_
        return _no_training(time.perf_counter() - tic)

    def _errors(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        centred = np.asarray(x, dtype=np.float64) - self.mean
        recon = centred @ self.components.T @ self.components + self.mean
        return (x - recon) ** 2, recon

    def window_scores(self, series, starts):
        return self._errors(series[np.asarray(starts) + select_position(self.cfg)])[0]

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


class RandomDetector(Detector):
    """Uniform per-feature scores from generators seeded by (seed, purpose): the noise control."""

    name = "random"

    def fit(self, train, train_starts, val_starts, desc="", on_epoch_end=None, resume=None):
        return _no_training()

    def _uniform(self, rows: int, purpose: str) -> np.ndarray:
        return np.random.default_rng(derive_seed(self.seed, purpose)).uniform(size=(rows, self.f_in))

    def window_scores(self, series, starts):
        return self._uniform(len(starts), "validation")

    def point_scores(self, series):
        return self._uniform(len(series), "points"), None

    def state_dict(self):
        return {"seed": int(self.seed)}

    def load_state_dict(self, state):
        if not isinstance(state.get("seed"), int):
            raise CheckpointError("checkpoint has no random-detector seed; retrain with --model random")
        self.seed = state["seed"]


def build_detector(cfg: Config, f_in: int, device: torch.device, seed: int) -> Detector:
    """The detector named by `cfg.model`, untrained."""
    if cfg.model == "pca":
        return PCADetector(cfg, f_in, device, seed)
    if cfg.model == "random":
        return RandomDetector(cfg, f_in, device, seed)
    return NetworkDetector(cfg, f_in, device, seed)
