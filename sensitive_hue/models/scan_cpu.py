"""Numba CPU kernels of the selective scan (forward and reverse-time backward).

Why numba: the recurrence h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t is sequential in time, so
torch can only loop over time in Python and materialise (B, L, D, N) intermediates; memory traffic
then dominates. These kernels run one task per (batch, group of `width` channels), keep the state
(N, width) in a small local array, and compute exp(delta A) on the fly with a branch-free exp that
LLVM vectorises across channels (libm's exp is not vectorised without SVML).

Layout: u, delta, ys (B, L, D) and Bm, Cm (B, L, N) contiguous; AT = A transposed, (N, D).
Compiled on first use (several seconds) and cached on disk (`cache=True`).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import numba
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic, overload


# numba's OpenMP layer sleeps between calls and wakes slowly here (~8 ms per call measured on the
# 2-core VM); the workqueue pool does not. A user's NUMBA_THREADING_LAYER still wins.
if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"


def kernels_cached() -> bool:
    """True when numba's on-disk cache (next to this file, or NUMBA_CACHE_DIR) holds the compiled
    kernels of this module, so the first call loads them instead of compiling."""
    import sys

    roots = [Path(__file__).parent / "__pycache__"]
    if os.environ.get("NUMBA_CACHE_DIR"):
        roots.append(Path(os.environ["NUMBA_CACHE_DIR"]))
    line = scan_forward.py_func.__code__.co_firstlineno  # numba's index file is named after it
    name = f"scan_cpu.scan_forward-{line}.py{sys.version_info.major}{sys.version_info.minor}.nbi"
    return any(any(root.rglob(name)) for root in roots if root.is_dir())


@intrinsic
def _int32_bits_as_float32(typingctx, bits):
    """Reinterpret int32 bits as float32 (builds 2**k without a libm call)."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


@intrinsic
def _int64_bits_as_float64(typingctx, bits):
    """Reinterpret int64 bits as float64."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


# exp(x) = 2**k * exp(r), k = round(x / ln 2), r = x - k ln 2 split in two parts (Cody-Waite),
# exp(r) by its Taylor polynomial (|r| <= ln2 / 2: degree 7 is below float32 rounding, degree 13
# below float64 rounding). Inputs are clamped so 2**k stays a normal number.
_F32 = np.float32
_LOG2E_32, _LN2_HI_32, _LN2_LO_32 = _F32(1.4426950408889634), _F32(0.693359375), _F32(-2.12194440e-4)
_MIN_32, _HALF_32 = _F32(-87.0), _F32(0.5)
_TAYLOR_32 = tuple(_F32(1.0 / math.factorial(i)) for i in range(8))
_LOG2E_64, _LN2_HI_64, _LN2_LO_64 = 1.4426950408889634, 6.93147180369123816490e-01, 1.90821492927058770002e-10
_MIN_64 = -708.0
_TAYLOR_64 = tuple(1.0 / math.factorial(i) for i in range(14))


def exp_nonpos(x):
    """exp(x) for x <= 0 (vectorisable); typed implementations below."""
    raise NotImplementedError("numba-only function")


@overload(exp_nonpos, inline="always")
def _exp_nonpos_impl(x):
    if x == types.float32:
        def impl32(x):
            x = max(x, _MIN_32)
            k = np.floor(x * _LOG2E_32 + _HALF_32)
            r = (x - k * _LN2_HI_32) - k * _LN2_LO_32
            c = _TAYLOR_32
            p = c[0] + r * (c[1] + r * (c[2] + r * (c[3] + r * (c[4] + r * (c[5] + r * (c[6] + r * c[7]))))))
            return p * _int32_bits_as_float32((np.int32(k) + np.int32(127)) << np.int32(23))
        return impl32
    if x == types.float64:
        def impl64(x):
            x = max(x, _MIN_64)
            k = np.floor(x * _LOG2E_64 + 0.5)
            r = (x - k * _LN2_HI_64) - k * _LN2_LO_64
            c = _TAYLOR_64
            p = c[13]
            p = c[12] + r * p
            p = c[11] + r * p
            p = c[10] + r * p
            p = c[9] + r * p
            p = c[8] + r * p
            p = c[7] + r * p
            p = c[6] + r * p
            p = c[5] + r * p
            p = c[4] + r * p
            p = c[3] + r * p
            p = c[2] + r * p
            p = c[1] + r * p
            p = c[0] + r * p
            return p * _int64_bits_as_float64((np.int64(k) + np.int64(1023)) << np.int64(52))
        return impl64
    return None


@njit(cache=True)
def exp_nonpos_array(x, out):
    """`exp_nonpos` over an array (for tests of its accuracy)."""
    for i in range(x.size):
        out[i] = exp_nonpos(x[i])


@njit(cache=True, fastmath={"reassoc"})
def _dot(x, y):
    """Sum of x * y; reassociation lets LLVM vectorise this reduction (used for dB, dC)."""
    total = x[0] * y[0]
    for j in range(1, x.shape[0]):
        total += x[j] * y[j]
    return total


@njit(cache=True, fastmath={"contract"})
def _advance(h_prev, h_next, delta, u, AT, brow, d0, w):
    """One time step for channels d0:d0+w: h_next = exp(delta A) h_prev + delta u B."""
    for n in range(AT.shape[0]):
        bn = brow[n]
        for j in range(w):
            h_next[n, j] = exp_nonpos(delta[j] * AT[n, d0 + j]) * h_prev[n, j] + delta[j] * u[j] * bn


def task_width(batch: int, channels: int, threads: int) -> int:
    """Channels per task: large groups, but at least 4 tasks per thread when the batch is small."""
    width = min(channels, 64)
    while width > 16 and batch * -(-channels // width) < 4 * threads:
        width //= 2
    return width


@njit(cache=True, fastmath={"contract"})
def _fill_states(states, b, t0, t1, delta, u, AT, Bm, d0, w):
    """states[i + 1] = state after step t0 + i, from states[0] (distinct buffers let LLVM vectorise)."""
    for t in range(t0, t1):
        _advance(states[t - t0], states[t - t0 + 1], delta[b, t, d0:d0 + w], u[b, t, d0:d0 + w], AT, Bm[b, t], d0, w)


@njit(parallel=True, cache=True)
def scan_forward(u, delta, AT, Bm, Cm, ys, width):
    """ys[b, t, d] = sum_n h_t[d, n] C_t[n], with h_0 = 0; one task per (batch, channel group)."""
    nb, L, D = u.shape
    N = AT.shape[0]
    groups = (D + width - 1) // width
    for task in prange(nb * groups):
        b = task // groups
        d0 = (task % groups) * width
        w = min(D, d0 + width) - d0
        pair = np.zeros((2, N, w), dtype=u.dtype)  # ping-pong buffers: previous and current state
        acc = np.empty(w, dtype=u.dtype)
        for t in range(L):
            h = pair[(t + 1) % 2]
            _advance(pair[t % 2], h, delta[b, t, d0:d0 + w], u[b, t, d0:d0 + w], AT, Bm[b, t], d0, w)
            acc[:] = 0
            for n in range(N):
                cn = Cm[b, t, n]
                for j in range(w):
                    acc[j] += h[n, j] * cn
            ys[b, t, d0:d0 + w] = acc


@njit(cache=True, fastmath={"contract"})
def _reverse_step(t, h_now, h_before, dh, dA_acc, delta, u, gy, AT, Bm, Cm, dB_out, dC_out, dd, du_acc, d0, w,
                  g_n, e_n, g_exp, delta_u):
    """Back-propagate through step t; dh holds dLoss/dh_t from later steps and leaves as dLoss/dh_{t-1}.

    Simple loops over channels (one or two outputs each) so that LLVM vectorises every one of them.
    """
    for j in range(w):
        dd[j] = 0
        du_acc[j] = 0
        delta_u[j] = delta[j] * u[j]
    for n in range(AT.shape[0]):
        bn = Bm[t, n]
        cn = Cm[t, n]
        a = AT[n, d0:d0 + w]
        dh_n = dh[n]
        dA_n = dA_acc[n]
        hb = h_before[n]
        for j in range(w):
            e_n[j] = exp_nonpos(delta[j] * a[j])
        for j in range(w):
            g_n[j] = dh_n[j] + gy[j] * cn  # total dLoss/dh_t
        for j in range(w):
            g_exp[j] = g_n[j] * hb[j] * e_n[j]  # dLoss/d(delta A)
        for j in range(w):
            dd[j] += g_exp[j] * a[j] + g_n[j] * bn * u[j]
        for j in range(w):
            du_acc[j] += g_n[j] * delta[j] * bn
        for j in range(w):
            dA_n[j] += g_exp[j] * delta[j]
        for j in range(w):
            dh_n[j] = g_n[j] * e_n[j]
        dB_out[n] = _dot(g_n, delta_u)
        dC_out[n] = _dot(gy, h_now[n])


@njit(parallel=True, cache=True)
def scan_backward(u, delta, AT, Bm, Cm, gy, du, ddelta, dAT_part, dB_part, dC_part, width, chunk):
    """Gradients of `scan_forward` given gy = dLoss/dys, by a reverse-time scan.

    States are recomputed per task: checkpoints every `chunk` steps, then each chunk's states
    into a (chunk + 1, N, width) scratch, so memory is O((L / chunk + chunk) N width) per task.
    Outputs: du, ddelta (B, L, D); dAT_part (B, N, D) summed over batch by the caller;
    dB_part, dC_part (groups, B, L, N) summed over groups by the caller.
    """
    nb, L, D = u.shape
    N = AT.shape[0]
    groups = (D + width - 1) // width
    n_chunks = (L + chunk - 1) // chunk
    for task in prange(nb * groups):
        b = task // groups
        g = task % groups
        d0 = g * width
        w = min(D, d0 + width) - d0
        states = np.empty((min(chunk, L) + 1, N, w), dtype=u.dtype)
        checkpoints = np.zeros((n_chunks, N, w), dtype=u.dtype)  # state before each chunk
        for c in range(1, n_chunks):
            states[0] = checkpoints[c - 1]
            _fill_states(states, b, (c - 1) * chunk, c * chunk, delta, u, AT, Bm, d0, w)
            checkpoints[c] = states[chunk]
        dh = np.zeros((N, w), dtype=u.dtype)
        dA_acc = np.zeros((N, w), dtype=u.dtype)
        work = np.empty((6, w), dtype=u.dtype)
        for c in range(n_chunks - 1, -1, -1):
            t0 = c * chunk
            t1 = min(L, t0 + chunk)
            states[0] = checkpoints[c]
            _fill_states(states, b, t0, t1, delta, u, AT, Bm, d0, w)
            for t in range(t1 - 1, t0 - 1, -1):
                _reverse_step(t, states[t - t0 + 1], states[t - t0], dh, dA_acc, delta[b, t, d0:d0 + w],
                              u[b, t, d0:d0 + w], gy[b, t, d0:d0 + w], AT, Bm[b], Cm[b],
                              dB_part[g, b, t], dC_part[g, b, t], work[0], work[1], d0, w,
                              work[2], work[3], work[4], work[5])
                ddelta[b, t, d0:d0 + w] = work[0]
                du[b, t, d0:d0 + w] = work[1]
        dAT_part[b, :, d0:d0 + w] = dA_acc
