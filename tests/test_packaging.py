"""Packaging: pyproject.toml's console scripts import and run, its pins equal requirements*.txt, the paper-style
`python main.py` / `python preprocess.py` shims still work from the repository root, and the CLI's default
config is found from another folder."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import sensitive_hue
from sensitive_hue import main_cli

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SCRIPTS = PYPROJECT["project"]["scripts"]


def _pins(name: str) -> set[str]:
    lines = (ROOT / name).read_text().splitlines()
    return {line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")}


@pytest.mark.parametrize("script", ["main.py", "preprocess.py"])
def test_paper_style_shims_run(script):
    run = subprocess.run([sys.executable, script, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"usage: {script} ") and "--config_path" in run.stdout


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_console_script_targets_import_and_run(name, monkeypatch, capsys):
    module, _, function = SCRIPTS[name].partition(":")
    target = getattr(importlib.import_module(module), function)
    assert callable(target)
    monkeypatch.setattr(sys, "argv", [name, "--help"])
    with pytest.raises(SystemExit) as exit_:  # argparse prints the help and exits 0
        target()
    assert exit_.value.code == 0 and capsys.readouterr().out.startswith("usage: ")


def test_console_script_names_itself_in_errors(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["sensitive-mamba", "--entities"])
    assert main_cli.cli() == 2
    assert capsys.readouterr().err.rstrip().endswith("see sensitive-mamba --help")


def test_pins_equal_the_requirements_files():
    project = PYPROJECT["project"]
    extras = project["optional-dependencies"]
    assert set(project["dependencies"]) | set(extras["test"]) == _pins("requirements.txt")
    assert set(extras["gpu"]) == _pins("requirements-gpu.txt")
    assert set(extras["distributed"]) == _pins("requirements-distributed.txt")
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "sensitive_hue.__version__"}
    # setuptools reads the version without importing the package only from a literal assignment
    assert re.search(r'^__version__ = "[^"]+"$', (ROOT / "sensitive_hue" / "__init__.py").read_text(), re.M)
    assert sensitive_hue.__version__


@pytest.mark.parametrize("module", ["main", "sensitive_hue.main_cli"])
def test_cli_sets_the_omp_wait_policy_before_torch_loads(module):
    """OMP_WAIT_POLICY is read when torch loads: importing the CLI (after `sensitive_hue/__init__.py`) must not
    load torch before main_cli sets PASSIVE."""
    code = f"import os, sys, {module}; print('torch' in sys.modules, os.environ.get('OMP_WAIT_POLICY'))"
    env = {key: value for key, value in os.environ.items() if key != "OMP_WAIT_POLICY"}
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["False", "PASSIVE"]


def test_default_config_falls_back_to_the_repository(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main_cli.default_config() == "config/star.yaml"  # the paper's workflow: relative, as before
    monkeypatch.chdir(tmp_path)
    assert main_cli.default_config() == str(ROOT / "config" / "star.yaml")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "star.yaml").write_text("shared: {}\n")
    assert main_cli.default_config() == "config/star.yaml"  # a config in the current folder wins
