"""Run a dataset: select entities, make sure processed data exists, then per entity train (or load
with `--test`), score every test point, evaluate, and write the outputs atomically.

`run_entity` is the unit of work (one entity, one detector, one seed): it takes arrays and returns
an `EntityResult` without touching the output folder, so a parallel worker can run it and the
driver writes the files with `write_entity`. Per-entity results are written as soon as an entity
finishes; the dataset-level aggregate (`results.json`, overall metrics, plots) is built from them.

Layout under `<out_dir>/<dataset>/`:
  results.json  run.log  reconstruction.png  fn_visualize.png  scores/<entity>.npy
  <entity>/{model.pt, result.json, epochs.csv, val_scores.npy, reconstruction.npy[, reconstruction.png, fn_visualize.png]}
"""

from __future__ import annotations

import platform
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from . import __version__, io, plots, train_state
from .config import Config
from .data.preprocess import preprocess_dataset, processed_exists, raw_exists
from .data.store import ProcessedEntity, list_entities, load_entity, select_entities
from .data.windows import split_train_val, window_starts
from .detectors import build_detector
from .errors import CheckpointError, ConfigError, DataError, TrainingError
from .gitinfo import git_commit
from .logs import get_logger, setup_logging
from .metrics import check_scores, evaluate_entity, evaluate_overall, point_adjust, pot_fit, quantile_threshold
from .scoring import PointScores, ScoreStats, ignored_dims, score_series, summarise
from .preflight import check_entities, check_output_dir, entity_meta
from .seeding import derive_seed, set_seed
from .training import TrainState, epochs_csv

CHECKPOINT_FORMAT = 1
# Config keys that may differ between an interrupted run and its `--resume` (they do not change results).
RESUME_FREE_KEYS = ("device", "num_threads", "mamba_backend", "workers", "ray_address", "cpus_per_job",
                    "gpus_per_job", "entities", "score_batch_size", "checkpoint_layers")
# Config keys a checkpoint must agree on to be used: they fix the network's shape and what a score means.
CHECKPOINT_KEYS = ("data_name", "model", "encode_layer_num", "dim_model", "dim_hidden_fc", "head_num", "d_state",
                   "d_conv", "expand", "uncertainty", "step_num_in", "select_pos", "pca_variance")
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

    def summary(self) -> dict:
        ignore = list(self.checkpoint["score_stats"]["ignore_dims"])
        ranking = plots.feature_ranking(self.points.contributions, ignore)
        return {"entity": self.entity, "index": self.index, "mode": self.mode, "detector": self.checkpoint["detector"],
                "seed": self.seed, "n_test": int(len(self.labels)), "n_anomalies": int(self.labels.sum()),
                "metrics": self.metrics, "thresholds": self.checkpoint["thresholds"],
                "validation_scores": self.checkpoint["val_summary"], "test_scores": summarise(self.points.scores),
                "training": self.checkpoint["training"], "timings": self.timings, "score_ignore_dims": ignore,
                "feature_ranking": ranking, "versions": self.checkpoint["versions"]}


def _scaler(meta: dict) -> dict:
    """The processed data's normalisation and columns (stored in the checkpoint, checked on --test)."""
    return {key: meta.get(key) for key in ("scaler", "columns", "kept_dims")}


def _input_columns(meta: dict) -> dict:
    """The raw CSV's non-feature columns (timestamp, label), so --detect recognises them in new files."""
    info = meta.get("source_info") or {}
    return {"timestamp_column": info.get("timestamp_column"), "label_column": info.get("label_column")}


def label_free_thresholds(cfg: Config, val_scores: np.ndarray) -> dict:
    """POT and validation-quantile thresholds from validation scores, and the one `threshold_method`
    picks (`threshold`); POT falls back to the quantile when the scores cannot support a tail fit."""
    try:
        pot = pot_fit(val_scores, cfg.pot_risk, cfg.pot_level).to_dict()
    except DataError as exc:
        pot = {"threshold": None, "message": str(exc)}
    quantile = {"threshold": quantile_threshold(val_scores, cfg.val_quantile), "q": cfg.val_quantile}
    method = "pot" if cfg.threshold_method == "pot" and pot["threshold"] is not None else "val_quantile"
    chosen = pot if method == "pot" else quantile
    return {"pot": pot, "val_quantile": quantile, "method": method, "threshold": chosen["threshold"]}


def _entity_seed(cfg: Config, entity: str) -> int:
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
    seed = int(checkpoint["seed"]) if checkpoint is not None else _entity_seed(cfg, data.name)
    set_seed(seed)
    f_in = int(data.train.shape[1])
    detector = build_detector(cfg, f_in, device, seed)
    timings: dict[str, float] = {}
    history: list[dict] = []
    if checkpoint is None:
        starts = window_starts(len(data.train), cfg.step_num_in, cfg.stride)
        train_starts, val_starts = split_train_val(starts, cfg.val_ratio, derive_seed(seed, "split"))
        if len(val_starts) == 0 or len(train_starts) == 0:
            raise DataError(f"entity {data.name}: {len(starts)} training windows are too few to hold out "
                            f"val_ratio={cfg.val_ratio} for validation; lower step_num_in or stride")
        summary = detector.fit(data.train, train_starts, val_starts, desc=data.name, on_epoch_end=on_epoch_end,
                               resume=resume_from)
        history = summary.history
        timings["fit_s"] = summary.seconds
        tic = time.perf_counter()
        val_raw = detector.window_scores(data.train, val_starts)
        stats = ScoreStats.fit(val_raw, ignored_dims(cfg, index, f_in))
        val_scores = stats.combine(stats.contributions(val_raw))
        timings["validation_s"] = time.perf_counter() - tic
        checkpoint = {
            "format": CHECKPOINT_FORMAT, "detector": cfg.model, "dataset": cfg.data_name, "entity": data.name,
            "entity_index": index, "seed": seed, "state_dict": detector.state_dict(), "config": cfg.to_dict(),
            "f_in": f_in, "scaler": _scaler(data.meta), "score_stats": stats.to_state(),
            "val_scores": torch.from_numpy(val_scores.copy()), "val_summary": summarise(val_scores),
            "thresholds": label_free_thresholds(cfg, val_scores), "training": summary.to_dict(),
            "versions": versions(), "input": _input_columns(data.meta),
        }
        mode = "train"
    else:
        detector.load_state_dict(checkpoint["state_dict"])
        stats = ScoreStats.from_state(checkpoint["score_stats"], f_in)
        val_scores = checkpoint["val_scores"].numpy()
        mode = "test"
    tic = time.perf_counter()
    points = score_series(detector, stats, data.test)
    timings["score_s"] = time.perf_counter() - tic
    check_scores(points.scores, data.labels, scores_name=f"test scores of {data.name}",
                 labels_name=f"labels of {data.name}")  # NaN scores never reach the metrics
    tic = time.perf_counter()
    metrics = evaluate_entity(points.scores, data.labels, val_scores, cfg=cfg)
    timings["evaluate_s"] = time.perf_counter() - tic
    log.info("%s: %s", data.name, metric_line(metrics, cfg.threshold_method))
    return EntityResult(entity=data.name, index=index, mode=mode, seed=seed, points=points, labels=data.labels,
                        val_scores=val_scores, metrics=metrics, checkpoint=checkpoint, timings=timings, history=history)


def read_checkpoint(path: Path, cfg: Config) -> dict:
    """Load a checkpoint with `weights_only=True` and check it was trained with a compatible config."""
    if not path.is_file():
        raise CheckpointError(f"no trained model at {path}; train first (run without --test) or pass the "
                              "--out_dir it was trained into")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for truncated / foreign files
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise CheckpointError(f"{path}: not a readable checkpoint ({first}); it is truncated or corrupt, "
                              "retrain without --test") from None
    required = ("format", "detector", "seed", "state_dict", "config", "f_in", "scaler", "score_stats", "val_scores",
                "thresholds", "training", "versions")
    if not isinstance(checkpoint, dict) or any(key not in checkpoint for key in required):
        raise CheckpointError(f"{path}: not a checkpoint of this tool (missing keys); retrain without --test")
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


# --- dataset level -----------------------------------------------------------------------------------


@dataclass
class _Part:
    """One entity's saved outputs, read back for the dataset-level aggregate."""

    name: str
    summary: dict
    data: ProcessedEntity
    scores: np.ndarray
    val_scores: np.ndarray
    reconstruction: Optional[np.ndarray]


def _read_part(layout: Layout, processed_dir: str | Path, dataset: str, name: str) -> _Part:
    import json

    recon_path = layout.reconstruction(name)
    return _Part(name=name, summary=json.loads(io.read_bytes(layout.result(name))),
                 data=load_entity(processed_dir, dataset, name), scores=io.load_npy(layout.scores(name)),
                 val_scores=io.load_npy(layout.val_scores(name)),
                 reconstruction=io.load_npy(recon_path) if recon_path.is_file() else None)


def _label_free_name(metrics: dict, preferred: str) -> Optional[str]:
    """The label-free method to draw: the configured one, else any that produced thresholds."""
    found = metrics.get("label_free", {})
    for name in (preferred, "pot", "val_quantile"):
        entry = found.get(name, {})
        if entry.get("threshold", entry.get("thresholds")) is not None:
            return name
    return None


def _as_list(entry: dict, key: str, n: int) -> list:
    """Per-entity thresholds: metrics hold `threshold[_pa]` for one entity, `thresholds[_pa]` for several."""
    return [entry[key]] if n == 1 else list(entry[key.replace("threshold", "thresholds", 1)])


def plot_outputs(folder: Path, title: str, parts: Sequence[_Part], metrics: dict, preferred_method: str) -> None:
    """reconstruction.png and fn_visualize.png for one entity or several concatenated (entity boundaries drawn)."""
    n = len(parts)
    lengths = [len(p.scores) for p in parts]
    series = np.concatenate([p.data.test for p in parts])
    labels = np.concatenate([p.data.labels for p in parts])
    scores = np.concatenate([p.scores for p in parts])
    recon = (np.concatenate([p.reconstruction for p in parts])
             if all(p.reconstruction is not None for p in parts) else None)
    boundaries = list(zip(np.cumsum([0] + lengths[:-1]).tolist(), [p.name for p in parts])) if n > 1 else []
    paper = metrics["paper_protocol"]
    oracle, oracle_pa = _as_list(paper, "threshold", n), _as_list(paper, "threshold_pa", n)
    method = _label_free_name(metrics, preferred_method)
    free = _as_list(metrics["label_free"][method], "threshold", n) if method else [None] * n

    def per_point(values: list) -> float | np.ndarray:
        values = [np.nan if v is None else v for v in values]
        return values[0] if n == 1 else np.repeat(np.asarray(values, dtype=np.float64), lengths)

    def predictions(values: list, adjust: bool) -> np.ndarray:
        out = []
        for part, value in zip(parts, values):
            pred = part.scores >= value if value is not None else np.zeros(len(part.scores), bool)
            out.append(point_adjust(pred, part.data.labels) if adjust else pred)
        return np.concatenate(out)

    ranks = np.zeros(series.shape[1])
    for part in parts:  # mean position of each feature in the entities' rankings
        ranks[np.asarray(part.summary["feature_ranking"])] += np.arange(series.shape[1])
    features = plots.top_features(np.argsort(ranks, kind="stable"), series.shape[1])
    which = ("all features" if len(features) == series.shape[1]
             else f"features {features}, top {len(features)} of {series.shape[1]} by score contribution")
    names = parts[0].data.meta.get("columns")
    lines = [plots.Threshold(per_point(oracle), "best-F1 threshold (paper protocol: tuned on test labels)", "tab:red")]
    if method:
        lines.append(plots.Threshold(per_point(free), f"label-free threshold ({method} on validation scores)",
                                     "tab:green", ":"))
    plots.plot_reconstruction(folder / "reconstruction.png", series, recon, scores, labels, features, lines,
                              f"{title}: input vs reconstruction ({which}); anomaly score below",
                              feature_names=names, boundaries=boundaries)

    def f1(entry: dict, key: str) -> str:
        return "n/a" if entry.get(key) is None else f"{entry[key]:.3f}"

    panels = [
        plots.PredictionPanel(predictions(oracle, False), "paper protocol, no PA: best-F1 threshold tuned on test "
                                                          f"labels; F1 {f1(paper, 'f1')}"),
        plots.PredictionPanel(predictions(oracle_pa, True), "paper protocol, after point adjustment: best-F1-PA "
                                                            f"threshold tuned on test labels; F1-PA {f1(paper, 'f1_pa')}"),
    ]
    if method:
        entry = metrics["label_free"][method]
        panels.append(plots.PredictionPanel(predictions(free, False), f"label-free threshold ({method} on "
                                            f"validation scores), no PA; F1 {f1(entry, 'f1')}, F1-PA {f1(entry, 'f1_pa')}"))
    plots.plot_predictions(folder / "fn_visualize.png", labels, panels,
                           f"{title}: predictions vs labels, false negatives shaded", boundaries=boundaries)


def aggregate(cfg: Config, layout: Layout, processed_dir: str | Path, entities: Sequence[str], *, mode: str,
              draw: bool = True, command: Optional[list[str]] = None, timings: Optional[dict] = None,
              started: Optional[float] = None, failed: Optional[dict[str, str]] = None) -> dict:
    """Overall metrics, results.json and the dataset-level plots, from the entities' saved outputs.

    `timings` gains aggregate_s and (given `started`, a perf_counter value) total_s; `failed` (entity ->
    reason) is listed as failed_entities."""
    tic = time.perf_counter()
    parts = [_read_part(layout, processed_dir, cfg.data_name, name) for name in entities]
    overall = evaluate_overall([(p.scores, p.data.labels, p.val_scores) for p in parts], cfg=cfg)
    method = "pot" if cfg.threshold_method == "pot" else "val_quantile"
    if draw:
        for part in parts if len(parts) > 1 else ():
            plot_outputs(layout.entity_dir(part.name), f"{cfg.data_name} {part.name}", [part],
                         part.summary["metrics"], method)
        single = len(parts) == 1 and parts[0].name != cfg.data_name
        plot_outputs(layout.root, f"{cfg.data_name} {parts[0].name}" if single else cfg.data_name, parts, overall, method)
    results = {
        "dataset": cfg.data_name, "detector": cfg.model, "mode": mode, "seed": cfg.seed, "command": command,
        "commit": git_commit(),
        "config": cfg.to_dict(), "versions": versions(), "protocol_note": PROTOCOL_NOTE,
        "entities": {p.name: p.summary for p in parts},
        "epochs_run": {p.name: p.summary["training"]["epochs_run"] for p in parts},
        "overall": overall, "timings": dict(timings or {}), "failed_entities": dict(failed or {}),
    }
    results["timings"]["aggregate_s"] = time.perf_counter() - tic
    if started is not None:
        results["timings"]["total_s"] = time.perf_counter() - started
    io.write_json(layout.results, results)
    return results


def missing_processed(cfg: Config, processed_dir: str | Path, entities: Optional[list[str]]) -> Optional[list[str] | str]:
    """None when every selected entity is preprocessed; else the entity names to preprocess, or
    "all" when the dataset has no processed data at all."""
    from .data.store import processed_entities

    if not processed_exists(processed_dir, cfg.data_name):
        return "all"
    have = set(processed_entities(processed_dir, cfg.data_name))
    missing = [n for n in select_entities(cfg, list_entities(processed_dir, cfg.data_name), entities) if n not in have]
    return missing or None


def _check_raw(cfg: Config, raw_dir: str | Path, processed_dir: str | Path, missing: list[str] | str) -> None:
    """DataError saying what to download (or run) when preprocessing is needed but impossible."""
    from .data.sources import download_hint

    if raw_exists(raw_dir, cfg.data_name):
        return
    dataset = cfg.data_name
    what = f"{dataset} is" if missing == "all" else f"entities {', '.join(missing)} of {dataset} are"
    hint = (download_hint(dataset, raw_dir) if dataset != "csv"
            else "run python preprocess.py --data_name csv --train_csv FILE --test_csv FILE")
    raise DataError(f"{what} not preprocessed under {processed_dir} and no raw data was found under {raw_dir}; "
                    f"{hint} (then rerun this command, which preprocesses it, or run python preprocess.py)")


def _selection(cfg: Config, processed_dir: str | Path, entities: Optional[list[str]], layout: Layout,
               test_only: bool) -> tuple[list[str], list[str]]:
    """(documented order, selected entities); with `test_only`, every selected entity needs a checkpoint."""
    order = list_entities(processed_dir, cfg.data_name)
    selected = select_entities(cfg, order, entities)
    absent = [name for name in selected if test_only and not layout.checkpoint(name).is_file()]
    if absent:
        raise CheckpointError(f"no trained model for {cfg.data_name} entity {absent[0]} at "
                              f"{layout.checkpoint(absent[0])}; train first (run without --test) or pass the "
                              "--out_dir it was trained into")
    check_entities(cfg, processed_dir, selected, training=not test_only)  # fail before writing anything
    for name in selected if test_only else ():
        path = layout.checkpoint(name)
        check_checkpoint_data(read_checkpoint(path, cfg), path, name, entity_meta(processed_dir, cfg.data_name, name))
    return order, selected


def run_dataset(cfg: Config, *, raw_dir: str | Path, processed_dir: str | Path, out_dir: str | Path,
                entities: Optional[list[str]] = None, test_only: bool = False, plots: bool = True,
                command: Optional[list[str]] = None, resume: bool = False) -> dict:
    """Train (or `test_only`: load) and evaluate every selected entity, writing each entity's outputs as
    soon as it finishes, then the dataset-level results.json and plots; returns the results dict.

    `resume`: entities already finished in `out_dir` with the same config are kept, not retrained, and an
    interrupted entity continues from its last complete epoch (train_state.pt).
    Bad input (no data, unknown entity, missing checkpoint) is detected before anything is written. An
    entity whose training or scores turn non-finite fails alone: the others run, then TrainingError lists
    the failed ones. Ctrl-C stops with a message giving the command that resumes the run."""
    tic = time.perf_counter()
    setup_logging(None)
    device = resolve_device(cfg.device)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    layout = Layout(Path(out_dir), cfg.data_name)
    check_output_dir(out_dir)
    missing = missing_processed(cfg, processed_dir, entities)
    if missing:
        _check_raw(cfg, raw_dir, processed_dir, missing)
        check_output_dir(processed_dir, "--processed_dir")
    else:
        order, selected = _selection(cfg, processed_dir, entities, layout, test_only)
        done = _resume_plan(cfg, layout, selected, resume and not test_only)
    log = setup_logging(layout.log)
    preprocess_s = 0.0
    if missing:
        what = f"{cfg.data_name} is" if missing == "all" else f"entities {', '.join(missing)} are"
        log.info("%s not preprocessed under %s: preprocessing the raw data from %s first (as preprocess.py does)",
                 what, processed_dir, raw_dir)
        preprocess_dataset(cfg, raw_dir, processed_dir, entities=entities if missing == "all" else missing)
        preprocess_s = time.perf_counter() - tic
        order, selected = _selection(cfg, processed_dir, entities, layout, test_only)
        done = _resume_plan(cfg, layout, selected, resume and not test_only)
    mode = "test" if test_only else "train"
    log.info("%s %s: %d entit%s (%s), detector %s, device %s, seed %d -> %s", mode, cfg.data_name, len(selected),
             "y" if len(selected) == 1 else "ies", ", ".join(selected[:10]) + (" ..." if len(selected) > 10 else ""),
             cfg.model, device, cfg.seed, layout.root)
    from .parallel import requested, run_jobs  # Ray itself is imported only when requested

    on_ray = requested(cfg)  # one Ray job per entity instead of the serial loop below
    bar = tqdm([] if on_ray else selected, desc=f"{cfg.data_name} entities", unit="entity",
               disable=on_ray or len(selected) < 2, dynamic_ncols=True)
    failed: dict[str, str] = {}
    progress = {"entity": None, "epoch": 0}  # what Ctrl-C interrupts
    try:
        if on_ray:
            failed.update(run_jobs(cfg, processed_dir, layout, order, selected, done, test_only))
        for name in bar:
            if name in done:
                log.info("%s: already finished in %s (--resume), kept", name, layout.root)
                continue
            progress.update(entity=name, epoch=0)
            try:
                result = _entity_job(cfg, layout, processed_dir, name, order.index(name) + 1, device, test_only,
                                     resume, progress)
            except (TrainingError, DataError) as exc:  # this entity only: the run goes on with the next
                failed[name] = str(exc)
                kept = (f"; its last good epoch ({progress['epoch']}) is kept in {layout.train_state(name)}"
                        if progress["epoch"] else "")
                log.error("%s failed: %s%s", name, exc, kept)
                continue
            write_entity(result, layout)
            layout.train_state(name).unlink(missing_ok=True)  # finished: result.json marks it done
    except KeyboardInterrupt:
        bar.close()
        log.warning("interrupted by the user during %s", progress["entity"] or "the run")
        raise KeyboardInterrupt(_resume_hint(layout, progress, command, test_only)) from None
    timings = {"preprocess_s": preprocess_s, "entities_s": time.perf_counter() - tic - preprocess_s}
    succeeded = [name for name in selected if name not in failed]
    results = {}
    if succeeded:
        results = aggregate(cfg, layout, processed_dir, succeeded, mode=mode, draw=plots, command=command,
                            timings=timings, started=tic, failed=failed)
        log.info("%s", headline(results))
        log.info("outputs: %s (results.json, scores/, run.log%s)", layout.root, ", plots" if plots else "")
    if failed:
        others = f"the others' results are in {layout.results}" if succeeded else "no entity finished"
        reasons = "; ".join(f"{name}: {message}" for name, message in failed.items())
        raise TrainingError(f"{len(failed)} of {len(selected)} entities failed: {reasons} ({others}; details in "
                            f"{layout.log})")
    return results


def _resume_plan(cfg: Config, layout: Layout, selected: list[str], resume: bool) -> list[str]:
    """With `resume`: the entities already finished (kept), after checking that every saved state of this
    folder was trained with the same settings (before anything is written)."""
    if not resume:
        return []
    done = [name for name in selected if finished_entity(layout, name, cfg)]
    for name in selected:
        path = layout.train_state(name)
        if name not in done and path.is_file():
            train_state.check_config(train_state.read(path, name), path, cfg, RESUME_FREE_KEYS)
    return done


def _entity_job(cfg: Config, layout: Layout, processed_dir: str | Path, name: str, index: int, device: torch.device,
                test_only: bool, resume: bool, progress: dict) -> EntityResult:
    """Load one entity and run it: `test_only` restores its model; else it trains, saving the training
    state after every epoch (and, with `resume`, continuing a saved one)."""
    log = get_logger()
    data = load_entity(processed_dir, cfg.data_name, name)
    if test_only:
        checkpoint = read_checkpoint(layout.checkpoint(name), cfg)
        check_checkpoint_data(checkpoint, layout.checkpoint(name), name, data.meta)
        return run_entity(cfg, data, index, device, checkpoint)
    layout.result(name).unlink(missing_ok=True)  # the entity is incomplete until its result.json is back
    seed, f_in, sha = _entity_seed(cfg, name), int(data.train.shape[1]), train_state.data_fingerprint(data.train)
    path, saved = layout.train_state(name), None
    if path.is_file() and not resume:
        log.info("%s: %s holds an interrupted run; training from scratch (add --resume to continue it)", name, path)
    elif path.is_file():
        saved = train_state.read(path, name)
        train_state.check_config(saved, path, cfg, RESUME_FREE_KEYS)
        if train_state.matches(saved, entity=name, seed=seed, f_in=f_in, data_sha256=sha):
            log.info("%s: resuming after epoch %d from %s", name, saved["epoch"], path)
            progress["epoch"] = saved["epoch"]
        else:
            log.warning("%s: %s was saved for other training data; training from scratch", name, path)
            saved = None

    def on_epoch_end(state: TrainState) -> None:
        io.write_text(layout.epochs_csv(name), epochs_csv(state.history))
        io.save_torch(path, train_state.snapshot(state, cfg=cfg, entity=name, seed=seed, f_in=f_in, data_sha256=sha))
        progress["epoch"] = state.epoch

    return run_entity(cfg, data, index, device, None, on_epoch_end, resume_from=saved)


def _resume_hint(layout: Layout, progress: dict, command: Optional[list[str]], test_only: bool) -> str:
    """What Ctrl-C left on disk and the exact command that continues the run."""
    name, epoch = progress["entity"], progress["epoch"]
    if command is None:
        again = "the same command" + ("" if test_only else " with --resume")
    else:
        again = shlex.join(["python", *command, *([] if test_only or "--resume" in command else ["--resume"])])
    if test_only:
        return f"stopped by Ctrl-C; finished entities are kept in {layout.root}; run it again with: {again}"
    where = ""
    if name is not None:
        where = (f"{name} stopped after {epoch} complete epoch(s), saved in {layout.train_state(name)}; " if epoch
                 else f"{name} had not finished an epoch; ")
    return f"stopped by Ctrl-C: {where}finished entities are kept in {layout.root}; resume with: {again}"


def metric_line(metrics: dict, threshold_method: str) -> str:
    """The paper-protocol F1s next to the label-free ones and AUC-PR, for the terminal and the log."""
    paper = metrics["paper_protocol"]
    method = _label_free_name(metrics, "pot" if threshold_method == "pot" else "val_quantile")
    free = metrics["label_free"][method] if method else {}

    def fmt(value) -> str:
        return "n/a" if value is None else f"{value:.4f}"

    return (f"F1 {fmt(paper['f1'])} / F1-PA {fmt(paper['f1_pa'])} at the best threshold on test labels "
            f"(paper protocol); label-free {method} threshold F1 {fmt(free.get('f1'))} / "
            f"F1-PA {fmt(free.get('f1_pa'))}; AUC-PR {fmt(metrics['continuous']['auc_pr'])}")


def headline(results: dict) -> str:
    """One line summarising a dataset run."""
    n = len(results["entities"])
    return (f"{results['dataset']} ({results['detector']}, {n} entit{'y' if n == 1 else 'ies'}): "
            f"{metric_line(results['overall'], results['config']['threshold_method'])}; "
            f"{results['timings']['total_s']:.1f}s")
