"""The bad-input matrix: every case of preprocess.py, main.py and `python -m sensitive_hue.metrics` must exit
non-zero with no traceback, print one line naming the problem, and leave the folders exactly as they were.

Most cases call the CLIs' `main(argv)` in-process through `run_cli` (the code a subprocess runs after
start-up); the cases marked `real` run a subprocess to cover the `__main__` entry points themselves.
The README's troubleshooting section lists these cases and their messages.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import yaml

import preprocess as preprocess_cli
from data_fixtures import STAR, WINDOW, npy_bytes, series, write, write_csv_pair, write_smd, write_swat
from pipeline_fixtures import F_IN, ROOT, synthetic_entity, tiny_config, write_dataset
from sensitive_hue.cli import run_cli
from sensitive_hue.metrics import __main__ as metrics_cli
from test_pipeline import main_cli

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
         "has 37 columns, 37 after dropping ignore_dims [], but config key 'f_in' (section SMD) is 38"),
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
         "config key 'step_num_in' (section SMD) must be > 0, got 0"),
    Case("negative window", "main", lambda w, t: _main(t, w, "--set", "step_num_in=-5"),
         "config key 'step_num_in' (section SMD) must be > 0, got -5"),
    Case("window longer than the processed series", "main", lambda w, t: _main(t, w, "--set", "step_num_in=400"),
         "window length 400 (config key step_num_in) is longer than the series (300 rows)"),
    Case("batch size larger than the data", "main", lambda w, t: _main(t, w, "--batch_size", "5000"),
         "config key 'batch_size' is 5000, more than the 228 training windows of SMD entity machine-1-1"),
    Case("--test without a trained model", "main", lambda w, t: _main(t, w, "--test"),
         f"no trained model for SMD entity {ENTITY} at out/SMD/{ENTITY}/model.pt; train first"),
    Case("checkpoint from another config", "main",
         lambda w, t: _main(t, w, "--test", "--set", "dim_model=32", out=_trained_copy(w, t)),
         "trained with dim_model=16, the config now says 32"),
    Case("checkpoint from another feature count", "main", _other_features,
         f"trained on {F_IN} features, entity {ENTITY} has {F_IN + 1}; retrain without --test"),
    Case("truncated checkpoint", "main", _truncated_checkpoint, "model.pt: not a readable checkpoint", real=True),
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

CASES = PREPROCESS + MAIN + METRICS


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


@pytest.mark.parametrize("case", CASES, ids=[f"{c.cli}: {c.name}" for c in CASES])
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
    assert "Traceback" not in err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert case.message in err.replace(str(work) + "/", ""), err
    assert _tree(work) == before  # nothing written, not even a log or an empty folder
    assert _tree(trained) == fixture
