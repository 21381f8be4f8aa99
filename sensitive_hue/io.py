"""File input/output: atomic writes, safe loads of plain or gzip files, input path checks,
the output folder's run lock, hashing.

Every file the tool writes goes through `atomic_write`: the bytes land in a temporary file in
the same folder, are flushed to disk, and replace the target with `os.replace`, so a crash
leaves either the old file or the new one, never a half-written file. Every file the user names
goes through `require_file`, which says what the path is (a folder, a symbolic-link loop, ...)
when it is not a readable regular file. `run_lock` keeps two runs out of one output folder.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import io
import json
import os
import socket
import stat
import tempfile
import time
import warnings
import zlib
from pathlib import Path
from typing import IO, Any, Iterator

import numpy as np

from .errors import CheckpointError, DataError, OutputError, UserError


_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside `path`; on success it replaces `path` atomically."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise _output_error(path, exc) from None
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file the usual permissions
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _output_error(path, exc) from None
        raise


def _output_error(path: Path, exc: OSError) -> OutputError:
    return OutputError(f"cannot write {path} ({exc.strerror or exc}); choose a writable output folder "
                       "or free disk space")


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_write(path, "wb") as handle:
        handle.write(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write JSON with sorted keys so identical content gives identical bytes."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    write_bytes(path, buffer.getvalue())


def save_torch(path: str | os.PathLike, obj: Any) -> None:
    """`torch.save` through the atomic writer (loadable with `weights_only=True`)."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_bytes(path, buffer.getvalue())


def stat_problem(path: str | os.PathLike, exc: OSError) -> str:
    """What `os.stat(path)`'s error says about `path`, as a phrase: a symbolic-link loop, a broken link, ..."""
    if exc.errno == errno.ELOOP:
        return "is a symbolic-link loop (a link that leads back to itself)"
    if exc.errno == errno.ENOENT and os.path.islink(path):
        return f"is a broken symbolic link (to {os.readlink(path)}, which does not exist)"
    return f"cannot be opened ({exc.strerror or exc})"


def path_problem(path: str | os.PathLike) -> str | None:
    """None when `path` is a readable regular file (symbolic links followed); else what it is instead,
    as a phrase for a message: "not found", "is a folder, not a file", "is a symbolic-link loop", ..."""
    text = os.fspath(path)
    if text == "":
        return "is an empty path"
    try:
        info = os.stat(text)
    except OSError as exc:
        if exc.errno == errno.ENOENT and not os.path.islink(text):
            return "not found"
        if exc.errno == errno.ENOTDIR:
            return "not found (a part of the path is a file, not a folder)"
        return stat_problem(text, exc)
    if stat.S_ISDIR(info.st_mode):
        return "is a folder, not a file"
    if not stat.S_ISREG(info.st_mode):
        kind = ("a named pipe" if stat.S_ISFIFO(info.st_mode) else "a socket" if stat.S_ISSOCK(info.st_mode)
                else "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else "a special file")
        return f"is {kind}, not a regular file"
    if not os.access(text, os.R_OK):
        return "is not readable (permission denied)"
    return None


def require_file(path: str | os.PathLike, expected: str, *, what: str | None = None,
                 error: type[UserError] = DataError, gz: bool = False) -> Path:
    """`path` when it is a readable regular file, else `error`: "<what> <problem>; <expected>".

    `what` names the path in the message (default: the path itself, e.g. "--scores s.npy" or "config
    file c.yaml"); `expected` says what to pass instead. With `gz`, a missing `path` may be `path.gz`
    (the one found is returned). Used at every boundary where the user names an input file."""
    text = os.fspath(path)
    what = (text or "''") if what is None else what
    problem = path_problem(text)
    path = Path(text)
    if problem == "not found" and gz:
        packed = path.with_name(path.name + ".gz")
        if path_problem(packed) is None:
            return packed
        if os.path.lexists(packed):
            path, what, problem = packed, f"{what}.gz", path_problem(packed)
        else:
            problem = f"not found (also tried {path.name}.gz)"
    if problem is None:
        return path
    separator = " " if problem.startswith("not found") else ": "
    raise error(f"{what}{separator}{problem}; {expected}")


def find_data_file(path: str | os.PathLike) -> Path | None:
    """Return `path` if it exists, else `path.gz` if that exists, else None."""
    path = Path(path)
    if path.is_file():
        return path
    gz = path.with_name(path.name + ".gz")
    return gz if gz.is_file() else None


def read_bytes(path: str | os.PathLike) -> bytes:
    """Read a file, decompressing it when its name ends in `.gz`."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            return gzip.decompress(raw)
        return raw
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: cannot read ({exc}); the file is truncated or corrupt, download it again") from None


NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"


def describe_content(head: bytes) -> str:
    """What the first bytes of a file look like, for messages about a file of the wrong kind."""
    if not head:
        return "the file is empty"
    if head.startswith(NPY_MAGIC):
        return "a .npy array"
    if head.startswith(ZIP_MAGIC):
        return "a zip archive: a .npz or a torch checkpoint"
    if head.startswith(b"\x1f\x8b"):
        return "gzip-compressed data: name the file *.gz"
    if head[:1] == b"\x80":
        return "a Python pickle, never unpickled: that could run code from the file"
    text = _text_prefix(head)
    if text is not None and all(c.isprintable() or c in "\t\r\n" for c in text):
        first = text.splitlines()[0] if text.splitlines() else text
        return f"a text file beginning {first[:40]!r}"
    return "binary data of an unknown format"


def _text_prefix(head: bytes) -> str | None:
    """`head` as UTF-8 text (a multi-byte character cut at the end is dropped), else None."""
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return head[:exc.start].decode("utf-8") if exc.start >= len(head) - 3 and exc.start > 0 else None


def load_npy(path: str | os.PathLike) -> np.ndarray:
    """Load a `.npy` (or `.npy.gz`) without pickle; a bad file is a DataError naming it and saying what
    it holds instead (text, a pickle, an archive, ...)."""
    data = read_bytes(path)
    if not data.startswith(NPY_MAGIC):
        raise DataError(f"{path}: not a .npy array ({describe_content(data[:64])}); save the array with "
                        "numpy.save") from None
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        if "allow_pickle" in str(exc):
            raise DataError(f"{path}: holds Python objects, which are never unpickled (unsafe); save a numeric "
                            "array instead") from None
        raise DataError(f"{path}: not a readable .npy array ({exc}); the file is truncated or corrupt, download it again") from None


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load every array of a `.npz` (or `.npz.gz`) without pickle."""
    data = read_bytes(path)
    if not data.startswith(ZIP_MAGIC):
        raise DataError(f"{path}: not a .npz archive ({describe_content(data[:64])}); save the arrays with "
                        "numpy.savez") from None
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (ValueError, OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: not a readable .npz archive ({exc}); the file is truncated or corrupt, download it again") from None


def load_torch(path: str | os.PathLike, what: str = "checkpoint",
               fix: str = "train it again (run main.py without --test)") -> Any:
    """`torch.load(path, weights_only=True)` on the CPU; anything unreadable is a CheckpointError
    "<path>: not a <what> written by this tool (<what the file is>); <fix>". torch's own advice to
    load with `weights_only=False` (unsafe: it runs code from the file) is never shown, nor its warnings."""
    import torch

    path = require_file(path, fix, what=str(path), error=CheckpointError)
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read ({exc.strerror or exc}); {fix}") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for truncated / foreign files
        if not head:
            reason = "the file is empty"
        elif head.startswith(ZIP_MAGIC) and type(exc).__name__ == "UnpicklingError":  # weights_only refused it
            reason = "it holds Python objects other than tensors and plain data, never loaded: that could run code from the file"
        elif head.startswith(ZIP_MAGIC):
            reason = "a truncated or corrupt archive"
        elif head[:1] == b"\x80":
            reason = "a Python pickle, not a torch archive"
        else:
            reason = describe_content(head)
        raise CheckpointError(f"{path}: not a {what} written by this tool ({reason}); {fix}") from None


# --- the run lock of an output folder -------------------------------------------------------------------

LOCK_NAME = ".lock"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    except (OverflowError, ValueError, OSError):
        return False
    return True


def _read_owner(path: Path) -> dict | None:
    try:
        owner = json.loads(path.read_bytes())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return owner if isinstance(owner, dict) and isinstance(owner.get("pid"), int) else None


def _make_dirs(folder: Path) -> list[Path]:
    """mkdir -p `folder`; the folders created, deepest first (to remove them again when left empty)."""
    created = []
    missing = folder
    while not os.path.lexists(missing) and missing != missing.parent:
        created.append(missing)
        missing = missing.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _output_error(folder, exc) from None
    return created


@contextlib.contextmanager
def run_lock(folder: str | os.PathLike, flag: str = "--out_dir") -> Iterator[Path]:
    """Hold `<folder>/.lock` (created with O_CREAT|O_EXCL, holding this process's pid and host) while
    the block runs; it is removed on exit, also on an error or Ctrl-C, and so are the folders created
    for it when nothing else was written into them.

    Another live run holding it is an OutputError naming the lock file and its pid. A lock whose pid
    is no longer running on this host (a killed run) is taken over with a warning. A lock of another
    host cannot be checked and is refused: the message says to delete it if that run is gone."""
    from .logs import get_logger

    folder = Path(folder)
    path = folder / LOCK_NAME
    created = _make_dirs(folder)
    owner = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    try:
        for _ in range(3):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666 & ~_UMASK)
            except FileExistsError:
                holder = _read_owner(path)
                if holder is None:
                    time.sleep(0.2)  # a run that has just created it may not have written its pid yet
                    holder = _read_owner(path)
                if holder is None:
                    raise OutputError(f"lock file {path} exists but names no owner; if no other run uses {folder}, "
                                      f"delete it (or choose another {flag})") from None
                pid, host = holder["pid"], holder.get("host")
                if host == owner["host"] and not _pid_alive(pid):
                    get_logger().warning("took over the stale lock file %s of pid %d on %s (a run that is no longer "
                                         "running, started %s)", path, pid, host, holder.get("started", "at an unknown time"))
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path)
                    continue
                since = f" since {holder['started']}" if holder.get("started") else ""
                if host == owner["host"]:
                    raise OutputError(f"{folder} is in use by another run: lock file {path} is held by pid {pid}{since}; "
                                      f"wait for it to finish or choose another {flag} (delete the lock file only if "
                                      f"pid {pid} is not a run of this tool)") from None
                raise OutputError(f"{folder} is in use by another run: lock file {path} is held by pid {pid} on host "
                                  f"{host}{since}, which cannot be checked from here; wait for it to finish, delete the "
                                  f"lock file if that run is gone, or choose another {flag}") from None
            except OSError as exc:
                raise _output_error(path, exc) from None
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(json.dumps(owner) + "\n")
            except BaseException:  # never leave a lock without an owner behind (Ctrl-C, disk full)
                os.unlink(path)
                raise
            break
        else:
            raise OutputError(f"lock file {path}: another run keeps taking it; choose another {flag}")
        try:
            yield path
        finally:
            if _read_owner(path) == owner:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
    finally:
        for made in created:  # deepest first; a folder the run wrote into stays
            try:
                made.rmdir()
            except OSError:
                break


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
