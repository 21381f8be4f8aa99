"""How much the point score depends on how the per-feature scores are combined.

The paper's and SensitiveHUE's point score is the max over features of the per-feature scores normalised
by the validation median/IQR (one sensor off is enough). A feature that is spikier
in the test series than in training then sets the score on normal points too (SMD machine-3-10:
226 of the 227 normal points above the normal 99th percentile take their score from one feature).
This script re-scores the test series of trained models, *not retrained*, with the same statistics and
combines the per-feature scores in a few ways fixed before looking at any result (the settings of
`score_combine`):

- max (the paper's, the default until the top-k mean was chosen here), top-k mean (the mean of the k largest,
  k = ceil(F / 10)), mean over features.

No label is used to fit anything: the labels only evaluate. Metrics are the per-entity means of the
tables (entities without anomalies left out). The run's own combination must reproduce its stored
scores; the script stops if it does not.

    python results/aggregation.py --run /work/wt/runs/cpu/sensitive_mamba/seed2025/SMD \
        --processed_dir data/processed --entities machine-1-2 machine-1-3 --out results/aggregation/SMD-dev.md
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

from sensitive_hue import io
from sensitive_hue.data.store import load_entity
from sensitive_hue.estimators import BaseDetector
from sensitive_hue.gitinfo import git_commit
from sensitive_hue.metrics.auc import auc_pr, auc_roc
from sensitive_hue.metrics.f1 import best_f1
from sensitive_hue.metrics.vus import vus
from sensitive_hue.scoring import COMBINE

METRICS = ("auc_pr", "vus_pr", "auc_roc", "f1")


AGGREGATIONS = {  # row label -> the score_combine setting (sensitive_hue.scoring.COMBINE)
    "max (the paper's)": COMBINE["max"],
    "top-k mean, k = ceil(F/10)": COMBINE["topk"],
    "mean": COMBINE["mean"],
}


def _metrics(scores: np.ndarray, labels: np.ndarray) -> dict:
    return {"auc_pr": auc_pr(scores, labels), "vus_pr": vus(scores, labels)["vus_pr"],
            "auc_roc": auc_roc(scores, labels), "f1": best_f1(scores, labels)["f1"]}


def entity_contributions(run: Path, processed_dir: str, entity: str) -> tuple[np.ndarray, np.ndarray]:
    """(normalised per-feature test scores without the ignored dims, labels) of one trained entity."""
    estimator = BaseDetector.load(run / entity / "model.pt", device="cpu")
    data = load_entity(processed_dir, estimator.config_.data_name, entity)
    stats = estimator.score_stats_
    raw, _ = estimator.detector_.point_scores(data.test)
    contributions = stats.contributions(raw)
    stored = io.load_npy(run / "scores" / f"{entity}.npy")
    if not np.array_equal(stats.combine(contributions), stored):
        raise SystemExit(f"error: {entity}: re-scored {stats.how} differs from the run's stored scores; "
                         "the code scores differently from the run's")
    keep = np.setdiff1d(np.arange(contributions.shape[1]), stats.ignore_dims)
    return contributions[:, keep], data.labels.astype(np.int64)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", required=True, help="a run folder of main.py (<entity>/model.pt, scores/, results.json)")
    parser.add_argument("--processed_dir", required=True, help="the processed data the run used")
    parser.add_argument("--entities", nargs="+", required=True)
    parser.add_argument("--out", required=True, help="the table (.md; a .json beside it)")
    parser.add_argument("--note", action="append", default=[], help="a line for the table's header (repeatable)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    tic, commit, run = time.time(), git_commit(), Path(args.run)
    trained_at = json.loads(io.read_bytes(run / "results.json")).get("commit", "?")
    per_entity: dict[str, dict[str, dict]] = {name: {} for name in AGGREGATIONS}
    for entity in args.entities:
        contributions, labels = entity_contributions(run, args.processed_dir, entity)
        if not labels.any():
            continue
        for name, combine in AGGREGATIONS.items():
            per_entity[name][entity] = _metrics(combine(contributions), labels)
        print(entity, {name: round(100 * rows[entity]["auc_pr"], 1) for name, rows in per_entity.items()}, flush=True)

    means = {name: {m: float(np.mean([r[m] for r in rows.values()])) for m in METRICS} for name, rows in per_entity.items()}
    wins = {name: sum(rows[e]["auc_pr"] > per_entity["max (the paper's)"][e]["auc_pr"] for e in rows)
            for name, rows in per_entity.items()}
    n = len(per_entity["max (the paper's)"])
    lines = [f"# How the per-feature scores are combined: {run.name} ({n} entities with anomalies)", "",
             f"- Models: the run `{run}` (trained at {trained_at}), not retrained: the same raw scores and "
             "median/IQR, only the combination over features changes.",
             f"- Entities: {', '.join(args.entities)}.",
             *(f"- {note}" for note in args.note),
             f"- Built at {commit} in {(time.time() - tic) / 60:.1f} min. Rebuild: `python results/aggregation.py "
             f"{' '.join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))}`", "",
             "Per-entity means, percent (oracle F1 chooses each entity's threshold on its test labels, no point "
             "adjustment); 'AUC-PR above max' counts the entities where that combination's AUC-PR beats the default's.", "",
             "| combination | AUC-PR | VUS-PR | AUC-ROC | F1 oracle | AUC-PR above max (entities) |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, m in means.items():
        lines.append(f"| {name} | {100 * m['auc_pr']:.1f} | {100 * m['vus_pr']:.1f} | {100 * m['auc_roc']:.1f} | "
                     f"{100 * m['f1']:.1f} | {wins[name]} of {n} |")
    io.write_text(args.out, "\n".join(lines) + "\n")
    io.write_text(Path(args.out).with_suffix(".json"),
                  json.dumps({"means": means, "per_entity": per_entity}, indent=1) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
