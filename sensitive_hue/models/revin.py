"""Reversible instance normalisation (RevIN) without affine parameters.

`norm` returns the normalised window and the per-window, per-feature statistics; `denorm` maps the
reconstruction back with those same statistics (the paper's code re-derived them from the
reconstruction, which re-standardises the output to its own mean and std).
"""

from __future__ import annotations

import torch
from torch import nn


class RevIN(nn.Module):
    """Per-window z-score over time; statistics are passed from `norm` to `denorm`."""

    def __init__(self, eps: float = 1e-5):
        super().__init__()
        self.eps = eps

    def norm(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """x (B, T, F) -> ((x - mean) / std, (mean, std)), std = sqrt(biased var + eps)."""
        mean = x.mean(dim=1, keepdim=True)
        std = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + self.eps)
        return (x - mean) / std, (mean, std)

    def denorm(self, y: torch.Tensor, stats: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Inverse of `norm` with the statistics it returned."""
        mean, std = stats
        return y * std + mean
