"""Scoring throughput of `--detect` on the CPU for the SMD configuration.

The SMD network (6 Mamba layers, d_model 128, FFN 512, d_state 16, 38 features, window 100,
score batch 256, from config/star.yaml) with random weights scores a synthetic series through
`scoring.score_series`, the path `--detect` and the evaluation share: one stride-1 window per
point, so each point costs a full 100-step forward. Weights do not change the work, so random
ones measure what a trained model costs. A short warm-up run comes first (numba kernels, caches).
Prints points/s plus machine info and writes bench/results/bench_detect.json.

    python bench/bench_detect.py [--points 5000] [--repeats 1] [--threads 1 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sensitive_hue.config import load_config  # noqa: E402
from sensitive_hue.detectors import build_detector  # noqa: E402
from sensitive_hue.io import write_json  # noqa: E402
from sensitive_hue.scoring import ScoreStats, score_series  # noqa: E402
from machine import machine  # noqa: E402  (one description of the machine for every bench)


def synthetic(points: int, features: int, seed: int = 0) -> np.ndarray:
    """z-scored-like float32 series: sines of different periods plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(points)[:, None]
    periods = rng.uniform(20, 500, size=features)
    series = np.sin(2 * np.pi * t / periods) + 0.2 * rng.standard_normal((points, features))
    return series.astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, nargs="+", default=[0],
                        help="torch CPU thread counts to measure, one run each (0 = torch's default)")
    args = parser.parse_args(argv)
    cfg = load_config(ROOT / "config" / "star.yaml", "SMD", overrides={"device": "cpu", "mamba_backend": "torch"})
    f_in = cfg.f_in
    torch.manual_seed(0)
    detector = build_detector(cfg, f_in, torch.device("cpu"), seed=0)
    stats = ScoreStats(median=np.zeros(f_in), iqr=np.ones(f_in))
    series = synthetic(args.points, f_in)
    info = machine()
    print(" ".join(f"{k}={v}" for k, v in info.items()))
    print(f"SMD configuration: {cfg.encode_layer_num} layers, d_model {cfg.dim_model}, FFN {cfg.dim_hidden_fc}, "
          f"d_state {cfg.d_state}, {f_in} features, window {cfg.step_num_in}, score batch {cfg.score_batch_size}; "
          f"{args.points:,} points, CPU")
    score_series(detector, stats, series[: cfg.step_num_in + 2 * cfg.score_batch_size])  # warm-up
    runs = []
    for threads in args.threads:
        torch.set_num_threads(threads or info["torch_threads"])
        load = os.getloadavg()[0]  # other processes on a shared machine slow the run: recorded with it
        seconds = []
        for _ in range(args.repeats):
            tic = time.perf_counter()
            points = score_series(detector, stats, series)
            seconds.append(time.perf_counter() - tic)
            assert points.scores.shape == (args.points,) and np.isfinite(points.scores).all()
        median = statistics.median(seconds)
        runs.append({"torch_threads": torch.get_num_threads(), "seconds": seconds, "median_seconds": median,
                     "points_per_second": args.points / median, "load_avg_1min_before": load,
                     "load_avg_1min_after": os.getloadavg()[0]})
        print(f"{torch.get_num_threads()} thread(s): {median:.1f} s for {args.points:,} points -> "
              f"{args.points / median:,.0f} points/s ({1000 * median / args.points:.2f} ms per point; load average "
              f"{load:.1f} before, {runs[-1]['load_avg_1min_after']:.1f} after)")
    write_json(ROOT / "bench" / "results" / "bench_detect.json", {
        "machine": info, "config": {k: getattr(cfg, k) for k in ("encode_layer_num", "dim_model", "dim_hidden_fc",
                                                                  "d_state", "d_conv", "expand", "step_num_in",
                                                                  "score_batch_size", "f_in")},
        "points": args.points, "runs": runs})
    return 0


if __name__ == "__main__":
    sys.exit(main())
