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


# --- issue 16: what a path is when it is no readable file, foreign files, the run lock ------------------

import json  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from sensitive_hue.errors import CheckpointError, ConfigError, OutputError  # noqa: E402
from sensitive_hue.logs import setup_logging  # noqa: E402


def _paths(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "folder"
    folder.mkdir()
    loop = tmp_path / "loop"
    os.symlink(loop, loop)
    broken = tmp_path / "broken"
    os.symlink(tmp_path / "nowhere", broken)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    plain = tmp_path / "plain.txt"
    plain.write_text("x\n")
    return {"folder": folder, "loop": loop, "broken": broken, "fifo": fifo, "plain": plain,
            "below_file": plain / "x.npy", "missing": tmp_path / "missing.npy", "loop_child": loop / "x.npy"}


@pytest.mark.parametrize("name, problem", [
    ("folder", ": is a folder, not a file; pass X"),
    ("loop", ": is a symbolic-link loop (a link that leads back to itself); pass X"),
    ("broken", ": is a broken symbolic link (to "),
    ("fifo", ": is a named pipe, not a regular file; pass X"),
    ("below_file", " not found (a part of the path is a file, not a folder); pass X"),
    ("missing", " not found (also tried missing.npy.gz); pass X"),
    ("loop_child", ": is a symbolic-link loop"),
])
def test_require_file_says_what_the_path_is(tmp_path, name, problem):
    path = _paths(tmp_path)[name]
    with pytest.raises(DataError) as caught:
        io.require_file(path, "pass X", what=f"--flag {path}", gz=True)
    assert str(caught.value).startswith(f"--flag {path}{problem}")


def test_require_file_returns_the_file_or_its_gz_and_takes_the_error_class(tmp_path):
    paths = _paths(tmp_path)
    assert io.require_file(paths["plain"], "pass X") == paths["plain"]
    (tmp_path / "a.npy.gz").write_bytes(b"")
    assert io.require_file(tmp_path / "a.npy", "pass X", gz=True) == tmp_path / "a.npy.gz"
    with pytest.raises(ConfigError, match=r"^'': is an empty path; pass X$"):
        io.require_file("", "pass X", error=ConfigError)
    (tmp_path / "b.npy.gz").mkdir()  # the .gz fallback is a folder: say so, not "not found"
    with pytest.raises(DataError, match=r"b\.npy\.gz: is a folder, not a file"):
        io.require_file(tmp_path / "b.npy", "pass X", gz=True)


@pytest.mark.parametrize("content, described", [
    (b"0.1,0.2\n0.3,0.4\n", "a text file beginning '0.1,0.2'"),
    (b"\x80\x04K\x01.", "a Python pickle, never unpickled: that could run code from the file"),  # pickle of 1
    (b"PK\x03\x04" + bytes(40), "a zip archive: a .npz or a torch checkpoint"),
    (bytes(range(1, 30)) + b"\xff\xfe", "binary data of an unknown format"),
    (b"", "the file is empty"),
    ("teé".encode("utf-8")[:3], "a text file beginning 'te'"),  # cut inside a UTF-8 character
])
def test_load_npy_says_what_a_foreign_file_holds(tmp_path, content, described):
    path = tmp_path / "x.npy"
    path.write_bytes(content)
    with pytest.raises(DataError) as caught:
        io.load_npy(path)
    message = str(caught.value)
    assert message == f"{path}: not a .npy array ({described}); save the array with numpy.save"
    assert "holds Python objects" not in message


def _torch_bytes(obj) -> bytes:
    import io as bytes_io

    buffer = bytes_io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("content, reason", [
    (b"hello world\n", "a text file beginning 'hello world'"),
    (b"", "the file is empty"),
    (_torch_bytes({"a": torch.zeros(3)})[:300], "a truncated or corrupt archive"),
    (_torch_bytes({"when": time.struct_time((2025, 1, 1, 0, 0, 0, 0, 1, 0))}),
     "it holds Python objects other than tensors and plain data, never loaded: that could run code from the file"),
    (b"\x80\x02K\x01.", "a Python pickle, not a torch archive"),  # a pickle of 1
    (bytes(range(3, 200)), "binary data of an unknown format"),
])
def test_load_torch_names_the_file_and_never_advises_weights_only_false(tmp_path, content, reason):
    path = tmp_path / "model.pt"
    path.write_bytes(content)
    with warnings.catch_warnings(record=True) as caught_warnings:
        warnings.simplefilter("always")
        with pytest.raises(CheckpointError) as caught:
            io.load_torch(path, "checkpoint", "retrain it")
    assert str(caught.value) == f"{path}: not a checkpoint written by this tool ({reason}); retrain it"
    assert "weights_only" not in str(caught.value) and not caught_warnings
    assert io.load_torch(_write_torch(tmp_path, {"a": torch.ones(2)}))["a"].sum() == 2
    with pytest.raises(CheckpointError, match="is a folder, not a file; retrain it"):
        io.load_torch(tmp_path, fix="retrain it")


def _write_torch(folder: Path, obj) -> Path:
    path = folder / "good.pt"
    path.write_bytes(_torch_bytes(obj))
    return path


def _owner(pid: int, host: str | None = None) -> str:
    return json.dumps({"pid": pid, "host": host or socket.gethostname(), "started": "2025-01-01 00:00:00"})


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_run_lock_is_exclusive_and_released_on_return_error_and_ctrl_c(tmp_path):
    folder = tmp_path / "runs" / "SMD"
    with io.run_lock(folder) as lock:
        assert json.loads(lock.read_text())["pid"] == os.getpid()
        with pytest.raises(OutputError, match=rf"lock file {lock} is held by pid {os.getpid()}"):
            with io.run_lock(folder):
                pass
    assert not lock.exists() and not (tmp_path / "runs").exists()  # folders made for the lock only: removed
    for exc in (ValueError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            with io.run_lock(folder):
                (folder / "run.log").write_text("written\n")
                raise exc
        assert not lock.exists() and (folder / "run.log").exists()  # a folder with outputs stays


def test_run_lock_takes_over_a_dead_pid_with_a_warning_and_refuses_others(tmp_path, capsys):
    folder = tmp_path / "SMD"
    folder.mkdir()
    lock = folder / io.LOCK_NAME
    setup_logging(None)
    lock.write_text(_owner(_dead_pid()))
    with io.run_lock(folder):
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    err = capsys.readouterr().err
    assert err.startswith(f"warning: took over the stale lock file {lock} of pid ") and err.count("\n") == 1
    lock.write_text(_owner(1, "elsewhere"))
    with pytest.raises(OutputError, match="held by pid 1 on host elsewhere since 2025-01-01 00:00:00, which cannot "
                                          "be checked from here"):
        with io.run_lock(folder):
            pass
    lock.write_text("")
    with pytest.raises(OutputError, match="exists but names no owner"):
        with io.run_lock(folder):
            pass
    assert lock.read_text() == ""  # another run's lock is never removed


def test_run_lock_refuses_while_another_process_holds_it(tmp_path):
    folder = tmp_path / "SMD"
    code = ("import sys, time; from sensitive_hue.io import run_lock\n"
            f"with run_lock({str(folder)!r}):\n    print('held', flush=True); time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[1])
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(OutputError, match=rf"lock file {folder / '.lock'} is held by pid {holder.pid}"):
            with io.run_lock(folder):
                pass
    finally:
        holder.kill()
        holder.wait()
    with io.run_lock(folder):  # killed: its lock is stale now
        pass
