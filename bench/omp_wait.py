"""SWaT training step with torch's OpenMP threads spinning (the default) vs sleeping while they wait.

`OMP_WAIT_POLICY` is read once, when torch loads, so each setting runs in its own child process;
children alternate (unset, PASSIVE, unset, ...) so load from other processes hits both alike. Each
child times `--steps` SWaT training steps of our network (`bench_train_step.py`'s configuration)
after one warm-up and prints the median. main.py sets PASSIVE unless the user set the variable.
Writes bench/results/omp_wait.json.

    python bench/omp_wait.py [--pairs 3] [--steps 3]
    (needs the package importable: `pip install -e . --no-deps` once, or prefix `PYTHONPATH=.`)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(steps: int) -> None:
    """In a child process (`--child STEPS`, this script again, so bench/ is on its path): print the median
    seconds of `steps` SWaT training steps after one warm-up, under the OMP_WAIT_POLICY the parent set."""
    import time

    import torch
    from bench_train_step import step_fn, swat_config

    cfg = swat_config()
    torch.manual_seed(0)
    step = step_fn(cfg, torch.randn(cfg.batch_size, cfg.step_num_in, cfg.f_in))
    step()
    times = []
    for i in range(steps):
        torch.manual_seed(i)
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    print(statistics.median(times))


def child_seconds(policy: str | None, steps: int) -> float:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if policy is not None:
        env["OMP_WAIT_POLICY"] = policy
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(steps)]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--child", type=int, metavar="STEPS", help=argparse.SUPPRESS)  # internal: one child run
    args = parser.parse_args(argv)
    if args.child is not None:
        child(args.child)
        return 0
    from machine import machine  # imports torch here only; the children set their own policy
    from sensitive_hue.io import write_json

    info = machine()
    info.pop("omp_wait_policy")
    print(" ".join(f"{k}={v}" for k, v in info.items()))
    runs: dict[str, list[float]] = {"default (spinning)": [], "PASSIVE": []}
    for i in range(args.pairs):
        for name, policy in (("default (spinning)", None), ("PASSIVE", "PASSIVE")):
            runs[name].append(child_seconds(policy, args.steps))
            print(f"  pair {i + 1}: {name} {runs[name][-1]:.2f} s per step (load {os.getloadavg()[0]:.1f})", flush=True)
    ratios = [d / p for d, p in zip(runs["default (spinning)"], runs["PASSIVE"])]
    print("\n| OMP_WAIT_POLICY | s per SWaT training step (median of children) |")
    print("|---|---|")
    for name, ts in runs.items():
        print(f"| {name} | {statistics.median(ts):.2f} |")
    print(f"default / PASSIVE = {statistics.median(ratios):.2f}x (pairs: {', '.join(f'{r:.2f}' for r in ratios)})")
    info["load_avg_1min_end"] = round(os.getloadavg()[0], 2)
    print(f"1-minute load average: {info['load_avg_1min']} at start, {info['load_avg_1min_end']} at the end")
    out = ROOT / "bench" / "results" / "omp_wait.json"
    write_json(out, {"machine": info, "steps_per_child": args.steps, "seconds": runs,
                     "default_over_passive": [round(r, 3) for r in ratios],
                     "default_over_passive_median": round(statistics.median(ratios), 3)})
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
