"""How much a trained model's results depend on where its score statistics come from.

Each per-feature raw score is normalised by the median and IQR of validation scores before the max over
features. By default (`score_norm: validation`) they come from `val_ratio` of the training series held out
as a few contiguous blocks that no training window touches; SensitiveHUE's own code fits them on random
stride-1 windows drawn from the whole training series (which overlap its training windows). This script
re-scores one trained model, *not retrained*, with the median/IQR fitted on different sets of training
rows and reports the test metrics of each:

- held-out blocks (the default; the run's own statistics, as a check that it reproduces its table),
- every training row (spread over the whole series, mostly rows the model trained on: like the peer),
- training rows outside the blocks (in-sample only),
- random subsets of the training rows as large as the blocks (spread out, mostly in-sample),
- each fifth of the training series in turn (where in the series the statistics should come from),
- the test scores themselves (score_norm test, the transductive reference).

    python results/validation_stats.py --run /work/wt3/runs/peer-check/sensitive_hue/seed2022/SWaT \
        --processed_dir /work/wt3/data/processed-51 --out results/validation_stats/SWaT-peer_check.md
    python results/validation_stats.py --run /work/wt/runs/cpu/sensitive_mamba/seed2025/SWaT \
        --processed_dir data/processed --out results/validation_stats/SWaT-sensitive_mamba.md

No label is used to fit anything: the labels only evaluate. Needs the package importable.
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
from sensitive_hue.scoring import ScoreStats

RANDOM_DRAWS = 5
FIFTHS = 5


def _metrics(scores: np.ndarray, labels: np.ndarray) -> dict:
    return {"auc_pr": auc_pr(scores, labels), "auc_roc": auc_roc(scores, labels),
            "f1": best_f1(scores, labels)["f1"], "vus_pr": vus(scores, labels)["vus_pr"]}


def _dominant(stats: ScoreStats, contributions: np.ndarray, labels: np.ndarray, names: list[str], top: int = 3) -> str:
    """The features that most often give the max on normal test points (where false alarms come from)."""
    contributions = contributions[labels == 0]
    keep = np.setdiff1d(np.arange(contributions.shape[1]), stats.ignore_dims)
    winners = keep[contributions[:, keep].argmax(axis=1)]
    counts = np.bincount(winners, minlength=contributions.shape[1])
    order = np.argsort(counts)[::-1][:top]
    return ", ".join(f"{names[d]} {100 * counts[d] / len(winners):.0f}%" for d in order)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", required=True, help="a run folder of main.py (holds <entity>/model.pt and results.json)")
    parser.add_argument("--processed_dir", required=True, help="the processed data the run used")
    parser.add_argument("--entity", default="SWaT")
    parser.add_argument("--out", required=True, help="the table (.md; a .json beside it)")
    parser.add_argument("--note", action="append", default=[], help="a line for the table's header (repeatable)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    tic, commit = time.time(), git_commit()
    run = Path(args.run)
    estimator = BaseDetector.load(run / args.entity / "model.pt", device="cpu")
    cfg = estimator.config_
    data = load_entity(args.processed_dir, cfg.data_name, args.entity)
    names = data.meta.get("columns") or [f"dim {d}" for d in range(data.train.shape[1])]
    train_raw, _ = estimator.detector_.point_scores(data.train)
    test_raw, _ = estimator.detector_.point_scores(data.test)
    labels = data.labels.astype(np.int64)
    ignore = estimator.score_stats_.ignore_dims
    in_block = np.zeros(len(data.train), dtype=bool)
    for start, stop in estimator.val_blocks_:
        in_block[start:stop] = True
    n_val = int(in_block.sum())
    rng = np.random.default_rng(0)

    trained_at = json.loads(io.read_bytes(run / "results.json")).get("commit", "?")
    rows: list[tuple[str, int, dict, str]] = []

    def add(label: str, raw: np.ndarray) -> None:
        stats = ScoreStats.fit(raw, ignore)
        contributions = stats.contributions(test_raw)
        rows.append((label, len(raw), _metrics(stats.combine(contributions), labels),
                     _dominant(stats, contributions, labels, names)))

    add("held-out blocks, as stored in the run (default)", estimator.val_raw_)
    add("held-out blocks, re-scored here", train_raw[in_block])
    add("every training row (spread out, mostly trained on: like the peer)", train_raw)
    add("training rows outside the blocks (in-sample only)", train_raw[~in_block])
    draws = []
    for _ in range(RANDOM_DRAWS):
        pick = np.sort(rng.choice(len(data.train), size=n_val, replace=False))
        stats = ScoreStats.fit(train_raw[pick], ignore)
        draws.append(_metrics(stats.combine(stats.contributions(test_raw)), labels))
    mean = {k: float(np.mean([d[k] for d in draws])) for k in draws[0]}
    rows.append((f"random training rows, {RANDOM_DRAWS} draws as large as the blocks (mean)", n_val, mean, "-"))
    edges = np.linspace(0, len(data.train), FIFTHS + 1).astype(int)
    for k in range(FIFTHS):  # which stretch of the series the statistics need (SWaT runs through several operating stretches)
        add(f"training rows {edges[k]}-{edges[k + 1]} (fifth {k + 1} of the series)", train_raw[edges[k]:edges[k + 1]])
    add("the unlabelled test scores (score_norm test, transductive)", test_raw)

    blocks = ", ".join(f"{a}-{b}" for a, b in estimator.val_blocks_)
    lines = [f"# Where the score statistics come from: {cfg.data_name}, {cfg.model}", "",
             f"- Model: the run `{run}` (trained at {trained_at}, seed {cfg.seed}; its configuration is in its "
             "results.json), not retrained: only the per-feature median/IQR that normalise its raw scores change.",
             f"- Training series {len(data.train)} rows; held-out blocks (rows) {blocks}: {n_val} rows.",
             *(f"- {note}" for note in args.note),
             f"- Built at {commit} in {(time.time() - tic) / 60:.1f} min. Rebuild: `python results/validation_stats.py "
             f"{' '.join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))}`", "",
             "Test metrics (percent; oracle F1 chooses the threshold on the test labels, no point adjustment). "
             "'max-giving features' = the features that give the point score on most *normal* test points.", "",
             "| median/IQR fitted on | rows | AUC-PR | AUC-ROC | F1 oracle | VUS-PR | max-giving features (normal test points) |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for label, n, m, dom in rows:
        lines.append(f"| {label} | {n} | {100 * m['auc_pr']:.1f} | {100 * m['auc_roc']:.1f} | {100 * m['f1']:.1f} | "
                     f"{100 * m['vus_pr']:.1f} | {dom} |")
    io.write_text(args.out, "\n".join(lines) + "\n")
    json_rows = [{"fitted_on": label, "rows": n, **m} for label, n, m, _ in rows]
    io.write_text(Path(args.out).with_suffix(".json"), json.dumps(json_rows, indent=1) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
