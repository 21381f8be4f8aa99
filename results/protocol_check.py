"""How much the CPU protocol (config/cpu_protocol.yaml) changes SensitiveMamba's results, against the
paper protocol (stride 1, one pass over every window per epoch, 25 epochs), on the same MSL channels
and seed; controls alongside.

    PROTOCOL=paper OVERLAY= DATASETS=MSL DETECTORS=sensitive_mamba ENTITIES="T-8 C-2 S-2 T-12 T-13 D-16 M-6 M-7" \
        bash results/run_all.sh
    DATASETS=MSL bash results/run_all.sh   # (the CPU protocol runs of every detector)
    python results/protocol_check.py [--runs_root DIR]   # -> results/protocol_check/MSL.md
    (needs the package importable: `pip install -e . --no-deps` once, or prefix `PYTHONPATH=.`)

Per-entity figures are the runs' own result.json; pooled ones are recomputed with `evaluate_overall`
from the saved scores (entity seeds depend only on (seed, dataset, entity, detector), so the CPU
protocol's channels in the full MSL run are the runs a CPU run of these channels alone would make).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sensitive_hue import io
from sensitive_hue.config import load_config
from sensitive_hue.data.store import load_entity
from sensitive_hue.gitinfo import git_commit
from sensitive_hue.metrics import evaluate_overall

ROOT = Path(__file__).resolve().parents[1]

ENTITIES = ("T-8", "C-2", "S-2", "T-12", "T-13", "D-16", "M-6", "M-7")  # the 8 shortest MSL channels (T-9 is ignored)
RUNS = {"SensitiveMamba, paper protocol (stride 1, 25 full epochs)": "runs/paper/sensitive_mamba/seed2025/MSL",
        "SensitiveMamba, CPU protocol (5 x 10 steps)": "runs/cpu/sensitive_mamba/seed2025/MSL",
        "control: PCA": "runs/cpu/pca/seed2025/MSL", "control: maxz": "runs/cpu/maxz/seed2025/MSL",
        "control: random": "runs/cpu/random/seed2025/MSL"}


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def _cells(m: dict) -> str:
    return " | ".join(_pct(v) for v in (m["paper_protocol"]["f1_pa"], m["paper_protocol"]["f1"], m["pa_k"]["auc"],
                                         m["continuous"]["auc_pr"], m["continuous"]["vus_pr"]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs_root", type=Path, default=ROOT,
                        help="folder holding runs/ (default: this checkout; e.g. a clean worktree the runs came from)")
    runs_root = parser.parse_args(argv).runs_root.resolve()
    cfg = load_config(ROOT / "config/star.yaml", "MSL")
    commits = sorted({json.loads(io.read_bytes(runs_root / folder / "results.json")).get("commit") or "unknown"
                      for folder in RUNS.values()})
    lines = ["# MSL: CPU protocol vs paper protocol (SensitiveMamba, seed 2025)", "",
             f"Channels {', '.join(ENTITIES)} (the shortest MSL channels, so the paper protocol fits a 2-core CPU). "
             "F1-PA and F1 use the oracle threshold (test labels), as in the main tables; **pooled** rows "
             "concatenate the channels, **mean** rows average the per-channel figures. Rebuild: "
             f"`python results/protocol_check.py{'' if runs_root == ROOT else ' --runs_root <the runs checkout>'}`.", "",
             f"Commit: runs at {', '.join(commits)}; table built at {git_commit() or 'unknown'}.", "",
             "| run | entity | F1-PA (oracle) | F1 (oracle) | PA%K AUC | AUC-PR | VUS-PR | fit s | epochs |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for label, folder in RUNS.items():
        root, parts, fit = runs_root / folder, [], 0.0
        for name in ENTITIES:
            summary = json.loads(io.read_bytes(root / name / "result.json"))
            fit += summary["timings"].get("fit_s", 0.0)
            lines.append(f"| {label} | {name} | {_cells(summary['metrics'])} | {summary['timings'].get('fit_s', 0):.0f} | "
                         f"{summary['training']['epochs_run']} |")
            parts.append((io.load_npy(root / "scores" / f"{name}.npy"),
                          load_entity(ROOT / "data/processed", "MSL", name).labels,
                          io.load_npy(root / name / "val_scores.npy")))
        overall = evaluate_overall(parts, cfg=cfg)
        lines.append(f"| {label} | **pooled** | {_cells(overall)} | {fit:.0f} | |")
        means = overall["per_entity_mean"]
        lines.append(f"| {label} | **mean** | | {_pct(means['f1_oracle'])} | | {_pct(means['auc_pr'])} | "
                     f"{_pct(means['vus_pr'])} | | |")
    io.write_text(ROOT / "results/protocol_check/MSL.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
