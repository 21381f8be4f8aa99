"""Tiny configs and synthetic processed datasets for the training / scoring / pipeline tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from sensitive_hue.config import load_config
from sensitive_hue.data.store import ProcessedEntity, write_entity, write_index

ROOT = Path(__file__).resolve().parents[1]

# A 1-layer, d_model 16, window 16 network: trains in well under a second per epoch.
TINY = {
    "seed": 7, "step_num_in": 16, "stride": 2, "val_ratio": 0.2, "batch_size": 32, "score_batch_size": 64,
    "max_epoch": 2, "patience": 2, "encode_layer_num": 1, "dim_model": 16, "dim_hidden_fc": 16, "d_state": 4,
    "device": "cpu", "mamba_backend": "torch",
}
F_IN = 3


def tiny_config(tmp_path: Path, dataset: str = "SMD", **overrides):
    """Load a config file holding only the tiny settings for `dataset`; returns (Config, path)."""
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({"shared": TINY, dataset: {"f_in": F_IN, "range": None}}))
    return load_config(path, dataset, overrides=overrides), path


def synthetic_entity(name: str, seed: int, train_rows: int = 300, test_rows: int = 240) -> ProcessedEntity:
    """Three correlated sines with noise; the test part holds a level shift and a spike, labelled."""
    rng = np.random.default_rng(seed)

    def series(rows: int, offset: int) -> np.ndarray:
        t = np.arange(offset, offset + rows)[:, None]
        phase = np.array([0.0, 1.0, 2.0])
        return (np.sin(2 * np.pi * t / 25 + phase) + 0.1 * rng.standard_normal((rows, F_IN))).astype(np.float32)

    train, test = series(train_rows, 0), series(test_rows, train_rows)
    labels = np.zeros(test_rows, dtype=np.int8)
    test[100:120, 1] += 3.0
    labels[100:120] = 1
    test[180, 0] -= 5.0
    labels[179:182] = 1
    meta = {"shape": {"train": list(train.shape), "test": list(test.shape), "labels": list(labels.shape)},
            "scaler": {"kind": "zscore", "mean": [0.0] * F_IN, "std": [1.0] * F_IN}, "columns": None,
            "kept_dims": list(range(F_IN))}
    return ProcessedEntity(name, train, test, labels, meta)


def write_dataset(processed: Path, dataset: str, entities: list[ProcessedEntity]) -> None:
    """Write entities in the processed layout (documented order = list order)."""
    hashes = {entity.name: write_entity(processed, dataset, entity) for entity in entities}
    write_index(processed, dataset, [entity.name for entity in entities], hashes)
