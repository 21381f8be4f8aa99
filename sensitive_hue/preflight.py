"""Checks of the settings against the selected entities and the output folder, run before a run
writes anything, so a bad combination fails with one line and leaves no partial output.

They read only each entity's meta.json (shapes), not its arrays.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .config import FIELDS, Config
from .data.store import META_FILE, dataset_dir
from .data.windows import holdout_blocks, window_starts
from .errors import ConfigError, DataError, OutputError
from .io import read_bytes, stat_problem
from .logs import get_logger

TRAINED_IN_BATCHES = ("sensitive_mamba", "sensitive_hue")


def entity_meta(processed_dir: str | Path, dataset: str, name: str) -> dict:
    """An entity's meta.json (DataError when missing or corrupt)."""
    path = dataset_dir(processed_dir, dataset) / name / META_FILE
    try:
        meta = json.loads(read_bytes(path))
    except (ValueError, UnicodeDecodeError):
        meta = None
    if not isinstance(meta, dict) or not isinstance(meta.get("shape"), dict):
        raise DataError(f"{path} is missing or corrupt; run python preprocess.py --data_name {dataset} "
                        f"--entities {name}")
    return meta


def check_output_dir(folder: str | Path, flag: str = "--out_dir", below: str | None = None) -> None:
    """OutputError when `folder` (or `folder/below`, e.g. the dataset's folder) cannot be created or written:
    a path below a regular file, a symbolic-link loop or a broken link on the way, no write permission."""
    folder = Path(folder)
    existing = folder / below if below else folder
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    try:
        os.stat(existing)
    except OSError as exc:
        raise OutputError(f"{flag} {folder}: {existing} {stat_problem(existing, exc)}; fix or remove it, or choose "
                          f"another {flag}") from None
    if not existing.is_dir():
        raise OutputError(f"{flag} {folder}: {existing} is a file, not a folder; choose another {flag}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"{flag} {folder}: {existing} is not writable; choose another {flag}")


def check_entities(cfg: Config, processed_dir: str | Path, names: list[str], training: bool) -> None:
    """The window fits every series and the VUS buffer the test series (the default 100 always passes); with
    `training`, enough windows for validation, no more `steps_per_epoch` than windows (settings that set an
    amount of work are bounded by the data), and a warning when an entity has fewer windows than a batch."""
    for i, name in enumerate(names):
        shape = entity_meta(processed_dir, cfg.data_name, name)["shape"]
        if i == 0 and training:
            from .detectors import check_pyod

            check_pyod(cfg, int(shape["train"][1]))
        for part in ("train", "test"):
            window_starts(shape[part][0], cfg.step_num_in, 1, f"{cfg.data_name} entity {name} ({part} series)")
        label = f"{cfg.data_name} entity {name}"
        # VUS's cost grows with the buffer: bound it by the series (the default stays valid on short series)
        if cfg.vus_buffer > max(shape["test"][0], FIELDS["vus_buffer"].default):
            raise ConfigError(f"config key 'vus_buffer' is {cfg.vus_buffer}, longer than the {shape['test'][0]} test "
                              f"rows of {label}; set --set vus_buffer={shape['test'][0]} or less")
        if not training:
            continue
        # Block placement is seeded per entity; a split at seed 0 has the same sizes, so it tells whether
        # the series can hold the validation blocks and how many training windows are left.
        train_starts = holdout_blocks(shape["train"][0], cfg.step_num_in, cfg.stride, cfg.val_ratio, cfg.val_blocks,
                                      0, label).train_starts
        if len(train_starts) == 0:
            raise DataError(f"{label}: no training window is left outside the validation blocks; lower step_num_in, "
                            "stride or val_ratio")
        if cfg.model not in TRAINED_IN_BATCHES:
            continue
        all_train = holdout_blocks(shape["train"][0], cfg.step_num_in, 1, cfg.val_ratio, cfg.val_blocks, 0,
                                   label).train_starts
        if cfg.steps_per_epoch is not None and cfg.steps_per_epoch > len(all_train):  # work bounded by the data
            raise ConfigError(f"config key 'steps_per_epoch' is {cfg.steps_per_epoch}, more than the {len(all_train)} "
                              f"training windows of {label}: every epoch would see each window about "
                              f"{cfg.batch_size * cfg.steps_per_epoch // len(all_train)} times; set --set "
                              f"steps_per_epoch={len(all_train)} or less (null: one pass over the windows)")
        # Like a DataLoader without drop_last: an entity with fewer windows than a batch trains on batches
        # of all its windows (one tiny channel must not stop a whole benchmark run)
        stepped = cfg.steps_per_epoch is not None  # batches drawn from every stride-1 window
        windows, stride = (all_train, 1) if stepped else (train_starts, cfg.stride)
        if cfg.batch_size > len(windows):
            get_logger().warning(f"{label}: {len(windows)} training windows ({shape['train'][0]} rows, step_num_in "
                                 f"{cfg.step_num_in}, stride {stride}), fewer than batch_size {cfg.batch_size}: "
                                 + ("every batch holds all of them" if stepped else "one smaller batch per epoch"))
