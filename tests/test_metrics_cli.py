"""`python -m sensitive_hue.metrics`: JSON for good files, one error line and exit 2 for bad ones."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sensitive_hue.metrics.__main__ import main
from sensitive_hue.cli import run_cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.zeros(1000, dtype=np.int8)
    labels[300:360] = 1
    np.save(tmp_path / "scores.npy", rng.random(1000) + labels)
    np.save(tmp_path / "labels.npy", labels)
    np.save(tmp_path / "val.npy", rng.random(800))
    np.save(tmp_path / "nan.npy", np.r_[rng.random(999), np.nan])
    np.save(tmp_path / "short.npy", rng.random(10))
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return tmp_path


def test_prints_every_metric_as_json(files):
    proc = subprocess.run(
        [sys.executable, "-m", "sensitive_hue.metrics", "--scores", str(files / "scores.npy"),
         "--labels", str(files / "labels.npy"), "--val_scores", str(files / "val.npy"), "--summary"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["paper_protocol"]["f1"] == 1.0 and result["label_free"]["pot"]["threshold"] is not None
    assert "(paper protocol: oracle threshold, PA)" in proc.stderr


@pytest.mark.parametrize(
    "scores, labels, match",
    [
        ("nan.npy", "labels.npy", "nan.npy: 1 score(s) are NaN"),
        ("short.npy", "labels.npy", "has 10 points but --labels"),
        ("objects.npy", "labels.npy", "objects.npy"),
        ("missing.npy", "labels.npy", "missing.npy not found (also tried missing.npy.gz)"),
        ("scores.npy", "val.npy", "val.npy: labels must be 0"),
    ],
)
def test_bad_files_give_one_line(files, capsys, scores, labels, match):
    code = run_cli(main, ["--scores", str(files / scores), "--labels", str(files / labels)])
    err = capsys.readouterr().err
    assert code == 2 and match in err and err.startswith("error: ") and err.count("\n") == 1
