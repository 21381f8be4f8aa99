"""Processed store: loading with integrity checks, and entity selection."""

from __future__ import annotations

import json

import numpy as np
import pytest
from data_fixtures import config, write_smd

from sensitive_hue.data.preprocess import preprocess_dataset
from sensitive_hue.data.store import (ProcessedEntity, list_entities, load_entity, read_index, select_entities,
                                      write_entity, write_index)
from sensitive_hue.errors import ConfigError, DataError

NAMES = [f"E-{i}" for i in range(1, 11)]


@pytest.fixture
def smd_out(tmp_path):
    write_smd(tmp_path / "raw")
    preprocess_dataset(config("SMD"), tmp_path / "raw", tmp_path / "out", progress=False)
    return tmp_path / "out"


def test_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    entity = ProcessedEntity("x-1", rng.normal(size=(12, 3)).astype(np.float32),
                             rng.normal(size=(9, 3)).astype(np.float32), np.array([0, 1] * 4 + [1], dtype=np.int8),
                             {"shape": {"train": [12, 3], "test": [9, 3], "labels": [9]}, "note": "kept"})
    digest = write_entity(tmp_path, "demo", entity)
    write_index(tmp_path, "demo", ["x-0", "x-1"], {"x-1": digest})
    loaded = load_entity(tmp_path, "demo", "x-1")
    for key in ("train", "test", "labels"):
        np.testing.assert_array_equal(getattr(loaded, key), getattr(entity, key))
        assert getattr(loaded, key).dtype == getattr(entity, key).dtype
    assert loaded.meta["note"] == "kept" and set(loaded.meta["files"]) == {"train.npy", "test.npy", "labels.npy"}
    assert list_entities(tmp_path, "demo") == ["x-0", "x-1"]
    with pytest.raises(DataError, match=r"entity 'x-0' of demo is not preprocessed.*--entities x-0"):
        load_entity(tmp_path, "demo", "x-0")


def test_missing_dataset_says_how_to_preprocess(tmp_path):
    with pytest.raises(DataError, match=r"no processed MSL data at .*python preprocess\.py .*--data_name MSL"):
        list_entities(tmp_path, "MSL")


def test_tampered_or_interrupted_files_are_detected(smd_out):
    folder = smd_out / "SMD" / "machine-2-1"
    np.save(folder / "test.npy", np.zeros((23, 38), dtype=np.float32))  # same shape, other content
    with pytest.raises(DataError, match=r"machine-2-1/test\.npy does not match its meta\.json.*preprocess\.py"):
        load_entity(smd_out, "SMD", "machine-2-1")
    meta = json.loads((smd_out / "SMD" / "machine-1-2" / "meta.json").read_text())
    meta["scaler"]["mean"][0] += 1
    (smd_out / "SMD" / "machine-1-2" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match=r"meta\.json does not match index\.json"):
        load_entity(smd_out, "SMD", "machine-1-2")
    (smd_out / "SMD" / "machine-3-2" / "labels.npy").unlink()
    with pytest.raises(DataError, match=r"machine-3-2/labels\.npy is missing"):
        load_entity(smd_out, "SMD", "machine-3-2")
    (smd_out / "SMD" / "index.json").write_text("{not json")
    with pytest.raises(DataError, match=r"index\.json is corrupt"):
        read_index(smd_out, "SMD")
    preprocess_dataset(config("SMD"), smd_out.parent / "raw", smd_out, progress=False)  # a rerun repairs it
    assert load_entity(smd_out, "SMD", "machine-2-1").test.shape == (23, 38)


@pytest.mark.parametrize("requested, overrides, expected", [
    (["E-3", "1"], {}, ["E-1", "E-3"]),  # names and 1-based indices, documented order, no duplicates
    (["2", "E-2"], {}, ["E-2"]),
    (None, {"entities": ["E-10", "E-4"]}, ["E-4", "E-10"]),
    (["E-5"], {"entities": ["E-10"]}, ["E-5"]),  # --entities wins over the config
    (None, {"range": [2, 5], "ignore_entities": [3]}, ["E-2", "E-4", "E-5"]),
    (None, {"ignore_entities": [1, 10]}, NAMES[1:9]),
    (None, {}, NAMES),
])
def test_select_entities(requested, overrides, expected):
    assert select_entities(config("SMD", **overrides), NAMES, requested) == expected


def test_select_without_range_takes_everything():
    cfg = config("MSL", range=[1, 3], ignore_entities=[2])
    assert select_entities(cfg, NAMES, None) == ["E-1", "E-3"]
    assert select_entities(cfg, NAMES, None, use_range=False) == NAMES


@pytest.mark.parametrize("requested, overrides, error, pattern", [
    (["E-11"], {}, DataError, r"--entities: unknown entity 'E-11'; valid names or 1-based indices: E-1, E-2"),
    (["11"], {}, DataError, r"--entities: entity index 11 is out of range; valid: 1-10"),
    (["0"], {}, DataError, r"entity index 0 is out of range"),
    (None, {"entities": ["nope"]}, DataError, r"config key 'entities' \(section override\): unknown entity 'nope'"),
    (None, {"range": [1, 28]}, ConfigError, r"'range' \(section override\) is \[1, 28\] but SMD has 10 entities"),
    (None, {"ignore_entities": [12]}, ConfigError, r"'ignore_entities' \(section override\) has 12, outside 1-10"),
    (None, {"range": [2, 2], "ignore_entities": [2]}, ConfigError, r"select no entity"),
])
def test_select_entities_errors(requested, overrides, error, pattern):
    with pytest.raises(error, match=pattern):
        select_entities(config("SMD", **overrides), NAMES, requested)
