"""Crashes: SIGKILL mid-epoch then `--resume` is bit-exact, Ctrl-C saves and prints the resume command,
and a kill between writing a file and renaming it leaves the old file or the new one, never a partial one.

Each fault is injected in a real subprocess by tests/fault_run.py (see its docstring).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sensitive_hue import main_cli, preprocess_cli
from sensitive_hue.cli import run_cli
from sensitive_hue.data.store import load_entity
from sensitive_hue.errors import DataError

from pipeline_fixtures import ROOT, synthetic_entity, tiny_config, write_dataset

ENTITIES = ("machine-1-1", "machine-1-2")
FAULT_RUN = ROOT / "tests" / "fault_run.py"


def _run(script: str, *argv: str, fault: str | None = None) -> subprocess.CompletedProcess:
    """Run `script` (optionally under an injected fault) from the repository root."""
    env = {key: value for key, value in os.environ.items() if key != "SH_FAULT"}
    command = [sys.executable, script, *argv]
    if fault is not None:
        env["SH_FAULT"] = fault
        command = [sys.executable, str(FAULT_RUN), script, *argv]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Two tiny entities, the argv of a 3-epoch run on one thread, and an uninterrupted reference run."""
    base = tmp_path_factory.mktemp("crash")
    _, config = tiny_config(base)
    processed = base / "processed"
    write_dataset(processed, "SMD", [synthetic_entity(name, i) for i, name in enumerate(ENTITIES)])
    argv = ["--config_path", str(config), "--data_name", "SMD", "--processed_dir", str(processed),
            "--raw_dir", str(base / "no_raw"), "--no_plots", "--num_threads", "1", "--max_epoch", "3",
            "--set", "patience=3"]
    reference = base / "reference"
    threads = torch.get_num_threads()
    try:
        assert run_cli(main_cli.main, [*argv, "--out_dir", str(reference)]) == 0
    finally:
        torch.set_num_threads(threads)
    return base, argv, reference


def _assert_same_results(out: Path, reference: Path) -> None:
    """Best checkpoint tensors, thresholds, validation and test scores equal bit for bit."""
    for name in ENTITIES:
        got = torch.load(out / "SMD" / name / "model.pt", map_location="cpu", weights_only=True)
        want = torch.load(reference / "SMD" / name / "model.pt", map_location="cpu", weights_only=True)
        assert got["state_dict"].keys() == want["state_dict"].keys()
        assert all(torch.equal(got["state_dict"][k], want["state_dict"][k]) for k in want["state_dict"])
        assert torch.equal(got["val_scores"], want["val_scores"]) and got["thresholds"] == want["thresholds"]
        assert got["training"]["best_epoch"] == want["training"]["best_epoch"]
        for path in (Path("scores") / f"{name}.npy", Path(name) / "val_scores.npy", Path(name) / "reconstruction.npy"):
            assert (out / "SMD" / path).read_bytes() == (reference / "SMD" / path).read_bytes(), path
        epochs = np.loadtxt(out / "SMD" / name / "epochs.csv", delimiter=",", skiprows=1)
        want_epochs = np.loadtxt(reference / "SMD" / name / "epochs.csv", delimiter=",", skiprows=1)
        np.testing.assert_array_equal(epochs[:, :-1], want_epochs[:, :-1])  # every column but the seconds
        assert not (out / "SMD" / name / "train_state.pt").exists()  # removed once the entity finished


def _saved_epoch(out: Path, name: str) -> int:
    return torch.load(out / "SMD" / name / "train_state.pt", map_location="cpu", weights_only=True)["epoch"]


def test_ctrl_c_then_sigkill_then_resume_match_an_uninterrupted_run_bit_for_bit(setup):
    """Ctrl-C in epoch 2 of the first entity prints the resume command; that command, SIGKILLed after 2
    batches of epoch 2 of the second entity, resumes the first; running it once more finishes the run."""
    base, argv, reference = setup
    out = base / "interrupted"
    stopped = _run("main.py", *argv, "--out_dir", str(out), fault=f"INT:train:{ENTITIES[0]}:2:1")
    assert stopped.returncode == 130 and "Traceback" not in stopped.stderr, (stopped.stdout[-2000:], stopped.stderr[-1000:])
    line = stopped.stderr.strip().splitlines()[-1]
    assert line.startswith(f"interrupted: stopped by Ctrl-C: {ENTITIES[0]} stopped after 1 complete epoch(s), "
                           f"saved in {out / 'SMD' / ENTITIES[0] / 'train_state.pt'}")
    assert _saved_epoch(out, ENTITIES[0]) == 1
    command = shlex.split(line.split("resume with: ", 1)[1])
    assert command[1] == "main.py" and command[-1] == "--resume"
    interpreter = shutil.which(command[0]) or str(ROOT / command[0])  # the interpreter that ran it, as typed
    assert os.path.realpath(interpreter) == os.path.realpath(sys.executable), command[0]

    killed = _run(*command[1:], fault=f"KILL:train:{ENTITIES[1]}:2:2")
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert (out / "SMD" / ENTITIES[0] / "result.json").is_file()  # resumed and finished before the kill
    assert not (out / "SMD" / ENTITIES[1] / "result.json").exists()
    assert _saved_epoch(out, ENTITIES[1]) == 1  # the last complete epoch
    finished = (out / "SMD" / ENTITIES[0] / "model.pt").stat().st_mtime_ns

    resumed = _run(*command[1:])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    log = (out / "SMD" / "run.log").read_text()
    assert f"{ENTITIES[0]}: resuming after epoch 1" in log and f"{ENTITIES[0]}: already finished" in log
    assert f"{ENTITIES[1]}: resuming after epoch 1" in log
    assert (out / "SMD" / ENTITIES[0] / "model.pt").stat().st_mtime_ns == finished  # skipped, not retrained
    _assert_same_results(out, reference)


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _assert_old_or_new(killed: dict[str, bytes], old: dict[str, bytes], new: dict[str, bytes]) -> list[str]:
    """Every visible file equals its old or its new version; returns the hidden temporary files. The
    killed run's `.lock` stays behind (the next run takes it over as stale) and is not compared."""
    temporary = [name for name in killed if Path(name).name.startswith(".") and name.endswith(".tmp")]
    for name, data in killed.items():
        if name not in temporary and Path(name).name != ".lock":
            assert data in (old.get(name), new.get(name)), f"{name} is neither the old nor the new file"
    return temporary


def test_kill_while_preprocessing_a_large_file_leaves_old_or_new_files(tmp_path):
    rows = 100_000
    rng = np.random.default_rng(0)
    train, test = tmp_path / "plant_train.csv", tmp_path / "plant_test.csv"

    def write_csvs(scale: float) -> None:
        header = "a,b,c,d,e,f"
        np.savetxt(train, scale * rng.standard_normal((rows, 6)), delimiter=",", header=header, comments="", fmt="%.5f")
        labels = (np.arange(rows) % 1000 < 5).astype(int)[:, None]
        np.savetxt(test, np.hstack([rng.standard_normal((rows, 6)), labels]), delimiter=",",
                   header=header + ",label", comments="", fmt="%.5f")

    def argv(out: Path) -> list[str]:
        return ["--data_name", "csv", "--train_csv", str(train), "--test_csv", str(test), "--out_dir", str(out)]

    out, new_out = tmp_path / "out", tmp_path / "new"
    write_csvs(1.0)
    assert run_cli(preprocess_cli.main, argv(out)) == 0
    old = _tree(out)
    write_csvs(2.0)
    assert run_cli(preprocess_cli.main, argv(new_out)) == 0
    new = _tree(new_out)
    target = "csv/plant_train/test.npy"
    assert len(new[target]) > 2_000_000 and new[target] != old[target]

    killed = _run("preprocess.py", *argv(out), fault="KILL:replace:test.npy")
    assert killed.returncode == -9
    after = _tree(out)
    temporary = _assert_old_or_new(after, old, new)
    assert [Path(t).name.split(".")[1:3] for t in temporary] == [["test", "npy"]]  # the kill hit that write
    assert after["csv/plant_train/train.npy"] == new["csv/plant_train/train.npy"]  # written before the kill
    assert after["csv/plant_train/test.npy"] == old["csv/plant_train/test.npy"]
    with pytest.raises(DataError, match="interrupted"):  # the mixed set is detected, never used
        load_entity(out, "csv", "plant_train")
    assert run_cli(preprocess_cli.main, argv(out)) == 0  # a rerun repairs it
    assert {k: v for k, v in _tree(out).items() if k not in temporary} == new


def test_kill_while_writing_results_leaves_old_or_new_files(tmp_path):
    _, config = tiny_config(tmp_path)
    processed = tmp_path / "processed"
    write_dataset(processed, "SMD", [synthetic_entity(ENTITIES[0], 0, test_rows=20_000)])
    argv = ["--config_path", str(config), "--data_name", "SMD", "--processed_dir", str(processed),
            "--raw_dir", str(tmp_path / "no_raw"), "--no_plots", "--model", "pca"]
    out, new_out = tmp_path / "out", tmp_path / "new"
    assert run_cli(main_cli.main, [*argv, "--out_dir", str(out)]) == 0
    assert run_cli(main_cli.main, [*argv, "--out_dir", str(new_out), "--set", "pca_variance=0.5"]) == 0
    old, new = _tree(out), _tree(new_out)

    killed = _run("main.py", *argv, "--out_dir", str(out), "--set", "pca_variance=0.5",
                  fault="KILL:replace:results.json")
    assert killed.returncode == -9
    after = _tree(out)
    volatile = {"SMD/run.log", "SMD/results.json", f"SMD/{ENTITIES[0]}/result.json", f"SMD/{ENTITIES[0]}/model.pt"}
    temporary = _assert_old_or_new({k: v for k, v in after.items() if k not in volatile}, old, new)
    assert [Path(t).name for t in temporary][0].startswith(".results.json.")
    assert after["SMD/results.json"] == old["SMD/results.json"]  # timings differ between runs: old bytes exactly
    assert after[f"SMD/scores/{ENTITIES[0]}.npy"] == new[f"SMD/scores/{ENTITIES[0]}.npy"]
    # files holding timings differ from both runs byte-wise: they must still be complete
    assert json.loads(after[f"SMD/{ENTITIES[0]}/result.json"])["entity"] == ENTITIES[0]
    assert torch.load(out / "SMD" / ENTITIES[0] / "model.pt", weights_only=True)["detector"] == "pca"
