"""Raw entities -> checked, z-scored, processed entities on disk.

All selected entities are read, checked and normalised in memory first; only when every one
passes are the files written (each atomically, the dataset index last). A bad input therefore
raises before anything is written. Output bytes depend only on the inputs (no timestamps, source
paths relative to the raw folder), so a rerun gives identical files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ..config import Config
from ..progress import bar as progress_bar, enabled as progress_enabled, shown
from ..errors import ConfigError, DataError
from ..logs import get_logger
from . import sources
from .sources import CsvFiles, RawEntity, open_raw
from .store import (FORMAT_VERSION, INDEX_FILE, ProcessedEntity, check_entity_name, dataset_dir, read_index,
                    select_entities, write_entity, write_index)


def raw_exists(raw_dir: str | Path, dataset: str) -> bool:
    """Whether raw files for `dataset` are present under `raw_dir` (demo: always)."""
    return sources.raw_exists(raw_dir, dataset)


def processed_exists(out_dir: str | Path, dataset: str) -> bool:
    """Whether `out_dir` holds a processed `dataset` (its index file)."""
    return (dataset_dir(out_dir, dataset) / INDEX_FILE).is_file()


def count_segments(labels: np.ndarray) -> int:
    """Number of maximal runs of 1s."""
    flags = np.concatenate(([0], np.asarray(labels, dtype=np.int8), [0]))
    return int(np.count_nonzero(np.diff(flags) == 1))


def fit_scaler(train: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Per-column mean and std of `train`; constant columns get std 1 (they map to 0, never NaN)."""
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    constant = np.flatnonzero(np.ptp(train, axis=0) == 0)
    mean[constant] = train[0, constant]
    std[constant] = 1.0
    return mean, std, [int(c) for c in constant]


def apply_scaler(values: np.ndarray, mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, Optional[tuple[int, int]]]:
    """float32 `(values - mean) / std` and the (row, column) of its first non-finite entry (an overflow of
    float32), or None; no numpy RuntimeWarning: each caller reports the overflow in its own terms.
    The one z-scoring of preprocessing, `--detect` and the estimators, so all three give the same bytes."""
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = ((values - mean) / std).astype(np.float32)
    bad = ~np.isfinite(scaled)
    return scaled, (tuple(int(i) for i in np.argwhere(bad)[0]) if bad.any() else None)


def prepare_entity(cfg: Config, raw: RawEntity) -> ProcessedEntity:
    """Drop `cfg.ignore_dims`, check dims and lengths against the config, z-score with train stats."""
    where = f"{cfg.data_name} entity {raw.name} ({raw.sources[0]['path'] if raw.sources else 'generated'})"
    columns = raw.train.shape[1]
    bad_dims = [d for d in cfg.ignore_dims if not 0 <= d < columns]
    if bad_dims:
        raise ConfigError(f"{cfg.describe_key('ignore_dims')} has {bad_dims} but {where} has "
                          f"{columns} columns (0-based indices 0-{columns - 1}); fix ignore_dims")
    keep = [c for c in range(columns) if c not in cfg.ignore_dims]
    if cfg.f_in is not None and len(keep) != cfg.f_in:
        raise ConfigError(f"{where} has {columns} columns, {len(keep)} after dropping ignore_dims "
                          f"{list(cfg.ignore_dims)}, but {cfg.describe_key('f_in')} is {cfg.f_in}; "
                          f"set f_in: {len(keep)} or fix ignore_dims")
    for part, array in (("train", raw.train), ("test", raw.test)):
        if array.shape[0] < cfg.step_num_in:
            raise DataError(f"{where}: the {part} series has {array.shape[0]} rows, fewer than the window length "
                            f"step_num_in={cfg.step_num_in}; lower step_num_in or leave the entity out (--entities)")
    train, test = raw.train[:, keep], raw.test[:, keep]
    mean, std, constant = fit_scaler(train)
    scaled = {}
    for part, array in (("train", train), ("test", test)):
        values, bad = apply_scaler(array, mean, std)
        if bad is not None:
            row, col = bad
            raise DataError(f"{where}: {part} row {row}, column {keep[col]} overflows float32 after scaling "
                            f"({array[row, col]}); fix the raw value")
        scaled[part] = values
    labels = raw.labels.astype(np.int8)
    meta = {
        "format_version": FORMAT_VERSION,
        "dataset": cfg.data_name,
        "entity": raw.name,
        "sources": raw.sources,
        "raw_columns": columns,
        "dropped_dims": list(cfg.ignore_dims),
        "kept_dims": keep,
        "columns": [raw.columns[c] for c in keep] if raw.columns is not None else None,
        "shape": {"train": list(scaled["train"].shape), "test": list(scaled["test"].shape),
                  "labels": list(labels.shape)},
        "scaler": {"kind": "zscore", "fitted_on": "train", "mean": mean.tolist(), "std": std.tolist(),
                   "constant_columns": constant},
        "anomaly_ratio": float(labels.mean()),
        "anomaly_segments": count_segments(labels),
        "source_info": raw.info,
    }
    return ProcessedEntity(raw.name, scaled["train"], scaled["test"], labels, meta)


def _csv_entity_name(csv_files: CsvFiles, entities: list[str] | None) -> str:
    if entities and len(entities) != 1:
        raise ConfigError("--data_name csv: --entities takes one name (the entity to create), "
                          f"got {len(entities)}")
    return check_entity_name(entities[0] if entities else Path(csv_files.train_csv).name.split(".")[0])


def _previous_hashes(out_dir: Path, dataset: str) -> tuple[list[str], dict[str, str]]:
    """Order and hashes of an earlier run, so processing a subset keeps the other entities."""
    try:
        index = read_index(out_dir, dataset)
    except DataError:
        return [], {}
    return list(index["order"]), dict(index["processed"])


def _summary(dataset: str, rows: list[dict], folder: Path) -> str:
    def span(key: str) -> str:
        values = [row[key] for row in rows]
        total = f"{sum(values):,}"
        return total if len(values) == 1 else f"{total} ({min(values):,}-{max(values):,} per entity)"

    dims = sorted({row["dims"] for row in rows})
    dims_text = str(dims[0]) if len(dims) == 1 else f"{dims[0]}-{dims[-1]}"
    ratio = 100 * sum(row["anomalies"] for row in rows) / sum(row["test_rows"] for row in rows)
    segments = sum(row["anomaly_segments"] for row in rows)
    noun = "entity" if len(rows) == 1 else "entities"
    return (f"{dataset}: {len(rows)} {noun}, train rows {span('train_rows')}, test rows {span('test_rows')}, "
            f"{dims_text} dims, anomaly ratio {ratio:.2f}% ({segments} segments) -> {folder}")


def preprocess_dataset(cfg: Config, raw_dir: str | Path, out_dir: str | Path, entities: list[str] | None = None,
                       csv: CsvFiles | None = None, progress: bool = True) -> list[dict]:
    """Preprocess `cfg.data_name` from `raw_dir` into `out_dir/<dataset>/`; one summary dict per entity.

    `entities` (names or 1-based indices; for csv the one entity name to create) limits the run;
    by default `cfg.entities`, else every entity (the config's `range` applies at training time).
    Entities processed earlier and not selected now are kept.
    """
    dataset, out_dir, logger = cfg.data_name, Path(out_dir), get_logger()
    raw = open_raw(dataset, raw_dir, csv)
    previous_order, hashes = _previous_hashes(out_dir, dataset)
    if dataset == "csv":
        names = [_csv_entity_name(csv, entities)]
        order = previous_order + [n for n in names if n not in previous_order]
    else:
        asked = [str(name) for name in (entities or cfg.entities or ())]
        absent = [name for name in asked if name in raw.missing]
        if absent:
            raise DataError(f"{dataset}: entity {absent[0]} has no raw files under {raw_dir}; "
                            f"{sources.download_hint(dataset, raw_dir)}")
        if raw.missing and not asked:
            logger.warning(f"{dataset}: {len(raw.missing)} entities have no files under {Path(raw_dir) / dataset} and "
                           f"are skipped: {', '.join(raw.missing)} (to add them, "
                           f"{sources.download_hint(dataset, raw_dir)})")
        names = select_entities(cfg, raw.entities, entities, use_range=False)
        order = raw.entities
    prepared = []
    with shown(progress and progress_enabled()), progress_bar(names, desc=f"preprocess {dataset}", unit="entity",
                                                              leave=False) as bar:
        for name in bar:
            entity = raw.read(name)
            entity.name = name
            prepared.append(prepare_entity(cfg, entity))
    hashes = {name: digest for name, digest in hashes.items() if name in order}
    for entity in prepared:
        hashes[entity.name] = write_entity(out_dir, dataset, entity)
    write_index(out_dir, dataset, order, dict(sorted(hashes.items())))
    folder = dataset_dir(out_dir, dataset)
    rows = [{"entity": e.name, "train_rows": e.train.shape[0], "test_rows": e.test.shape[0], "dims": e.train.shape[1],
             "anomalies": int(e.labels.sum()), "anomaly_ratio": e.meta["anomaly_ratio"],
             "anomaly_segments": e.meta["anomaly_segments"],
             "path": str(folder / e.name)} for e in prepared]
    logger.info(_summary(dataset, rows, folder))
    return rows
