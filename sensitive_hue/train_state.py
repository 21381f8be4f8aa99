"""Resumable training state: one file per entity, rewritten atomically at the end of every epoch.

`<out_dir>/<dataset>/<entity>/train_state.pt` holds everything `training.fit` changes from one
epoch to the next (model, optimizer, scheduler, early stopping and its best weights, history),
the RNG states of torch, numpy and python, and the epoch the training loader's shuffle order is
set to next. Restoring it after a crash continues training exactly where the last complete epoch
ended, so a resumed run gives the same weights, bit for bit on CPU, as an uninterrupted one.
Only tensors and plain data are stored: the file loads with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
import numpy as np
import torch

from . import io
from .config import Config, changed_settings, stored_setting
from .data.windows import WindowLoader
from .errors import CheckpointError
from .training import TrainState

FORMAT = 1
FILE_NAME = "train_state.pt"
_KEYS = ("format", "entity", "seed", "f_in", "data_sha256", "config", "epoch", "best_val", "best_epoch",
         "bad_epochs", "stopped_early", "history", "model", "best_weights", "optimizer", "scheduler",
         "loader_epoch", "rng")


def rng_state() -> dict:
    """The torch (CPU and CUDA), numpy and python RNG states as tensors and plain numbers."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": list(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() else [],
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": int(version), "state": torch.tensor(internal, dtype=torch.int64),
                   "gauss_next": gauss_next},
    }


def set_rng_state(state: dict) -> None:
    """Inverse of `rng_state`."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["state"].tolist()), p["gauss_next"]))


def data_fingerprint(train: np.ndarray) -> str:
    """sha256 of the training series, so a state is never resumed on other data."""
    return hashlib.sha256(np.ascontiguousarray(train).tobytes()).hexdigest()


def snapshot(state: TrainState, *, cfg: Config, entity: str, seed: int, f_in: int, data_sha256: str) -> dict:
    """Everything needed to continue training after `state.epoch` complete epochs."""
    return {
        "format": FORMAT, "entity": entity, "seed": int(seed), "f_in": int(f_in), "data_sha256": data_sha256,
        "config": cfg.to_dict(), "epoch": state.epoch, "best_val": float(state.best_val),
        "best_epoch": state.best_epoch, "bad_epochs": state.bad_epochs, "stopped_early": state.stopped_early,
        "history": [dict(row) for row in state.history], "model": state.model.state_dict(),
        "best_weights": state.best_weights, "optimizer": state.optimizer.state_dict(),
        "scheduler": state.scheduler.state_dict(),
        "loader_epoch": state.epoch,  # WindowLoader.set_epoch value of the next epoch
        "rng": rng_state(),
    }


def restore(state: TrainState, saved: dict, train_loader: WindowLoader) -> None:
    """Load `saved` (from `snapshot`) into a fresh `state` built for the same model, and set the RNGs
    and the loader's epoch, so training continues as if it had never stopped."""
    state.model.load_state_dict(saved["model"])
    state.optimizer.load_state_dict(saved["optimizer"])
    state.scheduler.load_state_dict(saved["scheduler"])
    state.epoch, state.best_val, state.best_epoch = saved["epoch"], saved["best_val"], saved["best_epoch"]
    state.bad_epochs, state.stopped_early = saved["bad_epochs"], saved["stopped_early"]
    state.best_weights = saved["best_weights"]
    state.history = [dict(row) for row in saved["history"]]
    train_loader.set_epoch(saved["loader_epoch"])
    set_rng_state(saved["rng"])


def read(path: Path, entity: str) -> dict:
    """Load a saved state with `weights_only=True`; CheckpointError when unreadable or foreign."""
    saved = io.load_torch(path, "training state", f"delete it to train {entity} from scratch")
    if not isinstance(saved, dict) or any(key not in saved for key in _KEYS) or saved["format"] != FORMAT:
        raise CheckpointError(f"{path}: not a training state of this version; delete it to train {entity} from scratch")
    return saved


def check_config(saved: dict, path: Path, cfg: Config, free_keys: tuple[str, ...]) -> None:
    """CheckpointError when `saved` was trained with other settings (keys outside `free_keys`), since
    continuing it would silently mix two configurations."""
    changed = [key for key in changed_settings(saved["config"], cfg) if key not in free_keys]
    if changed:
        key = changed[0]
        raise CheckpointError(f"{path}: --resume found an interrupted run with other settings ({key}="
                              f"{stored_setting(saved['config'], key)!r}, now {cfg.to_dict()[key]!r}); use the same "
                              "settings or another --out_dir")


def matches(saved: dict, *, entity: str, seed: int, f_in: int, data_sha256: str) -> bool:
    """Whether `saved` belongs to this entity, seed and training data (else it is stale)."""
    return (saved["entity"], saved["seed"], saved["f_in"], saved["data_sha256"]) == (entity, seed, f_in, data_sha256)
