"""Multi-head self-attention mixer: the SensitiveHUE encoder's token mixer, for the attention variant."""

from __future__ import annotations

import torch
from torch import nn


class SelfAttention(nn.Module):
    """Bidirectional multi-head self-attention over time on (B, T, d_model)."""

    def __init__(self, d_model: int, head_num: int, dropout: float):
        super().__init__()
        self.attn = nn.MultiheadAttention(d_model, head_num, dropout=dropout, batch_first=True)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.attn(h, h, h, need_weights=False)[0]
