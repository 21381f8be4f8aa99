"""Fit one network on one entity's training series.

AdamW, StepLR(cfg.lr_step_size, cfg.lr_gamma), up to cfg.max_epoch epochs, early stopping with
cfg.patience on the validation NLL; the best weights are kept. Everything that changes from one
epoch to the next lives in one `TrainState`, so a per-epoch resumable checkpoint only has to save
and restore that object (plus the RNG states). The test data never reaches this module.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import torch

from . import progress
from .config import Config
from .data.windows import WindowLoader
from .errors import TrainingError
from .logs import get_logger
from .losses import training_loss

EPOCH_COLUMNS = ("epoch", "lr", "train_total", "train_nll", "train_contrastive", "val_nll", "best_val_nll", "seconds")


@dataclass
class TrainState:
    """All mutable training state: model, optimizer, scheduler, early stopping, epoch counter."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    epoch: int = 0  # epochs completed
    best_val: float = math.inf
    best_epoch: int = 0  # 1-based epoch of `best_weights`; 0 = none yet
    bad_epochs: int = 0  # epochs since the last improvement
    best_weights: Optional[dict[str, torch.Tensor]] = None
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False

    def finished(self, cfg: Config) -> bool:
        return self.stopped_early or self.epoch >= cfg.max_epoch


@dataclass
class FitSummary:
    """What training produced, besides the weights (which stay in the model)."""

    epochs_run: int
    best_epoch: int
    best_val_nll: Optional[float]  # None for detectors without training epochs
    stopped_early: bool
    seconds: float
    history: list[dict[str, float]]

    def to_dict(self) -> dict:
        return {"epochs_run": self.epochs_run, "best_epoch": self.best_epoch, "best_val_nll": self.best_val_nll,
                "stopped_early": self.stopped_early, "fit_seconds": self.seconds}


def new_state(cfg: Config, model: torch.nn.Module) -> TrainState:
    """A fresh state for `model` (already on its device)."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.lr_step_size, gamma=cfg.lr_gamma)
    return TrainState(model=model, optimizer=optimizer, scheduler=scheduler)


def validation_nll(model: torch.nn.Module, blocks: list[np.ndarray], cfg: Config, device: torch.device) -> float:
    """Mean per-feature NLL over every row of the validation blocks, each row scored as a test point
    is (stride-1 windows inside the block, `select_pos`; dropout off)."""
    from .scoring import network_point_scores

    total, count = 0.0, 0
    for block in blocks:
        nll = network_point_scores(model, block, cfg, device)[0]
        total += float(nll.sum())
        count += nll.size
    return total / count


def _train_epoch(state: TrainState, loader: WindowLoader, cfg: Config, device: torch.device, desc: str) -> dict[str, float]:
    """One pass over the training windows; returns the mean of each loss term."""
    state.model.train()
    loader.set_epoch(state.epoch)
    sums = {"total": 0.0, "nll": 0.0, "contrastive": 0.0}
    with progress.bar(loader, desc=desc, leave=False, unit="batch") as bar:  # closed on errors too
        for batch, x in enumerate(bar, start=1):
            state.optimizer.zero_grad(set_to_none=True)
            # backward term by term: peak memory is one forward's activations, not both (bench/README.md)
            losses = training_loss(state.model, x.to(device), cfg, backward=True)
            total = losses["total"]
            if not torch.isfinite(total):
                raise TrainingError(f"non-finite training loss ({float(total)}) at epoch {state.epoch + 1}, "
                                    f"batch {batch}; check the data for NaN/inf or lower --lr")
            state.optimizer.step()
            for key in sums:
                sums[key] += float(losses[key])
            bar.set_postfix(loss=f"{sums['total'] / batch:.4f}")
    return {key: value / max(len(loader), 1) for key, value in sums.items()}


def fit(state: TrainState, train_loader: WindowLoader, val_blocks: list[np.ndarray], cfg: Config, device: torch.device,
        desc: str = "", on_epoch_end: Callable[[TrainState], None] | None = None) -> FitSummary:
    """Train from `state.epoch` until max_epoch or early stopping on the validation NLL of
    `val_blocks` (held-out rows of the training series); load the best weights at the end.

    `on_epoch_end(state)` runs after each epoch's bookkeeping (e.g. write the loss CSV, save a
    resumable checkpoint).
    """
    log = get_logger()
    start = time.perf_counter()
    epochs = progress.bar(total=cfg.max_epoch, initial=state.epoch, desc=f"{desc} epochs".strip(), unit="epoch",
                          leave=False)
    try:  # the bar is closed on errors and Ctrl-C too
        while not state.finished(cfg):
            tic = time.perf_counter()
            lr = state.optimizer.param_groups[0]["lr"]
            losses = _train_epoch(state, train_loader, cfg, device, f"{desc} epoch {state.epoch + 1}".strip())
            state.scheduler.step()
            val = validation_nll(state.model, val_blocks, cfg, device)
            if not math.isfinite(val):
                raise TrainingError(f"non-finite validation NLL at epoch {state.epoch + 1}; check the data or "
                                    "lower --lr")
            state.epoch += 1
            if val < state.best_val:
                state.best_val, state.best_epoch, state.bad_epochs = val, state.epoch, 0
                state.best_weights = copy.deepcopy(state.model.state_dict())
            else:
                state.bad_epochs += 1
                state.stopped_early = state.bad_epochs >= cfg.patience
            row = {"epoch": state.epoch, "lr": lr, "train_total": losses["total"], "train_nll": losses["nll"],
                   "train_contrastive": losses["contrastive"], "val_nll": val, "best_val_nll": state.best_val,
                   "seconds": time.perf_counter() - tic}
            state.history.append(row)
            log.info("%s epoch %d/%d: loss %.4f (nll %.4f, contrastive %.4f), val nll %.4f%s, %.1fs", desc, state.epoch,
                     cfg.max_epoch, row["train_total"], row["train_nll"], row["train_contrastive"], val,
                     " (best)" if state.best_epoch == state.epoch else "", row["seconds"])
            epochs.update(1)
            epochs.set_postfix(loss=f"{losses['total']:.4f}", val=f"{val:.4f}")
            if on_epoch_end is not None:
                on_epoch_end(state)
    finally:
        epochs.close()
    if state.stopped_early:
        log.info("%s early stop after epoch %d (no improvement for %d epochs)", desc, state.epoch, cfg.patience)
    state.model.load_state_dict(state.best_weights)
    state.model.eval()
    return FitSummary(epochs_run=state.epoch, best_epoch=state.best_epoch, best_val_nll=state.best_val,
                      stopped_early=state.stopped_early, seconds=time.perf_counter() - start,
                      history=list(state.history))


def epochs_csv(history: list[dict[str, float]]) -> str:
    """The per-epoch loss table as CSV text."""
    lines = [",".join(EPOCH_COLUMNS)]
    for row in history:
        lines.append(",".join(str(row[c]) if c == "epoch" else f"{row[c]:.6g}" for c in EPOCH_COLUMNS))
    return "\n".join(lines) + "\n"


def train_loader(cfg: Config, train: np.ndarray, train_starts: np.ndarray, shuffle_seed: int) -> WindowLoader:
    """Shuffled training loader: order a function of seed and epoch; `steps_per_epoch` batches per epoch
    when set, else one pass over every training window."""
    return WindowLoader(train, train_starts, cfg.step_num_in, cfg.batch_size, shuffle=True, seed=shuffle_seed,
                        steps=cfg.steps_per_epoch)
