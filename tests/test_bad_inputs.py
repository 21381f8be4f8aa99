"""The bad-input matrix: every case of preprocess.py, main.py and `python -m sensitive_hue.metrics` must exit
non-zero with no traceback and no Python warning, print one `error:` line naming the problem (last on stderr;
only the tool's own `warning:` lines, e.g. SMD machines absent from the download, may come before it), and
leave the folders exactly as they were.

Issue 16's classes each get several cases: numbers that parse but cannot be used (integers beyond 64 bits,
values beyond float32, non-finite settings), paths that are not readable files (folders, link loops), duplicate
YAML keys, empty or ignored flags and work bounded by the data, foreign checkpoints, timestamps out of order,
and an output folder locked by another run.

Most cases call the CLIs' `main(argv)` in-process through `run_cli` (the code a subprocess runs after
start-up); the cases marked `real` run a subprocess to cover the `__main__` entry points themselves.
The README's troubleshooting section lists these cases and their messages.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import yaml

from data_fixtures import STAR, WINDOW, npy_bytes, series, write, write_csv_pair, write_smd, write_swat
from pipeline_fixtures import F_IN, ROOT, synthetic_entity, tiny_config, write_dataset
from sensitive_hue import main_cli, preprocess_cli
from sensitive_hue.cli import run_cli
from sensitive_hue.metrics import __main__ as metrics_cli

ENTITY = "machine-1-1"
MODULES = {"preprocess": ["preprocess.py"], "main": ["main.py"], "metrics": ["-m", "sensitive_hue.metrics"]}
MAINS = {"preprocess": preprocess_cli.main, "main": main_cli.main, "metrics": metrics_cli.main}


@dataclass(frozen=True)
class Case:
    name: str
    cli: str  # preprocess | main | metrics
    setup: Callable[[Path, Path], list[str]]  # (case folder, trained fixture folder) -> argv
    message: str  # a substring of the one error line (paths are relative to the case folder)
    real: bool = False  # run as a subprocess


# --- preprocess.py inputs ----------------------------------------------------------------------------

def _small_window_config(work: Path) -> str:
    """config/star.yaml with the fixtures' small window, so only the fault under test trips."""
    document = yaml.safe_load(STAR.read_text())
    document["shared"]["step_num_in"] = WINDOW
    path = work / "star.yaml"
    path.write_text(yaml.safe_dump(document))
    return str(path)


def _pre(work: Path, dataset: str, *extra: str, config: str | None = None) -> list[str]:
    return ["--config_path", config or _small_window_config(work), "--data_name", dataset,
            "--raw_dir", str(work / "raw"), "--out_dir", str(work / "out"), *extra]


def _smd(work: Path, edit: Callable[[Path], None] | None = None) -> list[str]:
    write_smd(work / "raw", ("machine-1-1",))
    if edit is not None:
        edit(work / "raw" / "SMD")
    return _pre(work, "SMD")


def _text(rows: np.ndarray) -> bytes:
    return "".join(",".join(map(str, row)) + "\n" for row in rows).encode()


def _smd_rows(work: Path, part: str, rows: np.ndarray) -> list[str]:
    return _smd(work, lambda smd: write(smd / part / "machine-1-1.txt", _text(rows)))


def _swat_truncated_npy(work: Path, _) -> list[str]:
    write_swat(work / "raw", gz=False)
    path = work / "raw" / "SWaT" / "train.npy"
    path.write_bytes(path.read_bytes()[:1000])
    return _pre(work, "SWaT")


def _smd_truncated_gz(work: Path, _) -> list[str]:
    def truncate(smd: Path) -> None:
        data = gzip.compress(b"".join(b"1.0," * 37 + b"1.0\n" for _ in range(30)))
        (smd / "train" / "machine-1-1.txt").unlink()
        (smd / "train" / "machine-1-1.txt.gz").write_bytes(data[: len(data) // 2])
    return _smd(work, truncate)


def _csv(work: Path, train_text: str | None = None, test_text: str | None = None) -> list[str]:
    train, test = write_csv_pair(work / "csv")
    if train_text is not None:
        train.write_text(train_text)
    if test_text is not None:
        test.write_text(test_text)
    return _pre(work, "csv", "--train_csv", str(train), "--test_csv", str(test), "--timestamp_column", "time")


def _file_in_the_way(work: Path) -> Path:
    blocker = work / "not_a_folder"
    blocker.write_text("a regular file\n")
    return blocker / "out"


PREPROCESS = [
    Case("missing raw folder", "preprocess", lambda w, _: _pre(w, "SMD"),
         "raw/SMD/train not found; download SMD from github.com/NetManAIOps/OmniAnomaly"),
    Case("missing raw file", "preprocess",
         lambda w, _: _smd(w, lambda smd: (smd / "labels" / "machine-1-1.txt").unlink()),
         "raw/SMD/labels/machine-1-1.txt (or .txt.gz) not found, but other files of machine-1-1 exist; download"),
    Case("unknown dataset name", "preprocess", lambda w, _: _pre(w, "SMD2"),
         "unknown dataset 'SMD2' (did you mean 'SMD'?); valid names: SWaT, SMD, MSL, SMAP, demo, csv"),
    Case("NaN in raw data", "preprocess",
         lambda w, _: _smd_rows(w, "test", np.where(np.arange(38) == 4, np.nan, series(21, 38, 0))),
         "raw/SMD/test/machine-1-1.txt: nan at line 1, column 5; fix or remove the non-finite values"),
    Case("inf in raw data", "preprocess", lambda w, _: _swat_with_inf(w),
         "raw/SWaT/train.npy: inf at row 7, column 3 (0-based)"),
    Case("labels shorter than the test series", "preprocess",
         lambda w, _: _smd(w, lambda smd: write(smd / "labels" / "machine-1-1.txt", b"0\n" * 5)),
         "raw/SMD/labels/machine-1-1.txt: 5 labels but the test series has 20 rows"),
    Case("column count differs from f_in", "preprocess", lambda w, _: _smd_37_columns(w),
         "has 37 columns, 37 after dropping ignore_dims [], but config key 'f_in' (section SMD of star.yaml) is 38"),
    Case("train and test column counts differ", "preprocess", lambda w, _: _smd_rows(w, "train", series(20, 37, 0)),
         "raw/SMD/test/machine-1-1.txt: 38 columns but raw/SMD/train/machine-1-1.txt has 37"),
    Case("window longer than a series", "preprocess", lambda w, _: _smd(w)[:0] + _pre(w, "SMD", config=str(STAR)),
         "fewer than the window length step_num_in=100"),
    Case("empty raw file", "preprocess",
         lambda w, _: _smd(w, lambda smd: write(smd / "train" / "machine-1-1.txt", b"")),
         "raw/SMD/train/machine-1-1.txt: the file is empty"),
    Case("non-numeric CSV column", "preprocess",
         lambda w, _: _csv(w, train_text="time,temp,pressure,flow\n1,20,1.0,low\n" * 1 + "2,21,1.1,high\n" * 30),
         "csv/plant_train.csv: column 'flow' is not numeric ('low' at line 2)"),
    Case("CSV train/test columns differ", "preprocess",
         lambda w, _: _csv(w, test_text="time,temp,pressure,rate,label\n" + "1,20,1.0,3,0\n" * 40),
         "csv/plant_test.csv: columns differ from csv/plant_train.csv (only in train: ['flow'], "
         "only in test: ['rate'])"),
    Case("truncated .npy", "preprocess", _swat_truncated_npy, "train.npy: not a readable .npy", real=True),
    Case("truncated .gz", "preprocess", _smd_truncated_gz, "machine-1-1.txt.gz: cannot read"),
    Case("bad YAML syntax", "preprocess",
         lambda w, _: _pre(w, "demo", config=_write(w / "bad.yaml", "shared: [1, 2\n")),
         "bad.yaml line 2: invalid YAML"),
    Case("unknown config key", "preprocess",
         lambda w, _: _pre(w, "demo", config=_write(w / "typo.yaml", "shared:\n  windw: 5\ndemo: {}\n")),
         "unknown config key 'windw' in section shared"),
    Case("output folder below a regular file", "preprocess",
         lambda w, _: _pre(w, "demo")[:-1] + [str(_file_in_the_way(w))],
         "cannot write not_a_folder/out/demo/demo/train.npy (Not a directory)", real=True),
]


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def _smd_37_columns(work: Path) -> list[str]:
    def narrow(smd: Path) -> None:
        for seed, part in enumerate(("train", "test")):
            write(smd / part / "machine-1-1.txt", _text(series(20, 37, seed)))
    return _smd(work, narrow)


def _swat_with_inf(work: Path) -> list[str]:
    write_swat(work / "raw", gz=False)
    train = np.load(work / "raw" / "SWaT" / "train.npy")
    train[7, 3] = np.inf
    write(work / "raw" / "SWaT" / "train.npy", npy_bytes(train))
    return _pre(work, "SWaT")


# --- main.py inputs (a tiny trained model in the fixture folder) ------------------------------------

# entity.read_checkpoint loads through io.load_torch once entity.py calls it (issue 16, item 6); until then
# the checkpoint cases of that item are expected to fail.
CHECKPOINT_MESSAGE = "not a checkpoint written by this tool"

def _main(trained: Path, work: Path, *extra: str, processed: Path | None = None, out: Path | None = None) -> list[str]:
    return ["--config_path", str(trained / "tiny.yaml"), "--data_name", "SMD",
            "--processed_dir", str(processed or trained / "processed"), "--raw_dir", str(work / "no_raw"),
            "--out_dir", str(out or work / "out"), "--no_plots", *extra]


def _trained_copy(work: Path, trained: Path) -> Path:
    """A private copy of the trained output folder (a case may damage it)."""
    out = work / "out"
    shutil.copytree(trained / "out", out)
    return out


def _other_features(work: Path, trained: Path) -> list[str]:
    out = _trained_copy(work, trained)
    entity = synthetic_entity(ENTITY, 0)
    wide = np.hstack([entity.train, entity.train[:, :1]]), np.hstack([entity.test, entity.test[:, :1]])
    entity.train, entity.test = wide
    entity.meta = {**entity.meta, "shape": {"train": list(wide[0].shape), "test": list(wide[1].shape),
                                            "labels": list(entity.labels.shape)}}
    write_dataset(work / "processed4", "SMD", [entity])
    return _main(trained, work, "--test", processed=work / "processed4", out=out)


def _truncated_checkpoint(work: Path, trained: Path) -> list[str]:
    out = _trained_copy(work, trained)
    path = out / "SMD" / ENTITY / "model.pt"
    path.write_bytes(path.read_bytes()[:2000])
    return _main(trained, work, "--test", out=out)


MAIN = [
    Case("bad YAML syntax", "main", lambda w, t: ["--config_path", _write(w / "bad.yaml", "shared:\n  seed: [1\n"),
                                                   "--data_name", "demo"], "bad.yaml line 3: invalid YAML", real=True),
    Case("zero window", "main", lambda w, t: _main(t, w, "--set", "step_num_in=0"),
         "config key 'step_num_in' (section command line) must be > 0, got 0"),
    Case("negative window", "main", lambda w, t: _main(t, w, "--set", "step_num_in=-5"),
         "config key 'step_num_in' (section command line) must be > 0, got -5"),
    Case("window longer than the processed series", "main", lambda w, t: _main(t, w, "--set", "step_num_in=400"),
         "window length 400 (config key step_num_in) is longer than the series (300 rows)"),
    Case("--test without a trained model", "main", lambda w, t: _main(t, w, "--test"),
         f"no trained model for SMD entity {ENTITY} at out/SMD/{ENTITY}/model.pt; train first"),
    Case("checkpoint from another config", "main",
         lambda w, t: _main(t, w, "--test", "--set", "dim_model=32", out=_trained_copy(w, t)),
         "trained with dim_model=16, the config now says 32"),
    Case("checkpoint from another feature count", "main", _other_features,
         f"trained on {F_IN} features, entity {ENTITY} has {F_IN + 1}; retrain without --test"),
    Case("truncated checkpoint", "main", _truncated_checkpoint, f"model.pt: {CHECKPOINT_MESSAGE}", real=True),
    Case("output folder below a regular file", "main", lambda w, t: _main(t, w, out=_file_in_the_way(w)),
         "not_a_folder is a file, not a folder; choose another --out_dir"),
    Case("unknown entity", "main", lambda w, t: _main(t, w, "--entities", "machine-9-9"),
         "--entities: unknown entity 'machine-9-9'"),
]


# --- python -m sensitive_hue.metrics ----------------------------------------------------------------

def _metrics(work: Path, scores: np.ndarray, labels: np.ndarray, allow_pickle: bool = False) -> list[str]:
    np.save(work / "scores.npy", scores, allow_pickle=allow_pickle)
    np.save(work / "labels.npy", labels)
    return ["--scores", str(work / "scores.npy"), "--labels", str(work / "labels.npy")]


LABELS = np.array([0, 0, 1, 1, 0, 0, 0, 1, 0, 0], dtype=np.int8)
METRICS = [
    Case("labels of the wrong length", "metrics", lambda w, _: _metrics(w, np.linspace(0, 1, 12), LABELS),
         "scores.npy has 12 points but --labels"),
    Case("scores with NaN", "metrics", lambda w, _: _metrics(w, np.where(LABELS == 1, np.nan, 0.5), LABELS),
         "scores.npy: 3 score(s) are NaN or infinite (first at index 2)", real=True),
    Case("pickled object array", "metrics",
         lambda w, _: _metrics(w, np.array([{"x": 1}] * 10, dtype=object), LABELS, allow_pickle=True),
         "scores.npy: holds Python objects, which are never unpickled"),
]

# --- issue 16: the classes of input that still slipped through ---------------------------------------

def _csv_cell(work: Path, part: str, value: str) -> list[str]:
    """The CSV pair with one cell of the 'temp' column (line 6 of `part`) replaced by `value`."""
    train, test = write_csv_pair(work / "csv")
    path = train if part == "train" else test
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[5].split(",")
    cells[header.index("temp")] = value
    lines[5] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    return _pre(work, "csv", "--train_csv", str(train), "--test_csv", str(test), "--timestamp_column", "time")


def _smd_cell(work: Path, part: str, value: str) -> list[str]:
    """An SMD machine whose `part` file has `value` as its first cell."""
    rows = _text(series(20, 38, 0)).decode().splitlines()
    rows[0] = ",".join([value, *rows[0].split(",")[1:]])
    return _smd(work, lambda smd: write(smd / part / "machine-1-1.txt", ("\n".join(rows) + "\n").encode()))


def _swat_value(work: Path, value: float) -> list[str]:
    write_swat(work / "raw", gz=False)
    train = np.load(work / "raw" / "SWaT" / "train.npy").astype(np.float64)
    train[4, 2] = value
    write(work / "raw" / "SWaT" / "train.npy", npy_bytes(train))
    return _pre(work, "SWaT")


def _link_loop(work: Path, name: str = "loop") -> Path:
    path = work / name
    os.symlink(path, path)
    return path


def _folder(work: Path, name: str = "a_folder") -> Path:
    path = work / name
    path.mkdir()
    (path / "keep").write_text("")
    return path


def _detect(trained: Path, work: Path, file: Path, *extra: str, out: Path | None = None) -> list[str]:
    return ["--config_path", str(trained / "tiny.yaml"), "--data_name", "SMD", "--out_dir",
            str(out or _trained_copy(work, trained)), "--no_plots", "--detect", str(file), *extra]


def _new_csv(work: Path, edit: Callable[[list], None] | None = None, numeric_times: bool = False) -> Path:
    """The fixture entity's test series as a new CSV with a timestamp column, `edit`ed (a list of timestamps)."""
    test = synthetic_entity(ENTITY, 0).test
    times: list = (list(range(1000, 1000 + len(test))) if numeric_times else
                   [f"2025-01-01T{i // 60:02d}:{i % 60:02d}:00" for i in range(len(test))])
    if edit is not None:
        edit(times)
    path = work / "new.csv"
    path.write_text("timestamp,a,b,c\n" + "".join(f"{t},{r[0]},{r[1]},{r[2]}\n" for t, r in zip(times, test)))
    return path


def _swap(times: list, i: int = 40) -> None:
    times[i], times[i + 1] = times[i + 1], times[i]


def _locked(work: Path, trained: Path, argv: Callable[[Path], list[str]], pid: int | None = None,
            host: str | None = None) -> list[str]:
    """A trained copy whose SMD folder is locked by a live run (this test process, or `pid` on `host`)."""
    out = _trained_copy(work, trained)
    owner = {"pid": pid or os.getpid(), "host": host or socket.gethostname(), "started": "2025-01-01 00:00:00"}
    (out / "SMD" / ".lock").write_text(json.dumps(owner) + "\n")
    return argv(out)


def _text_checkpoint(work: Path, trained: Path, data: bytes) -> list[str]:
    out = _trained_copy(work, trained)
    (out / "SMD" / ENTITY / "model.pt").write_bytes(data)
    return _main(trained, work, "--test", out=out)


def _unsafe_checkpoint() -> bytes:
    import datetime
    import io as bytes_io

    import torch

    buffer = bytes_io.BytesIO()
    torch.save({"format": 2, "when": datetime.datetime(2025, 1, 1)}, buffer)  # an object outside weights_only
    return buffer.getvalue()


def _metric_files(work: Path, scores=None, labels=None, val=None) -> dict[str, str]:
    rng = np.random.default_rng(0)
    files = {"scores": rng.random(100) if scores is None else scores,
             "labels": np.r_[np.zeros(60), np.ones(10), np.zeros(30)].astype(np.int8) if labels is None else labels,
             "val": rng.random(300) if val is None else val}
    for name, array in files.items():
        np.save(work / f"{name}.npy", array)
    return {name: str(work / f"{name}.npy") for name in files}


def _m(work: Path, *extra: str, **arrays) -> list[str]:
    files = _metric_files(work, **arrays)
    return ["--scores", files["scores"], "--labels", files["labels"], *extra]


def _text_file(work: Path, name: str, text: str = "0.1\n0.2\n0.3\n") -> str:
    (work / name).write_text(text)
    return str(work / name)


NUMBERS = [  # 1. numbers that parse but cannot be used
    Case("integer beyond int64 in a CSV column", "preprocess", lambda w, _: _csv_cell(w, "train", "99999999999999999999999"),
         "csv/plant_train.csv: column 'temp' holds the integer 99999999999999999999999 at line 6, beyond the 64-bit"),
    Case("negative integer beyond int64", "preprocess", lambda w, _: _csv_cell(w, "test", "-9223372036854775809"),
         "csv/plant_test.csv: column 'temp' holds the integer -9223372036854775809 at line 6"),
    Case("integer beyond uint64", "preprocess", lambda w, _: _csv_cell(w, "train", "18446744073709551616"),
         "column 'temp' holds the integer 18446744073709551616 at line 6"),
    Case("integer beyond int64 that fits uint64", "preprocess", lambda w, _: _csv_cell(w, "train", "18446744073709551615"),
         "column 'temp' holds the integer 18446744073709551615 at line 6"),
    Case("integer beyond int64 in a headerless SMD file", "preprocess",
         lambda w, _: _smd_cell(w, "train", "123456789012345678901234567890"),
         "raw/SMD/train/machine-1-1.txt: column 1 holds the integer 123456789012345678901234567890 at line 1"),
    Case("value near the float64 limit in a CSV", "preprocess", lambda w, _: _csv_cell(w, "test", "1.7e308"),
         "csv/plant_test.csv: 1.7e+308 at line 6, column 'temp' is beyond the float32 range"),
    Case("negative value near the float64 limit", "preprocess", lambda w, _: _csv_cell(w, "train", "-1.7976931348623157e308"),
         "csv/plant_train.csv: -1.7976931348623157e+308 at line 6, column 'temp' is beyond the float32 range"),
    Case("value beyond float32 in an SMD text file", "preprocess",
         lambda w, _: _smd_rows(w, "test", np.where(np.arange(38) == 2, 1e300, series(20, 38, 0))),
         "raw/SMD/test/machine-1-1.txt: 1e+300 at line 1, column 3 is beyond the float32 range"),
    Case("value beyond float32 in a .npy", "preprocess", lambda w, _: _swat_value(w, 5e38),
         "raw/SWaT/train.npy: 5e+38 at row 4, column 2 (0-based) is beyond the float32 range"),
    Case("--lr nan", "main", lambda w, t: _main(t, w, "--lr", "nan"),
         "config key 'lr' (section command line) must be a finite number, got nan"),
    Case("--lr inf", "main", lambda w, t: _main(t, w, "--lr", "inf"), "config key 'lr' (section command line) must be a finite"),
    Case("--set gamma=.inf", "main", lambda w, t: _main(t, w, "--set", "gamma=.inf"),
         "config key 'gamma' (section command line) must be a finite number, got inf"),
    Case("--set pot_risk=.nan", "main", lambda w, t: _main(t, w, "--set", "pot_risk=.nan"),
         "config key 'pot_risk' (section command line) must be a finite number, got nan"),
    Case("--cpus_per_job -inf", "main", lambda w, t: _main(t, w, "--cpus_per_job=-inf"),
         "config key 'cpus_per_job' (section command line) must be a finite number, got -inf"),
    Case("nan in the YAML", "main", lambda w, t: _yaml_key(w, t, "alpha", ".nan"),
         "config key 'alpha' (section shared of"),
    Case("-inf in the YAML", "main", lambda w, t: _yaml_key(w, t, "dropout", "-.inf"),
         "config key 'dropout' (section shared of"),
    Case("nan in a YAML mapping", "main", lambda w, t: _yaml_key(w, t, "score_ignore_dims", "{1: [.nan]}"),
         "config key 'score_ignore_dims'"),
    Case("integer beyond 64 bits", "main", lambda w, t: _main(t, w, "--seed", "99999999999999999999999"),
         "config key 'seed' (section command line) is 99999999999999999999999, beyond the 64-bit integer range"),
    Case("scores beyond float32", "metrics", lambda w, _: _m(w, scores=np.r_[np.full(50, 1.7e308), np.zeros(50)]),
         "--scores scores.npy: 50 score(s) are beyond the float32 range"),
    Case("validation scores near the float64 limit", "metrics",
         lambda w, _: _m(w, "--val_scores", str(w / "val.npy"), val=np.r_[0.5, 0.7, np.full(298, -1.7e308)]),
         "--val_scores val.npy: 298 score(s) are beyond the float32 range"),
]


def _yaml_key(work: Path, trained: Path, key: str, value: str) -> list[str]:
    document = yaml.safe_load((trained / "tiny.yaml").read_text())
    path = work / "edited.yaml"
    path.write_text(yaml.safe_dump(document).replace("shared:\n", f"shared:\n  {key}: {value}\n", 1))
    return ["--config_path", str(path), *_main(trained, work)[2:]]


PATHS = [  # 2. a path that is no readable file
    Case("--out_dir a symlink loop", "main", lambda w, t: _main(t, w, out=_link_loop(w)),
         "--out_dir loop: loop is a symbolic-link loop"),
    Case("--out_dir below a symlink loop", "main", lambda w, t: _main(t, w, out=_link_loop(w) / "runs"),
         "--out_dir loop/runs: loop is a symbolic-link loop"),
    Case("--out_dir whose dataset folder is a symlink loop", "main",
         lambda w, t: _main(t, w, out=_link_loop(_folder(w, "runs"), "SMD").parent),
         "--out_dir runs: runs/SMD is a symbolic-link loop"),
    Case("--out_dir a broken symlink", "main",
         lambda w, t: (os.symlink(w / "nowhere", w / "broken"), _main(t, w, out=w / "broken"))[1],
         "--out_dir broken: broken is a broken symbolic link"),
    Case("--config_path a folder", "main", lambda w, t: ["--config_path", str(_folder(w)), "--data_name", "demo"],
         "config file a_folder: is a folder, not a file; pass a YAML file"),
    Case("--config_path a symlink loop", "preprocess",
         lambda w, _: ["--config_path", str(_link_loop(w)), "--data_name", "demo", "--out_dir", str(w / "out")],
         "config file loop: is a symbolic-link loop"),
    Case("--overlay a folder", "main", lambda w, t: _main(t, w, "--overlay", str(_folder(w))),
         "config file a_folder: is a folder, not a file"),
    Case("--detect a folder", "main", lambda w, t: _detect(t, w, _folder(w)),
         "a_folder: is a folder, not a file; pass a CSV or .npy file to --detect"),
    Case("--detect a symlink loop", "main", lambda w, t: _detect(t, w, _link_loop(w)),
         "loop: is a symbolic-link loop (a link that leads back to itself); pass a CSV or .npy file to --detect"),
    Case("--train_csv a folder", "preprocess",
         lambda w, _: _pre(w, "csv", "--train_csv", str(_folder(w)), "--test_csv", str(write_csv_pair(w / "c")[1])),
         "a_folder: is a folder, not a file; pass an existing file to --train_csv"),
    Case("raw data file a folder", "preprocess", lambda w, _: (write_swat(w / "raw"), _folder(w / "raw" / "SWaT", "train.npy"),
                                                               (w / "raw" / "SWaT" / "train.npy.gz").unlink(),
                                                               _pre(w, "SWaT"))[-1],
         "raw/SWaT/train.npy: is a folder, not a file; expected a data file; download SWaT"),
    Case("metrics --scores a folder", "metrics", lambda w, _: ["--scores", str(_folder(w)), "--labels", _m(w)[3]],
         "--scores a_folder: is a folder, not a file; pass a 1-D .npy of scores to --scores"),
    Case("metrics --labels a folder", "metrics", lambda w, _: [*_m(w)[:2], "--labels", str(_folder(w))],
         "--labels a_folder: is a folder, not a file"),
    Case("metrics --val_scores a folder", "metrics", lambda w, _: _m(w, "--val_scores", str(_folder(w))),
         "--val_scores a_folder: is a folder, not a file"),
    Case("metrics --scores a symlink loop", "metrics", lambda w, _: ["--scores", str(_link_loop(w)), "--labels", _m(w)[3]],
         "--scores loop: is a symbolic-link loop"),
    Case("metrics --scores a text file", "metrics", lambda w, _: ["--scores", _text_file(w, "s.csv"), "--labels", _m(w)[3]],
         "--scores s.csv: not a .npy array (a text file beginning '0.1'); save the array with numpy.save"),
    Case("metrics --labels a text file named .npy", "metrics",
         lambda w, _: [*_m(w)[:2], "--labels", _text_file(w, "l.npy", "0\n1\n")],
         "--labels l.npy: not a .npy array (a text file beginning '0')"),
    Case("metrics --scores a .npz", "metrics",
         lambda w, _: (np.savez(w / "s.npz", x=np.zeros(3)), ["--scores", str(w / "s.npz"), "--labels", _m(w)[3]])[1],
         "--scores s.npz: not a .npy array (a zip archive: a .npz or a torch checkpoint)"),
]

def _dup(work: Path, trained: Path, text: str) -> list[str]:
    """main.py with --config_path a file holding `text`, which repeats something (refused while it is parsed)."""
    return ["--config_path", _write(work / "edited.yaml", text), *_main(trained, work)[2:]]


DUPLICATES = [  # 3. a key or section given twice
    Case("duplicate key", "main", lambda w, t: _dup(w, t, "shared:\n  lr: 0.1\n  seed: 3\n  lr: 0.2\nSMD: {}\n"),
         "edited.yaml: key 'lr' in section shared appears twice (lines 2 and 4); keep one of them"),
    Case("duplicate section", "main", lambda w, t: _dup(w, t, "shared:\n  lr: 0.1\nSMD:\n  f_in: 3\nshared:\n  seed: 3\n"),
         "edited.yaml: section 'shared' appears twice (lines 1 and 5)"),
    Case("duplicate key in a nested mapping", "main",
         lambda w, t: _dup(w, t, "SMD:\n  f_in: 3\n  score_ignore_dims:\n    1: [0]\n    1: [2]\n"),
         "key 1 in section SMD under score_ignore_dims appears twice (lines 4 and 5)"),
    Case("duplicate key in a flow mapping of an overlay", "main",
         lambda w, t: _main(t, w, "--overlay", _write(w / "over.yaml", "shared: {seed: 1, seed: 2}\n")),
         "over.yaml: key 'seed' in section shared appears twice (lines 1 and 1)"),
    Case("duplicate key for preprocess", "preprocess",
         lambda w, _: _pre(w, "demo", config=_write(w / "dup.yaml", "shared:\n  step_num_in: 10\n  step_num_in: 20\ndemo: {}\n")),
         "dup.yaml: key 'step_num_in' in section shared appears twice (lines 2 and 3)"),
    Case("duplicate key in --set", "main", lambda w, t: _main(t, w, "--set", "score_ignore_dims={1: [0], 1: [2]}"),
         "score_ignore_dims={1: [0], 1: [2]}: key 1 appears twice"),
]


FLAGS = [  # 4. empty lists, ignored options, work bounded by the data
    Case("--entities ,", "main", lambda w, t: _main(t, w, "--entities", ","),
         "--entities ',': empty entity name; give names or 1-based indices"),
    Case("--entities ''", "main", lambda w, t: _main(t, w, "--entities", ""), "--entities '': empty entity name"),
    Case("--entities with an empty item", "main", lambda w, t: _main(t, w, "--entities", f"{ENTITY},,1"),
         f"--entities '{ENTITY},,1': empty entity name"),
    Case("--entities without a value", "main", lambda w, t: _main(t, w, "--entities"),
         "argument --entities: expected at least one argument; see main.py --help"),
    Case("preprocess --entities ,", "preprocess", lambda w, _: _pre(w, "demo", "--entities", ","),
         "--entities ',': empty entity name; give names or 1-based indices"),
    Case("preprocess --entities ''", "preprocess", lambda w, _: _pre(w, "demo", "--entities", ""),
         "--entities '': empty entity name"),
    Case("metrics --pot_risk without --val_scores", "metrics", lambda w, _: _m(w, "--pot_risk", "0.01"),
         "--pot_risk sets the label-free thresholds, which need validation scores: add --val_scores"),
    Case("metrics --pot_level and --val_quantile without --val_scores", "metrics",
         lambda w, _: _m(w, "--pot_level", "0.9", "--val_quantile", "0.95"),
         "--pot_level, --val_quantile set the label-free thresholds, which need validation scores"),
    Case("metrics --pot_risk nan", "metrics", lambda w, _: _m(w, "--val_scores", str(w / "val.npy"), "--pot_risk", "nan"),
         "--pot_risk must be a number in (0, 1), got nan"),
    Case("metrics --vus_buffer 1e8 on 100 points", "metrics", lambda w, _: _m(w, "--vus_buffer", "100000000"),
         "--vus_buffer 100000000: the VUS buffer must be 0 to the series length (100 points)"),
    Case("metrics --vus_buffer just above the length", "metrics", lambda w, _: _m(w, "--vus_buffer", "101"),
         "--vus_buffer 101: the VUS buffer must be 0 to the series length (100 points)"),
    Case("metrics --vus_buffer in float notation", "metrics", lambda w, _: _m(w, "--vus_buffer", "1e8"),
         "argument --vus_buffer: invalid int value: '1e8'"),
    Case("--out_dir ''", "main", lambda w, t: _main(t, w)[:-3] + ["--out_dir", "", "--no_plots"],
         "--out_dir '': an empty path"),
    Case("preprocess --out_dir ''", "preprocess", lambda w, _: _pre(w, "demo")[:-1] + [""], "--out_dir '': an empty path"),
    Case("--cpus_per_job in a serial run", "main", lambda w, t: _main(t, w, "--cpus_per_job", "2"),
         "--cpus_per_job has no effect here: --cpus_per_job and --gpus_per_job size the Ray jobs of a parallel run"),
    Case("entities: [] in the YAML", "main", lambda w, t: _yaml_key(w, t, "entities", "[]"),
         "config key 'entities' (section shared of edited.yaml) holds an empty list or name, got []"),
    Case("--set entities=[]", "main", lambda w, t: _main(t, w, "--set", "entities=[]"),
         "config key 'entities' (section command line) holds an empty list or name"),
    Case("steps_per_epoch more than the training windows", "main",
         lambda w, t: _main(t, w, "--set", "steps_per_epoch=100000000"),
         "config key 'steps_per_epoch' is 100000000, more than the 180 training windows of SMD entity machine-1-1"),
    Case("vus_buffer longer than the test series", "main", lambda w, t: _main(t, w, "--set", "vus_buffer=100000000"),
         f"config key 'vus_buffer' is 100000000, longer than the 240 test rows of SMD entity {ENTITY}"),
    Case("--test with a training setting", "main", lambda w, t: _main(t, w, "--test", "--lr", "0.1", out=_trained_copy(w, t)),
         "--lr has no effect here: --test evaluates the saved models as they were trained"),
    Case("--test with --resume and --set max_epoch", "main",
         lambda w, t: _main(t, w, "--test", "--resume", "--set", "max_epoch=3", out=_trained_copy(w, t)),
         "--set max_epoch=..., --resume have no effect here"),
    Case("--detect with training and data flags", "main",
         lambda w, t: _detect(t, w, _new_csv(w), "--seed", "3", "--processed_dir", str(t / "processed")),
         "--seed, --processed_dir have no effect here: --detect scores with the trained model's stored settings"),
    Case("--detect with --set pot_risk", "main", lambda w, t: _detect(t, w, _new_csv(w), "--set", "pot_risk=0.01"),
         "--set pot_risk=... has no effect here: --detect"),
]

CHECKPOINTS = [  # 6. a model.pt that this tool did not write
    Case("checkpoint replaced by a text file", "main", lambda w, t: _text_checkpoint(w, t, b"hello, not a model\n"),
         "model.pt: not a checkpoint written by this tool (a text file beginning 'hello, not a model')"),
    Case("empty checkpoint", "main", lambda w, t: _text_checkpoint(w, t, b""),
         "model.pt: not a checkpoint written by this tool (the file is empty)"),
    Case("checkpoint with unsafe objects", "main", lambda w, t: _text_checkpoint(w, t, _unsafe_checkpoint()),
         "model.pt: not a checkpoint written by this tool (it holds Python objects other than tensors"),
    Case("checkpoint of random bytes", "main", lambda w, t: _text_checkpoint(w, t, bytes(range(7, 250))),
         "model.pt: not a checkpoint written by this tool (binary data of an unknown format)"),
]

TIMESTAMPS = [  # 7. --detect on rows out of time order
    Case("two rows swapped", "main", lambda w, t: _detect(t, w, _new_csv(w, _swap)),
         "new.csv: timestamp '2025-01-01T00:40:00' at line 43 is not after '2025-01-01T00:41:00' at line 42"),
    Case("a repeated timestamp", "main", lambda w, t: _detect(t, w, _new_csv(w, lambda ts: ts.__setitem__(10, ts[9]))),
         "new.csv: timestamp '2025-01-01T00:09:00' at line 12 is not after '2025-01-01T00:09:00' at line 11"),
    Case("numeric timestamps decreasing", "main",
         lambda w, t: _detect(t, w, _new_csv(w, lambda ts: ts.reverse(), numeric_times=True)),
         "new.csv: timestamp 1238 at line 3 is not after 1239 at line 2 (column 'timestamp')"),
    Case("an empty timestamp", "main", lambda w, t: _detect(t, w, _new_csv(w, lambda ts: ts.__setitem__(5, ""))),
         "new.csv: timestamp column 'timestamp' is empty at line 7"),
]

LOCKS = [  # 8. another run holds the output folder
    Case("training into a locked folder", "main", lambda w, t: _locked(w, t, lambda out: _main(t, w, out=out)),
         f"out/SMD is in use by another run: lock file out/SMD/.lock is held by pid {os.getpid()}"),
    Case("--test into a locked folder", "main", lambda w, t: _locked(w, t, lambda out: _main(t, w, "--test", out=out)),
         "lock file out/SMD/.lock is held by pid"),
    Case("--detect into a locked folder", "main",
         lambda w, t: _locked(w, t, lambda out: _detect(t, w, _new_csv(w), out=out)),
         "lock file out/SMD/.lock is held by pid"),
    Case("a lock of another host", "main",
         lambda w, t: _locked(w, t, lambda out: _main(t, w, out=out), pid=12345, host="elsewhere.example"),
         "lock file out/SMD/.lock is held by pid 12345 on host elsewhere.example since 2025-01-01 00:00:00, which "
         "cannot be checked from here"),
]

ISSUE_16 = NUMBERS + PATHS + DUPLICATES + FLAGS + TIMESTAMPS + LOCKS
CASES = PREPROCESS + MAIN + METRICS + ISSUE_16 + CHECKPOINTS
PARAMS = [pytest.param(c, id=f"{c.cli}: {c.name}") for c in CASES]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """tiny.yaml, processed/ (one entity) and out/ holding a 1-epoch model of it."""
    base = tmp_path_factory.mktemp("bad_inputs")
    tiny_config(base)
    write_dataset(base / "processed", "SMD", [synthetic_entity(ENTITY, 0)])
    argv = _main(base, base, "--max_epoch", "1", out=base / "out")
    assert run_cli(main_cli.main, argv) == 0
    return base


def _tree(folder: Path) -> dict[str, str]:
    """Every file and folder below `folder` with a hash of its bytes (folders: '')."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
            for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("case", PARAMS)
def test_bad_input_gives_one_line_and_writes_nothing(case, trained, tmp_path, capsys):
    work = tmp_path / "case"
    work.mkdir()
    argv = case.setup(work, trained)
    before, fixture = _tree(work), _tree(trained)
    if case.real:
        run = subprocess.run([sys.executable, *MODULES[case.cli], *argv], cwd=ROOT, capture_output=True, text=True,
                             timeout=120)
        code, err = run.returncode, run.stderr
    else:
        capsys.readouterr()
        code, err = run_cli(MAINS[case.cli], argv), capsys.readouterr().err
    assert code != 0
    assert "Traceback" not in err and "Warning" not in err, err  # no traceback, no Python warning
    lines = err.splitlines()  # one error line, last; before it only the run's own `warning:` lines
    assert err.endswith("\n") and lines[-1].startswith("error: ") and [l[:9] for l in lines[:-1]] == \
        ["warning: "] * (len(lines) - 1), err
    assert case.message in lines[-1].replace(str(work) + "/", ""), err
    assert _tree(work) == before  # nothing written, not even a log or an empty folder
    assert _tree(trained) == fixture


# --- issue 16: faults that are not bad input: labels that make metrics meaningless, stale and held locks --

def _warning_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning: ")]


def test_single_class_labels_warn_in_the_run_summary_and_results(trained, tmp_path, capsys):
    normal, anomalous = synthetic_entity("machine-1-1", 0), synthetic_entity("machine-1-2", 1)
    normal.labels[:] = 0
    anomalous.labels[:] = 1
    write_dataset(tmp_path / "processed", "SMD", [normal, anomalous])
    capsys.readouterr()
    argv = _main(trained, tmp_path, "--max_epoch", "1", processed=tmp_path / "processed", out=tmp_path / "out")
    assert run_cli(main_cli.main, argv) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Warning" not in err and "error:" not in err, err
    warnings = _warning_lines(err)
    assert len(warnings) == 2, err
    assert warnings[0].startswith("warning: SMD entity machine-1-1: no anomaly in the labels: F1, PA%K, AUC, VUS")
    assert warnings[1].startswith("warning: SMD entity machine-1-2: every point is labelled anomalous: AUC-ROC")
    assert "trivially perfect" in warnings[1]
    results = json.loads((tmp_path / "out" / "SMD" / "results.json").read_text())
    assert [f"warning: {line}" for line in results["warnings"]] == warnings
    assert results["entities"]["machine-1-1"]["metrics"]["message"].startswith("no anomaly")
    assert not (tmp_path / "out" / "SMD" / ".lock").exists()


@pytest.mark.parametrize("extra, expected", [
    ((), "89 training windows (300 rows, step_num_in 16, stride 2), fewer than batch_size 5000: "
         "one smaller batch per epoch"),
    (("--set", "steps_per_epoch=2"), "180 training windows (300 rows, step_num_in 16, stride 1), fewer than "
                                     "batch_size 5000: every batch holds all of them"),
])
def test_batch_larger_than_an_entitys_windows_warns_and_trains_on_all_of_them(trained, tmp_path, capsys, extra,
                                                                             expected):
    """A tiny entity (SMAP D-12 has 17 stride-1 training windows) must not stop a benchmark run: like a
    DataLoader without drop_last, its batches hold every window it has."""
    capsys.readouterr()
    argv = _main(trained, tmp_path, "--max_epoch", "1", "--batch_size", "5000", *extra, out=tmp_path / "out")
    assert run_cli(main_cli.main, argv) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Warning" not in err and "error:" not in err, err
    assert [line for line in _warning_lines(err) if "batch_size" in line] == [f"warning: SMD entity {ENTITY}: {expected}"]
    assert (tmp_path / "out" / "SMD" / "results.json").exists()


@pytest.mark.parametrize("labels, start, marked", [
    (np.zeros(100, dtype=np.int8), "no anomaly in the labels", False),
    (np.ones(100, dtype=np.int8), "every point is labelled anomalous", True),
])
def test_single_class_labels_warn_in_the_metrics_cli(tmp_path, capsys, labels, start, marked):
    argv = _m(tmp_path, "--val_scores", str(tmp_path / "val.npy"), "--summary", labels=labels)
    capsys.readouterr()
    assert run_cli(metrics_cli.main, argv) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["message"].startswith(start)
    warnings = _warning_lines(captured.err)
    assert warnings == [f"warning: --labels {tmp_path / 'labels.npy'}: {start}" + warnings[0].split(start, 1)[1]]
    assert ("1.0000 (trivial)" in captured.err) == marked and "Warning" not in captured.err
    assert run_cli(metrics_cli.main, _m(tmp_path)) == 0 and not _warning_lines(capsys.readouterr().err)


def test_stale_lock_of_a_killed_run_is_taken_over_with_a_warning(trained, tmp_path, capsys):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # its pid is no longer running
    argv = _locked(tmp_path, trained, lambda out: _main(trained, tmp_path, "--test", out=out), pid=child.pid)
    capsys.readouterr()
    assert run_cli(main_cli.main, argv) == 0
    err = capsys.readouterr().err
    lock = tmp_path / "out" / "SMD" / ".lock"
    assert _warning_lines(err) == [f"warning: took over the stale lock file {lock} of pid {child.pid} on "
                                   f"{socket.gethostname()} (a run that is no longer running, started 2025-01-01 "
                                   "00:00:00)"], err
    assert not lock.exists()


def test_lock_is_released_on_ctrl_c_and_on_a_failed_entity(trained, tmp_path, monkeypatch, capsys):
    from sensitive_hue import pipeline
    from sensitive_hue.errors import DataError

    out = _trained_copy(tmp_path, trained)
    lock = out / "SMD" / ".lock"
    for fault, code in ((KeyboardInterrupt(), 130), (DataError("synthetic fault"), 2)):
        def job(*args, **kwargs):
            assert lock.exists() and json.loads(lock.read_text())["pid"] == os.getpid()  # held while it runs
            raise fault

        monkeypatch.setattr(pipeline, "_entity_job", job)
        assert run_cli(main_cli.main, _main(trained, tmp_path, "--test", out=out)) == code
        assert not lock.exists()
    assert "synthetic fault" in capsys.readouterr().err
