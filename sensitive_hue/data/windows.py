"""Sliding windows over an in-memory series by index arithmetic.

A window is just its start row; a batch is gathered with one fancy index `series[starts[:, None]
+ arange(window)]`, so memory is the series plus one batch, never every stride-1 window (the
paper code writes ~7 GB of windows for SWaT).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from ..errors import DataError
from ..seeding import derive_seed


def window_starts(length: int, window: int, stride: int, name: str = "series") -> np.ndarray:
    """Start rows of every window of `window` rows, `stride` apart, inside a series of `length` rows."""
    if window > length:
        raise DataError(f"{name}: window length {window} (config key step_num_in) is longer than the series "
                        f"({length} rows); lower step_num_in")
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be >= 1, got {window}, {stride}")
    return np.arange(0, length - window + 1, stride, dtype=np.int64)


@dataclass(frozen=True)
class Split:
    """Training windows and the validation blocks held out of them.

    `blocks` are [start, end) row ranges of the training series; no training window touches them,
    and every row of every block is scored (stride-1 windows inside the block, like the test series)."""

    train_starts: np.ndarray
    blocks: tuple[tuple[int, int], ...]

    @property
    def n_val_points(self) -> int:
        return int(sum(end - start for start, end in self.blocks))

    def val_series(self, series: np.ndarray) -> list[np.ndarray]:
        """The rows of each block (views of `series`)."""
        return [series[start:end] for start, end in self.blocks]


def holdout_blocks(length: int, window: int, stride: int, val_ratio: float, n_blocks: int, seed: int,
                   name: str = "series") -> Split:
    """Hold out about `val_ratio` of the rows as up to `n_blocks` contiguous blocks at random
    (seeded) places, each at least `window` rows (so windows fit inside it); training windows start
    every `stride` rows in the gaps between blocks and never overlap one.

    Contiguous blocks, unlike windows drawn at random, share no rows with training windows, so
    validation scores behave like scores of unseen normal data (POT fits on them)."""
    if not 0.0 < val_ratio < 1.0:
        raise ValueError(f"val_ratio must be in (0, 1), got {val_ratio}")
    if window < 1 or stride < 1 or n_blocks < 1:
        raise ValueError(f"window, stride and n_blocks must be >= 1, got {window}, {stride}, {n_blocks}")
    n_val = max(window, round(length * val_ratio))
    k = max(1, min(n_blocks, n_val // window))
    sizes = np.full(k, n_val // k) + (np.arange(k) < n_val % k)
    spare = length - n_val  # rows left for training, shared out as k + 1 gaps around the blocks
    if spare < window:
        raise DataError(f"{name}: {length} training rows are too few to hold out {n_val} for validation "
                        f"(val_ratio {val_ratio}, blocks of at least step_num_in={window} rows) and keep one "
                        "training window; lower step_num_in or val_ratio")
    rng = np.random.default_rng(seed)
    # Gaps: one gap of at least `window` rows is guaranteed for training, the rest is spread at random.
    cuts = np.sort(rng.integers(0, spare - window + 1, size=k))
    gaps = np.diff(np.r_[0, cuts, spare - window])
    gaps[rng.integers(0, k + 1)] += window
    blocks, row = [], 0
    for gap, size in zip(gaps[:-1], sizes):
        row += int(gap)
        blocks.append((row, row + int(size)))
        row += int(size)
    starts = np.arange(0, length - window + 1, stride, dtype=np.int64)
    clear = np.ones(len(starts), dtype=bool)
    for begin, end in blocks:
        clear &= (starts + window <= begin) | (starts >= end)
    return Split(train_starts=starts[clear], blocks=tuple(blocks))


class WindowLoader:
    """Batches of float32 windows (B, window, F) as torch tensors, gathered on demand.

    With `shuffle`, the order of an epoch is a pure function of (`seed`, epoch set by `set_epoch`),
    so a resumed run sees the same batches. With `steps` (shuffled loaders only), an epoch is that many
    batches drawn from `starts` (fresh permutations strung together, so every window is seen once
    before any is seen twice), whatever the series length: a fixed training budget per entity; a batch
    then holds at most `len(starts)` windows, so no window appears twice in one batch.
    """

    def __init__(self, series: np.ndarray, starts: np.ndarray, window: int, batch_size: int, shuffle: bool,
                 seed: int = 0, steps: Optional[int] = None) -> None:
        series = np.ascontiguousarray(series, dtype=np.float32)
        starts = np.asarray(starts, dtype=np.int64)
        if series.ndim != 2:
            raise ValueError(f"series must be 2-D (T, F), got shape {series.shape}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if starts.size and (starts.min() < 0 or starts.max() + window > series.shape[0]):
            raise ValueError(f"window starts must lie in [0, {series.shape[0] - window}]")
        self.series, self.starts, self.window = series, starts, window
        if steps is not None and (steps < 1 or not shuffle):
            raise ValueError(f"steps must be >= 1 and needs shuffle, got steps={steps}, shuffle={shuffle}")
        if steps is not None and starts.size == 0:
            raise ValueError("steps needs at least one window start")
        if steps is not None:
            batch_size = min(batch_size, len(starts))
        self.batch_size, self.shuffle, self.seed, self.steps = batch_size, shuffle, seed, steps
        self.epoch = 0
        self._offsets = np.arange(window, dtype=np.int64)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def order(self) -> np.ndarray:
        """Window starts in the order this epoch visits them."""
        if not self.shuffle:
            return self.starts
        rng = np.random.default_rng(derive_seed(self.seed, "windows", self.epoch))
        if self.steps is None:
            return self.starts[rng.permutation(len(self.starts))]
        wanted = self.steps * self.batch_size
        rounds = math.ceil(wanted / len(self.starts))
        return np.concatenate([self.starts[rng.permutation(len(self.starts))] for _ in range(rounds)])[:wanted]

    def __len__(self) -> int:
        return self.steps if self.steps is not None else math.ceil(len(self.starts) / self.batch_size)

    def __iter__(self):
        order = self.order()
        for begin in range(0, len(order), self.batch_size):
            rows = order[begin:begin + self.batch_size, None] + self._offsets
            yield torch.from_numpy(self.series[rows])
