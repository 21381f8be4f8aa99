"""`main.py --detect FILE`: score new, unlabelled data with a trained model and flag anomalies.

Only the checkpoint is used, never training data or labels: its config and weights, the training
normalisation, the validation score statistics and the label-free thresholds. FILE is
- a CSV (plain or .gz). With a header and a model that stores column names (csv, demo, SWaT), the
  columns are matched by name, in any order; otherwise by count, in the training order (the raw
  layout: columns dropped by `ignore_dims` included). A timestamp column (the training CSV's, or
  one named timestamp/time/date/datetime) and a label column are recognised and not scored;
- a .npy / .npy.gz array (rows, columns), columns in the training order.
The rows are normalised as at training and scored by `scoring.score_series`, the evaluation
path, so the same points get the same scores bit for bit; a point is flagged when its score is
>= the threshold (as in the metrics). Every check runs before the first file is written.

Timestamps (numbers, or ISO 8601 text) must increase strictly from row to row: a file whose rows
are out of time order, or repeat a timestamp, is refused with the first such line (never sorted
silently: the scores of a window depend on the order of its rows, and durations would be negative).
Text timestamps in another format are kept as labels and not checked (durations are then in rows).

Outputs under `<out_dir>/detect/<entity>/`: scores.csv, anomalies.json, detect.png. The run holds
the output folder's lock (`<out_dir>/<dataset>/.lock`, `io.run_lock`), as training does.
"""

from __future__ import annotations

import csv
import gzip
import math
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pandas as pd
import torch

from . import io, plots
from .config import Config
from .data.sources import check_numeric, check_range, read_text_table
from .data.preprocess import apply_scaler
from .data.store import check_entity_name
from .estimators import BaseDetector
from .errors import CheckpointError, ConfigError, DataError
from .logs import get_logger, setup_logging
from .metrics import segments
from .metrics.thresholds import method_key, pick
from .entity import Layout, read_checkpoint
from .estimators import resolve_device
from .scoring import PointScores

NAN_POLICIES = ("error", "interpolate")
MAX_GAP_ROWS = 10  # --nan_policy interpolate fills runs of at most this many non-finite values per column
TIME_COLUMNS = ("timestamp", "time", "date", "datetime")
LABEL_COLUMNS = ("label",)
TOP_K = 3  # contributing features listed per point and per segment
RUNTIME_KEYS = ("device", "mamba_backend", "num_threads")  # from the current config; the rest from the checkpoint


@dataclass(frozen=True)
class ModelInputs:
    """What the checkpoint says about the training input."""

    kept: list[int]  # raw column indices the model uses, in its feature order
    raw_count: int  # columns of the raw training data (before ignore_dims)
    dropped: list[int]  # raw columns dropped by ignore_dims
    names: Optional[list[str]]  # names of the kept columns, when the training data had names
    mean: np.ndarray  # float64 (f_in,) training normalisation of the kept columns
    std: np.ndarray
    timestamp_column: Optional[str]
    label_column: Optional[str]

    @classmethod
    def from_checkpoint(cls, checkpoint: dict, path: Path) -> "ModelInputs":
        f_in = int(checkpoint["f_in"])
        try:
            stats = checkpoint["scaler"]["scaler"]
            mean = np.asarray(stats["mean"], dtype=np.float64)
            std = np.asarray(stats["std"], dtype=np.float64)
        except (KeyError, TypeError, ValueError):
            raise CheckpointError(f"{path}: no training normalisation stored; retrain it with this version") from None
        if mean.shape != (f_in,) or std.shape != (f_in,):
            raise CheckpointError(f"{path}: the stored normalisation covers {mean.size} features, the model {f_in}; "
                                  "retrain it with this version")
        kept = list(checkpoint["scaler"].get("kept_dims") or range(f_in))
        dropped = list(checkpoint["config"].get("ignore_dims") or ())
        stored = checkpoint.get("input") or {}
        return cls(kept=kept, raw_count=len(kept) + len(dropped), dropped=dropped,
                   names=checkpoint["scaler"].get("columns"), mean=mean, std=std,
                   timestamp_column=stored.get("timestamp_column"), label_column=stored.get("label_column"))


@dataclass
class NewData:
    """The model's columns of the new file, in training order, in the file's units."""

    path: Path
    values: np.ndarray  # float64 (T, f_in)
    names: list[str]  # a display name per column of `values`
    where: Callable[[int, int], str]  # "line 5, column 'x'" for (row, column of `values`), for messages
    times: Optional[np.ndarray] = None  # the timestamp column, None = row index
    time_column: Optional[str] = None
    filled: int = 0  # non-finite values interpolated


@dataclass(frozen=True)
class Threshold:
    """The threshold used to flag points and how it was set."""

    value: float
    method: str  # pot | val_quantile | user
    description: str


@dataclass
class DetectResult:
    """What `run_detect` computed and where it wrote it."""

    entity: str
    data: NewData
    points: PointScores
    flags: np.ndarray  # bool (T,)
    top: np.ndarray  # int (T, TOP_K) feature indices, largest contribution first
    threshold: Threshold
    segments: list[dict]
    folder: Path
    seconds: float  # scoring time


def find_model(layout: Layout, entity: Optional[str]) -> tuple[str, Path]:
    """(entity, checkpoint path): `entity`'s, else the only model trained under the dataset's folder."""
    trained = sorted(p.parent.name for p in layout.root.glob("*/model.pt"))
    hint = (f"train first (python main.py --config_path config/star.yaml --data_name {layout.dataset}) "
            "or pass the --out_dir it was trained into")
    if entity is not None:
        path = layout.checkpoint(check_entity_name(entity))
        if not path.is_file():
            known = f"trained entities there: {', '.join(trained)}" if trained else hint
            raise CheckpointError(f"no trained {layout.dataset} model for entity {entity} at {path}; {known}")
        return entity, path
    if not trained:
        raise CheckpointError(f"no trained {layout.dataset} model under {layout.root}; {hint}")
    if len(trained) > 1:
        shown = ", ".join(trained[:10]) + (f", ... ({len(trained)} in all)" if len(trained) > 10 else "")
        raise ConfigError(f"{layout.root} holds models of {len(trained)} entities ({shown}); pick one with --entity NAME")
    return trained[0], layout.checkpoint(trained[0])


def scoring_config(checkpoint: dict, cfg: Config, path: Path) -> Config:
    """The checkpoint's config (so scores match the evaluation's), with this machine's device settings."""
    try:
        stored = Config.from_stored(checkpoint["config"])
    except ConfigError as exc:
        raise CheckpointError(f"{path}: its stored config does not load ({exc}); retrain it with this version") from None
    return stored.replace(**{key: getattr(cfg, key) for key in RUNTIME_KEYS})


def choose_threshold(cfg: Config, checkpoint: dict, path: Path, override: Optional[float]) -> Threshold:
    """`--threshold`, else the stored label-free threshold that `cfg.threshold_method` names (POT falls
    back to the validation quantile, as at training, when its tail fit failed)."""
    if override is not None:
        if not math.isfinite(override):
            raise ConfigError(f"--threshold must be a finite number, got {override}")
        return Threshold(float(override), "user", "--threshold")
    stored = checkpoint.get("thresholds") or {}
    n = len(checkpoint["val_scores"])
    key = pick(stored, cfg.threshold_method)
    if key == "pot":
        pot = stored["pot"]
        return Threshold(float(pot["threshold"]), "pot", f"POT on {n:,} validation scores (risk {pot.get('risk'):g}, "
                         f"level {pot.get('level_used'):.3g})")
    if key == "val_quantile":
        fallback = "" if method_key(cfg.threshold_method) == key else "; POT could not be fitted at training"
        return Threshold(float(stored[key]["threshold"]), "val_quantile",
                         f"{stored[key].get('q')} quantile of {n:,} validation scores{fallback}")
    raise CheckpointError(f"{path} stores no label-free threshold (threshold_method {cfg.threshold_method}); retrain "
                          f"it with this version (python main.py --config_path ... --data_name {cfg.data_name}), "
                          "which stores POT and validation-quantile thresholds, or pass --threshold X")


# --- reading the new file ----------------------------------------------------------------------------


def _listed(names: list[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _count_error(path: Path, found: int, model: ModelInputs, what: str) -> DataError:
    dropped = f" (columns {model.dropped} are dropped by ignore_dims)" if model.dropped else ""
    return DataError(f"{path}: {found} {what}, but the model was trained on {model.raw_count}{dropped}; pass the "
                     "training columns in the training order")


def _has_header(path: Path) -> bool:
    """Whether the first line of a CSV holds names: a field that is neither a number nor empty."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as handle:
            first = handle.readline()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read ({exc}); the file is truncated or corrupt") from None

    def name(field: str) -> bool:
        try:
            float(field)
            return False
        except ValueError:
            return bool(field.strip())

    return any(name(field) for field in next(csv.reader([first]), []))


def _special(names: list[str], model: ModelInputs, wanted: Optional[str], defaults: tuple[str, ...]) -> list[str]:
    features = set(model.names or ())
    return [n for n in names if n not in features and (n == wanted or n.lower() in defaults)]


def _read_csv(path: Path, model: ModelInputs) -> NewData:
    header = _has_header(path)
    frame = read_text_table(path, header=header)
    if not header:
        if frame.shape[1] != model.raw_count:
            raise _count_error(path, frame.shape[1], model, "columns")
        check_numeric(frame, path)
        names = [f"col{k}" for k in model.kept]
        return NewData(path, frame.iloc[:, model.kept].to_numpy(dtype=np.float64), names,
                       lambda row, col: f"line {row + 1}, column {names[col]}")
    frame.columns = [str(c).strip() for c in frame.columns]
    names = list(frame.columns)
    times = _special(names, model, model.timestamp_column, TIME_COLUMNS)
    if len(times) > 1:
        raise DataError(f"{path}: columns {', '.join(times)} all look like timestamps; keep one")
    labels = _special([n for n in names if n not in times], model, model.label_column, LABEL_COLUMNS)
    features = [n for n in names if n not in times and n not in labels]
    if model.names is not None:
        missing = [n for n in model.names if n not in features]
        extra = [n for n in features if n not in model.names]
        if missing or extra:
            raise DataError(f"{path}: columns differ from training (missing: {_listed(missing) or 'none'}; extra: "
                            f"{_listed(extra) or 'none'}); the model was trained on {_listed(model.names, 60)}")
        selected = list(model.names)
    elif len(features) != model.raw_count:
        raise _count_error(path, len(features), model, f"feature columns ({_listed(features)})")
    else:
        selected = [features[k] for k in model.kept]
    check_numeric(frame[selected], path, header=True)
    return NewData(path, frame[selected].to_numpy(dtype=np.float64), selected,
                   lambda row, col: f"line {row + 2}, column '{selected[col]}'",
                   times=frame[times[0]].to_numpy() if times else None, time_column=times[0] if times else None)


def _read_array(path: Path, model: ModelInputs) -> NewData:
    array = io.load_npy(path)
    if array.ndim == 1 and model.raw_count == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise DataError(f"{path}: expected a 2-D array (rows, columns), got shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_) or np.iscomplexobj(array):
        raise DataError(f"{path}: expected real numbers, got dtype {array.dtype}")
    if array.shape[1] != model.raw_count:
        raise _count_error(path, array.shape[1], model, "columns")
    names = [f"col{k}" for k in model.kept]
    return NewData(path, array[:, model.kept].astype(np.float64), names,
                   lambda row, col: f"row {row} (0-based), column {names[col]}")


def _fill_gaps(data: NewData, policy: str) -> None:
    """Stop at the first NaN/inf, or (`interpolate`) fill runs of up to MAX_GAP_ROWS linearly per column
    (edges take the nearest value); longer runs are an error either way."""
    bad = ~np.isfinite(data.values)
    if not bad.any():
        return
    if policy == "error":
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise DataError(f"{data.path}: {data.values[row, col]} at {data.where(row, col)}; fix or remove the non-finite "
                        f"values, or pass --nan_policy interpolate to fill gaps of up to {MAX_GAP_ROWS} rows")
    rows = np.arange(len(data.values))
    longest = 0
    for col in np.flatnonzero(bad.any(axis=0)):
        starts, ends = segments(bad[:, col])
        i = int(np.argmax(ends - starts))
        if ends[i] - starts[i] > MAX_GAP_ROWS or bad[:, col].all():
            raise DataError(f"{data.path}: {ends[i] - starts[i]} non-finite values in a row from "
                            f"{data.where(int(starts[i]), int(col))}; --nan_policy interpolate fills gaps of at most "
                            f"{MAX_GAP_ROWS} rows, fix the data")
        longest = max(longest, int(ends[i] - starts[i]))
        good = ~bad[:, col]
        data.values[~good, col] = np.interp(rows[~good], rows[good], data.values[good, col])
    data.filled = int(bad.sum())
    get_logger().warning("%s: filled %d non-finite values (longest gap %d rows) by linear interpolation "
                         "(--nan_policy interpolate); scores near them are less reliable", data.path, data.filled, longest)


def check_time_order(data: NewData) -> None:
    """DataError at the first row whose timestamp is missing or not later than the previous row's
    (numbers, or ISO 8601 text); other text timestamps are labels whose order is not known."""
    if data.times is None:
        return
    times = data.times
    if times.dtype == object:
        dates = _datetimes(times)
        if dates is None:
            return
        missing, keys = np.asarray(dates.isna()), dates.asi8
    elif np.issubdtype(times.dtype, np.number):
        keys = times.astype(np.float64)
        missing = np.isnan(keys)
    else:
        return
    column = data.time_column
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise DataError(f"{data.path}: timestamp column '{column}' is empty at line {row + 2}; fill it, or remove "
                        "the column to use row numbers")
    bad = np.flatnonzero(np.diff(keys) <= 0)
    if len(bad):
        row = int(bad[0]) + 1
        raise DataError(f"{data.path}: timestamp {_plain(times[row])!r} at line {row + 2} is not after "
                        f"{_plain(times[row - 1])!r} at line {row + 1} (column '{column}'); rows must be in time "
                        f"order without repeated timestamps: sort the file by {column} and drop duplicate rows, "
                        "or remove the column to use row numbers")


def read_new_data(path: str | Path, model: ModelInputs, nan_policy: str = "error") -> NewData:
    """The new file's model columns, checked (columns, numbers, NaN/inf per `nan_policy`, magnitudes
    within float32, timestamps in strictly increasing order)."""
    path = io.require_file(path, "pass a CSV or .npy file to --detect")
    is_array = path.name.endswith((".npy", ".npy.gz"))
    data = _read_array(path, model) if is_array else _read_csv(path, model)
    check_time_order(data)
    _fill_gaps(data, nan_policy)
    check_range(data.values, str(data.path), data.where)
    return data


def normalise(data: NewData, model: ModelInputs) -> np.ndarray:
    """float32 (T, f_in) with the training normalisation, computed as at preprocessing."""
    scaled, bad = apply_scaler(data.values, model.mean, model.std)
    if bad is not None:
        row, col = bad
        raise DataError(f"{data.path}: {data.values[row, col]} at {data.where(row, col)} overflows float32 after the "
                        "training normalisation; fix the value")
    return scaled


# --- scoring and outputs -----------------------------------------------------------------------------


def top_features(contributions: np.ndarray, ignore: tuple[int, ...], k: int = TOP_K) -> np.ndarray:
    """(T, k) indices of the features with the largest normalised scores per point (the dims left out of
    the score are left out here too)."""
    keep = np.setdiff1d(np.arange(contributions.shape[1]), ignore)
    return keep[np.argsort(-contributions[:, keep], axis=1, kind="stable")[:, :k]]


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _datetimes(times: Optional[np.ndarray]) -> Optional[pd.DatetimeIndex]:
    """The timestamps as datetimes when they are ISO 8601 text, else None."""
    if times is None or times.dtype != object:
        return None
    try:
        return pd.DatetimeIndex(pd.to_datetime(times, format="ISO8601"))
    except (ValueError, TypeError, OverflowError):
        return None


def flagged_segments(points: PointScores, flags: np.ndarray, ignore: tuple[int, ...], data: NewData) -> list[dict]:
    """One record per run of flagged points: where, how long, peak score, the features that drive it."""
    keep = np.setdiff1d(np.arange(points.contributions.shape[1]), ignore)
    dates = _datetimes(data.times)

    def at(i: int):
        return _plain(data.times[i]) if data.times is not None else i

    records = []
    for start, end in zip(*(x.tolist() for x in segments(flags))):
        peak = start + int(np.argmax(points.scores[start:end]))
        peaks = points.contributions[start:end][:, keep].max(axis=0)
        order = np.argsort(-peaks, kind="stable")[:TOP_K]
        record = {"start": at(start), "end": at(end - 1), "start_index": start, "end_index": end - 1,
                  "duration": end - start, "peak_score": float(points.scores[peak]), "peak_at": at(peak),
                  "top_features": [{"feature": data.names[keep[j]], "peak_contribution": float(peaks[j])}
                                   for j in order]}
        if dates is not None:
            record["duration_time"] = str(dates[end - 1] - dates[start])
        records.append(record)
    return records


def scores_csv(data: NewData, points: PointScores, flags: np.ndarray, top: np.ndarray) -> str:
    """scores.csv: timestamp (or index), score (full precision), flag, top features."""
    first = data.time_column or "index"
    frame = pd.DataFrame({first: data.times if data.times is not None else np.arange(len(flags)),
                          "score": points.scores, "flag": flags.astype(np.int8)})
    names = np.asarray(data.names, dtype=object)
    for j in range(top.shape[1]):
        frame[f"top{j + 1}"] = names[top[:, j]]
    return frame.to_csv(index=False, lineterminator="\n")


def run_detect(cfg: Config, file: str | Path, out_dir: str | Path, entity: Optional[str] = None,
               threshold: Optional[float] = None, nan_policy: Optional[str] = None, plot: bool = True) -> DetectResult:
    """Score `file` with the model of `entity` trained into `out_dir`, flag, explain and write the outputs."""
    log = setup_logging(None)
    nan_policy = nan_policy or "error"
    if nan_policy not in NAN_POLICIES:
        raise ConfigError(f"--nan_policy must be one of {', '.join(NAN_POLICIES)}, got {nan_policy!r}")
    device = resolve_device(cfg.device)
    layout = Layout(Path(out_dir), cfg.data_name)
    entity, path = find_model(layout, entity)
    with io.run_lock(layout.root):  # no training run or other --detect rewrites the folder meanwhile
        checkpoint = read_checkpoint(path, cfg)
        run_cfg = scoring_config(checkpoint, cfg, path)
        chosen = choose_threshold(cfg, checkpoint, path, threshold)
        model = ModelInputs.from_checkpoint(checkpoint, path)
        data = read_new_data(file, model, nan_policy)
        if len(data.values) < run_cfg.step_num_in:
            raise DataError(f"{data.path}: {len(data.values)} rows, fewer than one window of the model "
                            f"(step_num_in={run_cfg.step_num_in}); pass at least {run_cfg.step_num_in} rows")
        series = normalise(data, model)
        estimator = BaseDetector.from_checkpoint(checkpoint, cfg=run_cfg, device=device)
        stats = estimator.score_stats_
        if run_cfg.num_threads:
            torch.set_num_threads(run_cfg.num_threads)
        tic = time.perf_counter()
        points = estimator.score_series(series)
        seconds = time.perf_counter() - tic
        if not np.isfinite(points.scores).all():
            row = int(np.flatnonzero(~np.isfinite(points.scores))[0])
            raise DataError(f"{data.path}: the model gives a non-finite score at row {row} (0-based); the data near it "
                            "is far outside the training range")
        flags = points.scores >= chosen.value
        top = top_features(points.contributions, stats.ignore_dims)
        found = flagged_segments(points, flags, stats.ignore_dims, data)

        folder = Path(out_dir) / "detect" / entity
        io.write_text(folder / "scores.csv", scores_csv(data, points, flags, top))
        io.write_json(folder / "anomalies.json", {
            "file": str(data.path), "dataset": cfg.data_name, "entity": entity, "detector": checkpoint["detector"],
            "checkpoint": str(path), "points": len(flags), "flagged_points": int(flags.sum()),
            "filled_non_finite": data.filled, "threshold": {"value": chosen.value, "method": chosen.method,
                                                            "how": chosen.description},
            "segments": found})
        if plot:
            recon = None if points.reconstruction is None else points.reconstruction * model.std + model.mean
            features = plots.top_features(plots.feature_ranking(points.contributions, stats.ignore_dims),
                                          len(data.names))
            line = plots.Threshold(chosen.value, f"threshold {chosen.value:.4g} ({chosen.method})", "tab:green", ":")
            plots.plot_detect(folder / "detect.png", data.values, recon, points.scores, flags, features, line,
                              f"model {cfg.data_name}/{entity} on {data.path.name}: input vs reconstruction; {len(found)} "
                              "flagged segments shaded", data.names, x_label=f"row of {data.path.name}",
                              timestamps=None if data.times is None else [str(t) for t in data.times])
        log.info("%s: %s points scored in %.1fs by model %s/%s (%s, %s), %d segment%s flagged (%s points, %.1f%%); "
                 "threshold %.4g from %s -> %s", data.path.name, f"{len(flags):,}", seconds, cfg.data_name, entity,
                 checkpoint["detector"], device, len(found), "" if len(found) == 1 else "s", f"{int(flags.sum()):,}", 100 * flags.mean(), chosen.value,
                 chosen.description, folder)
        return DetectResult(entity=entity, data=data, points=points, flags=flags, top=top, threshold=chosen,
                            segments=found, folder=folder, seconds=seconds)
