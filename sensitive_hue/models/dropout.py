"""Dropout whose CPU mask comes from a parallel counter-based generator and is never stored.

Why: torch's CPU dropout draws its mask with `bernoulli_`, which on non-Intel CPUs is a serial
Mersenne-Twister loop (~15 ns per element): 18% of a SWaT training step on the 2-core AMD VM; and
autograd keeps each float32 mask until backward (20% of a training step's saved activations).
Here element i of a call is kept when the top 24 bits of SplitMix64(key + (i + 1) * golden) reach
p * 2^24, with one 62-bit key per call drawn from torch's global generator (seeding and RNG-state
resume work as before; the mask does not depend on the thread count). Backward regenerates the
mask from the key instead of saving it. Same expectation as `nn.Dropout` (kept values scaled by
1 / (1 - p)); on other devices, other dtypes and in eval mode it is `F.dropout`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from numba import njit, prange
from torch import nn
from torch.autograd.function import once_differentiable

from .scan import _numba_threads  # also selects numba's threading layer (scan_cpu)

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_S27, _S30, _S31, _S40 = np.uint64(27), np.uint64(30), np.uint64(31), np.uint64(40)
KEY_BITS = 62
UNIT_BITS = 24  # resolution of p


@njit(parallel=True, cache=True)
def masked_scale(key, threshold, scale, x, out):
    """out[i] = x[i] * m, m = scale where the i-th SplitMix64 output of `key` has top 24 bits >= threshold,
    else 0 (a product, as torch's x * mask: NaN and the sign of zero propagate alike)."""
    zero = scale - scale
    for i in prange(x.size):
        z = key + np.uint64(i + 1) * _GOLDEN
        z = (z ^ (z >> _S30)) * _MIX1
        z = (z ^ (z >> _S27)) * _MIX2
        z = z ^ (z >> _S31)
        out[i] = x[i] * (scale if (z >> _S40) >= threshold else zero)


def _apply(x: torch.Tensor, key: int, p: float) -> torch.Tensor:
    x = x.contiguous()
    out = torch.empty_like(x)
    _numba_threads()
    masked_scale(np.uint64(key), np.uint64(round(p * 2 ** UNIT_BITS)), x.numpy().dtype.type(1.0 / (1.0 - p)),
                 x.view(-1).numpy(), out.view(-1).numpy())
    return out


class _CpuDropout(torch.autograd.Function):
    """y = x * mask(key); dx = dy * mask(key): only the key is kept for backward."""

    @staticmethod
    def forward(ctx, x, key, p):
        ctx.key, ctx.p = key, p
        return _apply(x.detach(), key, p)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        return _apply(grad, ctx.key, ctx.p), None, None


def cpu_dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    """Training-mode dropout of a CPU float32/float64 tensor, 0 <= p < 1 (one key from torch's RNG)."""
    key = int(torch.randint(2 ** KEY_BITS, (), dtype=torch.int64))
    return _CpuDropout.apply(x, key, p)


class Dropout(nn.Module):
    """`nn.Dropout(p)` with `cpu_dropout` on CPU tensors of float32 / float64."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64) or self.p == 1.0:
            return F.dropout(x, self.p, training=True)
        return cpu_dropout(x, self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"
