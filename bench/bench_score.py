"""Scoring throughput (no grad, stride 1) in windows/s for the SWaT configuration on the CPU.

Scores `--points` rows of a synthetic 48-feature series with the SWaT network (6 layers, d_model 128,
FFN 512, d_state 16, window 100; random weights cost the same as trained ones) through
`scoring.network_point_scores`, the path evaluation and `--detect` share: stride-1 windows, batches
of score_batch_size, `torch.inference_mode`, one decoded step per window. Every point costs one
forward of the whole network over its 100-step window. Candidates, interleaved:
  ours               score_batch_size 64 (the config default), torch's default threads
  ours_batch_256     score_batch_size 256 (the default before: larger batches leave the caches)
  ours_1_thread      torch and numba on one thread
  decode_all_steps   the same network decoding every step of every window (what scoring did
                     before `decode_steps`; the NLL then taken at select_pos)
  attention          the attention-encoder variant through the same scoring path
Prints windows/s, ratios and the machine; writes bench/results/bench_score.json.

    python bench/bench_score.py [--points 2000] [--repeats 3]
    (needs the package importable: `pip install -e . --no-deps` once, or prefix `PYTHONPATH=.`)
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads: see bench/README.md

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

from machine import machine  # noqa: E402
from bench_train_step import swat_config  # noqa: E402
from sensitive_hue.data.windows import WindowLoader, window_starts  # noqa: E402
from sensitive_hue.io import write_json  # noqa: E402
from sensitive_hue.losses import pointwise_nll  # noqa: E402
from sensitive_hue.models import build_network  # noqa: E402
from sensitive_hue.scoring import network_point_scores, select_position  # noqa: E402

SWAT_TEST_ROWS = 89_984  # ../shared/datasets/README.md


def decode_all_steps(model, series: np.ndarray, cfg) -> None:
    """Stride-1 scoring with every step of every window decoded, then the NLL taken at select_pos."""
    pos = select_position(cfg)
    loader = WindowLoader(series, window_starts(len(series), cfg.step_num_in, 1), cfg.step_num_in,
                          cfg.score_batch_size, shuffle=False)
    with torch.inference_mode():
        for x in loader:
            recon, log_prec = model(x)[:2]
            pointwise_nll(x, recon, log_prec)[:, pos].clone()


def with_threads(threads: int, fn):
    def run() -> None:
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)  # the numba scan follows torch's thread count
        try:
            fn()
        finally:
            torch.set_num_threads(previous)
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=2000, help="rows scored per run (one window each)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    cfg = swat_config()
    torch.manual_seed(0)
    ours = build_network(cfg, cfg.f_in).eval()
    attention = build_network(swat_config("sensitive_hue"), cfg.f_in).eval()
    series = np.random.default_rng(0).standard_normal((args.points, cfg.f_in)).astype(np.float32)
    cpu = torch.device("cpu")
    big = cfg.replace(score_batch_size=256)
    candidates = {
        "ours": lambda: network_point_scores(ours, series, cfg, cpu),
        "ours_batch_256": lambda: network_point_scores(ours, series, big, cpu),
        "ours_1_thread": with_threads(1, lambda: network_point_scores(ours, series, cfg, cpu)),
        "decode_all_steps": lambda: decode_all_steps(ours, series, cfg),
        "attention": lambda: network_point_scores(attention, series, cfg, cpu),
    }
    info = machine()
    print(" ".join(f"{k}={v}" for k, v in info.items()))
    print(f"SWaT config: {cfg.encode_layer_num} layers, d_model {cfg.dim_model}, FFN {cfg.dim_hidden_fc}, "
          f"d_state {cfg.d_state}, {cfg.f_in} features, window {cfg.step_num_in}; {args.points} points, stride 1")
    network_point_scores(ours, series[:cfg.step_num_in + 10], cfg, cpu)  # numba compile / cache load
    network_point_scores(attention, series[:cfg.step_num_in + 10], cfg, cpu)
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for i in range(args.repeats):
        for name, fn in candidates.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
            print(f"  round {i + 1}: {name} {times[name][-1]:.1f} s (load {os.getloadavg()[0]:.1f})", flush=True)
    base = statistics.median(times["ours"])
    rows = []
    for name, ts in times.items():
        seconds = statistics.median(ts)
        rows.append({"candidate": name, "seconds": round(seconds, 3), "windows_per_s": round(args.points / seconds, 1),
                     "time_vs_ours": round(seconds / base, 3), "runs": len(ts),
                     "swat_test_pass_min": round(SWAT_TEST_ROWS / (args.points / seconds) / 60, 1)})
    print(f"\n| candidate | s per {args.points} points | windows/s | time / ours | SWaT test pass (89,984 points) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['candidate']} | {r['seconds']:.1f} | {r['windows_per_s']:.0f} | {r['time_vs_ours']:.2f}x | "
              f"{r['swat_test_pass_min']:.1f} min |")
    info["load_avg_1min_end"] = round(os.getloadavg()[0], 2)
    print(f"1-minute load average: {info['load_avg_1min']} at start, {info['load_avg_1min_end']} at the end")
    out = ROOT / "bench" / "results" / "bench_score.json"
    write_json(out, {"machine": info, "points": args.points, "score_batch_size": cfg.score_batch_size, "rows": rows})
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
