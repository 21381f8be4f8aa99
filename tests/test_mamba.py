"""Mamba block: mamba-ssm's parameter layout and init, and a naive float64 reference of the block."""

from __future__ import annotations

import io
import math

import pytest
import torch
import torch.nn.functional as F

from sensitive_hue.errors import ConfigError
from sensitive_hue.models import mamba as mamba_module
from sensitive_hue.models.mamba import Mamba, check_backend

# mamba_ssm.modules.mamba_simple.Mamba(128, d_state=16, d_conv=2, expand=1) (reference README, section 4)
MAMBA_SSM_128 = {
    "in_proj.weight": (256, 128), "conv1d.weight": (128, 1, 2), "conv1d.bias": (128,),
    "x_proj.weight": (40, 128), "dt_proj.weight": (128, 8), "dt_proj.bias": (128,),
    "A_log": (128, 16), "D": (128,), "out_proj.weight": (128, 128),
}


def naive_mamba(m: Mamba, u: torch.Tensor) -> torch.Tensor:
    """The block written out step by step from its parameters (mamba-ssm's equations)."""
    Bsz, L, _ = u.shape
    Di, N, K = m.d_inner, m.d_state, m.d_conv
    xz = u @ m.in_proj.weight.T
    x, z = xz[..., :Di], xz[..., Di:]
    conv = []
    for t in range(L):
        acc = m.conv1d.bias.expand(Bsz, Di)
        for k in range(K):
            s = t - (K - 1) + k
            if s >= 0:
                acc = acc + m.conv1d.weight[:, 0, k] * x[:, s]
        conv.append(acc)
    x = F.silu(torch.stack(conv, 1))
    x_dbl = x @ m.x_proj.weight.T
    dt, Bm, Cm = x_dbl[..., :m.dt_rank], x_dbl[..., m.dt_rank:m.dt_rank + N], x_dbl[..., m.dt_rank + N:]
    delta = F.softplus(dt @ m.dt_proj.weight.T + m.dt_proj.bias)
    A = -torch.exp(m.A_log)
    h = u.new_zeros(Bsz, Di, N)
    ys = []
    for t in range(L):
        h = torch.exp(delta[:, t, :, None] * A) * h + (delta[:, t] * x[:, t])[..., None] * Bm[:, t, None, :]
        y = (h * Cm[:, t, None, :]).sum(-1) + m.D * x[:, t]
        ys.append(y * F.silu(z[:, t]))
    return torch.stack(ys, 1) @ m.out_proj.weight.T


def rel_err(a, b):
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


def test_parameter_names_and_shapes_match_mamba_ssm():
    m = Mamba(128, d_state=16, d_conv=2, expand=1)
    assert {k: tuple(v.shape) for k, v in m.state_dict().items()} == MAMBA_SSM_128
    m = Mamba(64)  # mamba-ssm defaults: d_conv 4, expand 2
    shapes = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    assert shapes == {"in_proj.weight": (256, 64), "conv1d.weight": (128, 1, 4), "conv1d.bias": (128,),
                      "x_proj.weight": (36, 128), "dt_proj.weight": (128, 4), "dt_proj.bias": (128,),
                      "A_log": (128, 16), "D": (128,), "out_proj.weight": (64, 128)}


def test_initialisation_matches_mamba_ssm():
    torch.manual_seed(0)
    m = Mamba(128, d_state=16, d_conv=2, expand=1)
    assert torch.equal(m.A_log, torch.log(torch.arange(1, 17, dtype=torch.float32)).repeat(128, 1))
    assert torch.equal(m.D, torch.ones(128))
    dt = F.softplus(m.dt_proj.bias)
    assert dt.min() >= 0.001 * (1 - 1e-5) and dt.max() <= 0.1 * (1 + 1e-5)
    assert dt.log().std() > 0.5  # log-uniform over [ln 0.001, ln 0.1], not constant
    bound = 8 ** -0.5
    assert m.dt_proj.weight.abs().max() <= bound and m.dt_proj.weight.abs().max() > 0.9 * bound
    assert m.A_log._no_weight_decay and m.D._no_weight_decay and m.dt_proj.bias._no_reinit


@pytest.mark.parametrize("d_conv, expand", [(2, 1), (4, 2)])
@pytest.mark.parametrize("length", [1, 7, 100])
def test_block_matches_naive_reference(d_conv, expand, length):
    """Output and the gradient of the input and of every parameter, float64."""
    torch.manual_seed(length + d_conv)
    m = Mamba(12, d_state=5, d_conv=d_conv, expand=expand, backend="torch").double()
    with torch.no_grad():  # break init symmetry so every parameter matters
        m.A_log.add_(0.3 * torch.randn_like(m.A_log))
        m.D.add_(0.5 * torch.randn_like(m.D))
    u = torch.randn(3, length, 12, dtype=torch.float64, requires_grad=True)
    grad_out = torch.randn(3, length, 12, dtype=torch.float64)
    results = []
    for fn in (m, lambda x: naive_mamba(m, x)):
        m.zero_grad()
        u.grad = None
        out = fn(u)
        out.backward(grad_out)
        results.append({"out": out.detach(), "input": u.grad.clone(),
                        **{name: p.grad.clone() for name, p in m.named_parameters()}})
    ours, ref = results
    assert set(ours) == set(ref) == {"out", "input", *MAMBA_SSM_128}
    for name in ref:
        assert rel_err(ours[name], ref[name]) <= 1e-6, name


def test_gradcheck_block():
    torch.manual_seed(0)
    m = Mamba(4, d_state=2, d_conv=2, expand=1, backend="torch").double()
    u = torch.randn(2, 5, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(m, (u,), eps=1e-6, atol=1e-7)


def test_state_dict_round_trip():
    torch.manual_seed(0)
    m = Mamba(16, d_state=8, d_conv=2, expand=1)
    buffer = io.BytesIO()
    torch.save(m.state_dict(), buffer)
    buffer.seek(0)
    other = Mamba(16, d_state=8, d_conv=2, expand=1, backend="torch")
    other.load_state_dict(torch.load(buffer, weights_only=True))
    u = torch.randn(2, 9, 16)
    assert torch.equal(m(u), other(u))


def test_conv_matches_torch_conv1d():
    """The shifted-sum causal conv equals the conv1d module it replaces (d_conv 3)."""
    m = Mamba(6, d_conv=3, expand=1)
    x = torch.randn(2, 11, 6)
    expected = m.conv1d(x.transpose(1, 2))[..., :11].transpose(1, 2)
    assert torch.allclose(m._causal_conv(x, 11), expected, atol=1e-6)


def test_backend_errors(monkeypatch):
    with pytest.raises(ConfigError, match="mamba_backend"):
        check_backend("fast")
    monkeypatch.setattr(mamba_module, "cuda_kernels", lambda: None)
    with pytest.raises(ConfigError, match="mamba_backend.*'cuda'.*auto or torch"):
        Mamba(8, backend="cuda")
    m = Mamba(8, backend="auto")  # falls back to the torch backend
    assert m(torch.randn(1, 3, 8)).shape == (1, 3, 8)


def test_cuda_backend_needs_cuda_input(monkeypatch):
    monkeypatch.setattr(mamba_module, "cuda_kernels", lambda: (None, None))
    m = Mamba(8, backend="cuda")
    with pytest.raises(ConfigError, match="runs on the CPU"):
        m(torch.randn(1, 3, 8))


def test_dt_rank_default():
    assert Mamba(128).dt_rank == 8 and Mamba(64).dt_rank == 4 and Mamba(20).dt_rank == math.ceil(20 / 16)
