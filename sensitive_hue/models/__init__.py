"""Networks: SensitiveMamba (Mamba encoder) and its attention-encoder variant (SensitiveHUE)."""

from __future__ import annotations

from torch import nn

from ..config import Config
from ..errors import ConfigError
from .network import SensitiveMamba

ENCODER_OF_MODEL = {"sensitive_mamba": "mamba", "sensitive_hue": "attention"}


def build_network(cfg: Config, f_in: int) -> nn.Module:
    """The network `cfg.model` names, for windows of `cfg.step_num_in` steps and `f_in` features."""
    if cfg.model not in ENCODER_OF_MODEL:
        raise ConfigError(f"config key 'model' is {cfg.model!r}, which has no network; "
                          f"networks: {', '.join(ENCODER_OF_MODEL)}")
    return SensitiveMamba(f_in, cfg.dim_model, cfg.dim_hidden_fc, cfg.encode_layer_num, cfg.step_num_in,
                          dropout=cfg.dropout, encoder=ENCODER_OF_MODEL[cfg.model], head_num=cfg.head_num,
                          d_state=cfg.d_state, d_conv=cfg.d_conv, expand=cfg.expand,
                          mamba_backend=cfg.mamba_backend, uncertainty=cfg.uncertainty,
                          checkpoint_layers=cfg.checkpoint_layers, revin_denorm=cfg.revin_denorm)


__all__ = ["build_network", "SensitiveMamba", "ENCODER_OF_MODEL"]
