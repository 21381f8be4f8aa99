"""Run the README's demo and `--detect` examples as written, in a scratch copy of the repository, and
compare what they print with the README's quoted output: `python images/readme_examples.py [--check]`.

Prints the demo's final metric line, the `--detect` line and which injected anomalies the detect run
flags; with `--check`, exits 1 when a README block differs (times are masked, they vary from run to
run), so a code change that moves the examples' output cannot go unnoticed. The scratch copy keeps
the repository's own `sensitive_hue/model_states/` untouched; its `reconstruction.png` is copied to
`images/demo_reconstruction.png` (what the README shows) unless `--check` is given.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAKE_CSV = ("import pandas as pd; from sensitive_hue.data.sources import make_demo; d = make_demo(); "
            "f = pd.DataFrame(d.test, columns=d.columns); f.insert(0, 'timestamp', pd.date_range('2025-01-01', "
            "periods=len(f), freq='min')); f.to_csv('demo_new.csv', index=False)")
TIME = re.compile(r"\d+(\.\d+)?s\b")


def _run(folder: Path, *argv: str) -> str:
    done = subprocess.run([sys.executable, *argv], cwd=folder, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"error: {' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return done.stdout


def _quoted(after: str) -> str:
    """The first plain ``` block after the line `after` in the README."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    body = text.split(after, 1)[1]
    return re.search(r"```\n(.*?)\n```", body, re.S).group(1).strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the README's quoted output differs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch) / "repo"
        shutil.copytree(ROOT, work, ignore=shutil.ignore_patterns(".git", ".venv", "data", "runs", "model_states",
                                                                   "__pycache__", "*.egg-info"))
        demo = _run(work, "main.py", "--config_path", "config/star.yaml", "--data_name", "demo").strip().splitlines()
        headline = next(line for line in reversed(demo) if line.startswith("demo (sensitive_mamba"))
        _run(work, "-c", MAKE_CSV)
        detect = _run(work, "main.py", "--config_path", "config/star.yaml", "--data_name", "demo", "--detect",
                      "demo_new.csv").strip().splitlines()[-1]
        found = json.loads((work / "sensitive_hue/model_states/detect/demo/anomalies.json").read_text())["segments"]
        from sensitive_hue.data.sources import make_demo

        hits = []
        for anomaly in make_demo().info["anomalies"]:
            flagged = sum(max(0, min(s["end_index"], anomaly["end"]) - max(s["start_index"], anomaly["start"]) + 1)
                          for s in found)
            hits.append(f"{anomaly['kind']} rows {anomaly['start']}-{anomaly['end']}: {flagged} of "
                        f"{anomaly['end'] - anomaly['start'] + 1} flagged")
        if not args.check:
            shutil.copyfile(work / "sensitive_hue/model_states/demo/reconstruction.png",
                            ROOT / "images/demo_reconstruction.png")
    print(headline, detect, *hits, sep="\n")
    if args.check:
        drift = [(name, got, want) for name, got, want in (
            ("demo", headline, _quoted("prints (measured on a fresh clone")),
            ("--detect", detect, _quoted("prints one line")))
            if TIME.sub("Xs", got) != TIME.sub("Xs", want)]
        for name, got, want in drift:
            print(f"README drift in the {name} example:\n  README: {want}\n  now:    {got}", file=sys.stderr)
        return 1 if drift else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
