"""Wall time of a serial run vs `--workers N` Ray jobs on the same dataset (default MSL, all channels).

Runs `main.py` twice as subprocesses into temporary folders: serially with `--num_threads T` (default:
every core, what a serial run uses), then with `--workers N --cpus_per_job 1` (one torch thread per job).
Training uses the CPU protocol overlay `config/cpu_protocol.yaml` when it exists, else 1 epoch. Prints
the ratio plus machine info (load average before and after each run: other work on the machine skews
the figure) and writes bench/results/bench_parallel.json.

    python bench/bench_parallel.py [--data_name MSL] [--raw_dir ../shared/datasets] [--entities M-1 M-2 ...]
    (needs the package importable: `pip install -e . --no-deps` once, or prefix `PYTHONPATH=.`)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import machine  # one description of the machine for every bench
from sensitive_hue.io import write_json

ROOT = Path(__file__).resolve().parents[1]

OVERLAY = ROOT / "config" / "cpu_protocol.yaml"


def timed_run(args: argparse.Namespace, out: Path, extra: list[str]) -> dict:
    """One main.py run; wall time, load averages and the run's own entity timings."""
    command = [sys.executable, str(ROOT / "main.py"), "--config_path", "config/star.yaml", "--data_name",
               args.data_name, "--raw_dir", args.raw_dir, "--processed_dir", args.processed_dir, "--out_dir", str(out),
               "--no_plots", *(["--overlay", str(OVERLAY)] if OVERLAY.exists() else ["--max_epoch", "1"]),
               *(["--entities", *args.entities] if args.entities else []), *extra]
    load_before = os.getloadavg()[0]
    tic = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - tic
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stderr[-2000:]}")
    results = json.loads((out / args.data_name / "results.json").read_text())
    print(f"{' '.join(extra)}: {seconds:.1f} s", flush=True)
    return {"extra_args": extra, "wall_s": seconds, "load_before": load_before, "load_after": os.getloadavg()[0],
            "entities": len(results["entities"]), "f1_pa": results["overall"]["paper_protocol"]["f1_pa"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_name", default="MSL")
    parser.add_argument("--raw_dir", default="../shared/datasets")
    parser.add_argument("--processed_dir", default="data/processed")
    parser.add_argument("--entities", nargs="+", help="a subset of the entities (default: the dataset's selection)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--serial_threads", type=int, default=os.cpu_count(), help="torch threads of the serial run")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "bench_parallel.json"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_parallel_") as tmp:
        serial = timed_run(args, Path(tmp) / "serial", ["--num_threads", str(args.serial_threads)])
        ray_run = timed_run(args, Path(tmp) / "workers", ["--workers", str(args.workers), "--cpus_per_job", "1"])
    ratio = serial["wall_s"] / ray_run["wall_s"]
    report = {"dataset": args.data_name, "entities": args.entities or "all selected",
              "protocol": "config/cpu_protocol.yaml" if OVERLAY.exists() else "1 epoch", "machine": machine(),
              "serial": serial, "parallel": ray_run, "speedup": ratio}
    write_json(Path(args.out), report)
    print(f"{args.data_name} ({serial['entities']} entities): serial {serial['wall_s']:.1f} s, --workers {args.workers} "
          f"{ray_run['wall_s']:.1f} s, speedup {ratio:.2f}x -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
