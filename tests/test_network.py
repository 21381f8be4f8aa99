"""SensitiveMamba network: shapes, RevIN, masking, positions, variants, one training step."""

from __future__ import annotations

import io

import pytest
import torch

from sensitive_hue.config import load_config
from sensitive_hue.errors import ConfigError
from sensitive_hue.losses import training_loss
from sensitive_hue.models import build_network
from sensitive_hue.models.mamba import Mamba
from sensitive_hue.models.revin import RevIN
from sensitive_hue.models.attention import SelfAttention


@pytest.fixture
def cfg():
    return load_config("config/star.yaml", "demo").replace(step_num_in=20, dim_model=16, dim_hidden_fc=24,
                                                          encode_layer_num=2, d_state=4)


@pytest.mark.parametrize("model, mixer", [("sensitive_mamba", Mamba), ("sensitive_hue", SelfAttention)])
def test_shapes_and_variants(cfg, model, mixer):
    net = build_network(cfg.replace(model=model), f_in=5).eval()
    assert all(isinstance(layer.mixer, mixer) for layer in net.layers) and len(net.layers) == 2
    x = torch.randn(3, 20, 5)
    recon, log_prec, latent = net(x, return_latent=True)
    assert recon.shape == log_prec.shape == (3, 20, 5) and latent.shape == (3, 20, 16)
    assert len(net(x)) == 2
    recon_short, _ = net(x[:, :7])
    assert recon_short.shape == (3, 7, 5)
    no_head = build_network(cfg.replace(model=model, uncertainty=False), f_in=5)
    assert no_head(x)[1] is None and no_head.sigma_linear is None


@pytest.mark.parametrize("model", ["sensitive_mamba", "sensitive_hue"])
def test_decode_steps_match_the_full_output(cfg, model):
    """Scoring decodes one step per window: the same values as the full output at that step."""
    net = build_network(cfg.replace(model=model), f_in=5).eval()
    x = torch.randn(4, 20, 5)
    with torch.inference_mode():
        recon, log_prec, latent = net(x, return_latent=True)
        for steps in (slice(10, 11), slice(19, 20), slice(0, 7)):
            part_recon, part_log_prec, part_latent = net(x, return_latent=True, decode_steps=steps)
            torch.testing.assert_close(part_recon, recon[:, steps], rtol=1e-6, atol=1e-6)
            torch.testing.assert_close(part_log_prec, log_prec[:, steps], rtol=1e-6, atol=1e-6)
            assert torch.equal(part_latent, latent)


def test_build_network_errors(cfg):
    with pytest.raises(ConfigError, match="model"):
        build_network(cfg.replace(model="pca"), f_in=5)
    with pytest.raises(ConfigError, match="mamba_backend"):
        build_network(cfg.replace(mamba_backend="cuda"), f_in=5)  # mamba-ssm is not installed here
    with pytest.raises(ValueError, match="step_num_in"):
        build_network(cfg, f_in=5)(torch.randn(1, 21, 5))


def test_revin_stored_is_the_exact_inverse():
    revin = RevIN("stored")
    x = torch.randn(4, 30, 3) * 5 + 2
    x_norm, stats = revin.norm(x)
    assert torch.allclose(x_norm.mean(1), torch.zeros(4, 3), atol=1e-5)
    assert torch.allclose(revin.denorm(x_norm, stats), x, atol=1e-5)
    y = torch.randn(4, 30, 3)
    assert torch.allclose(revin.denorm(y, stats), y * stats[1] + stats[0])


def test_revin_paper_uses_the_reconstructions_own_statistics():
    revin = RevIN("paper")
    x = torch.randn(4, 30, 3) * 5 + 2
    _, stats = revin.norm(x)
    y = torch.randn(4, 30, 3) * 0.5 + 1
    mean, std = y.mean(1, keepdim=True), torch.sqrt(y.var(1, keepdim=True, unbiased=False) + revin.eps)
    assert torch.allclose(revin.denorm(y, stats), y * std + mean)
    assert not torch.allclose(revin.denorm(y, stats), revin.denorm(y, None) * 0 + y * stats[1] + stats[0])


def test_revin_none_passes_through():
    revin = RevIN("none")
    x = torch.randn(2, 10, 3) * 4 + 1
    x_norm, stats = revin.norm(x)
    assert x_norm is x and stats is None and revin.denorm(x_norm, stats) is x_norm
    with pytest.raises(ValueError, match="revin_denorm"):
        RevIN("inverse")


def test_stored_reconstruction_follows_input_scale(cfg):
    """revin_denorm=stored: recon(a x + b) = a recon(x) + b, log_prec unchanged (the reconstruction
    follows any level and spread, which is why it is blind to sustained level shifts)."""
    net = build_network(cfg.replace(revin_denorm="stored"), f_in=5).eval()
    x = torch.randn(2, 20, 5)
    with torch.no_grad():
        recon, log_prec = net(x)
        recon2, log_prec2 = net(3 * x + 7)
    assert torch.allclose(recon2, 3 * recon + 7, atol=1e-3)
    assert torch.allclose(log_prec2, log_prec, atol=1e-3)


def test_paper_reconstruction_ignores_the_window_level(cfg):
    """revin_denorm=paper (default): the network sees only the window's shape, and its output does not
    move with the window's level or spread, so the error of a shifted window grows with the shift."""
    net = build_network(cfg, f_in=5).eval()
    assert net.revin.mode == "paper"
    x = torch.randn(2, 20, 5)
    with torch.no_grad():
        recon, log_prec = net(x)
        recon2, log_prec2 = net(3 * x + 7)
        mid = net(x, decode_steps=slice(10, 11))[0]
    assert torch.allclose(recon2, recon, atol=1e-4) and torch.allclose(log_prec2, log_prec, atol=1e-4)
    assert torch.allclose(mid, recon[:, 10:11], atol=1e-6)  # decoding one step keeps the window's statistics


def test_mask_zeroes_projected_input_and_positions_are_added(cfg):
    net = build_network(cfg, f_in=5).eval()
    seen = []
    net.layers[0].register_forward_pre_hook(lambda module, args: seen.append(args[0].detach()))
    x = torch.randn(2, 20, 5)
    mask = torch.ones(2, 20, dtype=torch.bool)
    mask[0, 3] = mask[1, 10:] = False
    with torch.no_grad():
        full = net(x)[0]
        net(x, mask=torch.ones_like(mask))
        net(x, mask=mask)
        net(x, positions=torch.arange(5, 25) % 20)
    pos = net.pos_embed.weight.detach()
    assert torch.equal(seen[0], seen[1])  # an all-True mask changes nothing
    assert torch.allclose(seen[2][0, 3], pos[3]) and torch.allclose(seen[2][1, 10:], pos[10:])
    assert torch.equal(seen[2][0, 4], seen[0][0, 4])
    projected = seen[0] - pos  # input projection alone; the embedding is added to it
    assert torch.allclose(seen[3], projected + pos[torch.arange(5, 25) % 20], atol=1e-6)
    assert not torch.allclose(projected, seen[0])
    assert full.shape == (2, 20, 5)


def test_state_dict_round_trip(cfg):
    net = build_network(cfg, f_in=5).eval()
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    buffer.seek(0)
    other = build_network(cfg.replace(mamba_backend="torch"), f_in=5).eval()
    other.load_state_dict(torch.load(buffer, weights_only=True))
    x = torch.randn(2, 20, 5)
    assert torch.equal(net(x)[0], other(x)[0])


def test_six_layer_d128_model_trains_one_step_on_cpu():
    cfg = load_config("config/star.yaml", "SWaT")
    assert (cfg.encode_layer_num, cfg.dim_model, cfg.dim_hidden_fc) == (6, 128, 512)
    torch.manual_seed(0)
    net = build_network(cfg, f_in=cfg.f_in)
    optimiser = torch.optim.AdamW(net.parameters(), lr=cfg.lr)
    before = [p.detach().clone() for p in net.parameters()]
    losses = training_loss(net, torch.randn(8, cfg.step_num_in, cfg.f_in), cfg)
    optimiser.zero_grad()
    losses["total"].backward()
    optimiser.step()
    assert all(torch.isfinite(v) for v in losses.values()) and losses["contrastive"] > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
    assert all(not torch.equal(a, p) for a, p in zip(before, net.parameters()))


def _saved_bytes(fn) -> int:
    """Bytes of the distinct tensors autograd saves for backward while `fn` runs."""
    storages: dict[int, int] = {}

    def pack(t):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(storages.values())


@pytest.mark.parametrize("model", ["sensitive_mamba", "sensitive_hue"])
def test_checkpointed_layers_give_the_same_losses_gradients_and_rng_state(cfg, model):
    """checkpoint_layers recomputes each encoder layer in backward: bit-identical losses and gradients
    (dropout on, so the recompute must draw the same masks) and the global RNG left where a plain step
    leaves it (resume stays bit-exact), while autograd saves far less."""
    cfg = cfg.replace(model=model, dropout=0.2, encode_layer_num=3)
    runs = {}
    for checkpointed in (False, True):
        torch.manual_seed(0)
        net = build_network(cfg.replace(checkpoint_layers=checkpointed), f_in=3).train()
        assert net.checkpoint_layers is checkpointed
        x = torch.randn(6, 20, 3)
        torch.manual_seed(5)
        losses = training_loss(net, x, cfg, backward=True)
        runs[checkpointed] = (losses, {n: p.grad for n, p in net.named_parameters()}, torch.get_rng_state(),
                              _saved_bytes(lambda: net(x)))
    (plain, plain_grads, plain_rng, plain_saved), (ckpt, ckpt_grads, ckpt_rng, ckpt_saved) = runs[False], runs[True]
    assert all(torch.equal(plain[k], ckpt[k]) for k in plain)
    assert all(torch.equal(plain_grads[n], ckpt_grads[n]) for n in plain_grads)
    assert torch.equal(plain_rng, ckpt_rng)
    assert ckpt_saved < plain_saved / 2, (ckpt_saved, plain_saved)


def test_checkpointing_is_skipped_without_autograd(cfg, monkeypatch):
    """Scoring (inference mode) runs the layers directly: no checkpoint call, the same output."""
    import sensitive_hue.models.network as network

    net = build_network(cfg.replace(checkpoint_layers=True), f_in=3).eval()
    calls = []
    monkeypatch.setattr(network, "checkpoint", lambda *a, **k: calls.append(1) or a[0](*a[1:]))
    x = torch.randn(2, 20, 3)
    with torch.inference_mode():
        recon, _ = net(x)
    assert not calls
    net.checkpoint_layers = False
    with torch.inference_mode():
        assert torch.equal(net(x)[0], recon)
    net.checkpoint_layers = True
    net(x)
    assert len(calls) == cfg.encode_layer_num
