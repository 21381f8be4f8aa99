"""Peak memory (RSS) of preprocessing, training and scoring SWaT, against materialising every window.

Runs, each in a fresh scratch folder, under `/usr/bin/time -v` (else `getrusage` of the children):
  1. `preprocess.py --data_name SWaT` alone;
  2. `main.py --data_name SWaT --max_epoch 1 --set stride=200` from raw data: preprocessing, one
     training epoch of the full SWaT network on stride-200 windows (the stride shortens the epoch,
     not the per-batch memory), validation, stride-1 scoring of all 89,984 test points, metrics, plots;
  3. the same with `--set checkpoint_layers=false` (every layer's activations kept for backward).
Prints the peak RSS of each next to what the paper's approach (every stride-1 window of train and
test materialised in float64) would hold, and writes bench/results/bench_memory.json.
Target: peak RSS <= 1.5 GB. Runs 2 and 3 take 5-20 minutes each on a 2-core CPU (stride-1 scoring).

    python bench/bench_memory.py [--raw_dir ../shared/datasets] [--keep] [-- extra main.py args]
    (needs the package importable: `pip install -e . --no-deps` once, or prefix `PYTHONPATH=.`)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TARGET_MB = 1536.0
# main.py runs: the defaults, then without layer checkpointing (checkpoint_layers, on by default, recomputes
# each encoder layer's activations in backward instead of keeping them).
RUNS = {"main.py": [], "main.py, checkpoint_layers=false": ["--set", "checkpoint_layers=false"]}
TIME = Path("/usr/bin/time")


def run_measured(cmd: list[str], log: Path) -> dict:
    """Run `cmd` in the repository root; wall seconds, peak RSS (MB) and exit code. Output goes to `log`."""
    use_time = TIME.is_file()
    full = [str(TIME), "-v", *cmd] if use_time else cmd
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.run(full, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - start
    text = log.read_text(errors="replace")
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    if match:
        peak_kb, how = int(match.group(1)), "/usr/bin/time -v"
    else:  # the children's maximum so far: only right when this child is the largest
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        how = "getrusage(RUSAGE_CHILDREN)" + ("" if peak_kb > before else " (not above an earlier child)")
    return {"command": " ".join(cmd), "returncode": proc.returncode, "wall_s": round(wall, 1),
            "peak_rss_mb": round(peak_kb / 1024, 1), "measured_with": how, "log": str(log)}


def windows_gb(rows: int, window: int, features: int, bytes_per_value: int = 8) -> float:
    """Size of every stride-1 window of a (rows, features) series, materialised."""
    return (rows - window + 1) * window * features * bytes_per_value / 1e9


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--raw_dir", default=str(ROOT.parent / "shared" / "datasets"))
    parser.add_argument("--work_dir", help="scratch folder (default: a new temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("extra", nargs="*", help="more main.py arguments, after --")
    args = parser.parse_args(argv)
    from machine import machine
    from sensitive_hue.config import load_config
    from sensitive_hue.io import write_json

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="bench_memory_"))
    work.mkdir(parents=True, exist_ok=True)
    info = machine()
    info["omp_wait_policy"] = os.environ.get("OMP_WAIT_POLICY", "PASSIVE (main.py's default)")
    print(" ".join(f"{k}={v}" for k, v in info.items()))
    runs = {}
    try:
        runs["preprocess.py"] = run_measured(
            [sys.executable, "preprocess.py", "--data_name", "SWaT", "--raw_dir", args.raw_dir,
             "--out_dir", str(work / "processed_alone")], work / "preprocess.log")
        print(f"preprocess.py: {runs['preprocess.py']['peak_rss_mb']:.0f} MB, {runs['preprocess.py']['wall_s']:.0f} s",
              flush=True)
        meta = json.loads((work / "processed_alone" / "SWaT" / "SWaT" / "meta.json").read_text())
        for i, (name, flags) in enumerate(RUNS.items()):
            main_args = ["--data_name", "SWaT", "--raw_dir", args.raw_dir, "--processed_dir",
                         str(work / "processed"), "--out_dir", str(work / f"out{i}"), "--max_epoch", "1", "--set",
                         "stride=200", *flags, *args.extra]
            runs[name] = run_measured([sys.executable, "main.py", *main_args], work / f"main{i}.log")
            print(f"{name}: {runs[name]['peak_rss_mb']:.0f} MB, {runs[name]['wall_s']:.0f} s", flush=True)
        results_file = work / "out0" / "SWaT" / "results.json"
        timings = json.loads(results_file.read_text())["timings"] if results_file.is_file() else {}
        entity = (json.loads(results_file.read_text())["entities"]["SWaT"]["timings"] if results_file.is_file() else {})
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    cfg = load_config(str(ROOT / "config" / "star.yaml"), "SWaT")
    (train_rows, features), (test_rows, _) = meta["shape"]["train"], meta["shape"]["test"]
    materialised = {"train_gb": round(windows_gb(train_rows, cfg.step_num_in, features), 2),
                    "test_gb": round(windows_gb(test_rows, cfg.step_num_in, features), 2)}
    materialised["total_gb"] = round(materialised["train_gb"] + materialised["test_gb"], 2)
    series_mb = (train_rows + test_rows) * features * 4 / 1e6
    print(f"\nSWaT: train {train_rows:,} x {features}, test {test_rows:,} x {features} (float32 series: "
          f"{series_mb:.0f} MB); window {cfg.step_num_in}")
    print("| run | peak RSS | wall | target <= 1.5 GB |")
    print("|---|---|---|---|")
    for name, r in runs.items():
        verdict = "met" if r["peak_rss_mb"] <= TARGET_MB else "MISSED"
        if r["returncode"] != 0:
            verdict += f" (exit {r['returncode']}: see the log)"
        print(f"| {name} | {r['peak_rss_mb']:.0f} MB | {r['wall_s']:.0f} s | {verdict} |")
    print(f"| every stride-1 window in float64 (paper approach) | {materialised['total_gb'] * 1000:.0f} MB "
          f"(train {materialised['train_gb']} GB + test {materialised['test_gb']} GB) | | |")
    if timings:
        print("main.py timings (results.json): " + ", ".join(f"{k} {v:.0f} s" for k, v in {**timings, **entity}.items()
                                                            if isinstance(v, (int, float))))
    info["load_avg_1min_end"] = round(os.getloadavg()[0], 2)
    print(f"1-minute load average: {info['load_avg_1min']} at start, {info['load_avg_1min_end']} at the end")
    out = ROOT / "bench" / "results" / "bench_memory.json"
    write_json(out, {"machine": info, "runs": runs, "materialised_float64_windows": materialised,
                     "series_float32_mb": round(series_mb, 1), "main_timings": timings, "entity_timings": entity,
                     "target_mb": TARGET_MB})
    print(f"wrote {out.relative_to(ROOT)}")
    return 0 if all(r["returncode"] == 0 for r in runs.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
