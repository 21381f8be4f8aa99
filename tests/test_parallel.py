"""Ray jobs (`--workers`, `--ray_address`): the same bytes as a serial run, retries, failures, resume,
and the install line without Ray. Tiny network, 1 epoch, 4 synthetic entities; every Ray instance
started here listens on 127.0.0.1 and is stopped before its test ends."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from sensitive_hue import parallel

from pipeline_fixtures import ROOT, synthetic_entity, tiny_config, write_dataset
from test_pipeline import run_main

# Ray reads this when first imported: single-node, so a loopback address stays 127.0.0.1 in this process
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
ENTITIES = ("machine-1-1", "machine-1-2", "machine-1-3", "machine-1-4")
needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="Ray is not installed (pip install -r requirements-distributed.txt)")


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    """A serial run with one torch thread (the default per-job share): (config, processed dir, out dir)."""
    base = tmp_path_factory.mktemp("parallel")
    _, config = tiny_config(base)
    document = yaml.safe_load(config.read_text())
    document["shared"]["max_epoch"] = 1
    config.write_text(yaml.safe_dump(document))
    processed = base / "processed"
    write_dataset(processed, "SMD", [synthetic_entity(name, i) for i, name in enumerate(ENTITIES)])
    out = base / "serial"
    assert run_main(config, processed, out, "--no_plots", "--num_threads", "1") == 0
    return config, processed, out


def _comparable_json(path: Path) -> dict:
    """result.json / results.json without what may differ between runs (times, command, commit, Ray settings)."""
    data = json.loads(path.read_text())
    for key in ("timings", "mode", "command", "commit"):
        data.pop(key, None)
    for entity in data["entities"].values() if "entities" in data else [data]:
        entity.pop("timings", None)
        entity["training"].pop("fit_seconds")
    for key in ("workers", "ray_address", "num_threads"):
        data.get("config", {}).pop(key, None)
    return data


def assert_same_entity(a: Path, b: Path, name: str) -> None:
    """Bit-for-bit equal scores, checkpoint tensors and metrics of one entity in two output folders."""
    for rel in (f"scores/{name}.npy", f"{name}/val_scores.npy", f"{name}/reconstruction.npy"):
        assert (a / "SMD" / rel).read_bytes() == (b / "SMD" / rel).read_bytes(), rel
    ca, cb = (torch.load(root / "SMD" / name / "model.pt", weights_only=True) for root in (a, b))
    assert ca["state_dict"].keys() == cb["state_dict"].keys()
    for key, tensor in ca["state_dict"].items():
        assert torch.equal(tensor, cb["state_dict"][key]), key
    assert torch.equal(ca["val_scores"], cb["val_scores"]) and ca["seed"] == cb["seed"]
    assert ca["thresholds"] == cb["thresholds"]
    assert _comparable_json(a / "SMD" / name / "result.json") == _comparable_json(b / "SMD" / name / "result.json")
    epochs = [np.genfromtxt(root / "SMD" / name / "epochs.csv", delimiter=",", names=True) for root in (a, b)]
    for column in epochs[0].dtype.names:
        if column != "seconds":
            assert np.array_equal(epochs[0][column], epochs[1][column]), column


@needs_ray
def test_two_workers_give_the_bytes_of_a_serial_run(serial, tmp_path):
    config, processed, reference = serial
    out = tmp_path / "w2"
    assert run_main(config, processed, out, "--no_plots", "--workers", "2") == 0
    for name in ENTITIES:
        assert_same_entity(reference, out, name)
    assert _comparable_json(out / "SMD" / "results.json") == _comparable_json(reference / "SMD" / "results.json")
    log = (out / "SMD" / "run.log").read_text()
    assert "4 jobs on a local Ray instance with 2 workers" in log and "1 torch threads" in log
    import ray

    assert not ray.is_initialized()


@needs_ray
def test_killed_worker_is_retried_failing_job_reported_then_resume(serial, tmp_path, monkeypatch, capsys):
    config, processed, reference = serial
    out, marker = tmp_path / "faults", tmp_path / "killed-once"
    monkeypatch.setenv(parallel.FAULT_ENV, f"kill:machine-1-2:{marker};raise:machine-1-3")
    capsys.readouterr()
    assert run_main(config, processed, out, "--no_plots", "--workers", "2") != 0
    err = capsys.readouterr().err
    assert marker.exists()  # machine-1-2's first worker was SIGKILLed ...
    for name in ("machine-1-1", "machine-1-2", "machine-1-4"):  # ... retried, and equal to the serial run
        assert_same_entity(reference, out, name)
    assert not (out / "SMD" / "machine-1-3" / "result.json").exists()
    error = err.strip().splitlines()[-1]
    assert error.startswith("error: 1 of 4 entities failed") and "machine-1-3" in error and "fault injected" in error
    assert "machine-1-3" in json.loads((out / "SMD" / "results.json").read_text())["failed_entities"]

    # --resume in parallel mode runs only the failed job; the finished ones are kept untouched
    monkeypatch.delenv(parallel.FAULT_ENV)
    kept = {name: (out / "SMD" / name / "model.pt").stat().st_mtime_ns for name in ENTITIES if name != "machine-1-3"}
    assert run_main(config, processed, out, "--no_plots", "--workers", "2", "--resume") == 0
    assert {name: (out / "SMD" / name / "model.pt").stat().st_mtime_ns for name in kept} == kept
    assert "1 jobs on a local Ray instance" in (out / "SMD" / "run.log").read_text()
    assert_same_entity(reference, out, "machine-1-3")
    assert _comparable_json(out / "SMD" / "results.json") == _comparable_json(reference / "SMD" / "results.json")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def head_node(tmp_path):
    """A head node of its own on 127.0.0.1 (2 CPUs, no dashboard, no usage stats): `ray start --head --block`
    in a new session, stopped by signalling that session. (`ray stop` would stop every Ray instance of
    this user on the machine, e.g. a `main.py --workers 2` run going on beside the tests.)"""
    ray_cli = str(Path(sys.executable).with_name("ray"))
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    port = _free_port()
    head = subprocess.Popen([ray_cli, "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}",
                             "--include-dashboard=false", "--num-cpus=2", "--disable-usage-stats"],
                            env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not _accepts(port):
            assert head.poll() is None, f"ray start --head exited with {head.returncode}"
            assert time.monotonic() < deadline, "the Ray head node did not start within 120 s"
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(head.pid, signal.SIGTERM)  # --block stops the node's processes on SIGTERM
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        current = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"  # what `ray stop` would remove
        if current.is_file() and current.read_text().strip() == f"127.0.0.1:{port}":
            current.unlink()


@needs_ray
def test_ray_address_joins_a_head_node_on_loopback(serial, head_node, tmp_path):
    config, processed, reference = serial
    out = tmp_path / "cluster"
    chosen = ("machine-1-1", "machine-1-4")
    assert run_main(config, processed, out, "--no_plots", "--ray_address", head_node, "--entities", *chosen) == 0
    for name in chosen:
        assert_same_entity(reference, out, name)
    assert f"2 jobs on {head_node}" in (out / "SMD" / "run.log").read_text()


def test_workers_without_ray_print_the_install_line(serial, tmp_path):
    config, processed, _ = serial
    hidden = tmp_path / "no_ray"
    hidden.mkdir()
    (hidden / "ray.py").write_text("raise ModuleNotFoundError(\"No module named 'ray'\", name='ray')\n")
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, str(ROOT / "main.py"), "--config_path", str(config), "--data_name", "SMD",
                          "--processed_dir", str(processed), "--out_dir", str(out), "--workers", "2"],
                         env={**os.environ, "PYTHONPATH": str(hidden)}, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("error: ")
    assert "pip install -r requirements-distributed.txt" in run.stderr
    assert not out.exists()


def test_job_device_and_threads(tmp_path):
    cfg, _ = tiny_config(tmp_path, workers=2, cpus_per_job=2.5)
    assert parallel.threads_per_job(cfg) == 2 and parallel.job_device(cfg) == "cpu"
    assert parallel.threads_per_job(cfg.replace(cpus_per_job=0.5)) == 1
    assert parallel.job_device(cfg.replace(gpus_per_job=0.25, device="cuda")) == "cuda"
    with pytest.raises(parallel.ConfigError, match="--gpus_per_job"):
        parallel.job_device(cfg.replace(device="cuda"))
