"""One entity's job: train (or load with `--test`), score every test point, evaluate; and its files.

`run_entity` is the unit of work (one entity, one detector, one seed): it takes arrays and returns
an `EntityResult` without touching the output folder, so a serial loop (`pipeline`) or a Ray worker
(`parallel`) can run it and the driver writes the files with `write_entity`. `Layout` says where
every file of a run goes; `read_checkpoint` / `check_checkpoint_data` validate a saved model.

Layout under `<out_dir>/<dataset>/`:
  results.json  run.log  reconstruction.png  fn_visualize.png  scores/<entity>.npy
  <entity>/{model.pt, result.json, epochs.csv, val_scores.npy, reconstruction.npy[, reconstruction.png, fn_visualize.png]}
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from . import __version__, io, plots, train_state
from .config import Config
from .data.store import ProcessedEntity
from .data.windows import holdout_blocks
from .detectors import build_detector
from .errors import CheckpointError, ConfigError, DataError
from .logs import get_logger
from .metrics import check_scores, evaluate_entity, pot_fit, quantile_threshold
from .scoring import PointScores, ScoreStats, ignored_dims, score_series, summarise
from .seeding import derive_seed, set_seed
from .training import TrainState, epochs_csv

CHECKPOINT_FORMAT = 2  # 2: contiguous validation blocks, raw validation scores kept (val_raw)
# Config keys that may differ between an interrupted run and its `--resume` (they do not change results).
RESUME_FREE_KEYS = ("device", "num_threads", "mamba_backend", "workers", "ray_address", "cpus_per_job",
                    "gpus_per_job", "entities", "score_batch_size", "checkpoint_layers", "score_norm")
# Config keys a checkpoint must agree on to be used: they fix the network's shape and what a score means.
CHECKPOINT_KEYS = ("data_name", "model", "encode_layer_num", "dim_model", "dim_hidden_fc", "head_num", "d_state",
                   "d_conv", "expand", "uncertainty", "step_num_in", "select_pos", "pca_variance", "revin_denorm")
PROTOCOL_NOTE = ("metrics under 'paper_protocol' use a threshold chosen on the test labels (oracle), as the paper "
                 "does; they are an upper bound, not a deployable result")


def versions() -> dict[str, str]:
    import sklearn

    found = {"sensitive_hue": __version__, "python": platform.python_version(), "torch": torch.__version__,
             "numpy": np.__version__, "scikit-learn": sklearn.__version__}
    return {name: str(version) for name, version in found.items()}  # plain str: torch's is a subclass


def resolve_device(name: str) -> torch.device:
    """`auto` -> cuda when available, else cpu; `cuda` without a GPU is a ConfigError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available here; use --device cpu or --device auto")
    return torch.device(name)


@dataclass(frozen=True)
class Layout:
    """Where a run's files go."""

    out_dir: Path
    dataset: str

    @property
    def root(self) -> Path:
        return Path(self.out_dir) / self.dataset

    @property
    def results(self) -> Path:
        return self.root / "results.json"

    @property
    def log(self) -> Path:
        return self.root / "run.log"

    def entity_dir(self, entity: str) -> Path:
        return self.root / entity

    def checkpoint(self, entity: str) -> Path:
        return self.entity_dir(entity) / "model.pt"

    def result(self, entity: str) -> Path:
        return self.entity_dir(entity) / "result.json"

    def epochs_csv(self, entity: str) -> Path:
        return self.entity_dir(entity) / "epochs.csv"

    def train_state(self, entity: str) -> Path:
        return self.entity_dir(entity) / train_state.FILE_NAME

    def reconstruction(self, entity: str) -> Path:
        return self.entity_dir(entity) / "reconstruction.npy"

    def val_scores(self, entity: str) -> Path:
        return self.entity_dir(entity) / "val_scores.npy"

    def scores(self, entity: str) -> Path:
        return self.root / "scores" / f"{entity}.npy"


@dataclass
class EntityResult:
    """Everything one entity's job produced; `summary()` is its result.json."""

    entity: str
    index: int  # 1-based, in the dataset's documented order
    mode: str  # "train" or "test"
    seed: int  # the entity's derived seed
    points: PointScores
    labels: np.ndarray
    val_scores: np.ndarray
    metrics: dict
    checkpoint: dict
    timings: dict[str, float]
    history: list[dict] = field(default_factory=list)
    score_norm: str = "validation"  # what fitted the per-feature median/IQR: validation or test scores

    def summary(self) -> dict:
        ignore = list(self.checkpoint["score_stats"]["ignore_dims"])
        ranking = plots.feature_ranking(self.points.contributions, ignore)
        return {"entity": self.entity, "index": self.index, "mode": self.mode, "detector": self.checkpoint["detector"],
                "seed": self.seed, "n_test": int(len(self.labels)), "n_anomalies": int(self.labels.sum()),
                "metrics": self.metrics, "thresholds": self.checkpoint["thresholds"],
                "validation_scores": self.checkpoint["val_summary"], "test_scores": summarise(self.points.scores),
                "validation_blocks": self.checkpoint.get("val_blocks"), "n_validation_points": int(len(self.val_scores)),
                "score_norm": self.score_norm,
                "training": self.checkpoint["training"], "timings": self.timings, "score_ignore_dims": ignore,
                "feature_ranking": ranking, "versions": self.checkpoint["versions"]}


def _scaler(meta: dict) -> dict:
    """The processed data's normalisation and columns (stored in the checkpoint, checked on --test)."""
    return {key: meta.get(key) for key in ("scaler", "columns", "kept_dims")}


def _input_columns(meta: dict) -> dict:
    """The raw CSV's non-feature columns (timestamp, label), so --detect recognises them in new files."""
    info = meta.get("source_info") or {}
    return {"timestamp_column": info.get("timestamp_column"), "label_column": info.get("label_column")}


def label_free_thresholds(cfg: Config, val_scores: np.ndarray, name: str = "") -> dict:
    """POT and validation-quantile thresholds from validation scores, and the one `threshold_method`
    picks (`threshold`); POT falls back to the quantile when the scores cannot support a tail fit,
    with a warning that says why."""
    try:
        pot = pot_fit(val_scores, cfg.pot_risk, cfg.pot_level).to_dict()
    except DataError as exc:
        pot = {"threshold": None, "message": str(exc)}
        if cfg.threshold_method == "pot":
            get_logger().warning("%s: POT cannot fit the %d validation scores (%s); the label-free threshold "
                                 "falls back to their %g quantile", name or "entity", len(val_scores), exc,
                                 cfg.val_quantile)
    quantile = {"threshold": quantile_threshold(val_scores, cfg.val_quantile), "q": cfg.val_quantile}
    method = "pot" if cfg.threshold_method == "pot" and pot["threshold"] is not None else "val_quantile"
    chosen = pot if method == "pot" else quantile
    return {"pot": pot, "val_quantile": quantile, "method": method, "threshold": chosen["threshold"]}


def validation_split(cfg: Config, length: int, seed: int, name: str):
    """The entity's training windows and validation blocks (`data.windows.holdout_blocks`, seeded)."""
    return holdout_blocks(length, cfg.step_num_in, cfg.stride, cfg.val_ratio, cfg.val_blocks,
                          derive_seed(seed, "split"), f"entity {name}")


def entity_seed(cfg: Config, entity: str) -> int:
    """Depends only on (global seed, dataset, entity, detector): never on scheduling order."""
    return derive_seed(cfg.seed, cfg.data_name, entity, cfg.model)


def run_entity(cfg: Config, data: ProcessedEntity, index: int, device: torch.device,
               checkpoint: Optional[dict] = None,
               on_epoch_end: Optional[Callable[[TrainState], None]] = None,
               resume_from: Optional[dict] = None) -> EntityResult:
    """Train (or, given a loaded `checkpoint`, restore) one detector on one entity, score its test
    series and evaluate. Reads nothing from and writes nothing to the output folder.

    `resume_from`: a saved training state (`train_state.snapshot`) to continue instead of starting afresh."""
    log = get_logger()
    seed = int(checkpoint["seed"]) if checkpoint is not None else entity_seed(cfg, data.name)
    set_seed(seed)
    f_in = int(data.train.shape[1])
    detector = build_detector(cfg, f_in, device, seed)
    timings: dict[str, float] = {}
    history: list[dict] = []
    if checkpoint is None:
        split = validation_split(cfg, len(data.train), seed, data.name)
        log.info("%s: %d training windows, %d validation rows in %d held-out blocks", data.name,
                 len(split.train_starts), split.n_val_points, len(split.blocks))
        summary = detector.fit(data.train, split, desc=data.name, on_epoch_end=on_epoch_end, resume=resume_from)
        history = summary.history
        timings["fit_s"] = summary.seconds
        tic = time.perf_counter()
        val_raw = detector.validation_scores(data.train, split)
        stats = ScoreStats.fit(val_raw, ignored_dims(cfg, index, f_in))
        val_scores = stats.combine(stats.contributions(val_raw))
        timings["validation_s"] = time.perf_counter() - tic
        checkpoint = {
            "format": CHECKPOINT_FORMAT, "detector": cfg.model, "dataset": cfg.data_name, "entity": data.name,
            "entity_index": index, "seed": seed, "state_dict": detector.state_dict(), "config": cfg.to_dict(),
            "f_in": f_in, "scaler": _scaler(data.meta), "score_stats": stats.to_state(),
            "val_scores": torch.from_numpy(val_scores.copy()), "val_summary": summarise(val_scores),
            "val_raw": torch.from_numpy(np.asarray(val_raw, dtype=np.float32)), "val_blocks": [list(b) for b in split.blocks],
            "thresholds": label_free_thresholds(cfg, val_scores, data.name), "training": summary.to_dict(),
            "versions": versions(), "input": _input_columns(data.meta),
        }
        mode = "train"
    else:
        detector.load_state_dict(checkpoint["state_dict"])
        stats = ScoreStats.from_state(checkpoint["score_stats"], f_in)
        val_raw = checkpoint["val_raw"].numpy().astype(np.float64)
        val_scores = checkpoint["val_scores"].numpy()
        mode = "test"
    tic = time.perf_counter()
    points = score_series(detector, stats, data.test, cfg.score_norm)
    if cfg.score_norm == "test":  # validation scores in the same (test-fitted) units, for label-free thresholds
        val_scores = points.stats.combine(points.stats.contributions(val_raw))
    timings["score_s"] = time.perf_counter() - tic
    check_scores(points.scores, data.labels, scores_name=f"test scores of {data.name}",
                 labels_name=f"labels of {data.name}")  # NaN scores never reach the metrics
    tic = time.perf_counter()
    metrics = evaluate_entity(points.scores, data.labels, val_scores, cfg=cfg)
    timings["evaluate_s"] = time.perf_counter() - tic
    log.info("%s: %s", data.name, metric_line(metrics, cfg.threshold_method))
    return EntityResult(entity=data.name, index=index, mode=mode, seed=seed, points=points, labels=data.labels,
                        val_scores=val_scores, metrics=metrics, checkpoint=checkpoint, timings=timings, history=history,
                        score_norm=cfg.score_norm)


def read_checkpoint(path: Path, cfg: Config) -> dict:
    """Load a checkpoint with `weights_only=True` and check it was trained with a compatible config."""
    if not path.is_file():
        raise CheckpointError(f"no trained model at {path}; train first (run without --test) or pass the "
                              "--out_dir it was trained into")
    checkpoint = io.load_torch(path, "checkpoint", "retrain without --test")
    required = ("format", "detector", "seed", "state_dict", "config", "f_in", "scaler", "score_stats", "val_scores",
                "val_raw", "thresholds", "training", "versions")
    if not isinstance(checkpoint, dict) or any(key not in checkpoint for key in required):
        raise CheckpointError(f"{path}: not a checkpoint written by this tool (missing keys); retrain without --test")
    if checkpoint["format"] != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: checkpoint format {checkpoint['format']}, this version reads "
                              f"{CHECKPOINT_FORMAT}; retrain without --test")
    stored, current = checkpoint["config"], cfg.to_dict()
    for key in CHECKPOINT_KEYS:
        if stored.get(key) != current[key]:
            raise CheckpointError(f"{path}: trained with {key}={stored.get(key)!r}, the config now says "
                                  f"{current[key]!r}; use the same config (or --model) or retrain without --test")
    return checkpoint


def check_checkpoint_data(checkpoint: dict, path: Path, name: str, meta: dict) -> None:
    """CheckpointError when the checkpoint was trained on other features or other processed data
    (`meta`: the entity's meta.json)."""
    f_in = int(meta["shape"]["train"][1])
    if checkpoint["f_in"] != f_in:
        raise CheckpointError(f"{path}: trained on {checkpoint['f_in']} features, entity {name} has {f_in}; "
                              "retrain without --test")
    if checkpoint["scaler"] != _scaler(meta):
        raise CheckpointError(f"{path}: the processed data of {name} changed since training (normalisation "
                              "statistics differ); retrain without --test")



def finished_entity(layout: Layout, name: str, cfg: Config) -> bool:
    """True when `name` already has result.json and a checkpoint trained with this config (for `--resume`);
    a checkpoint of another config is a CheckpointError rather than a silent mix of settings."""
    if not (layout.result(name).is_file() and layout.checkpoint(name).is_file()):
        return False
    stored, current = read_checkpoint(layout.checkpoint(name), cfg)["config"], cfg.to_dict()
    changed = [key for key in current if key not in RESUME_FREE_KEYS and stored.get(key) != current[key]]
    if changed:
        raise CheckpointError(f"{layout.checkpoint(name)}: --resume found a run with other settings ({changed[0]}="
                              f"{stored.get(changed[0])!r}, now {current[changed[0]]!r}); use another --out_dir")
    return True


def write_entity(result: EntityResult, layout: Layout) -> None:
    """Write one entity's files; result.json goes last, so its presence means the entity is complete."""
    name = result.entity
    if result.mode == "train":
        io.save_torch(layout.checkpoint(name), result.checkpoint)
        io.write_text(layout.epochs_csv(name), epochs_csv(result.history))
    io.save_npy(layout.scores(name), result.points.scores)
    io.save_npy(layout.val_scores(name), result.val_scores)
    if result.points.reconstruction is not None:
        io.save_npy(layout.reconstruction(name), result.points.reconstruction)
    else:
        layout.reconstruction(name).unlink(missing_ok=True)
    io.write_json(layout.result(name), result.summary())


def label_free_name(metrics: dict, preferred: str) -> Optional[str]:
    """The label-free method to draw: the configured one, else any that produced thresholds."""
    found = metrics.get("label_free", {})
    for name in (preferred, "pot", "val_quantile"):
        entry = found.get(name, {})
        if entry.get("threshold", entry.get("thresholds")) is not None:
            return name
    return None


def metric_line(metrics: dict, threshold_method: str) -> str:
    """The paper-protocol F1s next to the label-free ones and AUC-PR, for the terminal and the log."""
    paper = metrics["paper_protocol"]
    method = label_free_name(metrics, "pot" if threshold_method == "pot" else "val_quantile")
    free = metrics["label_free"][method] if method else {}

    def fmt(value) -> str:
        return "n/a" if value is None else f"{value:.4f}"

    return (f"F1 {fmt(paper['f1'])} / F1-PA {fmt(paper['f1_pa'])} at the best threshold on test labels "
            f"(paper protocol); label-free {method} threshold F1 {fmt(free.get('f1'))} / "
            f"F1-PA {fmt(free.get('f1_pa'))}; AUC-PR {fmt(metrics['continuous']['auc_pr'])}")
