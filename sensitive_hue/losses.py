"""Training losses: heteroscedastic NLL and TS2Vec's hierarchical contrastive loss.

`training_loss(model, x, cfg)` runs two forwards per step: the full window for the NLL and both
contrastive views stacked into one batch (training backpropagates each before the next forward).
Random crops and masks draw from the global torch RNG, always on the CPU generator, so saving
torch's CPU RNG state is enough to resume bit-exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import Config


def pointwise_nll(x: torch.Tensor, recon: torch.Tensor, log_prec: torch.Tensor | None) -> torch.Tensor:
    """(x - recon)^2 * exp(s) - s per point (B, T, F), s = log-precision; squared error when s is None."""
    squared = (x - recon) ** 2
    return squared if log_prec is None else squared * torch.exp(log_prec) - log_prec


def weighted_nll(x: torch.Tensor, recon: torch.Tensor, log_prec: torch.Tensor | None, alpha: float) -> torch.Tensor:
    """Mean NLL, each point weighted by (var / batch-mean var)^alpha, var = exp(-s) detached.

    The weight (as in the paper's code for alpha = 1) stops confident points from dominating;
    alpha = 0 gives the plain NLL. Without a log-precision head: mean squared error.
    """
    nll = pointwise_nll(x, recon, log_prec)
    if log_prec is None or alpha == 0:
        return nll.mean()
    var = torch.exp(-log_prec).detach()
    weight = (var / var.mean(dim=0, keepdim=True)) ** alpha
    return (weight * nll).mean()


def overlapping_crops(length: int, batch: int, temporal_unit: int, device=None):
    """Random TS2Vec crops of equal length so both views of a batch stack into one forward.

    Draws an overlap length `overlap` >= min(length, 2^(temporal_unit+1)), a view length
    `crop` in [overlap, (length + overlap) // 2] and one offset per series. View 1 covers
    [start, start + crop), view 2 [start + crop - overlap, start + 2 crop - overlap): the overlap
    is the last `overlap` steps of view 1 and the first `overlap` of view 2.
    Returns (starts (B,) long, crop, overlap).
    """
    low = min(length, 2 ** (temporal_unit + 1))
    overlap = int(torch.randint(low, length + 1, ()))
    crop = int(torch.randint(overlap, (length + overlap) // 2 + 1, ()))
    starts = torch.randint(0, length - (2 * crop - overlap) + 1, (batch,)).to(device)
    return starts, crop, overlap


def _contrast(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE over S independent sets of M pairs: z1, z2 (S, M, C).

    Each of the 2M items is scored against the 2M - 1 others (its positive, the same index in the
    other view, included in the softmax denominator) by cosine similarity / temperature.
    """
    M = z1.shape[1]
    z = F.normalize(torch.cat([z1, z2], dim=1), dim=-1)
    sim = z @ z.transpose(1, 2) / temperature
    self_pair = torch.eye(2 * M, dtype=torch.bool, device=z.device)
    log_prob = torch.log_softmax(sim.masked_fill(self_pair, float("-inf")), dim=-1)
    i = torch.arange(M, device=z.device)
    return -(log_prob[:, i, M + i].mean() + log_prob[:, M + i, i].mean()) / 2


def instance_contrastive_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """At each timestamp, the 2B series representations contrast with each other; z (B, T, C)."""
    if z1.shape[0] == 1:
        return z1.new_zeros(())
    return _contrast(z1.transpose(0, 1), z2.transpose(0, 1), temperature)


def temporal_contrastive_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """Within each series, the 2T timestamp representations contrast with each other."""
    if z1.shape[1] == 1:
        return z1.new_zeros(())
    return _contrast(z1, z2, temperature)


def hierarchical_contrastive_loss(z1: torch.Tensor, z2: torch.Tensor, beta: float = 0.5, temporal_unit: int = 1,
                                  temperature: float = 0.1) -> torch.Tensor:
    """TS2Vec: beta * instance + (1 - beta) * temporal (from depth temporal_unit on) at each level,
    max-pooling by 2 over time between levels until length 1, averaged over the levels."""
    loss = z1.new_zeros(())
    depth = 0
    while True:
        if beta > 0:
            loss = loss + beta * instance_contrastive_loss(z1, z2, temperature)
        if beta < 1 and depth >= temporal_unit and z1.shape[1] > 1:
            loss = loss + (1 - beta) * temporal_contrastive_loss(z1, z2, temperature)
        depth += 1
        if z1.shape[1] == 1:
            return loss / depth
        z1 = F.max_pool1d(z1.transpose(1, 2), kernel_size=2).transpose(1, 2)
        z2 = F.max_pool1d(z2.transpose(1, 2), kernel_size=2).transpose(1, 2)


def contrastive_views_loss(model: nn.Module, x: torch.Tensor, cfg: Config) -> torch.Tensor:
    """Two overlapping crops of each window, timestamp-masked (Bernoulli 0.5) after the input
    projection, encoded in one forward; the hierarchical loss on the overlap."""
    B, T, _ = x.shape
    starts, crop, overlap = overlapping_crops(T, B, cfg.temporal_unit, x.device)
    positions = starts[:, None] + torch.arange(crop, device=x.device)
    positions = torch.cat([positions, positions + (crop - overlap)])  # (2B, crop)
    views = torch.gather(x.repeat(2, 1, 1), 1, positions[..., None].expand(-1, -1, x.shape[2]))
    mask = (torch.rand(2 * B, crop) >= 0.5).to(x.device)  # CPU RNG on every device
    latent = model(views, mask=mask, return_latent=True, positions=positions)[2]
    z1, z2 = latent[:B, crop - overlap:], latent[B:, :overlap]
    return hierarchical_contrastive_loss(z1, z2, cfg.beta, cfg.temporal_unit, cfg.temperature)


def training_loss(model: nn.Module, x: torch.Tensor, cfg: Config, backward: bool = False) -> dict[str, torch.Tensor]:
    """{'total': nll + gamma * contrastive (backward this), 'nll': weighted NLL, 'contrastive'}.

    backward=True: backpropagate each term as soon as it is computed (gradients accumulate into
    .grad: zero them first) and return detached values. The NLL forward's activations are then
    freed before the views' forward, so peak memory is the larger of the two forwards, not their
    sum; the gradients equal those of total.backward() bit for bit (each parameter gets one
    contribution per term, and the RNG draws happen in the same order).
    """
    recon, log_prec = model(x)
    nll = weighted_nll(x, recon, log_prec, cfg.alpha)
    if backward:
        nll.backward()
        nll = nll.detach()
        del recon, log_prec  # freed before the views' forward: less heap fragmentation (-0.2 GB peak RSS on SWaT)
    if cfg.contrastive and cfg.gamma > 0:
        contrastive = contrastive_views_loss(model, x, cfg)
        if backward:
            (cfg.gamma * contrastive).backward()
            contrastive = contrastive.detach()
    else:
        contrastive = nll.new_zeros(())
    return {"total": nll + cfg.gamma * contrastive, "nll": nll, "contrastive": contrastive}
