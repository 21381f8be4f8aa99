import gzip
import os
import stat

import numpy as np
import pytest

from sensitive_hue import io
from sensitive_hue.errors import DataError


def test_atomic_write_replaces_and_keeps_old_file_on_error(tmp_path):
    target = tmp_path / "out.txt"
    io.write_text(target, "old")
    with pytest.raises(RuntimeError):
        with io.atomic_write(target, "wb") as handle:
            handle.write(b"half")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]  # no temp file left behind


def test_written_files_are_not_private(tmp_path):
    target = tmp_path / "a.json"
    io.write_json(target, {"b": 1, "a": 2})
    assert target.read_text() == '{\n  "a": 2,\n  "b": 1\n}\n'
    mode = stat.S_IMODE(os.stat(target).st_mode)
    assert mode & stat.S_IRGRP or os.umask(os.umask(0)) & stat.S_IRGRP


def test_npy_plain_and_gz_round_trip(tmp_path):
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    io.save_npy(tmp_path / "a.npy", array)
    (tmp_path / "b.npy.gz").write_bytes(gzip.compress((tmp_path / "a.npy").read_bytes()))
    assert io.find_data_file(tmp_path / "b.npy") == tmp_path / "b.npy.gz"
    np.testing.assert_array_equal(io.load_npy(tmp_path / "a.npy"), array)
    np.testing.assert_array_equal(io.load_npy(tmp_path / "b.npy.gz"), array)


def test_truncated_files_name_the_file(tmp_path):
    array = np.zeros((100, 5))
    io.save_npy(tmp_path / "a.npy", array)
    raw = (tmp_path / "a.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "cut.npy.gz").write_bytes(gzip.compress(raw)[:50])
    with pytest.raises(DataError, match="cut.npy"):
        io.load_npy(tmp_path / "cut.npy")
    with pytest.raises(DataError, match=r"cut.npy.gz"):
        io.load_npy(tmp_path / "cut.npy.gz")


def test_object_arrays_are_refused(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="obj.npy"):
        io.load_npy(tmp_path / "obj.npy")
