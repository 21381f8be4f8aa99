"""The README's examples run as written: the Python API block (fit, score, AUC-PR, plot)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from pipeline_fixtures import ROOT


def _block(section: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    body = text.split(f"## {section}\n", 1)[1]
    return re.search(r"```python\n(.*?)```", body, re.S).group(1)


def test_python_api_example_runs_as_written(tmp_path):
    script = tmp_path / "example.py"
    script.write_text(_block("Python API"), encoding="utf-8")
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}  # the package as the README installs it
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0 and done.stderr == "", done.stderr[-2000:]  # no warning either
    printed = done.stdout
    match = re.search(r"AUC-PR (\d\.\d{3}); (\d+) rows flagged", printed)
    assert match, printed
    assert float(match.group(1)) > 0.2  # well above the demo's anomaly ratio (0.144): it detects
    assert (tmp_path / "largest_alarm.png").read_bytes()[:4] == b"\x89PNG"


def _readme_tables():
    """results/readme_tables.py as a module (results/ is not a package)."""
    sys.path.insert(0, str(ROOT / "results"))
    try:
        import readme_tables
    finally:
        sys.path.pop(0)
    return readme_tables


def test_results_tables_in_the_readme_are_the_committed_tables():
    """Each results/<dataset>.json's compact table (results/readme_tables.py) appears in the README verbatim,
    so no README figure drifts from the table it claims to come from."""
    readme_tables = _readme_tables()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for dataset in ("MSL", "SMAP", "SMD", "SWaT"):
        table = readme_tables.markdown(json.loads((ROOT / "results" / f"{dataset}.json").read_text()))
        assert table in readme, f"README's {dataset} table is not `python results/readme_tables.py {dataset}`"


def test_readme_tables_name_the_budget_of_rows_off_the_main_protocol():
    """A table mixing training protocols (SWaT's 10x-budget row) labels the odd rows by their protocol and keeps
    the default mark for the main protocol's SensitiveMamba row only."""
    readme_tables = _readme_tables()
    cell = {"mean": 0.5, "std": None}
    cpu, big = "stride 1, 10 steps/epoch, max_epoch 5", "stride 1, 100 steps/epoch, max_epoch 5"
    rows = [{"detector": f"{name} [{protocol}]", "protocol": protocol, "n_seeds": 1, "entities": 1,
             **{key: cell for key, _ in readme_tables.SINGLE}}
            for name, protocol in (("SensitiveMamba", cpu), ("PCA (90% variance)", cpu), ("SensitiveMamba", big))]
    lines = readme_tables.markdown({"dataset": "SWaT", "run_commits": ["abc1234"], "rows": rows}).splitlines()
    labels = [line.split(" | ")[0].lstrip("| ") for line in lines[2:]]
    assert labels == ["SensitiveMamba (default)", "PCA (90% variance)", f"SensitiveMamba, budget: {big}"]
