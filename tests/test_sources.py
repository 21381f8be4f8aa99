"""Raw readers: layouts, label conventions, entity order, the demo generator, and bad input."""

from __future__ import annotations

import gzip
import io
import time

import numpy as np
import pytest
from data_fixtures import (SMD_FIXTURE, npy_bytes, package_warnings, series, smd_text, write, write_csv_pair,
                           write_smap_msl, write_smd, write_swat)

from sensitive_hue.data.sources import (SMD_MACHINES, SWAT_COLUMNS, CsvFiles, make_demo, open_raw, raw_exists,
                                        read_csv_pair, read_swat)
from sensitive_hue.errors import ConfigError, DataError
from sensitive_hue.io import sha256_file


def test_smap_order_duplicate_and_inclusive_labels(tmp_path):
    write_smap_msl(tmp_path)
    with package_warnings() as warnings:
        smap = open_raw("SMAP", tmp_path)
    assert smap.entities == ["P-1", "S-1", "P-2"]  # csv order, second P-2 row dropped
    assert warnings == ["SMAP: channel P-2 is listed twice in labeled_anomalies.csv (lines 5 and 7); keeping the "
                        "first, as TranAD and the paper do"]
    entity = smap.read("P-1")
    assert entity.train.shape == (25, 25) and entity.test.shape == (40, 25)
    expected = np.zeros(40, dtype=np.int8)
    expected[3:6] = 1  # [3, 5] inclusive
    expected[20] = 1  # [20, 20] is one point
    np.testing.assert_array_equal(entity.labels, expected)
    assert entity.labels.dtype == np.int8
    p2 = smap.read("P-2")
    assert p2.labels.sum() == 1 and p2.labels[1] == 1  # the first row's [[1, 1]], not [[5, 30]]
    assert p2.info["anomaly_sequences"] == [[1, 1]]


def test_msl_reads_plain_and_gz_and_skips_channels_without_a_row(tmp_path):
    write_smap_msl(tmp_path)
    msl = open_raw("MSL", tmp_path)
    assert msl.entities == ["M-6", "M-1"]  # T-10 has files but no csv row
    m6 = msl.read("M-6")
    assert m6.train.shape == (25, 55) and m6.labels[:3].tolist() == [1, 1, 1] and m6.labels[3:].sum() == 0
    paths = [s["path"] for s in m6.sources]
    assert paths == ["SMAP_MSL/labeled_anomalies.csv", "SMAP_MSL/train/M-6.npy", "SMAP_MSL/test/M-6.npy.gz"]
    assert m6.sources[1]["sha256"] == sha256_file(tmp_path / paths[1])
    expected = series(25, 55, 1)
    expected[:, 3] = 1.0
    np.testing.assert_array_equal(m6.train, expected)


def test_smd_numeric_order_both_compressions_and_missing(tmp_path):
    write_smd(tmp_path)
    smd = open_raw("SMD", tmp_path)
    assert smd.entities == ["machine-1-2", "machine-2-1", "machine-3-2", "machine-3-10"]
    assert smd.missing == [m for m in SMD_MACHINES if m not in SMD_FIXTURE]
    for index, name in enumerate(SMD_FIXTURE):
        entity = smd.read(name)
        assert entity.sources[0]["path"].endswith(".gz") == (index % 2 == 1)
        np.testing.assert_allclose(entity.train, series(20 + index, 38, index), atol=5e-7)
        assert entity.labels.tolist()[4:9] == [0, 1, 1, 1, 0]


def test_smd_machine_with_a_missing_file_is_an_error(tmp_path):
    write_smd(tmp_path)
    (tmp_path / "SMD" / "labels" / "machine-1-2.txt.gz").unlink()
    with pytest.raises(DataError, match=r"labels/machine-1-2\.txt.*OmniAnomaly"):
        open_raw("SMD", tmp_path)


def test_swat_reads_columns_and_labels(tmp_path):
    train, test, y = write_swat(tmp_path)
    entity = read_swat(tmp_path)
    np.testing.assert_array_equal(entity.train, train.astype(np.float64))
    np.testing.assert_array_equal(entity.test, test.astype(np.float64))
    np.testing.assert_array_equal(entity.labels, y)
    assert entity.columns == list(SWAT_COLUMNS) and entity.columns[5] == "AIT201"
    assert [s["path"] for s in entity.sources] == ["SWaT/train.npy.gz", "SWaT/test.npz"]


def test_csv_pair_aligns_columns_and_skips_timestamp(tmp_path):
    train_csv, test_csv = write_csv_pair(tmp_path)
    entity = read_csv_pair(CsvFiles(train_csv, test_csv, "label", "time"))
    assert entity.columns == ["temp", "pressure", "flow"]
    assert entity.train[1].tolist() == [21.0, 1.1, 1.0]
    assert entity.test[1].tolist() == [21.0, 1.1, 1.0]  # test columns were in another order
    assert entity.labels.tolist()[9:14] == [0, 1, 1, 1, 0]
    assert entity.info == {"label_column": "label", "timestamp_column": "time"}


def test_demo_is_deterministic_fast_and_has_every_anomaly_kind():
    began = time.perf_counter()
    first = make_demo()
    assert time.perf_counter() - began < 2.0
    second = make_demo()
    for key in ("train", "test", "labels"):
        np.testing.assert_array_equal(getattr(first, key), getattr(second, key))
    assert not np.array_equal(make_demo(seed=1).train, first.train)
    assert first.train.shape == (4000, 6) and first.test.shape == (4000, 6)
    kinds = {a["kind"] for a in first.info["anomalies"]}
    assert kinds == {"spike", "level_shift", "frequency_change", "broken_correlation", "flat_line"}
    labelled = np.zeros(4000, dtype=np.int8)
    for anomaly in first.info["anomalies"]:
        labelled[anomaly["start"]:anomaly["end"] + 1] = 1
    np.testing.assert_array_equal(first.labels, labelled)
    assert 0.05 < first.labels.mean() < 0.25
    corr = np.corrcoef(first.train.T)
    assert corr[0, 1] > 0.5 and corr[0, 5] > 0.5 and corr[2, 3] < -0.5  # channels move together
    flat = next(a for a in first.info["anomalies"] if a["kind"] == "flat_line")
    assert np.ptp(first.test[flat["start"]:flat["end"] + 1, 4]) == 0
    broken = next(a for a in first.info["anomalies"] if a["kind"] == "broken_correlation")
    part = slice(broken["start"], broken["end"] + 1)
    assert np.corrcoef(first.test[part, 2], first.test[part, 3])[0, 1] > 0.5  # anti-correlation broken


def test_raw_exists(tmp_path):
    assert raw_exists(tmp_path, "demo") and not raw_exists(tmp_path, "SWaT") and not raw_exists(tmp_path, "csv")
    write_swat(tmp_path)
    write_smd(tmp_path)
    assert raw_exists(tmp_path, "SWaT") and raw_exists(tmp_path, "SMD") and not raw_exists(tmp_path, "MSL")


# --- bad input: each raises a user error naming the file (or key) and the fix ---------------------

def _npy(tmp_path, name, array, gz=False):
    return write(tmp_path / "SMAP_MSL" / name, npy_bytes(array), gz)


def _read_smap(tmp_path, name="P-1"):
    return open_raw("SMAP", tmp_path).read(name)


def _read_smd(tmp_path, name="machine-1-2"):
    return open_raw("SMD", tmp_path).read(name)


def missing_raw_folder(tmp_path):
    pass


def truncated_gz(tmp_path):
    write_smap_msl(tmp_path)
    path = tmp_path / "SMAP_MSL" / "test" / "P-1.npy.gz"
    path.write_bytes(path.read_bytes()[:40])


def truncated_npy(tmp_path):
    write_smap_msl(tmp_path, gz=False)
    path = tmp_path / "SMAP_MSL" / "test" / "P-1.npy"
    path.write_bytes(path.read_bytes()[:200])


def nan_in_npy(tmp_path):
    write_smap_msl(tmp_path, gz=False)
    array = series(25, 25, 0)
    array[7, 4] = np.nan
    _npy(tmp_path, "train/P-1.npy", array)


def object_npy(tmp_path):
    write_smap_msl(tmp_path, gz=False)
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    write(tmp_path / "SMAP_MSL" / "train" / "P-1.npy", buffer.getvalue())


def num_values_mismatch(tmp_path):
    write_smap_msl(tmp_path)
    _npy(tmp_path, "test/P-1.npy", series(41, 25, 3), gz=True)


def sequence_past_end(tmp_path):
    write_smap_msl(tmp_path)
    table = tmp_path / "SMAP_MSL" / "labeled_anomalies.csv"
    table.write_text(table.read_text().replace("[[3, 5], [20, 20]]", "[[3, 5], [20, 40]]"))


def dims_differ(tmp_path):
    write_smap_msl(tmp_path)
    _npy(tmp_path, "test/P-1.npy", series(40, 24, 3), gz=True)


def inf_in_smd_text(tmp_path):
    write_smd(tmp_path)
    path = tmp_path / "SMD" / "train" / "machine-1-2.txt.gz"
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    cells = lines[4].split(",")
    cells[2] = "inf"
    lines[4] = ",".join(cells)
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))


def empty_smd_file(tmp_path):
    write_smd(tmp_path)
    write(tmp_path / "SMD" / "test" / "machine-1-2.txt", b"", gz=True)


def smd_labels_too_short(tmp_path):
    write_smd(tmp_path)
    write(tmp_path / "SMD" / "labels" / "machine-1-2.txt", b"0\n1\n0\n", gz=True)


def smd_labels_not_binary(tmp_path):
    write_smd(tmp_path)
    write(tmp_path / "SMD" / "labels" / "machine-1-2.txt", b"0\n" * 20 + b"2\n", gz=True)


def smd_text_not_numeric(tmp_path):
    write_smd(tmp_path)
    lines = smd_text(series(21, 38, 1)).decode().splitlines()
    lines[3] = "x" + lines[3][1:]
    write(tmp_path / "SMD" / "train" / "machine-1-2.txt", ("\n".join(lines) + "\n").encode(), gz=True)


def swat_without_y(tmp_path):
    write_swat(tmp_path)
    buffer = io.BytesIO()
    np.savez(buffer, x=series(30, 51, 2))
    write(tmp_path / "SWaT" / "test.npz", buffer.getvalue())


def swat_label_length(tmp_path):
    write_swat(tmp_path)
    buffer = io.BytesIO()
    np.savez(buffer, x=series(30, 51, 2), y=np.zeros(29, dtype=np.int64))
    write(tmp_path / "SWaT" / "test.npz", buffer.getvalue())


def empty_swat_train(tmp_path):
    write_swat(tmp_path)
    write(tmp_path / "SWaT" / "train.npy", npy_bytes(np.zeros((0, 51), dtype=np.float32)), gz=True)


BAD = [
    (missing_raw_folder, lambda p: read_swat(p), r"SWaT/train\.npy.*not found.*yuesuoqingqiu/SensitiveHUE"),
    (missing_raw_folder, lambda p: open_raw("SMD", p), r"SMD/train not found.*OmniAnomaly"),
    (missing_raw_folder, lambda p: open_raw("MSL", p), r"labeled_anomalies\.csv.*not found.*TranAD"),
    (truncated_gz, _read_smap, r"test/P-1\.npy\.gz: cannot read.*truncated or corrupt"),
    (truncated_npy, _read_smap, r"test/P-1\.npy: not a readable \.npy"),
    (nan_in_npy, _read_smap, r"train/P-1\.npy: nan at row 7, column 4"),
    (object_npy, _read_smap, r"train/P-1\.npy: holds Python objects, which are never unpickled"),
    (num_values_mismatch, _read_smap, r"labeled_anomalies\.csv line 2.*label length 40 differs from the 41 rows"),
    (sequence_past_end, _read_smap, r"line 2: anomaly sequence \[20, 40\] of P-1 ends past the 40 test rows"),
    (dims_differ, _read_smap, r"test/P-1\.npy\.gz: 24 columns but .*train/P-1\.npy.* has 25"),
    (inf_in_smd_text, _read_smd, r"train/machine-1-2\.txt\.gz: inf at line 5, column 3"),
    (empty_smd_file, _read_smd, r"test/machine-1-2\.txt\.gz: the file is empty"),
    (smd_labels_too_short, _read_smd, r"labels/machine-1-2\.txt\.gz: 3 labels but the test series has 21 rows"),
    (smd_labels_not_binary, _read_smd, r"labels/machine-1-2\.txt\.gz: label 2.* at position 20.*0 or 1"),
    (smd_text_not_numeric, _read_smd, r"train/machine-1-2\.txt\.gz: column 1 is not numeric \('x.*line 4"),
    (swat_without_y, read_swat, r"test\.npz: no array 'y'"),
    (swat_label_length, read_swat, r"test\.npz array y: 29 labels but the test series has 30 rows"),
    (empty_swat_train, read_swat, r"train\.npy\.gz: the array is empty"),
]


@pytest.mark.parametrize("setup, reader, pattern", BAD, ids=[f"{s.__name__}-{i}" for i, (s, _, _) in enumerate(BAD)])
def test_bad_raw_input_names_file_and_fix(tmp_path, setup, reader, pattern):
    setup(tmp_path)
    with pytest.raises(DataError, match=pattern) as caught:
        reader(tmp_path)
    assert "\n" not in str(caught.value)


def _csv(tmp_path, train_text, test_text, **kw):
    (tmp_path / "a.csv").write_text(train_text)
    (tmp_path / "b.csv").write_text(test_text)
    return read_csv_pair(CsvFiles(tmp_path / "a.csv", tmp_path / "b.csv", **kw))


@pytest.mark.parametrize("train_text, test_text, kw, pattern", [
    ("x,y\n1,2\n", "x,z,label\n1,2,0\n", {}, r"b\.csv: columns differ.*only in train: \['y'\].*only in test: \['z'\]"),
    ("x,y\n1,2\n2,abc\n", "x,y,label\n1,2,0\n", {}, r"a\.csv: column 'y' is not numeric \('abc' at line 3\)"),
    ("x,y\n1,2\n", "x,y\n1,2\n", {}, r"b\.csv: no label column 'label'.*--label_column"),
    ("x,y\n1,2\n", "x,y,label\n1,2,0\n", {"timestamp_column": "t"}, r"a\.csv: no timestamp column 't'"),
    ("x,y\n1,\n", "x,y,label\n1,2,0\n", {}, r"a\.csv: nan at line 2, column 'y'"),
    ("x,y\n1,2\n", "x,y,label\n1,2,0.5\n", {}, r"b\.csv column 'label': label 0\.5"),
    ("", "x,y,label\n1,2,0\n", {}, r"a\.csv: the file is empty"),
    ("x,y\n", "x,y,label\n1,2,0\n", {}, r"a\.csv: the file has no data rows"),
    ("x,x\n1,2\n", "x,label\n1,0\n", {}, r"a\.csv: column name 'x' appears more than once"),
])
def test_bad_csv_names_file_and_column(tmp_path, train_text, test_text, kw, pattern):
    with pytest.raises(DataError, match=pattern):
        _csv(tmp_path, train_text, test_text, **kw)


def test_csv_needs_both_files(tmp_path):
    with pytest.raises(ConfigError, match="--train_csv"):
        open_raw("csv", tmp_path)
    with pytest.raises(DataError, match=r"nope\.csv not found; pass an existing file to --train_csv"):
        read_csv_pair(CsvFiles(tmp_path / "nope.csv", tmp_path / "b.csv"))


# --- real data (skipped when ../shared/datasets is absent) ----------------------------------------

def test_real_smap_msl_entities_and_dims(shared_datasets):
    msl, smap = open_raw("MSL", shared_datasets), open_raw("SMAP", shared_datasets)
    assert len(msl.entities) == 27 and msl.entities[19] == "T-9"
    assert len(smap.entities) == 54 and smap.entities.count("P-2") == 1 and "T-10" not in smap.entities
    # M-6 [[1850, 2030]], first P-2 row [[5350, 6575]]: inclusive ends give 181 and 1226 points
    for dataset, name, dims, train_rows, test_rows, anomalous in ((msl, "M-6", 55, 1565, 2049, 181),
                                                                  (smap, "P-2", 25, 2821, 8209, 1226)):
        entity = dataset.read(name)
        assert entity.train.shape == (train_rows, dims) and entity.test.shape == (test_rows, dims)
        assert entity.labels.sum() == anomalous


def test_real_smd_and_swat(shared_datasets):
    smd = open_raw("SMD", shared_datasets)
    assert len(smd.entities) == 19 and smd.entities[0] == "machine-1-2" and smd.entities[-1] == "machine-3-10"
    assert len(smd.missing) == 9
    entity = smd.read("machine-1-5")
    assert entity.train.shape == (23705, 38) and entity.test.shape == (23706, 38)
    swat = read_swat(shared_datasets)
    assert swat.train.shape == (99360, 51) and swat.test.shape == (89984, 51)
    assert swat.labels.mean() == pytest.approx(0.1199, abs=5e-5)
