"""Selective scan as a `torch.autograd.Function` with a hand-written, reverse-time backward.

    h_t = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t        (h_0 = 0, per batch and channel)
    y_t = <h_t, C_t>

Shapes: u, delta, y (B, L, D); A (D, N); B, C (B, L, N). Softplus of delta, the D skip and the z gate
stay outside (vectorised torch ops differentiated by autograd). Two implementations share the
Function: numba kernels for CPU tensors (`scan_cpu.py`) and a pure-torch one for any device (CUDA
without mamba-ssm, or a fallback) that loops over time on (B, D, N) slices in chunks and
recomputes states from per-chunk checkpoints in backward, so memory stays linear in L.
"""

from __future__ import annotations

import numba
import torch
from torch.autograd.function import once_differentiable

from . import scan_cpu

IMPLS = ("auto", "numba", "torch")
CPU_CHUNK = 128  # steps per recomputed chunk in the numba backward
TORCH_CHUNK = 64  # steps per chunk of (B, chunk, D, N) intermediates in the torch implementation


def _use_numba(u: torch.Tensor, impl: str) -> bool:
    if impl not in IMPLS:
        raise ValueError(f"selective scan impl must be one of {IMPLS}, got {impl!r}")
    if impl == "numba" and u.device.type != "cpu":
        raise ValueError("the numba selective scan needs CPU tensors; use impl='torch' on other devices")
    return impl == "numba" or (impl == "auto" and u.device.type == "cpu")


_announced = False


def _announce_compile() -> None:
    """Say once per process when the CPU kernels are about to be compiled rather than loaded from
    numba's disk cache (the first run of a fresh install: about a minute on a busy 2-core machine,
    during which the first progress bar would otherwise predict a long run and say nothing)."""
    global _announced
    if not _announced:
        _announced = True
        if not scan_cpu.kernels_cached():
            from ..logs import get_logger

            get_logger().info("compiling CPU kernels (first run only; cached on disk afterwards)")


def _numba_threads() -> None:
    """Use as many numba threads as torch uses (the user's --num_threads applies to both); announce a
    first compilation."""
    _announce_compile()
    numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))


def _as_arrays(*tensors: torch.Tensor):
    return [t.detach().contiguous().numpy() for t in tensors]


def _numba_forward(u, delta, A, Bm, Cm):
    _numba_threads()
    ys = torch.empty_like(u)
    width = scan_cpu.task_width(u.shape[0], u.shape[2], numba.get_num_threads())
    u_, delta_, AT, Bm_, Cm_ = _as_arrays(u, delta, A.t(), Bm, Cm)
    scan_cpu.scan_forward(u_, delta_, AT, Bm_, Cm_, ys.numpy(), width)
    return ys


def _numba_backward(u, delta, A, Bm, Cm, gy):
    _numba_threads()
    nb, L, D = u.shape
    N = A.shape[1]
    width = scan_cpu.task_width(nb, D, numba.get_num_threads())
    groups = -(-D // width)
    du, ddelta = torch.empty_like(u), torch.empty_like(u)
    dAT_part = u.new_empty(nb, N, D)
    dB_part, dC_part = u.new_empty(groups, nb, L, N), u.new_empty(groups, nb, L, N)
    u_, delta_, AT, Bm_, Cm_, gy_ = _as_arrays(u, delta, A.t(), Bm, Cm, gy)
    scan_cpu.scan_backward(u_, delta_, AT, Bm_, Cm_, gy_, du.numpy(), ddelta.numpy(), dAT_part.numpy(),
                           dB_part.numpy(), dC_part.numpy(), width, CPU_CHUNK)
    return du, ddelta, dAT_part.sum(0).t(), dB_part.sum(0), dC_part.sum(0)


def _chunk_terms(u, delta, A, Bm, t0, t1):
    """exp(delta A) and delta B u for steps t0:t1, each (B, t1 - t0, D, N)."""
    dA = torch.exp(delta[:, t0:t1, :, None] * A)
    dBu = (delta[:, t0:t1] * u[:, t0:t1])[..., None] * Bm[:, t0:t1, None, :]
    return dA, dBu


def _chunk_states(h, dA, dBu):
    """States of a chunk (B, K, D, N) from the state h before it."""
    states = torch.empty_like(dA)
    for k in range(dA.shape[1]):
        h = dA[:, k] * h + dBu[:, k]
        states[:, k] = h
    return states


def _torch_forward(u, delta, A, Bm, Cm):
    """Returns y and the state before each chunk (B, n_chunks, D, N) for the backward."""
    nb, L, D = u.shape
    h = u.new_zeros(nb, D, A.shape[1])
    ys = torch.empty_like(u)
    checkpoints = []
    for t0 in range(0, L, TORCH_CHUNK):
        t1 = min(L, t0 + TORCH_CHUNK)
        checkpoints.append(h)
        states = _chunk_states(h, *_chunk_terms(u, delta, A, Bm, t0, t1))
        ys[:, t0:t1] = torch.einsum("bkdn,bkn->bkd", states, Cm[:, t0:t1])
        h = states[:, -1]
    return ys, torch.stack(checkpoints, 1)


def _torch_backward(u, delta, A, Bm, Cm, gy, checkpoints):
    L = u.shape[1]
    du, ddelta = torch.empty_like(u), torch.empty_like(u)
    dB, dC = torch.empty_like(Bm), torch.empty_like(Cm)
    dA = torch.zeros_like(A)
    dh = torch.zeros_like(checkpoints[:, 0])  # dLoss/dh_t from later steps, times exp(delta_{t+1} A)
    for c in reversed(range(checkpoints.shape[1])):
        t0, t1 = c * TORCH_CHUNK, min(L, (c + 1) * TORCH_CHUNK)
        dA_c, dBu = _chunk_terms(u, delta, A, Bm, t0, t1)
        states = _chunk_states(checkpoints[:, c], dA_c, dBu)
        before = torch.cat([checkpoints[:, c, None], states[:, :-1]], 1)
        grad_h = gy[:, t0:t1, :, None] * Cm[:, t0:t1, None, :]
        for k in reversed(range(t1 - t0)):
            grad_h[:, k] += dh
            dh = grad_h[:, k] * dA_c[:, k]
        g_exp = grad_h * before * dA_c  # dLoss/d(delta A)
        gB = torch.einsum("bkdn,bkn->bkd", grad_h, Bm[:, t0:t1])
        ddelta[:, t0:t1] = (g_exp * A).sum(-1) + gB * u[:, t0:t1]
        du[:, t0:t1] = gB * delta[:, t0:t1]
        dA += torch.einsum("bkdn,bkd->dn", g_exp, delta[:, t0:t1])
        dB[:, t0:t1] = torch.einsum("bkdn,bkd->bkn", grad_h, delta[:, t0:t1] * u[:, t0:t1])
        dC[:, t0:t1] = torch.einsum("bkdn,bkd->bkn", states, gy[:, t0:t1])
    return du, ddelta, dA, dB, dC


class SelectiveScan(torch.autograd.Function):
    """y = scan(u, delta, A, B, C); see the module docstring."""

    @staticmethod
    def forward(ctx, u, delta, A, Bm, Cm, impl="auto"):
        ctx.use_numba = _use_numba(u, impl)
        if ctx.use_numba:
            ys, checkpoints = _numba_forward(u, delta, A, Bm, Cm), None
        else:
            ys, checkpoints = _torch_forward(u, delta, A, Bm, Cm)
        ctx.save_for_backward(u, delta, A, Bm, Cm, checkpoints)
        return ys

    @staticmethod
    @once_differentiable
    def backward(ctx, gy):
        u, delta, A, Bm, Cm, checkpoints = ctx.saved_tensors
        if ctx.use_numba:
            grads = _numba_backward(u, delta, A, Bm, Cm, gy)
        else:
            grads = _torch_backward(u, delta, A, Bm, Cm, gy.contiguous(), checkpoints)
        return (*grads, None)


def selective_scan(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, Bm: torch.Tensor, Cm: torch.Tensor,
                   impl: str = "auto") -> torch.Tensor:
    """Selective scan y (B, L, D); impl 'auto' = numba on CPU tensors, torch elsewhere.

    float32 and float64 run natively; other dtypes are computed in float32.
    """
    dtype = u.dtype
    if dtype not in (torch.float32, torch.float64):
        u, delta, A, Bm, Cm = (t.float() for t in (u, delta, A, Bm, Cm))
    else:
        delta, A, Bm, Cm = (t.to(dtype) for t in (delta, A, Bm, Cm))
    return SelectiveScan.apply(u, delta, A, Bm, Cm, impl).to(dtype)
