"""How much the CPU protocol (config/cpu_protocol.yaml) changes SensitiveMamba's results, against the
paper protocol (stride 1, 25 epochs), on the same MSL channels and seed; controls alongside.

    PROTOCOL=paper OVERLAY= DATASETS=MSL DETECTORS=sensitive_mamba ENTITIES="C-2 T-8 S-2" bash results/run_all.sh
    bash results/run_all.sh   # (the CPU protocol runs, at least MSL)
    python results/protocol_check.py   # -> results/protocol_check/MSL.md

Per-entity figures are the runs' own result.json; pooled ones are recomputed with `evaluate_overall`
from the saved scores (entity seeds depend only on (seed, dataset, entity, detector), so the CPU
protocol's channels in the full MSL run are the runs a 3-channel CPU run would make).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sensitive_hue import io  # noqa: E402
from sensitive_hue.config import load_config  # noqa: E402
from sensitive_hue.data.store import load_entity  # noqa: E402
from sensitive_hue.metrics import evaluate_overall  # noqa: E402

ENTITIES = ("S-2", "C-2", "T-8")
RUNS = {"SensitiveMamba, paper protocol (stride 1, 25 epochs)": "runs/paper/sensitive_mamba/seed2025/MSL",
        "SensitiveMamba, CPU protocol (stride 20, 5 epochs)": "runs/cpu/sensitive_mamba/seed2025/MSL",
        "control: PCA": "runs/cpu/pca/seed2025/MSL", "control: random": "runs/cpu/random/seed2025/MSL"}


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def _cells(m: dict) -> str:
    return " | ".join(_pct(v) for v in (m["paper_protocol"]["f1_pa"], m["paper_protocol"]["f1"], m["pa_k"]["auc"],
                                         m["continuous"]["auc_pr"], m["continuous"]["vus_pr"]))


def main() -> int:
    cfg = load_config(ROOT / "config/star.yaml", "MSL")
    lines = ["# MSL: CPU protocol vs paper protocol (SensitiveMamba, seed 2025)", "",
             f"Channels {', '.join(ENTITIES)} (the smallest MSL channels, so the paper protocol fits a 2-core CPU). "
             "F1-PA and F1 use the oracle threshold (test labels), as in the main tables. Rebuild: "
             "`python results/protocol_check.py`.", "",
             "| run | entity | F1-PA (oracle) | F1 (oracle) | PA%K AUC | AUC-PR | VUS-PR | fit s | epochs |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for label, folder in RUNS.items():
        root, parts, fit = ROOT / folder, [], 0.0
        for name in ENTITIES:
            summary = json.loads(io.read_bytes(root / name / "result.json"))
            fit += summary["timings"].get("fit_s", 0.0)
            lines.append(f"| {label} | {name} | {_cells(summary['metrics'])} | {summary['timings'].get('fit_s', 0):.0f} | "
                         f"{summary['training']['epochs_run']} |")
            parts.append((io.load_npy(root / "scores" / f"{name}.npy"),
                          load_entity(ROOT / "data/processed", "MSL", name).labels,
                          io.load_npy(root / name / "val_scores.npy")))
        lines.append(f"| {label} | **pooled** | {_cells(evaluate_overall(parts, cfg=cfg))} | {fit:.0f} | |")
    io.write_text(ROOT / "results/protocol_check/MSL.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
