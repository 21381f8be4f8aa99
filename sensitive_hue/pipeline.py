"""Run a dataset: select entities, make sure processed data exists, run each entity's job
(`entity.run_entity`: serially here, or as Ray jobs through `parallel`), write each entity's outputs
as soon as it finishes, then build the dataset-level aggregate (`results.json`, overall metrics,
plots) from them. The file layout is `entity.Layout`'s. A run holds `<out_dir>/<dataset>/.lock`
(`io.run_lock`) from its first check to its end, so a second run into the same folder is refused
instead of interleaving run.log and overwriting the first one's files.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from . import io, plots, train_state
from .config import Config, stored_setting
from .data.preprocess import preprocess_dataset, processed_exists, raw_exists
from .data.store import ProcessedEntity, list_entities, load_entity, select_entities
from .entity import (PROTOCOL_NOTE, RESUME_FREE_KEYS, SCORING_KEYS, TRAINING_KEYS, EntityResult, Layout,
                     check_checkpoint_data, finished_entity, label_free_name, metric_line, read_checkpoint, run_entity, write_entity)
from .estimators import entity_seed, resolve_device, versions
from .errors import CheckpointError, DataError, TrainingError
from .gitinfo import git_commit
from .logs import get_logger, setup_logging
from .metrics import evaluate_overall, label_warning, point_adjust
from .parallel import requested, run_jobs  # Ray itself is imported only when requested
from .progress import bar as progress_bar
from .preflight import check_entities, check_output_dir, entity_meta
from .training import TrainState, epochs_csv

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


def _as_list(entry: dict, key: str, n: int) -> list:
    """Per-entity thresholds: metrics hold `threshold[_pa]` for one entity, `thresholds[_pa]` for several."""
    return [entry[key]] if n == 1 else list(entry[key.replace("threshold", "thresholds", 1)])


def plot_outputs(folder: Path, title: str, parts: Sequence[_Part], metrics: dict, threshold_method: str) -> None:
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
    method = label_free_name(metrics, threshold_method)
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
                              feature_names=names, boundaries=boundaries,
                              flagged=predictions(free, False) if method else None,
                              flagged_label=f"flagged at the label-free threshold ({method})")

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
                           f"{title}: predictions vs labels; missed anomalies shaded red, false alarms orange",
                           boundaries=boundaries)


def aggregate(cfg: Config, layout: Layout, processed_dir: str | Path, entities: Sequence[str], *, mode: str,
              draw: bool = True, command: Optional[list[str]] = None, timings: Optional[dict] = None,
              started: Optional[float] = None, failed: Optional[dict[str, str]] = None) -> dict:
    """Overall metrics, results.json and the dataset-level plots, from the entities' saved outputs.

    `timings` gains aggregate_s and (given `started`, a perf_counter value) total_s; `failed` (entity ->
    reason) is listed as failed_entities."""
    tic = time.perf_counter()
    parts = [_read_part(layout, processed_dir, cfg.data_name, name) for name in entities]
    overall = evaluate_overall([(p.scores, p.data.labels, p.val_scores) for p in parts], cfg=cfg,
                               per_entity=[p.summary["metrics"] for p in parts])
    method = cfg.threshold_method
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
    results["warnings"] = label_warnings(results)
    results["timings"]["aggregate_s"] = time.perf_counter() - tic
    if started is not None:
        results["timings"]["total_s"] = time.perf_counter() - started
    io.write_json(_results_path(layout, mode, entities), results)
    return results


SUBSET_RESULTS = "results-test-subset.json"


def _results_path(layout: Layout, mode: str, entities: Sequence[str]) -> Path:
    """results.json, except for a --test run of fewer entities than the results.json already there holds:
    that one is kept, and the subset's results go beside it (`SUBSET_RESULTS`), with a warning."""
    import json

    if mode != "test" or not layout.results.is_file():
        return layout.results
    try:
        previous = set(json.loads(io.read_bytes(layout.results)).get("entities") or {})
    except (ValueError, UnicodeDecodeError, AttributeError):
        return layout.results  # not ours to keep
    left_out = sorted(previous - set(entities))
    if not left_out:
        return layout.results
    target = layout.root / SUBSET_RESULTS
    get_logger().warning("%s holds %d entities this --test run left out (%s%s); it is kept, and this run's results "
                         "go to %s", layout.results, len(left_out), ", ".join(left_out[:5]),
                         ", ..." if len(left_out) > 5 else "", target)
    return target


def label_warnings(results: dict) -> list[str]:
    """One line per kind of labels that make metrics meaningless (no anomaly, or every point anomalous), naming
    the entities (`metrics.label_warning`, from the results' `message` fields); the pooled result's too when
    there are several entities."""
    groups: dict[str, list[str]] = {}
    for name, summary in results["entities"].items():
        text = label_warning(summary["metrics"])
        if text:
            groups.setdefault(text, []).append(name)
    lines = []
    for text, names in groups.items():
        who = (f"entity {names[0]}" if len(names) == 1 else
               f"{len(names)} entities ({', '.join(names[:10])}{', ...' if len(names) > 10 else ''})")
        lines.append(f"{results['dataset']} {who}: {text}")
    pooled = label_warning(results["overall"])
    if pooled and len(results["entities"]) > 1:
        lines.append(f"{results['dataset']} (all entities pooled): {pooled}")
    return lines


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
    the failed ones. Ctrl-C stops with a message giving the command that resumes the run.
    The run holds `<out_dir>/<dataset>/.lock` throughout: a second run into the same folder is an OutputError
    naming the lock file and the owner's pid; the lock of a run that was killed is taken over with a warning."""
    tic = time.perf_counter()
    setup_logging(None)
    layout = Layout(Path(out_dir), cfg.data_name)
    check_output_dir(out_dir, below=cfg.data_name)
    with io.run_lock(layout.root):  # released on return, error and Ctrl-C
        return _run_locked(cfg, layout, tic, raw_dir=raw_dir, processed_dir=processed_dir, entities=entities,
                           test_only=test_only, plots=plots, command=command, resume=resume)


def _run_locked(cfg: Config, layout: Layout, tic: float, *, raw_dir: str | Path, processed_dir: str | Path,
                entities: Optional[list[str]], test_only: bool, plots: bool, command: Optional[list[str]],
                resume: bool) -> dict:
    """`run_dataset` once the output folder's lock is held."""
    device = resolve_device(cfg.device)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
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
    if test_only:
        cfg = _as_trained(cfg, layout, selected)
    log.info("%s %s: %d entit%s (%s), detector %s, device %s, seed %d -> %s", mode, cfg.data_name, len(selected),
             "y" if len(selected) == 1 else "ies", ", ".join(selected[:10]) + (" ..." if len(selected) > 10 else ""),
             cfg.model, device, cfg.seed, layout.root)
    on_ray = requested(cfg)  # one Ray job per entity instead of the serial loop below
    bar = progress_bar([] if on_ray else selected, desc=f"{cfg.data_name} entities", unit="entity", min_steps=2)
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
        for line in results["warnings"]:
            log.warning("%s", line)
        log.info("outputs: %s (results.json, scores/, run.log%s)", layout.root, ", plots" if plots else "")
    if failed:
        others = f"the others' results are in {layout.results}" if succeeded else "no entity finished"
        reasons = "; ".join(f"{name}: {message}" for name, message in failed.items())
        raise TrainingError(f"{len(failed)} of {len(selected)} entities failed: {reasons} ({others}; details in "
                            f"{layout.log})")
    return results


def _as_trained(cfg: Config, layout: Layout, selected: list[str]) -> Config:
    """`--test`: `cfg` with the training settings (seed, epochs, ...) of the saved models, so that results.json
    says how the evaluated models were trained; CheckpointError when the entities' models disagree on them."""
    trained: dict[str, tuple] = {}
    for name in selected:
        stored = read_checkpoint(layout.checkpoint(name), cfg)["config"]
        trained[name] = tuple(stored_setting(stored, key) for key in TRAINING_KEYS)
    first = selected[0]
    for name, values in trained.items():
        if values != trained[first]:
            key = next(k for k, a, b in zip(TRAINING_KEYS, trained[first], values) if a != b)
            raise CheckpointError(f"{layout.root}: the models of {first} and {name} were trained with other "
                                  f"settings ({key}={dict(zip(TRAINING_KEYS, trained[first]))[key]!r} and "
                                  f"{dict(zip(TRAINING_KEYS, values))[key]!r}); evaluate them in separate runs")
    return cfg.replace(**dict(zip(TRAINING_KEYS, trained[first])), _section="the checkpoints")


def _resume_plan(cfg: Config, layout: Layout, selected: list[str], resume: bool) -> list[str]:
    """With `resume`: the entities already finished (kept), after checking that every saved state of this
    folder was trained with the same settings (before anything is written)."""
    if not resume:
        return []
    done = [name for name in selected if finished_entity(layout, name, cfg)]
    for name in selected:
        path = layout.train_state(name)
        if name not in done and path.is_file():
            train_state.check_config(train_state.read(path, name), path, cfg, RESUME_FREE_KEYS + SCORING_KEYS)
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
    seed, f_in, sha = entity_seed(cfg, name), int(data.train.shape[1]), train_state.data_fingerprint(data.train)
    path, saved = layout.train_state(name), None
    if path.is_file() and not resume:
        log.info("%s: %s holds an interrupted run; training from scratch (add --resume to continue it)", name, path)
    elif path.is_file():
        saved = train_state.read(path, name)
        train_state.check_config(saved, path, cfg, RESUME_FREE_KEYS + SCORING_KEYS)
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


def _interpreter() -> str:
    """The Python that runs this process, as the user would type it (relative when under the working
    directory, e.g. .venv/bin/python; `python` when it is the one on PATH)."""
    import os
    import shutil
    import sys

    exe = sys.executable or "python"
    on_path = shutil.which("python")
    if on_path and os.path.realpath(on_path) == os.path.realpath(exe):
        return "python"
    relative = os.path.relpath(exe)
    return relative if not relative.startswith("..") else exe


def _resume_hint(layout: Layout, progress: dict, command: Optional[list[str]], test_only: bool) -> str:
    """What Ctrl-C left on disk and the exact command that continues the run."""
    name, epoch = progress["entity"], progress["epoch"]
    if command is None:
        again = "the same command" + ("" if test_only else " with --resume")
    else:
        again = shlex.join([_interpreter(), *command, *([] if test_only or "--resume" in command else ["--resume"])])
    if test_only:
        return f"stopped by Ctrl-C; finished entities are kept in {layout.root}; run it again with: {again}"
    where = ""
    if name is not None:
        where = (f"{name} stopped after {epoch} complete epoch(s), saved in {layout.train_state(name)}; " if epoch
                 else f"{name} had not finished an epoch; ")
    return f"stopped by Ctrl-C: {where}finished entities are kept in {layout.root}; resume with: {again}"


def headline(results: dict) -> str:
    """One line summarising a dataset run."""
    n = len(results["entities"])
    return (f"{results['dataset']} ({results['detector']}, {n} entit{'y' if n == 1 else 'ies'}): "
            f"{metric_line(results['overall'], results['config']['threshold_method'])}; "
            f"{results['timings']['total_s']:.1f}s")
