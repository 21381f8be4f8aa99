"""Run a dataset's entity jobs on Ray: `--workers N` (a local instance) or `--ray_address` (a cluster).

One job = (dataset, entity, detector, seed). A worker runs `entity.run_entity`, the code a serial run
uses, on the entity's arrays taken from Ray's object store, and returns the `EntityResult`; the driver
writes each result as it arrives (`entity.write_entity`), so workers need no access to the output
folder. The seed comes from `derive_seed(seed, dataset, entity, detector)` inside `run_entity`, never
from the scheduling order, so a job run with k torch threads (`--cpus_per_job k`) gives the bytes a
serial run with `--num_threads k` gives (on CPU; other thread counts round differently).

Ray is optional (requirements-distributed.txt) and is imported only here, only when asked for. Usage
stats are always off; a local instance listens on 127.0.0.1 only and has no dashboard.
"""

from __future__ import annotations

import math
import os
import signal
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Optional, Sequence

import torch
from . import progress

from .config import Config
from .data.store import ProcessedEntity, load_entity
from .errors import ConfigError
from .logs import get_logger
from .entity import EntityResult, Layout, check_checkpoint_data, metric_line, read_checkpoint, run_entity, write_entity
from .estimators import resolve_device

INSTALL_HINT = "pip install -r requirements-distributed.txt"
MAX_RETRIES = 3  # reruns of a job whose worker process died (killed, out of memory, node lost)
FAULT_ENV = "SENSITIVE_HUE_TEST_FAULT"  # test hook: see `_fault_hook`
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def requested(cfg: Config) -> bool:
    """Whether the config asks for Ray (more than one worker, or a cluster address)."""
    return cfg.workers > 1 or cfg.ray_address is not None


def _is_loopback(address: str) -> bool:
    host = address.split("://")[-1].rsplit(":", 1)[0]
    return host in LOOPBACK


def import_ray(cfg: Config):
    """The `ray` module, with usage statistics off; a one-line ConfigError when it is not installed.

    For a local instance or a loopback address, Ray is told this is a single-node setup (read when Ray is
    first imported), else it swaps 127.0.0.1 for the machine's routable address."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    if cfg.ray_address is None or _is_loopback(cfg.ray_address):
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")  # jobs without a GPU share pick the CPU themselves
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--workers/--ray_address run jobs on Ray, which is not installed here; install it with: "
                          f"{INSTALL_HINT}") from None
    return ray


@dataclass(frozen=True)
class Job:
    """One unit of work; `index` is the entity's 1-based position in the dataset's documented order."""

    dataset: str
    entity: str
    detector: str
    seed: int
    index: int

    def __str__(self) -> str:
        return f"{self.dataset}/{self.entity} ({self.detector}, seed {self.seed})"


def threads_per_job(cfg: Config) -> int:
    """torch threads of one job: its whole-CPU share (at least one)."""
    return max(1, math.floor(cfg.cpus_per_job))


def job_device(cfg: Config) -> str:
    """The device a job asks for: a job without a GPU share runs on the CPU."""
    if cfg.gpus_per_job > 0:
        return cfg.device
    if cfg.device == "cuda":
        raise ConfigError("--device cuda with Ray jobs needs a GPU share per job: set --gpus_per_job "
                          "(e.g. 0.25 lets four jobs share one GPU)")
    return "cpu"


def _fault_hook(entity: str) -> None:
    """Test hook, FAULT_ENV="<action>:<entity>[:<marker>];...": `raise:E` makes every attempt at E's job
    raise; `kill:E:MARKER` SIGKILLs the worker on the first attempt (the one that creates MARKER)."""
    for item in filter(None, os.environ.get(FAULT_ENV, "").split(";")):
        action, target, marker = (item.split(":", 2) + ["", ""])[:3]
        if target != entity:
            continue
        if action == "raise":
            raise RuntimeError(f"fault injected into the job of {entity} ({FAULT_ENV})")
        if action == "kill":
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                continue
            os.kill(os.getpid(), signal.SIGKILL)


def _run_job(cfg: Config, job: Job, data: ProcessedEntity, checkpoint: Optional[dict], device: str) -> EntityResult:
    """Runs in a Ray worker: `run_entity` with torch's threads set to the job's CPU share."""
    _fault_hook(job.entity)
    torch.set_num_threads(threads_per_job(cfg))
    return run_entity(cfg, data, job.index, resolve_device(device), checkpoint)


@contextmanager
def _session(ray, cfg: Config) -> Iterator[None]:
    """Start a local instance (loopback only, no dashboard) or join `cfg.ray_address`; shut down after."""
    options = dict(log_to_driver=False, logging_level="WARNING", runtime_env={"env_vars": {"TQDM_DISABLE": "1"}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        if cfg.ray_address is None:
            # address="local": always a new instance of our own, never a cluster that `ray start` left behind
            # (ray.init() would join it, or refuse num_cpus with a ValueError)
            ray.init(address="local", num_cpus=math.ceil(cfg.workers * cfg.cpus_per_job), _node_ip_address="127.0.0.1",
                     include_dashboard=False, **options)
        else:
            try:
                ray.init(address=cfg.ray_address, **options)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                raise ConfigError(f"--ray_address {cfg.ray_address}: cannot join the Ray cluster ({first}); start "
                                  "it with `ray start --head` and pass the address it prints") from None
    try:
        yield
    finally:
        ray.shutdown()


def _check_resources(ray, cfg: Config) -> None:
    """ConfigError when no node can ever hold one job (Ray would wait forever)."""
    nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
    for key, flag, need in (("CPU", "cpus_per_job", cfg.cpus_per_job), ("GPU", "gpus_per_job", cfg.gpus_per_job)):
        most = max((node.get(key, 0.0) for node in nodes), default=0.0)
        if need > most:
            raise ConfigError(f"--{flag} {need:g}: no node of the Ray cluster has that many {key}s (the largest "
                              f"has {most:g}); lower --{flag}")


def _reason(ray, exc: Exception) -> str:
    """`Type: first line` of what made a job fail (the job's own exception, or Ray's)."""
    cause = exc.cause if isinstance(exc, ray.exceptions.RayTaskError) and exc.cause is not None else exc
    first = (str(cause).strip().splitlines() or [""])[0][:300]
    return f"{type(cause).__name__}: {first}" if first else type(cause).__name__


def run_jobs(cfg: Config, processed_dir, layout: Layout, order: Sequence[str], selected: Sequence[str],
             done: Sequence[str], test_only: bool) -> dict[str, str]:
    """Run the `selected` entities not in `done` as Ray jobs, writing each result as it arrives; returns
    {entity: reason} of the jobs that failed (after MAX_RETRIES reruns if their worker died).

    Ctrl-C cancels the outstanding jobs and keeps the finished ones (`--resume` runs the rest)."""
    ray = import_ray(cfg)
    log = get_logger()
    device = job_device(cfg)
    for name in done:
        log.info("%s: already finished in %s (--resume), kept", name, layout.root)
    jobs = [Job(cfg.data_name, name, cfg.model, cfg.seed, order.index(name) + 1) for name in selected
            if name not in done]
    failed: dict[str, str] = {}
    if not jobs:
        return failed
    with _session(ray, cfg):
        _check_resources(ray, cfg)
        remote = ray.remote(num_cpus=cfg.cpus_per_job, num_gpus=cfg.gpus_per_job, max_retries=MAX_RETRIES,
                            retry_exceptions=False)(_run_job)
        where = cfg.ray_address or f"a local Ray instance with {cfg.workers} workers"
        log.info("%d jobs on %s (%g CPU, %d torch threads, %g GPU per job, device %s)", len(jobs), where,
                 cfg.cpus_per_job, threads_per_job(cfg), cfg.gpus_per_job, device)
        pending = {}
        for job in jobs:
            data = load_entity(processed_dir, cfg.data_name, job.entity)
            checkpoint = None
            if test_only:
                path = layout.checkpoint(job.entity)
                checkpoint = read_checkpoint(path, cfg)
                check_checkpoint_data(checkpoint, path, job.entity, data.meta)
            else:
                layout.result(job.entity).unlink(missing_ok=True)  # incomplete until its result.json is back
            pending[remote.remote(cfg, job, ray.put(data), checkpoint, device)] = job
        bar = progress.bar(total=len(jobs), desc=f"{cfg.data_name} jobs", unit="job")
        try:
            while pending:
                (ref,), _ = ray.wait(list(pending), num_returns=1)
                job = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    failed[job.entity] = _reason(ray, exc)
                    log.error("%s failed: job %s: %s", job.entity, job, failed[job.entity])
                else:
                    write_entity(result, layout)
                    layout.train_state(job.entity).unlink(missing_ok=True)  # a serial run's leftover, now stale
                    log.info("%s: %s", job.entity, metric_line(result.metrics, cfg.threshold_method))
                bar.update(1)
        except KeyboardInterrupt:
            for ref in pending:
                ray.cancel(ref, force=True)
            log.warning("interrupted: %d finished job(s) kept in %s, %d cancelled", len(jobs) - len(pending)
                        - len(failed), layout.root, len(pending))
            raise
        finally:
            bar.close()
    return failed
