"""Selective scan: both implementations against a naive float64 loop differentiated by autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sensitive_hue.models import scan, scan_cpu
from sensitive_hue.models.scan import selective_scan


def naive_scan(u, delta, A, Bm, Cm):
    """h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t, y_t = <h_t, C_t>, one step at a time."""
    h = u.new_zeros(u.shape[0], u.shape[2], A.shape[1])
    ys = []
    for t in range(u.shape[1]):
        h = torch.exp(delta[:, t, :, None] * A) * h + (delta[:, t] * u[:, t])[..., None] * Bm[:, t, None, :]
        ys.append((h * Cm[:, t, None, :]).sum(-1))
    return torch.stack(ys, 1)


def scan_inputs(batch, length, channels, states, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(batch, length, channels, generator=g, dtype=dtype)
    delta = torch.nn.functional.softplus(torch.randn(batch, length, channels, generator=g, dtype=dtype) - 1)
    A = -torch.exp(torch.randn(channels, states, generator=g, dtype=dtype))
    Bm = torch.randn(batch, length, states, generator=g, dtype=dtype)
    Cm = torch.randn(batch, length, states, generator=g, dtype=dtype)
    return [t.requires_grad_() for t in (u, delta, A, Bm, Cm)]


def rel_err(a, b):
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


def outputs_and_grads(fn, inputs, grad_out):
    for t in inputs:
        t.grad = None
    y = fn(*inputs)
    y.backward(grad_out)
    return [y.detach()] + [t.grad.clone() for t in inputs]


SHAPES = [(1, 1, 3, 2), (3, 7, 20, 4), (2, 100, 8, 16)]


@pytest.mark.parametrize("impl", ["numba", "torch"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("chunk", [3, 1000])
def test_matches_naive_loop(impl, shape, chunk, monkeypatch):
    """Output and the gradients of u, delta, A, B, C; small chunks exercise the checkpoints."""
    monkeypatch.setattr(scan, "CPU_CHUNK", chunk)
    monkeypatch.setattr(scan, "TORCH_CHUNK", chunk)
    inputs = scan_inputs(*shape)
    grad_out = torch.randn(shape[0], shape[1], shape[2], dtype=torch.float64)
    ours = outputs_and_grads(lambda *a: selective_scan(*a, impl=impl), inputs, grad_out)
    ref = outputs_and_grads(naive_scan, inputs, grad_out)
    for name, a, b in zip(["y", "u", "delta", "A", "B", "C"], ours, ref):
        assert a.shape == b.shape
        assert rel_err(a, b) <= 1e-6, name


@pytest.mark.parametrize("impl", ["numba", "torch"])
def test_gradcheck(impl, monkeypatch):
    monkeypatch.setattr(scan, "CPU_CHUNK", 2)
    monkeypatch.setattr(scan, "TORCH_CHUNK", 2)
    inputs = scan_inputs(2, 5, 3, 2, seed=1)
    assert torch.autograd.gradcheck(lambda *a: selective_scan(*a, impl=impl), inputs, eps=1e-6, atol=1e-7)


def test_float32_close_to_float64():
    """The float32 kernels (float32 exp polynomial) stay near the float64 result."""
    inputs = scan_inputs(4, 50, 70, 16)
    grad_out = torch.randn(4, 50, 70, dtype=torch.float64)
    ref = outputs_and_grads(naive_scan, inputs, grad_out)
    inputs32 = [t.detach().float().requires_grad_() for t in inputs]
    ours = outputs_and_grads(selective_scan, inputs32, grad_out.float())
    for name, a, b in zip(["y", "u", "delta", "A", "B", "C"], ours, ref):
        assert a.dtype == torch.float32
        assert rel_err(a.double(), b) <= 1e-5, name


@pytest.mark.parametrize("dtype, tol", [(np.float32, 2e-7), (np.float64, 1e-15)])
def test_exp_polynomial_accuracy(dtype, tol):
    x = -np.concatenate([np.linspace(0, 80, 200_001), np.random.default_rng(0).exponential(3, 10_000)]).astype(dtype)
    out = np.empty_like(x)
    scan_cpu.exp_nonpos_array(x, out)
    ref = np.exp(x.astype(np.float64))
    assert out.dtype == dtype
    assert np.max(np.abs(out - ref) / ref) <= tol
    assert out[0] == 1.0


def test_exp_polynomial_underflow_is_tiny():
    x = np.array([-90.0, -200.0, -1e30, -np.inf], dtype=np.float32)
    out = np.empty_like(x)
    scan_cpu.exp_nonpos_array(x, out)
    assert np.all(out >= 0) and np.all(out < 2e-38)


def test_task_width_keeps_threads_busy():
    assert scan_cpu.task_width(64, 128, 2) == 64
    assert scan_cpu.task_width(1, 128, 2) == 16
    assert scan_cpu.task_width(4, 8, 2) == 8


def test_other_dtypes_and_errors():
    inputs = [t.detach() for t in scan_inputs(2, 4, 3, 2)]
    y64 = selective_scan(*inputs)
    y16 = selective_scan(*(t.to(torch.bfloat16) for t in inputs))
    assert y16.dtype == torch.bfloat16
    assert rel_err(y16.double(), y64) < 0.05
    with pytest.raises(ValueError, match="impl"):
        selective_scan(*inputs, impl="fast")


def test_first_compilation_is_announced_once(monkeypatch, caplog):
    import logging

    from sensitive_hue.models import scan, scan_cpu

    monkeypatch.setattr(scan, "_announced", False)
    monkeypatch.setattr(scan_cpu, "kernels_cached", lambda: False)
    from sensitive_hue.logs import get_logger

    get_logger().addHandler(caplog.handler)  # the CLI's setup_logging stops propagation to the root logger
    try:
        with caplog.at_level(logging.INFO, logger="sensitive_hue"):
            scan._numba_threads()
            scan._numba_threads()
    finally:
        get_logger().removeHandler(caplog.handler)
    seen = [r for r in caplog.records if r.getMessage() == "compiling CPU kernels (first run only; cached on disk afterwards)"]
    assert len({id(r) for r in seen}) == 1  # one record (a handler may see it twice: caplog's and the root's)


def test_kernels_are_found_in_the_cache_after_a_call():
    from sensitive_hue.models import scan_cpu

    u = np.ones((1, 4, 2), dtype=np.float32)
    scan_cpu.scan_forward(u, u, np.full((3, 2), -1.0, np.float32), np.ones((1, 4, 3), np.float32),
                          np.ones((1, 4, 3), np.float32), np.empty_like(u), 2)
    assert scan_cpu.kernels_cached()
