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

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from . import io, plots, train_state
from .config import Config, changed_settings, stored_setting
from .data.store import ProcessedEntity
from .errors import CheckpointError
from .estimators import CHECKPOINT_FORMAT, BaseDetector, entity_seed, estimator_for
from .logs import get_logger
from .metrics import check_scores, evaluate_entity
from .metrics.thresholds import pick
from .scoring import PointScores, summarise
from .training import TrainState, epochs_csv
# Config keys that may differ between an interrupted run and its `--resume` (they do not change results).
RESUME_FREE_KEYS = ("device", "num_threads", "mamba_backend", "workers", "ray_address", "cpus_per_job",
                    "gpus_per_job", "entities", "score_batch_size", "checkpoint_layers")
# Config keys that only change how a trained model scores: free for an interrupted *training* state (the entity
# is scored afresh), but not for a finished entity, whose scores would be mixed with others (--test re-scores).
SCORING_KEYS = ("score_norm", "score_combine")
# Config keys that only shape training: `--test` takes them from the checkpoints (the models as they were trained).
TRAINING_KEYS = ("seed", "max_epoch", "batch_size", "lr", "lr_step_size", "lr_gamma", "patience", "alpha", "beta",
                 "gamma", "temperature", "temporal_unit", "contrastive", "stride", "steps_per_epoch", "val_ratio",
                 "val_blocks", "checkpoint_layers")
# Config keys a checkpoint must agree on to be used: they fix the network's shape and what a score means.
CHECKPOINT_KEYS = ("data_name", "model", "encode_layer_num", "dim_model", "dim_hidden_fc", "head_num", "d_state",
                   "d_conv", "expand", "uncertainty", "step_num_in", "select_pos", "pca_variance", "revin_denorm",
                   "pyod_params")
PROTOCOL_NOTE = ("metrics under 'paper_protocol' use a threshold chosen on the test labels (oracle), as the paper "
                 "does; they are an upper bound, not a deployable result")


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


def run_entity(cfg: Config, data: ProcessedEntity, index: int, device: torch.device,
               checkpoint: Optional[dict] = None,
               on_epoch_end: Optional[Callable[[TrainState], None]] = None,
               resume_from: Optional[dict] = None) -> EntityResult:
    """Train (or, given a loaded `checkpoint`, restore) one detector on one entity, score its test
    series and evaluate: `estimators.BaseDetector.fit_series` / `from_checkpoint`, then `score_series`,
    the path a Python user's `fit` / `decision_function` takes. Reads nothing from and writes nothing to
    the output folder.

    `resume_from`: a saved training state (`train_state.snapshot`) to continue instead of starting afresh."""
    log = get_logger()
    timings: dict[str, float] = {}
    if checkpoint is None:
        estimator = estimator_for(cfg, data.name)
        estimator.scaler_ = _scaler(data.meta)
        tic = time.perf_counter()
        summary = estimator.fit_series(cfg, data.train, seed=entity_seed(cfg, data.name), index=index, device=device,
                                       on_epoch_end=on_epoch_end, resume=resume_from)
        timings["fit_s"] = summary.seconds
        timings["validation_s"] = time.perf_counter() - tic - summary.seconds
        history, mode = summary.history, "train"
        checkpoint = estimator.checkpoint(dataset=cfg.data_name, input_columns=_input_columns(data.meta))
    else:
        estimator = BaseDetector.from_checkpoint(checkpoint, cfg=cfg, device=device)
        history, mode = [], "test"
    tic = time.perf_counter()
    points = estimator.score_series(data.test, cfg.score_norm)
    val_scores = estimator.decision_scores_
    if cfg.score_norm == "test":  # validation scores in the same (test-fitted) units, for label-free thresholds
        val_scores = points.stats.combine(points.stats.contributions(estimator.val_raw_))
    timings["score_s"] = time.perf_counter() - tic
    check_scores(points.scores, data.labels, scores_name=f"test scores of {data.name}",
                 labels_name=f"labels of {data.name}")  # NaN scores never reach the metrics
    tic = time.perf_counter()
    metrics = evaluate_entity(points.scores, data.labels, val_scores, cfg=cfg)
    timings["evaluate_s"] = time.perf_counter() - tic
    log.info("%s: %s", data.name, metric_line(metrics, cfg.threshold_method))
    return EntityResult(entity=data.name, index=index, mode=mode, seed=estimator.seed_, points=points,
                        labels=data.labels, val_scores=val_scores, metrics=metrics, checkpoint=checkpoint,
                        timings=timings, history=history, score_norm=cfg.score_norm)


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
    changed = changed_settings(checkpoint["config"], cfg, CHECKPOINT_KEYS)
    if changed:
        key = changed[0]
        raise CheckpointError(f"{path}: trained with {key}={stored_setting(checkpoint['config'], key)!r}, the config "
                              f"now says {cfg.to_dict()[key]!r}; use the same config (or --model) or retrain without --test")
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
    stored = read_checkpoint(layout.checkpoint(name), cfg)["config"]
    changed = [key for key in changed_settings(stored, cfg) if key not in RESUME_FREE_KEYS]
    if changed:
        key = changed[0]
        raise CheckpointError(f"{layout.checkpoint(name)}: --resume found a run with other settings ({key}="
                              f"{stored_setting(stored, key)!r}, now {cfg.to_dict()[key]!r}); use another --out_dir")
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


def label_free_name(metrics: dict, threshold_method: str) -> Optional[str]:
    """The label-free method to draw: `threshold_method`'s, else any that produced thresholds."""
    return pick(metrics.get("label_free", {}), threshold_method)


def metric_line(metrics: dict, threshold_method: str) -> str:
    """The paper-protocol F1s next to the label-free ones and AUC-PR, for the terminal and the log."""
    paper = metrics["paper_protocol"]
    method = label_free_name(metrics, threshold_method)
    free = metrics["label_free"][method] if method else {}

    def fmt(value) -> str:
        return "n/a" if value is None else f"{value:.4f}"

    return (f"F1 {fmt(paper['f1'])} / F1-PA {fmt(paper['f1_pa'])} at the best threshold on test labels "
            f"(paper protocol); label-free {method} threshold F1 {fmt(free.get('f1'))} / "
            f"F1-PA {fmt(free.get('f1_pa'))}; AUC-PR {fmt(metrics['continuous']['auc_pr'])}")
