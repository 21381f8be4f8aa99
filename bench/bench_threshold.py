"""Exact best F1 (with and without PA) vs the paper's 1000-quantile threshold loop.

The paper picks its threshold by trying the 999 inner quantiles of linspace(0, 1, 1001) of the
test scores (`pred = score >= np.quantile(scores, q)`), applying point adjustment and keeping the
best F1. `sensitive_hue.metrics.best_f1` searches every distinct threshold exactly in
O(N log N). On 90k points with realistic anomaly segments this prints a table (median times,
speed ratio, F1 of both) plus machine info and writes bench/results/bench_threshold.json.

    python bench/bench_threshold.py [--points 90000] [--repeats 3]
    (needs the package importable: `pip install -e . --no-deps` once, or prefix `PYTHONPATH=.`)
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from machine import cpu_model
from sensitive_hue.io import write_json
from sensitive_hue.metrics import best_f1

ROOT = Path(__file__).resolve().parents[1]

QUANTILES = np.linspace(0, 1, 1001)[1:-1]


def make_series(n: int, seed: int, informative: bool) -> tuple[np.ndarray, np.ndarray]:
    """~12% anomalies in ~40 segments of lognormal length (2..3000 points), like SWaT / SMAP."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(n, dtype=np.int8)
    while labels.mean() < 0.12:
        length = int(np.clip(rng.lognormal(5.0, 1.2), 2, 3000))
        start = int(rng.integers(0, n - length))
        labels[start : start + length] = 1
    scores = rng.random(n)
    if informative:  # a detector that sees some segments clearly and others barely
        strength = np.zeros(n)
        starts = np.flatnonzero(np.diff(np.r_[0, labels]) == 1)
        ends = np.flatnonzero(np.diff(np.r_[labels, 0]) == -1) + 1
        for s, e in zip(starts, ends):
            strength[s:e] = rng.choice([0.1, 0.5, 1.5])
        scores = scores + strength * rng.random(n)
    return scores, labels


def loop_point_adjust(pred: np.ndarray, starts: np.ndarray, ends: np.ndarray, anomalies: np.ndarray) -> np.ndarray:
    """Vectorised PA for the loop (the fastest form of the per-threshold step, to be fair to it)."""
    cum = np.r_[0, np.cumsum(pred)]
    hit = cum[ends] > cum[starts]
    pred[anomalies[np.repeat(hit, ends - starts)]] = True
    return pred


def paper_loop(scores: np.ndarray, labels: np.ndarray, point_adjust: bool, precomputed: bool) -> float:
    """Best F1 over the paper's 999 quantile thresholds; quantiles per step (as a loop) or precomputed."""
    starts = np.flatnonzero(np.diff(np.r_[0, labels]) == 1)
    ends = np.flatnonzero(np.diff(np.r_[labels, 0]) == -1) + 1
    truth = labels == 1
    anomalies = np.flatnonzero(truth)
    thresholds = np.quantile(scores, QUANTILES) if precomputed else None
    best = 0.0
    for i, q in enumerate(QUANTILES):
        threshold = thresholds[i] if precomputed else np.quantile(scores, q)
        pred = scores >= threshold
        if point_adjust:
            pred = loop_point_adjust(pred, starts, ends, anomalies)
        tp = np.count_nonzero(pred & truth)
        fp = np.count_nonzero(pred) - tp
        fn = np.count_nonzero(truth) - tp
        best = max(best, 2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return best


def timed(fn, repeats: int) -> tuple[float, object]:
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, value


def machine() -> dict:
    return {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=90_000)
    parser.add_argument("--repeats", type=int, default=3, help="loop timings (median); the exact search runs 10x as often")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "bench_threshold.json"))
    args = parser.parse_args(argv)

    rows = []
    for name, informative in (("detector-like scores", True), ("uniform random scores", False)):
        scores, labels = make_series(args.points, seed=0, informative=informative)
        for point_adjust in (True, False):
            exact_ms, exact = timed(lambda: best_f1(scores, labels, point_adjust=point_adjust), 10 * args.repeats)
            loop_ms, loop_f1 = timed(lambda: paper_loop(scores, labels, point_adjust, precomputed=False), args.repeats)
            pre_ms, pre_f1 = timed(lambda: paper_loop(scores, labels, point_adjust, precomputed=True), args.repeats)
            rows.append({
                "scores": name,
                "point_adjust": point_adjust,
                "n_points": len(scores),
                "n_segments": int(np.count_nonzero(np.diff(np.r_[0, labels]) == 1)),
                "anomaly_ratio": float(labels.mean()),
                "exact_ms": exact_ms,
                "paper_loop_ms": loop_ms,
                "loop_precomputed_quantiles_ms": pre_ms,
                "ratio_vs_paper_loop": loop_ms / exact_ms,
                "ratio_vs_precomputed_loop": pre_ms / exact_ms,
                "exact_f1": exact["f1"],
                "paper_loop_f1": loop_f1,
                "exact_ge_loop": bool(exact["f1"] >= max(loop_f1, pre_f1) - 1e-12),
            })

    info = machine()
    print(f"machine: {info['cpu']} ({info['cpu_count']} CPUs), {info['platform']}, python {info['python']}, numpy {info['numpy']}")
    print(f"{'scores':<22} {'PA':<3} {'exact ms':>9} {'loop ms':>9} {'ratio':>7} {'loop* ms':>9} {'ratio*':>7} {'exact F1':>9} {'loop F1':>8}")
    for r in rows:
        print(
            f"{r['scores']:<22} {'yes' if r['point_adjust'] else 'no':<3} {r['exact_ms']:>9.2f} {r['paper_loop_ms']:>9.1f} "
            f"{r['ratio_vs_paper_loop']:>6.0f}x {r['loop_precomputed_quantiles_ms']:>9.1f} {r['ratio_vs_precomputed_loop']:>6.0f}x "
            f"{r['exact_f1']:>9.4f} {r['paper_loop_f1']:>8.4f}"
        )
    print("loop = the paper's search (np.quantile per threshold); loop* = same thresholds, quantiles computed once")
    write_json(args.out, {"machine": info, "repeats": args.repeats, "rows": rows})
    print(f"wrote {args.out}")
    return 0 if all(r["exact_ge_loop"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
