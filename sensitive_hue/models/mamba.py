"""Mamba (S6) block with mamba-ssm's parameter names, shapes and initialisation.

`state_dict`s are interchangeable with `mamba_ssm.modules.mamba_simple.Mamba`. Backends:
`torch` = our selective scan (`scan.py`: numba kernels on CPU, pure torch on other devices);
`cuda` = mamba-ssm's fused `selective_scan_fn` (and causal-conv1d's `causal_conv1d_fn` when it
imports) on CUDA tensors; `auto` = `cuda` when those kernels import and the input is on a CUDA
device, else `torch`.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .scan import selective_scan

BACKENDS = ("auto", "torch", "cuda")


@functools.lru_cache(maxsize=None)
def cuda_kernels():
    """(selective_scan_fn, causal_conv1d_fn or None) when mamba-ssm imports and CUDA is up, else None."""
    if not torch.cuda.is_available():
        return None
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except ImportError:
        return None
    try:
        from causal_conv1d import causal_conv1d_fn
    except ImportError:
        causal_conv1d_fn = None
    return selective_scan_fn, causal_conv1d_fn


def check_backend(backend: str) -> None:
    """ConfigError when `backend` is unknown, or 'cuda' while mamba-ssm's kernels are unavailable."""
    if backend not in BACKENDS:
        raise ConfigError(f"config key 'mamba_backend' must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "cuda" and cuda_kernels() is None:
        why = "no CUDA device is visible" if not torch.cuda.is_available() else "mamba_ssm does not import"
        raise ConfigError("config key 'mamba_backend' is 'cuda' but " + why + "; install mamba-ssm and "
                          "causal-conv1d on a CUDA machine (requirements-gpu.txt) or use mamba_backend auto or torch")


class Mamba(nn.Module):
    """Selective state-space block; input and output (B, L, d_model)."""

    def __init__(self, d_model: int, d_state: int = 16, d_conv: int = 4, expand: int = 2, dt_rank="auto",
                 dt_min: float = 0.001, dt_max: float = 0.1, dt_init: str = "random", dt_scale: float = 1.0,
                 dt_init_floor: float = 1e-4, conv_bias: bool = True, bias: bool = False, backend: str = "auto"):
        super().__init__()
        check_backend(backend)
        self.backend = backend
        self.d_model, self.d_state, self.d_conv, self.expand = d_model, d_state, d_conv, expand
        self.d_inner = expand * d_model
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else dt_rank
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=bias)
        self.conv1d = nn.Conv1d(self.d_inner, self.d_inner, d_conv, groups=self.d_inner, padding=d_conv - 1,
                                bias=conv_bias)
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(self.d_inner, 1))
        self.D = nn.Parameter(torch.ones(self.d_inner))
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=bias)
        self._init_dt(dt_init, dt_scale, dt_min, dt_max, dt_init_floor)
        # Markers mamba-ssm's training code reads (no weight decay / keep this init).
        self.A_log._no_weight_decay = True
        self.D._no_weight_decay = True
        self.dt_proj.bias._no_reinit = True

    @torch.no_grad()
    def _init_dt(self, dt_init, dt_scale, dt_min, dt_max, dt_init_floor) -> None:
        """dt_proj as mamba-ssm: weight U(+-dt_rank^-0.5 scale), bias = softplus^-1(dt), dt log-uniform."""
        std = self.dt_rank ** -0.5 * dt_scale
        if dt_init == "constant":
            nn.init.constant_(self.dt_proj.weight, std)
        elif dt_init == "random":
            nn.init.uniform_(self.dt_proj.weight, -std, std)
        else:
            raise ValueError(f"dt_init must be 'constant' or 'random', got {dt_init!r}")
        dt = torch.exp(torch.rand(self.d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp(min=dt_init_floor)
        self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))

    def _use_cuda_kernels(self, u: torch.Tensor) -> bool:
        if self.backend == "torch":
            return False
        if self.backend == "cuda" and not u.is_cuda:
            raise ConfigError("config key 'mamba_backend' is 'cuda' but the model runs on the CPU; "
                              "set device cuda or mamba_backend auto")
        return u.is_cuda and cuda_kernels() is not None

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        if self._use_cuda_kernels(u):
            return self._forward_cuda(u)
        L = u.shape[1]
        x, z = self.in_proj(u).chunk(2, dim=-1)
        x = F.silu(self._causal_conv(x, L))
        dt, Bm, Cm = torch.split(self.x_proj(x), [self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.softplus(F.linear(dt, self.dt_proj.weight) + self.dt_proj.bias)
        A = -torch.exp(self.A_log)
        y = selective_scan(x, delta, A, Bm, Cm) + x * self.D
        return self.out_proj(y * F.silu(z))

    def _causal_conv(self, x: torch.Tensor, L: int) -> torch.Tensor:
        """Depthwise causal conv along time on (B, L, d_inner), as conv1d(padding=d_conv-1)[..., :L]."""
        weight = self.conv1d.weight[:, 0]  # (d_inner, d_conv)
        padded = F.pad(x, (0, 0, self.d_conv - 1, 0))
        out = padded[:, :L] * weight[:, 0]
        for k in range(1, self.d_conv):
            out = out + padded[:, k:k + L] * weight[:, k]
        return out if self.conv1d.bias is None else out + self.conv1d.bias

    def _forward_cuda(self, u: torch.Tensor) -> torch.Tensor:
        """mamba-ssm's non-fused path with its kernels; layout (B, channels, L) as they expect."""
        selective_scan_fn, causal_conv1d_fn = cuda_kernels()
        L = u.shape[1]
        x, z = self.in_proj(u).transpose(1, 2).contiguous().chunk(2, dim=1)
        if causal_conv1d_fn is None:
            x = F.silu(self.conv1d(x)[..., :L])
        else:
            x = causal_conv1d_fn(x, self.conv1d.weight[:, 0], self.conv1d.bias, activation="silu")
        dt, Bm, Cm = torch.split(self.x_proj(x.transpose(1, 2)), [self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.linear(dt, self.dt_proj.weight).transpose(1, 2)
        A = -torch.exp(self.A_log.float())
        y = selective_scan_fn(x, delta, A, Bm.transpose(1, 2).contiguous(), Cm.transpose(1, 2).contiguous(),
                              self.D.float(), z=z, delta_bias=self.dt_proj.bias.float(), delta_softplus=True)
        return self.out_proj(y.transpose(1, 2))
