"""Preprocessing: normalisation on train only, dropped dims, layout, determinism, all-or-nothing
writes, config checks, and the preprocess.py CLI."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from data_fixtures import (SMD_FIXTURE, STAR, config, npy_bytes, package_warnings, write, write_csv_pair,
                           write_smap_msl, write_smd, write_swat)

from sensitive_hue import preprocess_cli
from sensitive_hue.cli import run_cli
from sensitive_hue.config import load_config
from sensitive_hue.data.preprocess import (count_segments, fit_scaler, preprocess_dataset, processed_exists,
                                           raw_exists)
from sensitive_hue.data.sources import CsvFiles, open_raw
from sensitive_hue.data.store import list_entities, load_entity, processed_entities
from sensitive_hue.errors import ConfigError, DataError


def tree_hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_fit_scaler_constant_columns_are_safe():
    train = np.array([[1.0, 5.0, 0.1], [3.0, 5.0, 0.1], [5.0, 5.0, 0.1]])
    mean, std, constant = fit_scaler(train)
    np.testing.assert_allclose(mean, [3.0, 5.0, 0.1])
    np.testing.assert_allclose(std, [np.sqrt(8 / 3), 1.0, 1.0])
    assert constant == [1, 2]
    scaled = (train - mean) / std
    np.testing.assert_allclose(scaled[:, 0], [-np.sqrt(1.5), 0, np.sqrt(1.5)])
    assert np.all(scaled[:, 1:] == 0)


def test_count_segments():
    assert count_segments(np.array([0, 1, 1, 0, 1, 0, 0, 1])) == 3
    assert count_segments(np.zeros(5)) == 0 and count_segments(np.ones(4)) == 1


def test_swat_drops_dims_and_scales_with_train_statistics(tmp_path):
    train, test, y = write_swat(tmp_path / "raw")
    train = train.astype(np.float64)
    train[:, 7] = train[0, 7]  # make one kept column constant in train
    write(tmp_path / "raw" / "SWaT" / "train.npy", npy_bytes(train.astype(np.float32)), gz=True)
    train = train.astype(np.float32).astype(np.float64)
    cfg = config("SWaT")
    rows = preprocess_dataset(cfg, tmp_path / "raw", tmp_path / "out", progress=False)
    assert rows[0]["dims"] == 48 and rows[0]["train_rows"] == 40 and rows[0]["anomaly_segments"] == 1
    entity = load_entity(tmp_path / "out", "SWaT", "SWaT")
    keep = [c for c in range(51) if c not in (5, 10, 28)]
    assert entity.meta["kept_dims"] == keep and entity.meta["dropped_dims"] == [5, 10, 28]
    assert "AIT201" not in entity.meta["columns"] and entity.meta["columns"][5] == "AIT202"
    assert entity.train.dtype == np.float32 and entity.test.dtype == np.float32 and entity.labels.dtype == np.int8
    mean, std = train[:, keep].mean(0), train[:, keep].std(0)
    std[6] = 1.0  # raw column 7 is the 7th kept column (index 6): constant, std -> 1
    np.testing.assert_allclose(entity.train, (train[:, keep] - mean) / std, atol=1e-5)
    np.testing.assert_allclose(entity.test, (test[:, keep] - mean) / std, atol=1e-5)  # test uses train stats
    assert np.all(entity.train[:, 6] == 0) and np.isfinite(entity.test).all()
    assert entity.meta["scaler"]["constant_columns"] == [6]
    np.testing.assert_allclose(entity.train.mean(0), 0, atol=1e-5)
    assert abs(float(entity.test.mean())) > 1e-3  # not refitted on test
    np.testing.assert_array_equal(entity.labels, y)


def test_layout_meta_and_index(tmp_path):
    write_smd(tmp_path / "raw")
    preprocess_dataset(config("SMD"), tmp_path / "raw", tmp_path / "out", progress=False)
    folder = tmp_path / "out" / "SMD"
    names = ["machine-1-2", "machine-2-1", "machine-3-2", "machine-3-10"]
    assert list_entities(tmp_path / "out", "SMD") == names
    for name in names:
        assert sorted(p.name for p in (folder / name).iterdir()) == ["labels.npy", "meta.json", "test.npy", "train.npy"]
    meta = json.loads((folder / "machine-1-2" / "meta.json").read_text())
    assert meta["format_version"] == 1 and meta["shape"] == {"train": [21, 38], "test": [21, 38], "labels": [21]}
    expected = [f"SMD/{sub}/machine-1-2.txt.gz" for sub in ("train", "test", "labels")]
    assert [s["path"] for s in meta["sources"]] == expected
    assert all(len(s["sha256"]) == 64 for s in meta["sources"])
    assert len(meta["scaler"]["mean"]) == 38 and meta["dropped_dims"] == [] and meta["columns"] is None
    assert processed_exists(tmp_path / "out", "SMD") and not processed_exists(tmp_path / "out", "SWaT")
    assert raw_exists(tmp_path / "raw", "SMD")
    assert not list((tmp_path / "out").rglob("*.tmp"))


def test_rerun_and_other_raw_location_give_identical_bytes(tmp_path):
    write_smap_msl(tmp_path / "raw")
    preprocess_dataset(config("SMAP"), tmp_path / "raw", tmp_path / "a", progress=False)
    first = tree_hashes(tmp_path / "a")
    preprocess_dataset(config("SMAP"), tmp_path / "raw", tmp_path / "a", progress=False)
    assert tree_hashes(tmp_path / "a") == first
    shutil.copytree(tmp_path / "raw", tmp_path / "elsewhere" / "raw")
    preprocess_dataset(config("SMAP"), tmp_path / "elsewhere" / "raw", tmp_path / "b", progress=False)
    assert tree_hashes(tmp_path / "b") == first
    assert set(first) == {"SMAP/index.json"} | {f"SMAP/{c}/{f}" for c in ("P-1", "S-1", "P-2")
                                                for f in ("train.npy", "test.npy", "labels.npy", "meta.json")}


def test_demo_preprocess_is_deterministic(tmp_path):
    preprocess_dataset(config("demo"), tmp_path, tmp_path / "a", progress=False)
    preprocess_dataset(config("demo"), tmp_path, tmp_path / "b", progress=False)
    assert tree_hashes(tmp_path / "a") == tree_hashes(tmp_path / "b")
    entity = load_entity(tmp_path / "a", "demo", "demo")
    assert entity.train.shape == (4000, 6) and entity.meta["columns"] == [f"ch{i}" for i in range(6)]


def test_failed_run_writes_nothing_and_keeps_previous_output(tmp_path):
    write_smd(tmp_path / "raw")
    path = tmp_path / "raw" / "SMD" / "test" / "machine-3-10.txt"  # last in order: the others pass first
    good = path.read_bytes()
    path.write_bytes(good.replace(b"\n", b",1.0\n", 1))
    with pytest.raises(DataError, match="machine-3-10"):
        preprocess_dataset(config("SMD"), tmp_path / "raw", tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
    path.write_bytes(good)
    preprocess_dataset(config("SMD"), tmp_path / "raw", tmp_path / "out", progress=False)
    before = tree_hashes(tmp_path / "out")
    write(tmp_path / "raw" / "SMD" / "train" / "machine-3-10.txt", b"1,2\n")
    with pytest.raises(DataError):
        preprocess_dataset(config("SMD"), tmp_path / "raw", tmp_path / "out", progress=False)
    assert tree_hashes(tmp_path / "out") == before


def test_subset_keeps_earlier_entities_and_full_order(tmp_path):
    write_smd(tmp_path / "raw")
    rows = preprocess_dataset(config("SMD"), tmp_path / "raw", tmp_path / "out", entities=["machine-3-10"],
                              progress=False)
    assert [r["entity"] for r in rows] == ["machine-3-10"]
    assert list_entities(tmp_path / "out", "SMD") == ["machine-1-2", "machine-2-1", "machine-3-2", "machine-3-10"]
    assert processed_entities(tmp_path / "out", "SMD") == ["machine-3-10"]
    preprocess_dataset(config("SMD"), tmp_path / "raw", tmp_path / "out", entities=["1", "machine-3-2"], progress=False)
    assert processed_entities(tmp_path / "out", "SMD") == ["machine-1-2", "machine-3-2", "machine-3-10"]


def test_smd_missing_machines(tmp_path):
    write_smd(tmp_path / "raw")
    with pytest.raises(DataError, match=r"machine-1-1 has no raw files.*OmniAnomaly"):
        preprocess_dataset(config("SMD"), tmp_path / "raw", tmp_path / "out", entities=["machine-1-1"], progress=False)
    with pytest.raises(DataError, match=r"unknown entity 'machine-9-9'"):
        preprocess_dataset(config("SMD"), tmp_path / "raw", tmp_path / "out", entities=["machine-9-9"], progress=False)
    assert not (tmp_path / "out").exists()
    with package_warnings() as warnings:
        preprocess_dataset(config("SMD"), tmp_path / "raw", tmp_path / "out", progress=False)
    assert len(warnings) == 1 and "24 entities" in warnings[0] and "machine-1-1," in warnings[0]
    assert all(name not in warnings[0] for name in SMD_FIXTURE)


def test_csv_entity_name_columns_and_labels(tmp_path):
    train_csv, test_csv = write_csv_pair(tmp_path)
    files = CsvFiles(train_csv, test_csv, "label", "time")
    preprocess_dataset(config("csv"), tmp_path, tmp_path / "out", csv=files, progress=False)
    preprocess_dataset(config("csv"), tmp_path, tmp_path / "out", entities=["pump-7"], csv=files, progress=False)
    assert list_entities(tmp_path / "out", "csv") == ["plant_train", "pump-7"]
    entity = load_entity(tmp_path / "out", "csv", "pump-7")
    assert entity.meta["columns"] == ["temp", "pressure", "flow"]
    assert entity.meta["source_info"]["label_column"] == "label"
    assert entity.labels.tolist()[9:14] == [0, 1, 1, 1, 0] and entity.train.shape == (120, 3)
    with pytest.raises(DataError, match="cannot be a folder name"):
        preprocess_dataset(config("csv"), tmp_path, tmp_path / "out", entities=["../x"], csv=files, progress=False)


@pytest.mark.parametrize("dataset, overrides, error, pattern", [
    ("SWaT", {"f_in": 47}, ConfigError,
     r"51 columns, 48 after dropping ignore_dims \[5, 10, 28\].*'f_in'.*set f_in: 48"),
    ("SWaT", {"ignore_dims": [5, 51]}, ConfigError, r"'ignore_dims'.*\[51\].*51 columns"),
    ("SWaT", {"step_num_in": 35}, DataError, r"test series has 30 rows, fewer than the window length step_num_in=35"),
    ("SMAP", {"f_in": 55}, ConfigError, r"SMAP entity P-1 .*25 columns.*'f_in' \(section override\) is 55"),
])
def test_config_mismatch_is_an_error_and_writes_nothing(tmp_path, dataset, overrides, error, pattern):
    write_swat(tmp_path / "raw")
    write_smap_msl(tmp_path / "raw")
    with pytest.raises(error, match=pattern):
        preprocess_dataset(config(dataset, **overrides), tmp_path / "raw", tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


# --- the CLI --------------------------------------------------------------------------------------

def cli(*argv: str) -> int:
    return run_cli(preprocess_cli.main, list(argv))


def test_cli_demo_and_csv(tmp_path, capsys):
    assert cli("--data_name", "demo", "--out_dir", str(tmp_path / "out")) == 0
    assert "demo: 1 entity, train rows 4,000" in capsys.readouterr().out
    train_csv, test_csv = write_csv_pair(tmp_path)
    assert cli("--data_name", "csv", "--train_csv", str(train_csv), "--test_csv", str(test_csv),
               "--timestamp_column", "time", "--out_dir", str(tmp_path / "out")) == 0
    assert load_entity(tmp_path / "out", "csv", "plant_train").train.shape == (120, 3)


@pytest.mark.parametrize("argv, pattern", [
    (["--data_name", "SMDX"], "unknown dataset 'SMDX'.*valid names: SWaT, SMD, MSL, SMAP, demo, csv"),
    (["--data_name", "SWaT"], r"SWaT/train\.npy .*not found; download SWaT from github\.com/yuesuoqingqiu"),
    (["--data_name", "csv"], "--data_name csv needs --train_csv FILE and --test_csv FILE"),
    (["--data_name", "demo", "--train_csv", "x.csv"], "are for --data_name csv, not demo"),
    (["--data_name", "demo", "--config_path", "nope.yaml"], "config file nope.yaml not found"),
])
def test_cli_errors_are_one_line_exit_2_nothing_written(tmp_path, capsys, argv, pattern):
    code = cli(*argv, "--raw_dir", str(tmp_path / "raw"), "--out_dir", str(tmp_path / "out"))
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert re.search(pattern, err)
    assert not (tmp_path / "out").exists()


# --- real data (skipped when ../shared/datasets is absent) ----------------------------------------

def test_real_swat_preprocess(shared_datasets, tmp_path):
    rows = preprocess_dataset(load_config(STAR, "SWaT"), shared_datasets, tmp_path, progress=False)
    assert rows[0]["train_rows"] == 99360 and rows[0]["test_rows"] == 89984 and rows[0]["dims"] == 48
    assert rows[0]["anomaly_segments"] == 34
    entity = load_entity(tmp_path, "SWaT", "SWaT")
    assert np.isfinite(entity.test).all() and entity.meta["sources"][0]["path"] == "SWaT/train.npy.gz"


def test_real_msl_two_entities(shared_datasets, tmp_path):
    rows = preprocess_dataset(load_config(STAR, "MSL"), shared_datasets, tmp_path, entities=["M-6", "27"],
                              progress=False)
    assert [(r["entity"], r["dims"]) for r in rows] == [("M-6", 55), ("F-8", 55)]
    assert len(list_entities(tmp_path, "MSL")) == 27
    m6 = load_entity(tmp_path, "MSL", "M-6")
    assert 0 in m6.meta["scaler"]["constant_columns"]  # M-6 train column 0 is constant (-1.0)
    assert np.isfinite(m6.test).all() and m6.test[:, 0].max() > 100  # 258.1 - (-1.0), not NaN/inf
    assert open_raw("MSL", shared_datasets).entities == list_entities(tmp_path, "MSL")
