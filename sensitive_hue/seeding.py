"""Seeds and derived seeds: the same seed gives the same numbers, whatever the scheduling."""

from __future__ import annotations

import hashlib
import random

import numpy as np
import torch


def set_seed(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def derive_seed(seed: int, *keys: object) -> int:
    """A 63-bit seed that depends only on `seed` and `keys` (e.g. entity name, detector, seed index)."""
    text = "/".join([str(seed), *map(str, keys)]).encode("utf-8")
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "little") >> 1
