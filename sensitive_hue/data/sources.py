"""Readers for the raw datasets as users download them, plus the built-in synthetic `demo`.

Every reader returns `RawEntity` objects whose arrays are already checked (2-D, numeric, finite,
within the float32 range the model computes in, integers written within 64 bits, labels 0/1 and
as long as the test series); a problem raises `DataError` naming the file, the row/column and
the fix. A data file that is a folder or a link loop is named as such, not "not found". Entity order is the documented one:

- SMAP, MSL: rows of `SMAP_MSL/labeled_anomalies.csv` filtered by spacecraft, first occurrence of a
  repeated channel kept (SMAP lists P-2 twice; 54 entities). Channels without a csv row (T-10) are
  not read.
- SMD: machines sorted by number (machine-1-1, 1-2, ..., 3-10, 3-11; numeric, not lexical), only
  those whose files exist; absent ones of the 28 are reported in `RawDataset.missing`.
- SWaT, demo: one entity each (`SWaT`, `demo`); csv: one entity per train/test pair.

Every data file may be plain or gzip-compressed (`name.gz`).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError
from ..io import find_data_file, load_npy, load_npz, read_bytes, require_file, sha256_file
from ..logs import get_logger

FLOAT32_MAX = float(np.finfo(np.float32).max)  # the model computes in float32: larger values cannot be used
INT64_MAX = 2**63 - 1

DOWNLOAD = {  # dataset -> (where users download it, folder under raw_dir)
    "SMAP": ("github.com/imperial-qore/TranAD (folder data/SMAP_MSL)", "SMAP_MSL"),
    "MSL": ("github.com/imperial-qore/TranAD (folder data/SMAP_MSL)", "SMAP_MSL"),
    "SMD": ("github.com/NetManAIOps/OmniAnomaly (folder ServerMachineDataset; test_label/ goes to labels/)", "SMD"),
    "SWaT": ("github.com/yuesuoqingqiu/SensitiveHUE (folder data/SWaT)", "SWaT"),
}


def download_hint(dataset: str, raw_dir: str | Path) -> str:
    """Where to get `dataset` and where to put it, for error messages."""
    source, folder = DOWNLOAD[dataset]
    return f"download {dataset} from {source} into {Path(raw_dir) / folder}, or pass --raw_dir"


# The file whose presence means "this dataset has been downloaded" (relative to raw_dir).
RAW_MARKERS = {
    "SMAP": "SMAP_MSL/labeled_anomalies.csv",
    "MSL": "SMAP_MSL/labeled_anomalies.csv",
    "SMD": "SMD/train",
    "SWaT": "SWaT/train.npy",
}

SMD_MACHINES = tuple(f"machine-{group}-{index}" for group, count in ((1, 8), (2, 9), (3, 11))
                     for index in range(1, count + 1))
_SMD_NAME = re.compile(r"machine-(\d+)-(\d+)")
_SMD_FOLDERS = ("train", "test", "labels")

SWAT_COLUMNS = (
    "FIT101", "LIT101", "MV101", "P101", "P102", "AIT201", "AIT202", "AIT203", "FIT201", "MV201", "P201",
    "P202", "P203", "P204", "P205", "P206", "DPIT301", "FIT301", "LIT301", "MV301", "MV302", "MV303",
    "MV304", "P301", "P302", "AIT401", "AIT402", "FIT401", "LIT401", "P401", "P402", "P403", "P404",
    "UV401", "AIT501", "AIT502", "AIT503", "AIT504", "FIT501", "FIT502", "FIT503", "FIT504", "P501",
    "P502", "PIT501", "PIT502", "PIT503", "FIT601", "P601", "P602", "P603",
)

DEMO_SEED = 0


@dataclass
class RawEntity:
    """One entity's raw series: float64 `train` (T, C), `test` (T', C), int8 `labels` (T',)."""

    name: str
    train: np.ndarray
    test: np.ndarray
    labels: np.ndarray
    sources: list[dict] = field(default_factory=list)  # [{"path": relative path, "sha256": ...}]
    columns: list[str] | None = None
    info: dict = field(default_factory=dict)  # dataset-specific facts kept in meta.json


@dataclass(frozen=True)
class CsvFiles:
    """The user's own data: a clean training CSV and a labelled test CSV with the same columns."""

    train_csv: Path
    test_csv: Path
    label_column: str = "label"
    timestamp_column: str | None = None


@dataclass
class RawDataset:
    """The entities of one raw dataset in documented order, read one at a time by `read(name)`."""

    name: str
    entities: list[str]
    read: Callable[[str], RawEntity]
    missing: list[str] = field(default_factory=list)  # documented entities whose files are absent


def open_raw(dataset: str, raw_dir: str | Path, csv_files: CsvFiles | None = None) -> RawDataset:
    """List the entities of `dataset` under `raw_dir` (cheap); reading happens in `read`."""
    raw_dir = Path(raw_dir)
    if dataset in ("SMAP", "MSL"):
        return _open_telemetry(raw_dir, dataset)
    if dataset == "SMD":
        return _open_smd(raw_dir)
    if dataset == "SWaT":
        for name in ("train.npy", "test.npz"):  # fail before any work when a file is absent
            _require_file(raw_dir / "SWaT" / name, "SWaT", raw_dir)
        return RawDataset("SWaT", ["SWaT"], lambda name: read_swat(raw_dir))
    if dataset == "demo":
        return RawDataset("demo", ["demo"], lambda name: make_demo())
    if dataset == "csv":
        if csv_files is None:
            raise ConfigError("--data_name csv needs --train_csv FILE and --test_csv FILE")
        return RawDataset("csv", ["csv"], lambda name: read_csv_pair(csv_files))
    raise ConfigError(f"unknown dataset '{dataset}'; valid names: SWaT, SMD, MSL, SMAP, demo, csv")


def raw_exists(raw_dir: str | Path, dataset: str) -> bool:
    """Whether `dataset` looks downloaded under `raw_dir` (demo needs nothing; csv needs flags)."""
    if dataset == "demo":
        return True
    marker = RAW_MARKERS.get(dataset)
    if marker is None:
        return False
    path = Path(raw_dir) / marker
    return path.is_dir() or find_data_file(path) is not None


def _relative(path: Path, raw_dir: Path) -> str:
    try:
        return path.relative_to(raw_dir).as_posix()
    except ValueError:
        return path.name


def _source(path: Path, raw_dir: Path) -> dict:
    return {"path": _relative(path, raw_dir), "sha256": sha256_file(path)}


def _not_a_file(path: Path, hint: str) -> None:
    """When `path` or `path.gz` exists but is no readable file (a folder, a link loop, ...): DataError saying
    what it is, instead of "not found"."""
    for candidate in (path, path.with_name(path.name + ".gz")):
        if os.path.lexists(candidate):
            require_file(candidate, f"expected a data file; {hint}")


def _require_file(path: Path, dataset: str, raw_dir: Path) -> Path:
    found = find_data_file(path)
    if found is None:
        _not_a_file(path, download_hint(dataset, raw_dir))
        raise DataError(f"{path} (or {path.name}.gz) not found; {download_hint(dataset, raw_dir)}")
    return found


def check_finite(values: np.ndarray, where: str, text_file: bool = False,
                 cell: Callable[[int, int], str] | None = None,
                 fix: str = "fix or remove the non-finite values") -> None:
    """DataError naming the first NaN/inf cell, then the first value beyond the float32 range
    (`check_range`). Cells are named by `cell(row, col)`, by default 1-based line/column for text files
    and 0-based row/column for arrays."""
    if cell is None:
        cell = ((lambda row, col: f"line {row + 1}, column {col + 1}") if text_file
                else (lambda row, col: f"row {row}, column {col} (0-based)"))
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise DataError(f"{where}: {values[row, col]} at {cell(row, col)}; {fix}")
    check_range(values, where, cell)


def check_range(values: np.ndarray, where: str, cell: Callable[[int, int], str]) -> None:
    """DataError naming the first value whose magnitude exceeds float32's (about 3.4e38): it parses,
    but the model computes in float32, and the statistics of such values overflow. NaN is not flagged here."""
    with np.errstate(invalid="ignore"):
        big = np.abs(values) > FLOAT32_MAX
    if big.any():
        row, col = (int(i) for i in np.argwhere(big)[0])
        raise DataError(f"{where}: {float(values[row, col])} at {cell(row, col)} is beyond the float32 range "
                        f"(|x| <= {FLOAT32_MAX:.3g}) the model computes in; rescale the column (e.g. other units)")


def check_labels(labels: np.ndarray, test_rows: int, where: str) -> np.ndarray:
    """Labels as int8 0/1, one per test row."""
    labels = np.asarray(labels).reshape(-1)
    if labels.shape[0] != test_rows:
        raise DataError(f"{where}: {labels.shape[0]} labels but the test series has {test_rows} rows; "
                        "labels need one 0/1 per test row")
    if not np.isin(labels, (0, 1)).all():
        position = int(np.flatnonzero(~np.isin(labels, (0, 1)))[0])
        raise DataError(f"{where}: label {labels[position].item()!r} at position {position} (0-based); "
                        "labels must be 0 or 1")
    return labels.astype(np.int8)


def _checked_array(path: Path, array: np.ndarray, what: str = "") -> np.ndarray:
    """A 2-D numeric, finite, non-empty float64 copy of `array` read from `path`."""
    where = f"{path}{what}"
    if array.ndim != 2:
        raise DataError(f"{where}: expected a 2-D array (rows, columns), got shape {array.shape}; download it again")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_) or np.iscomplexobj(array):
        raise DataError(f"{where}: expected numbers, got dtype {array.dtype}; download it again")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise DataError(f"{where}: the array is empty (shape {array.shape}); download it again")
    values = array.astype(np.float64)
    check_finite(values, where)
    return values


def read_npy(path: Path) -> np.ndarray:
    """A checked float64 2-D array from a `.npy` or `.npy.gz` file."""
    return _checked_array(path, load_npy(path))


def read_text_table(path: Path, header: bool = False) -> pd.DataFrame:
    """A comma-separated table (plain or .gz) with numeric columns; errors name line and column."""
    data = read_bytes(path)
    try:
        frame = pd.read_csv(io.BytesIO(data), header=0 if header else None, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty; download or export it again") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{path}: not a readable comma-separated table ({str(exc).strip()}); fix the file") from None
    if frame.shape[0] == 0:
        raise DataError(f"{path}: the file has no data rows; download or export it again")
    if header:  # pandas renames a repeated name to "name.1"; catch it on the raw header line
        names = next(csv.reader(io.StringIO(data.decode("utf-8", errors="replace"))), [])
        repeated = sorted({name.strip() for name in names if names.count(name) > 1})
        if repeated:
            raise DataError(f"{path}: column name '{repeated[0]}' appears more than once; rename it")
    return frame


def check_numeric(frame: pd.DataFrame, path: Path, header: bool = False) -> None:
    """DataError naming the first non-numeric cell of `frame`, or the first integer written beyond the
    64-bit range (pandas keeps such a column as text; write the value as a decimal number instead)."""
    for position, column in enumerate(frame.columns):
        series = frame[column]
        name = f"column '{column}'" if header else f"column {position + 1}"
        first_line = 2 if header else 1
        if pd.api.types.is_numeric_dtype(series):
            if series.dtype == np.uint64 and (series > INT64_MAX).any():
                row = int(np.flatnonzero((series > INT64_MAX).to_numpy())[0])
                raise _big_integer(path, name, str(series.iloc[row]), row + first_line)
            continue
        coerced = pd.to_numeric(series, errors="coerce")
        rows = np.flatnonzero((coerced.isna() & series.notna()).to_numpy())
        if len(rows):
            row = int(rows[0])
            raise DataError(f"{path}: {name} is not numeric ({series.iloc[row]!r} at line {row + first_line}); "
                            "only numeric columns are supported, remove or encode it")
        text = series.astype(str).str.strip()
        integers = text.str.fullmatch(r"[+-]?\d+").fillna(False).to_numpy(dtype=bool)
        for row in np.flatnonzero(integers):
            if abs(int(text.iloc[row])) > INT64_MAX:
                raise _big_integer(path, name, text.iloc[row], int(row) + first_line)


def _big_integer(path: Path, name: str, text: str, line: int) -> DataError:
    return DataError(f"{path}: {name} holds the integer {text} at line {line}, beyond the 64-bit integer range; "
                     f"write it as a decimal number (e.g. {float(text):.6g}) or rescale the column")


def _read_numeric_text(path: Path) -> np.ndarray:
    frame = read_text_table(path)
    check_numeric(frame, path)
    values = frame.to_numpy(dtype=np.float64)
    check_finite(values, str(path), text_file=True)
    return values


# --- SMAP / MSL ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Channel:
    name: str
    line: int  # line of labeled_anomalies.csv (1-based, header is line 1)
    sequences: tuple[tuple[int, int], ...]
    num_values: int


def _parse_sequences(text: str, table: Path, line: int) -> tuple[tuple[int, int], ...]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    ok = isinstance(value, list) and all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(v, int) and v >= 0 for v in pair)
        and pair[0] <= pair[1] for pair in value)
    if not ok:
        raise DataError(f"{table} line {line}: anomaly_sequences {text!r} must be a list of [start, end] "
                        "pairs with 0 <= start <= end; download the file again")
    return tuple((pair[0], pair[1]) for pair in value)


def _read_channel_table(table: Path, spacecraft: str) -> list[_Channel]:
    text = read_bytes(table).decode("utf-8", errors="replace")
    reader = csv.DictReader(io.StringIO(text))
    needed = ("chan_id", "spacecraft", "anomaly_sequences", "num_values")
    if reader.fieldnames is None or any(key not in reader.fieldnames for key in needed):
        raise DataError(f"{table}: expected the columns {', '.join(needed)} (telemanom's labeled_anomalies.csv); "
                        "download it again")
    channels: dict[str, _Channel] = {}
    for line, row in enumerate(reader, start=2):
        if row["spacecraft"] != spacecraft:
            continue
        name = row["chan_id"]
        if not re.fullmatch(r"[A-Za-z0-9_-]+", name or ""):
            raise DataError(f"{table} line {line}: chan_id {name!r} is not a channel name; download the file again")
        if name in channels:
            get_logger().warning(f"{spacecraft}: channel {name} is listed twice in {table.name} (lines "
                                 f"{channels[name].line} and {line}); keeping the first, as TranAD and the paper do")
            continue
        if not (row["num_values"] or "").isdigit():
            raise DataError(f"{table} line {line}: num_values {row['num_values']!r} must be a whole number")
        channels[name] = _Channel(name, line, _parse_sequences(row["anomaly_sequences"], table, line),
                                  int(row["num_values"]))
    if not channels:
        raise DataError(f"{table}: no rows with spacecraft {spacecraft}; download the file again")
    return list(channels.values())


def _open_telemetry(raw_dir: Path, spacecraft: str) -> RawDataset:
    table = _require_file(raw_dir / RAW_MARKERS[spacecraft], spacecraft, raw_dir)
    channels = {c.name: c for c in _read_channel_table(table, spacecraft)}
    paths = {name: tuple(_require_file(raw_dir / "SMAP_MSL" / part / f"{name}.npy", spacecraft, raw_dir)
                         for part in ("train", "test")) for name in channels}

    def read(name: str) -> RawEntity:
        channel = channels[name]
        train_path, test_path = paths[name]
        train, test = read_npy(train_path), read_npy(test_path)
        if train.shape[1] != test.shape[1]:
            raise DataError(f"{test_path}: {test.shape[1]} columns but {train_path} has {train.shape[1]}; "
                            "download both again")
        where = f"{table} line {channel.line} (num_values of {name})"
        if channel.num_values != test.shape[0]:
            raise DataError(f"{where}: label length {channel.num_values} differs from the {test.shape[0]} rows of "
                            f"{test_path}; download both again")
        labels = np.zeros(test.shape[0], dtype=np.int8)
        for start, end in channel.sequences:
            if end >= test.shape[0]:
                raise DataError(f"{table} line {channel.line}: anomaly sequence [{start}, {end}] of {name} ends "
                                f"past the {test.shape[0]} test rows; download the file again")
            labels[start:end + 1] = 1  # end index inclusive
        info = {"spacecraft": spacecraft, "anomaly_sequences": [list(pair) for pair in channel.sequences],
                "label_table_line": channel.line}
        sources = [_source(p, raw_dir) for p in (table, train_path, test_path)]
        return RawEntity(name, train, test, labels, sources, info=info)

    return RawDataset(spacecraft, list(channels), read)


# --- SMD ----------------------------------------------------------------------------------------

def smd_sort_key(name: str) -> tuple[int, int]:
    """Numeric order of SMD machine names: machine-3-2 < machine-3-10."""
    group, index = _SMD_NAME.fullmatch(name).groups()
    return int(group), int(index)


def _open_smd(raw_dir: Path) -> RawDataset:
    folder = raw_dir / "SMD"
    if not (folder / "train").is_dir():
        raise DataError(f"{folder / 'train'} not found; {download_hint('SMD', raw_dir)}")
    pattern = re.compile(r"(machine-\d+-\d+)\.txt(?:\.gz)?")
    present: set[str] = set()
    for sub in _SMD_FOLDERS:
        if (folder / sub).is_dir():
            present.update(m.group(1) for p in (folder / sub).iterdir() if (m := pattern.fullmatch(p.name)))
    names = sorted(present, key=smd_sort_key)
    if not names:
        raise DataError(f"{folder}: no machine-X-Y.txt files under train/; {download_hint('SMD', raw_dir)}")
    paths = {}
    for name in names:
        for sub in _SMD_FOLDERS:
            if find_data_file(folder / sub / f"{name}.txt") is None:
                _not_a_file(folder / sub / f"{name}.txt", download_hint("SMD", raw_dir))
                raise DataError(f"{folder / sub / (name + '.txt')} (or .txt.gz) not found, but other files of {name} "
                                f"exist; {download_hint('SMD', raw_dir)} (or remove {name}'s files)")
        paths[name] = tuple(find_data_file(folder / sub / f"{name}.txt") for sub in _SMD_FOLDERS)
    missing = [name for name in SMD_MACHINES if name not in present]

    def read(name: str) -> RawEntity:
        train_path, test_path, label_path = paths[name]
        train, test = _read_numeric_text(train_path), _read_numeric_text(test_path)
        if train.shape[1] != test.shape[1]:
            raise DataError(f"{test_path}: {test.shape[1]} columns but {train_path} has {train.shape[1]}; "
                            "download both again")
        label_values = _read_numeric_text(label_path)
        if label_values.shape[1] != 1:
            raise DataError(f"{label_path}: expected one 0/1 value per line, got {label_values.shape[1]} columns")
        labels = check_labels(label_values[:, 0], test.shape[0], str(label_path))
        sources = [_source(p, raw_dir) for p in (train_path, test_path, label_path)]
        return RawEntity(name, train, test, labels, sources)

    return RawDataset("SMD", names, read, missing)


# --- SWaT ---------------------------------------------------------------------------------------

def read_swat(raw_dir: str | Path) -> RawEntity:
    """`SWaT/train.npy` (normal operation) and `SWaT/test.npz` (`x`, `y`) at raw scale."""
    raw_dir = Path(raw_dir)
    train_path = _require_file(raw_dir / "SWaT" / "train.npy", "SWaT", raw_dir)
    test_path = _require_file(raw_dir / "SWaT" / "test.npz", "SWaT", raw_dir)
    train = read_npy(train_path)
    arrays = load_npz(test_path)
    for key in ("x", "y"):
        if key not in arrays:
            raise DataError(f"{test_path}: no array '{key}' (found {', '.join(arrays) or 'none'}); "
                            f"expected x (rows, 51) and y (rows,); {download_hint('SWaT', raw_dir)}")
    test = _checked_array(test_path, arrays["x"], " array x")
    if test.shape[1] != train.shape[1]:
        raise DataError(f"{test_path}: x has {test.shape[1]} columns but {train_path} has {train.shape[1]}; "
                        "download both again")
    if not np.issubdtype(arrays["y"].dtype, np.number) and arrays["y"].dtype != np.bool_:
        raise DataError(f"{test_path}: y must hold 0/1 numbers, got dtype {arrays['y'].dtype}")
    labels = check_labels(arrays["y"], test.shape[0], f"{test_path} array y")
    columns = list(SWAT_COLUMNS) if train.shape[1] == len(SWAT_COLUMNS) else None
    return RawEntity("SWaT", train, test, labels, [_source(p, raw_dir) for p in (train_path, test_path)], columns)


# --- CSV ----------------------------------------------------------------------------------------

def read_csv_pair(files: CsvFiles) -> RawEntity:
    """The user's CSV pair: numeric feature columns (same in both), labels from the test file."""
    train_path, test_path = Path(files.train_csv), Path(files.test_csv)
    for flag, path in (("--train_csv", files.train_csv), ("--test_csv", files.test_csv)):
        require_file(path, f"pass an existing file to {flag}")
    train = read_text_table(train_path, header=True)
    test = read_text_table(test_path, header=True)
    label = files.label_column
    if label not in test.columns:
        raise DataError(f"{test_path}: no label column '{label}' (columns: {', '.join(map(str, test.columns))}); "
                        "add a 0/1 column or pass --label_column NAME")
    excluded = {label}
    if files.timestamp_column is not None:
        for path, frame in ((train_path, train), (test_path, test)):
            if files.timestamp_column not in frame.columns:
                raise DataError(f"{path}: no timestamp column '{files.timestamp_column}'; fix --timestamp_column "
                                "or leave it out")
        excluded.add(files.timestamp_column)
    features = [c for c in train.columns if c not in excluded]
    test_features = [c for c in test.columns if c not in excluded]
    if set(features) != set(test_features):
        only_train = [c for c in features if c not in test_features]
        only_test = [c for c in test_features if c not in features]
        raise DataError(f"{test_path}: columns differ from {train_path} (only in train: {only_train}, only in test: "
                        f"{only_test}); both files need the same feature columns")
    if not features:
        raise DataError(f"{train_path}: no feature columns besides '{label}'; add numeric columns")
    check_numeric(train[features], train_path, header=True)
    check_numeric(test[features + [label]], test_path, header=True)
    values = {}
    for path, frame in ((train_path, train), (test_path, test)):
        array = frame[features].to_numpy(dtype=np.float64)
        check_finite(array, str(path), cell=lambda row, col: f"line {row + 2}, column '{features[col]}'",
                     fix="fill or remove the missing/non-finite values")
        values[path] = array
    label_values = test[label].to_numpy(dtype=np.float64)
    check_finite(label_values[:, None], f"{test_path} column '{label}'")
    labels = check_labels(label_values, len(test), f"{test_path} column '{label}'")
    sources = [{"path": p.name, "sha256": sha256_file(p)} for p in (train_path, test_path)]
    info = {"label_column": label, "timestamp_column": files.timestamp_column}
    return RawEntity("csv", values[train_path], values[test_path], labels, sources, [str(c) for c in features], info)


# --- demo ---------------------------------------------------------------------------------------

def make_demo(seed: int = DEMO_SEED, train_rows: int = 4000, test_rows: int = 4000) -> RawEntity:
    """Six correlated channels (trend + two seasonalities + noise); the test part holds labelled
    anomalies of five kinds: spike, level shift, frequency change, broken correlation, flat-line.

    Deterministic: the same arguments give the same arrays. Segment ends are inclusive."""
    rng = np.random.default_rng(seed)
    total = train_rows + test_rows
    t = np.arange(total, dtype=np.float64)
    fast = np.sin(2 * np.pi * t / 100)
    slow = np.sin(2 * np.pi * t / 400 + 0.7)
    trend = 0.5 * t / total
    noise = rng.normal(size=(total, 6))
    x = np.empty((total, 6))
    x[:, 0] = 2.0 * fast + trend + 0.2 * noise[:, 0]
    x[:, 1] = 1.5 * fast + 0.8 * slow + 0.2 * noise[:, 1]
    x[:, 2] = slow + 0.5 * trend + 0.15 * noise[:, 2]
    x[:, 3] = -slow + 0.3 * fast + 0.15 * noise[:, 3]
    x[:, 4] = 10.0 + 3.0 * fast * slow + 0.3 * noise[:, 4]
    x[:, 5] = 0.6 * x[:, 0] + 0.6 * x[:, 2] + 0.2 * noise[:, 5]
    train, test = x[:train_rows], x[train_rows:].copy()
    tt, fast_t, slow_t = t[train_rows:], fast[train_rows:], slow[train_rows:]

    def segment(fraction: float, length: int) -> slice:
        start = int(fraction * test_rows)
        return slice(start, min(start + length, test_rows))

    anomalies = []

    def add(kind: str, where: slice, channels: list[int]) -> None:
        anomalies.append({"kind": kind, "start": where.start, "end": where.stop - 1, "channels": channels})

    where = segment(0.15, 3)
    test[where, 0] += 8.0
    add("spike", where, [0])
    where = segment(0.30, 120)
    test[where, 2] += 2.0
    add("level_shift", where, [2])
    where = segment(0.50, 150)
    test[where, 1] += 1.5 * (np.sin(2 * np.pi * tt[where] / 33) - fast_t[where])
    add("frequency_change", where, [1])
    where = segment(0.675, 150)
    test[where, 3] += 2.0 * slow_t[where]  # -slow becomes +slow: channel 3 stops mirroring channel 2
    add("broken_correlation", where, [3])
    where = segment(0.85, 150)
    test[where, 4] = test[where.start, 4]
    add("flat_line", where, [4])
    where = segment(0.96, 3)
    test[where, 5] -= 6.0
    add("spike", where, [5])
    labels = np.zeros(test_rows, dtype=np.int8)
    for anomaly in anomalies:
        labels[anomaly["start"]:anomaly["end"] + 1] = 1
    info = {"generator": "sensitive_hue.data.sources.make_demo", "seed": seed, "anomalies": anomalies}
    return RawEntity("demo", train, test, labels, [], [f"ch{i}" for i in range(6)], info)
