"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture
def shared_datasets() -> Path:
    """The real datasets (read-only); tests using this skip when they are absent."""
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"real datasets not present at {SHARED_DATASETS}")
    return SHARED_DATASETS
