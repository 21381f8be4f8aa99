"""Processed datasets on disk: layout, index, loading and entity selection.

Layout under a processed root (default `data/processed`):

    <dataset>/index.json                       entity order + sha256 of each entity's meta.json
    <dataset>/<entity>/train.npy, test.npy     float32 (T, F), z-scored with train statistics
    <dataset>/<entity>/labels.npy              int8 (T',), 1 = anomalous test point
    <dataset>/<entity>/meta.json               sources, shapes, dropped dims, scaler, sha256 of the arrays

`index.json` holds `order` (every entity the raw data had, in the documented order; 1-based
indices in `range`, `ignore_entities` and `--entities` refer to it) and `processed` (name ->
sha256 of its meta.json). It is written last, so a preprocess run that fails leaves the previous
index in place; the hashes let `load_entity` notice files from an interrupted overwrite.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import Config
from ..errors import ConfigError, DataError
from ..io import load_npy, read_bytes, save_npy, sha256_file, write_json

FORMAT_VERSION = 1
INDEX_FILE = "index.json"
META_FILE = "meta.json"
ARRAYS = {"train": ("train.npy", np.float32), "test": ("test.npy", np.float32), "labels": ("labels.npy", np.int8)}
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")


@dataclass
class ProcessedEntity:
    """One preprocessed entity as the model sees it."""

    name: str
    train: np.ndarray  # float32 (T, F)
    test: np.ndarray  # float32 (T', F)
    labels: np.ndarray  # int8 (T',)
    meta: dict


def dataset_dir(processed_root: str | Path, dataset: str) -> Path:
    return Path(processed_root) / dataset


def check_entity_name(name: str) -> str:
    """Entity names become folder names: letters, digits, '.', '_', '-' only."""
    if not _NAME.fullmatch(name):
        raise DataError(f"entity name {name!r} cannot be a folder name; use letters, digits, '.', '_' and '-' only")
    return name


def _preprocess_hint(dataset: str, name: str | None = None) -> str:
    entities = f" --entities {name}" if name else ""
    return f"run python preprocess.py --config_path config/star.yaml --data_name {dataset}{entities}"


def write_entity(processed_root: str | Path, dataset: str, entity: ProcessedEntity) -> str:
    """Write one entity's arrays, then its meta.json (with the arrays' sha256); return meta's sha256."""
    folder = dataset_dir(processed_root, dataset) / check_entity_name(entity.name)
    hashes = {}
    for key, (filename, dtype) in ARRAYS.items():
        array = getattr(entity, key)
        if array.dtype != dtype:
            raise TypeError(f"{entity.name}.{key} must be {np.dtype(dtype)}, got {array.dtype}")
        save_npy(folder / filename, array)
        hashes[filename] = sha256_file(folder / filename)
    write_json(folder / META_FILE, {**entity.meta, "files": hashes})
    return sha256_file(folder / META_FILE)


def write_index(processed_root: str | Path, dataset: str, order: list[str], processed: dict[str, str]) -> None:
    """The dataset's entity order and the meta.json hash of every processed entity (written last)."""
    write_json(dataset_dir(processed_root, dataset) / INDEX_FILE,
               {"format_version": FORMAT_VERSION, "dataset": dataset, "order": list(order), "processed": processed})


def read_index(processed_root: str | Path, dataset: str) -> dict:
    """The index of a processed dataset; DataError saying how to create it when absent or stale."""
    path = dataset_dir(processed_root, dataset) / INDEX_FILE
    if not path.is_file():
        raise DataError(f"no processed {dataset} data at {path.parent}; {_preprocess_hint(dataset)}")
    try:
        index = json.loads(read_bytes(path))
    except (ValueError, UnicodeDecodeError):
        raise DataError(f"{path} is corrupt; {_preprocess_hint(dataset)}") from None
    if not isinstance(index, dict) or index.get("format_version") != FORMAT_VERSION or \
            not isinstance(index.get("order"), list) or not isinstance(index.get("processed"), dict):
        raise DataError(f"{path} is from another format version or corrupt; {_preprocess_hint(dataset)}")
    return index


def list_entities(processed_root: str | Path, dataset: str) -> list[str]:
    """Every entity of the dataset in the documented order (the order 1-based indices refer to)."""
    return list(read_index(processed_root, dataset)["order"])


def processed_entities(processed_root: str | Path, dataset: str) -> list[str]:
    """The entities that have processed files, in the documented order."""
    index = read_index(processed_root, dataset)
    return [name for name in index["order"] if name in index["processed"]]


def _load_array(path: Path, expected_sha: str | None, dtype: type, shape: list[int], hint: str) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"{path} is missing; {hint}")
    if sha256_file(path) != expected_sha:
        raise DataError(f"{path} does not match its meta.json (an interrupted or mixed preprocess run); {hint}")
    array = load_npy(path)
    if array.dtype != dtype or list(array.shape) != shape:
        raise DataError(f"{path}: expected {np.dtype(dtype)} {tuple(shape)}, got {array.dtype} {array.shape}; {hint}")
    return array


def load_entity(processed_root: str | Path, dataset: str, name: str) -> ProcessedEntity:
    """Load and verify one processed entity (DataError naming the file and the fix)."""
    index = read_index(processed_root, dataset)
    hint = _preprocess_hint(dataset, name)
    if name not in index["processed"]:
        raise DataError(f"entity '{name}' of {dataset} is not preprocessed under "
                        f"{dataset_dir(processed_root, dataset)}; {hint}")
    folder = dataset_dir(processed_root, dataset) / check_entity_name(name)
    meta_path = folder / META_FILE
    if not meta_path.is_file():
        raise DataError(f"{meta_path} is missing; {hint}")
    if sha256_file(meta_path) != index["processed"][name]:
        raise DataError(f"{meta_path} does not match {INDEX_FILE} (an interrupted preprocess run); {hint}")
    meta = json.loads(read_bytes(meta_path))
    arrays = {key: _load_array(folder / filename, meta["files"].get(filename), dtype, meta["shape"][key], hint)
              for key, (filename, dtype) in ARRAYS.items()}
    return ProcessedEntity(name, arrays["train"], arrays["test"], arrays["labels"], meta)


def _names_hint(available: list[str]) -> str:
    shown = ", ".join(available[:8])
    return f"{shown}, ... ({len(available)} in all)" if len(available) > 8 else shown


def _resolve(item: str | int, available: list[str], what: str) -> str:
    text = str(item).strip()
    if text.isdigit():
        position = int(text)
        if not 1 <= position <= len(available):
            raise DataError(f"{what}: entity index {position} is out of range; valid: 1-{len(available)} "
                            f"({_names_hint(available)})")
        return available[position - 1]
    if text not in available:
        raise DataError(f"{what}: unknown entity '{text}'; valid names or 1-based indices: {_names_hint(available)}")
    return text


def select_entities(cfg: Config, available: list[str], requested: list[str] | None = None, *,
                    use_range: bool = True) -> list[str]:
    """The entities to run, in the documented order of `available`.

    `requested` (--entities: names or 1-based indices) wins; else `cfg.entities`; else `cfg.range`
    (1-based, inclusive) minus `cfg.ignore_entities`; `use_range=False` means every entity instead
    of the range (preprocessing writes them all so indices stay stable).
    """
    if not available:
        raise DataError(f"{cfg.data_name}: no entities available; {_preprocess_hint(cfg.data_name)}")
    if requested:
        chosen = {_resolve(item, available, "--entities") for item in requested}
    elif cfg.entities:
        what = cfg.describe_key('entities')
        chosen = {_resolve(item, available, what) for item in cfg.entities}
    elif not use_range:
        chosen = set(available)
    else:
        first, last = cfg.range if cfg.range is not None else (1, len(available))
        if last > len(available):
            raise ConfigError(f"{cfg.describe_key('range')} is [{first}, {last}] but {cfg.data_name} "
                              f"has {len(available)} entities; set range to at most [1, {len(available)}] or null")
        for position in cfg.ignore_entities:
            if not 1 <= position <= len(available):
                raise ConfigError(f"{cfg.describe_key('ignore_entities')} has {position}, outside "
                                  f"1-{len(available)}; fix or remove it")
        chosen = {available[i - 1] for i in range(first, last + 1) if i not in cfg.ignore_entities}
    selected = [name for name in available if name in chosen]
    if not selected:
        raise ConfigError(f"{cfg.describe_key('range')} and {cfg.describe_key('ignore_entities')} select no entity; "
                          "widen range or shorten ignore_entities")
    return selected
