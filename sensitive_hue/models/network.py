"""The SensitiveMamba network (paper figure; `../shared/reference/README.md` section 3).

RevIN norm -> input projection (optionally timestamp-masked) + learned positional embedding ->
`layers` pre-norm encoder layers (mixer = Mamba or multi-head self-attention) -> latent h;
residual decoder(h) -> RevIN denorm = reconstruction; linear(h) = log-precision log(1/sigma^2).
`revin_denorm` (`models.revin`) chooses how the reconstruction is mapped back: `paper` (default, the
paper's and SensitiveHUE's), `stored` (exact inverse) or `none` (no instance normalisation).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from .attention import SelfAttention
from .dropout import Dropout
from .mamba import Mamba
from .revin import RevIN

ENCODERS = ("mamba", "attention")


class EncoderLayer(nn.Module):
    """h + drop(LN(mixer(LN h))); h + drop(FFN(LN h)); h + drop(Linear(LN h))."""

    def __init__(self, mixer: nn.Module, d_model: int, dim_hidden_fc: int, dropout: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.mixer = mixer
        self.mixer_norm = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        # in place: torch's out-of-place CPU leaky_relu took 5x as long (7% of a forward); same values and grads
        self.ffn = nn.Sequential(nn.Linear(d_model, dim_hidden_fc, bias=False), nn.LeakyReLU(inplace=True),
                                 Dropout(dropout), nn.Linear(dim_hidden_fc, d_model, bias=False))
        self.norm3 = nn.LayerNorm(d_model)
        self.linear = nn.Linear(d_model, d_model)
        self.dropout = Dropout(dropout)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = h + self.dropout(self.mixer_norm(self.mixer(self.norm1(h))))
        h = h + self.dropout(self.ffn(self.norm2(h)))
        return h + self.dropout(self.linear(self.norm3(h)))


class ResidualDecoder(nn.Module):
    """Two (Linear, ReLU, Dropout) blocks with a skip from the input, then Linear to f_in."""

    def __init__(self, d_model: int, f_in: int, dropout: float):
        super().__init__()
        self.blocks = nn.Sequential(
            nn.Linear(d_model, d_model), nn.ReLU(), Dropout(dropout),
            nn.Linear(d_model, d_model), nn.ReLU(), Dropout(dropout))
        self.out = nn.Linear(d_model, f_in)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.out(h + self.blocks(h))


class SensitiveMamba(nn.Module):
    """Reconstruction + log-precision network over windows (B, T, f_in), T <= max_len."""

    def __init__(self, f_in: int, d_model: int, dim_hidden_fc: int, layers: int, max_len: int,
                 dropout: float = 0.2, encoder: str = "mamba", head_num: int = 4, d_state: int = 16,
                 d_conv: int = 2, expand: int = 1, mamba_backend: str = "auto", uncertainty: bool = True,
                 checkpoint_layers: bool = True, revin_denorm: str = "paper"):
        super().__init__()
        if encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {ENCODERS}, got {encoder!r}")
        self.encoder = encoder
        self.max_len = max_len
        # Under autograd, keep only each encoder layer's input and recompute its activations in backward:
        # a third of the saved memory for one more forward of the layers (same values and gradients).
        self.checkpoint_layers = checkpoint_layers
        self.revin = RevIN(revin_denorm)
        self.in_linear = nn.Linear(f_in, d_model)
        self.pos_embed = nn.Embedding(max_len, d_model)

        def mixer() -> nn.Module:
            if encoder == "mamba":
                return Mamba(d_model, d_state=d_state, d_conv=d_conv, expand=expand, backend=mamba_backend)
            return SelfAttention(d_model, head_num, dropout)

        self.layers = nn.ModuleList(EncoderLayer(mixer(), d_model, dim_hidden_fc, dropout) for _ in range(layers))
        self.decoder = ResidualDecoder(d_model, f_in, dropout)
        self.sigma_linear = nn.Linear(d_model, f_in) if uncertainty else None

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, return_latent: bool = False,
                positions: torch.Tensor | None = None, decode_steps: slice | None = None):
        """x (B, T, F) -> (recon, log_prec[, latent]); log_prec is None without the uncertainty head.

        mask (B, T) bool, True = keep: timestamps set to False are zeroed after the input projection
        (TS2Vec timestamp masking). positions (B, T) or (T,) long: indices into the positional
        embedding (default 0..T-1; crops pass their offsets inside the window). decode_steps: the
        time steps whose recon / log_prec are computed (default all; scoring needs one per window);
        the encoder and the latent always cover the whole window.
        """
        T = x.shape[1]
        if positions is None:
            if T > self.max_len:
                raise ValueError(f"window length {T} exceeds the positional embedding's {self.max_len} (step_num_in)")
            positions = torch.arange(T, device=x.device)
        x_norm, stats = self.revin.norm(x)
        h = self.in_linear(x_norm)
        if mask is not None:
            h = h * mask.unsqueeze(-1).to(h.dtype)
        h = h + self.pos_embed(positions)
        recompute = self.checkpoint_layers and torch.is_grad_enabled()
        for layer in self.layers:
            h = checkpoint(layer, h, use_reentrant=False) if recompute else layer(h)
        steps = slice(None) if decode_steps is None else decode_steps
        if self.revin.mode == "paper":  # its statistics span the whole reconstructed window
            recon = self.revin.denorm(self.decoder(h), stats)[:, steps]
        else:
            recon = self.revin.denorm(self.decoder(h[:, steps]), stats)
        log_prec = self.sigma_linear(h[:, steps]) if self.sigma_linear is not None else None
        return (recon, log_prec, h) if return_latent else (recon, log_prec)
