"""Reversible instance normalisation (RevIN) without affine parameters, with three denorm modes.

`norm` z-scores each window over time and returns its statistics. How the reconstruction is mapped
back (`revin_denorm`) decides what the detector can see, so it is a model choice, measured in
README "Results" (ablation rows):

- `paper`: `y * std(y) + mean(y)` with the statistics of the reconstruction `y` itself, as the paper's
  and SensitiveHUE's code do. The output stays near the window-normalised scale, so the error keeps
  each window's level and spread: a level shift longer than the window still scores high.
- `stored`: the exact inverse, `y * std(x) + mean(x)` with the input window's statistics. The
  reconstruction then follows the level of any anomaly longer than a window, and the error inside
  it falls to normal (measured on SWaT: AUC-ROC 0.42, long attacks scored below normal operation).
- `none`: no instance normalisation at all (the network sees and outputs the z-scored series).
"""

from __future__ import annotations

import torch
from torch import nn

DENORM_MODES = ("paper", "stored", "none")


def _stats(x: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-window, per-feature mean and sqrt(biased var + eps) over time (dim 1)."""
    return x.mean(dim=1, keepdim=True), torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + eps)


class RevIN(nn.Module):
    """Per-window z-score over time; `denorm` maps a reconstruction back as `mode` says."""

    def __init__(self, mode: str = "paper", eps: float = 1e-5):
        super().__init__()
        if mode not in DENORM_MODES:
            raise ValueError(f"revin_denorm must be one of {DENORM_MODES}, got {mode!r}")
        self.mode, self.eps = mode, eps

    def norm(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
        """x (B, T, F) -> ((x - mean) / std, (mean, std)); unchanged (and no statistics) for `none`."""
        if self.mode == "none":
            return x, None
        mean, std = _stats(x, self.eps)
        return (x - mean) / std, (mean, std)

    def denorm(self, y: torch.Tensor, stats: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        """The reconstruction in the input's scale: see the module docstring for each mode.

        `paper` needs the whole window of `y` (its statistics are taken over time), so it must be
        applied before any time steps are dropped."""
        if self.mode == "none":
            return y
        mean, std = stats if self.mode == "stored" else _stats(y, self.eps)
        return y * std + mean
