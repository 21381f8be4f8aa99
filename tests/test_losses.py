"""Losses: hand-computed values, the vectorised contrastive loss against a direct loop, crops, RNG."""

from __future__ import annotations

import math

import pytest
import torch

from sensitive_hue import losses
from sensitive_hue.config import load_config
from sensitive_hue.losses import (hierarchical_contrastive_loss, overlapping_crops, pointwise_nll, training_loss,
                                  weighted_nll)
from sensitive_hue.models import build_network


@pytest.fixture
def cfg():
    return load_config("config/star.yaml", "demo").replace(step_num_in=16, dim_model=8, dim_hidden_fc=12,
                                                          encode_layer_num=1, d_state=4, dropout=0.0)


def test_pointwise_nll_by_hand():
    x = torch.tensor([[[1.0, 2.0]]])
    recon = torch.tensor([[[0.0, 2.5]]])
    s = torch.tensor([[[math.log(2.0), 0.0]]])
    assert torch.allclose(pointwise_nll(x, recon, s), torch.tensor([[[2 - math.log(2.0), 0.25]]]))
    assert torch.allclose(pointwise_nll(x, recon, None), torch.tensor([[[1.0, 0.25]]]))


def test_weighted_nll_by_hand():
    """Two series, one point: var = exp(-s) = (1, 0.5), batch mean 0.75, weights (4/3, 2/3)."""
    x = torch.tensor([[[1.0]], [[1.0]]])
    recon = torch.zeros(2, 1, 1)
    s = torch.tensor([[[0.0]], [[math.log(2.0)]]], requires_grad=True)
    nll = torch.tensor([1.0, 2 - math.log(2.0)])
    loss = weighted_nll(x, recon, s, alpha=1.0)
    assert loss.item() == pytest.approx(((4 / 3) * nll[0] + (2 / 3) * nll[1]).item() / 2)
    assert weighted_nll(x, recon, s, alpha=0.0).item() == pytest.approx(nll.mean().item())
    assert weighted_nll(x, recon, s, alpha=2.0).item() == pytest.approx(
        ((16 / 9) * nll[0] + (4 / 9) * nll[1]).item() / 2)
    loss.backward()  # the weights are constants: d/ds = w * (exp(s) - 1) / 2
    assert torch.allclose(s.grad.flatten(), torch.tensor([4 / 3 * 0.0, 2 / 3 * 1.0]) / 2)
    assert weighted_nll(x, recon, None, alpha=1.0).item() == pytest.approx(1.0)


def test_contrast_by_hand():
    e1, e2 = torch.tensor([1.0, 0.0], dtype=torch.float64), torch.tensor([0.0, 1.0], dtype=torch.float64)
    z = torch.stack([e1, e2])[None]  # one set of two items; identical views
    # each item: positive at cosine 1, two others at cosine 0; temperature 0.1
    assert losses._contrast(z, z, 0.1).item() == pytest.approx(math.log(1 + 2 * math.exp(-10)), rel=1e-5)
    single = torch.tensor([[[3.0, 4.0]]])
    assert losses._contrast(single, -single, 0.1).item() == pytest.approx(0.0, abs=1e-6)  # only the positive


def loop_contrast(items1, items2, temperature):
    """Cross-entropy of each item's positive over all other items, by explicit loops."""
    items = [torch.nn.functional.normalize(v, dim=0) for v in items1 + items2]
    M = len(items1)
    total = 0.0
    for i in range(2 * M):
        positive = (i + M) % (2 * M)
        logits = {j: float(items[i] @ items[j]) / temperature for j in range(2 * M) if j != i}
        log_denominator = math.log(sum(math.exp(v) for v in logits.values()))
        total += log_denominator - logits[positive]
    return total / (2 * M)


def loop_hierarchical(z1, z2, beta, temporal_unit, temperature):
    B = z1.shape[0]
    total, depth = 0.0, 0
    while True:
        T = z1.shape[1]
        if beta > 0 and B > 1:
            total += beta * sum(loop_contrast([z1[b, t] for b in range(B)], [z2[b, t] for b in range(B)],
                                              temperature) for t in range(T)) / T
        if beta < 1 and depth >= temporal_unit and T > 1:
            total += (1 - beta) * sum(loop_contrast([z1[b, t] for t in range(T)], [z2[b, t] for t in range(T)],
                                                    temperature) for b in range(B)) / B
        depth += 1
        if T == 1:
            return total / depth
        pairs = T // 2
        z1 = torch.stack([torch.maximum(z1[:, 2 * k], z1[:, 2 * k + 1]) for k in range(pairs)], 1)
        z2 = torch.stack([torch.maximum(z2[:, 2 * k], z2[:, 2 * k + 1]) for k in range(pairs)], 1)


@pytest.mark.parametrize("beta, temporal_unit, length, batch", [(0.5, 1, 13, 3), (0.5, 0, 8, 2), (1.0, 0, 5, 4),
                                                               (0.0, 1, 6, 3), (0.5, 0, 7, 1)])
def test_hierarchical_loss_equals_loop(beta, temporal_unit, length, batch):
    g = torch.Generator().manual_seed(length)
    z1 = torch.randn(batch, length, 5, generator=g, dtype=torch.float64)
    z2 = z1 + 0.5 * torch.randn(batch, length, 5, generator=g, dtype=torch.float64)
    ours = hierarchical_contrastive_loss(z1, z2, beta, temporal_unit, temperature=0.5).item()
    assert ours == pytest.approx(loop_hierarchical(z1, z2, beta, temporal_unit, 0.5), rel=1e-9)


def test_overlapping_crops():
    torch.manual_seed(0)
    for length in (1, 2, 5, 100):
        for _ in range(50):
            starts, crop, overlap = overlapping_crops(length, 7, temporal_unit=1)
            assert min(length, 4) <= overlap <= crop <= length
            assert starts.min() >= 0 and int(starts.max()) + 2 * crop - overlap <= length


def test_views_overlap_same_timestamps(cfg, monkeypatch):
    """The model sees crops of x at the positions it is given; z1 and z2 are the same timestamps."""
    seen = {}

    class Probe(torch.nn.Module):
        def forward(self, x, mask=None, return_latent=False, positions=None):
            seen.update(views=x, mask=mask, positions=positions)
            return None, None, x  # latent = the input itself

    def capture(z1, z2, beta, temporal_unit, temperature):
        seen.update(z1=z1, z2=z2)
        return z1.sum() * 0

    monkeypatch.setattr(losses, "hierarchical_contrastive_loss", capture)
    torch.manual_seed(3)
    x = torch.randn(4, 16, 3)
    losses.contrastive_views_loss(Probe(), x, cfg)
    views, positions = seen["views"], seen["positions"]
    assert views.shape[0] == 8 and seen["mask"].shape == positions.shape == views.shape[:2]
    assert seen["mask"].dtype == torch.bool and 0 < seen["mask"].float().mean() < 1
    for b in range(8):
        assert torch.equal(views[b], x[b % 4, positions[b]])
    assert torch.equal(seen["z1"], seen["z2"]) and seen["z1"].shape[1] >= 4


@pytest.mark.parametrize("model", ["sensitive_mamba", "sensitive_hue"])
def test_gradients_reach_every_parameter(cfg, model):
    torch.manual_seed(0)
    net = build_network(cfg.replace(model=model), f_in=3)
    out = training_loss(net, torch.randn(4, 16, 3), cfg)
    out["total"].backward()
    assert set(out) == {"total", "nll", "contrastive"}
    assert torch.allclose(out["total"], out["nll"] + cfg.gamma * out["contrastive"])
    missing = [name for name, p in net.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing


@pytest.mark.parametrize("contrastive", [True, False])
def test_backward_term_by_term_gives_the_same_gradients(cfg, contrastive):
    """training_loss(backward=True), as training uses it: the same losses and bit-identical gradients as
    total.backward() (dropout on, so the RNG order matters), with the graph freed after each term."""
    cfg = cfg.replace(dropout=0.2, contrastive=contrastive, gamma=0.7)
    torch.manual_seed(0)
    net = build_network(cfg, f_in=3).train()
    x = torch.randn(4, 16, 3)
    torch.manual_seed(5)
    joint = training_loss(net, x, cfg)
    joint["total"].backward()
    expected = {name: p.grad.clone() for name, p in net.named_parameters()}
    net.zero_grad(set_to_none=True)
    torch.manual_seed(5)
    split = training_loss(net, x, cfg, backward=True)
    assert all(not value.requires_grad for value in split.values())
    for key in joint:
        assert torch.equal(split[key], joint[key].detach())
    for name, p in net.named_parameters():
        assert torch.equal(p.grad, expected[name]), name


def test_contrastive_switches(cfg):
    net = build_network(cfg, f_in=3)
    x = torch.randn(4, 16, 3)
    for off in (cfg.replace(contrastive=False), cfg.replace(gamma=0.0)):
        out = training_loss(net, x, off)
        assert out["contrastive"].item() == 0.0 and torch.equal(out["total"], out["nll"])
    no_head = build_network(cfg.replace(uncertainty=False), f_in=3)
    out = training_loss(no_head, x, cfg.replace(contrastive=False))
    recon, _ = no_head(x)
    assert out["nll"].item() == pytest.approx(((x - recon) ** 2).mean().item(), rel=1e-5)


def test_global_rng_makes_losses_reproducible(cfg):
    net = build_network(cfg, f_in=3)
    x = torch.randn(4, 16, 3)
    torch.manual_seed(11)
    first = training_loss(net, x, cfg)["total"]
    state = torch.get_rng_state()
    second_a = training_loss(net, x, cfg)["total"]
    torch.set_rng_state(state)
    second_b = training_loss(net, x, cfg)["total"]
    assert torch.equal(second_a, second_b) and not torch.equal(first, second_a)
