"""Sliding windows over an in-memory series by index arithmetic.

A window is just its start row; a batch is gathered with one fancy index `series[starts[:, None]
+ arange(window)]`, so memory is the series plus one batch, never every stride-1 window (the
paper code writes ~7 GB of windows for SWaT).
"""

from __future__ import annotations

import math

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


def split_train_val(starts: np.ndarray, val_ratio: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Hold out round(len * val_ratio) (at least 1) windows chosen at random with `seed`; both sorted."""
    starts = np.asarray(starts, dtype=np.int64)
    if not 0.0 < val_ratio < 1.0:
        raise ValueError(f"val_ratio must be in (0, 1), got {val_ratio}")
    n_val = max(1, round(len(starts) * val_ratio))
    if len(starts) - n_val < 1:
        raise DataError(f"only {len(starts)} training window(s): too few to hold out val_ratio={val_ratio}; "
                        "lower step_num_in or stride")
    held_out = np.zeros(len(starts), dtype=bool)
    held_out[np.random.default_rng(seed).permutation(len(starts))[:n_val]] = True
    return starts[~held_out], starts[held_out]


class WindowLoader:
    """Batches of float32 windows (B, window, F) as torch tensors, gathered on demand.

    With `shuffle`, the order of an epoch is a pure function of (`seed`, epoch set by `set_epoch`),
    so a resumed run sees the same batches.
    """

    def __init__(self, series: np.ndarray, starts: np.ndarray, window: int, batch_size: int, shuffle: bool,
                 seed: int = 0) -> None:
        series = np.ascontiguousarray(series, dtype=np.float32)
        starts = np.asarray(starts, dtype=np.int64)
        if series.ndim != 2:
            raise ValueError(f"series must be 2-D (T, F), got shape {series.shape}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if starts.size and (starts.min() < 0 or starts.max() + window > series.shape[0]):
            raise ValueError(f"window starts must lie in [0, {series.shape[0] - window}]")
        self.series, self.starts, self.window = series, starts, window
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.epoch = 0
        self._offsets = np.arange(window, dtype=np.int64)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def order(self) -> np.ndarray:
        """Window starts in the order this epoch visits them."""
        if not self.shuffle:
            return self.starts
        rng = np.random.default_rng(derive_seed(self.seed, "windows", self.epoch))
        return self.starts[rng.permutation(len(self.starts))]

    def __len__(self) -> int:
        return math.ceil(len(self.starts) / self.batch_size)

    def __iter__(self):
        order = self.order()
        for begin in range(0, len(order), self.batch_size):
            rows = order[begin:begin + self.batch_size, None] + self._offsets
            yield torch.from_numpy(self.series[rows])
