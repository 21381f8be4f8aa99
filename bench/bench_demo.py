"""Wall time of the README's first command, `python main.py --data_name demo`, from scratch.

Runs it once (in a fresh scratch folder for the processed data and the outputs, so the demo data is
generated, the model trained for the demo config's epochs, the test series scored and plotted, as a
new user sees it) under `/usr/bin/time -v`; prints the wall time, peak RSS and the run's own
timings; writes bench/results/bench_demo.json. Target: <= 3 minutes.

    python bench/bench_demo.py [--repeats 1] [--keep]
    (needs the package importable: `pip install -e . --no-deps` once, or prefix `PYTHONPATH=.`)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TARGET_S = 180.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args(argv)
    from machine import machine
    from bench_memory import run_measured
    from sensitive_hue.io import write_json

    info = machine()
    info["omp_wait_policy"] = os.environ.get("OMP_WAIT_POLICY", "PASSIVE (main.py's default)")
    print(" ".join(f"{k}={v}" for k, v in info.items()))
    runs = []
    for i in range(args.repeats):
        work = Path(tempfile.mkdtemp(prefix="bench_demo_"))
        try:
            run = run_measured([sys.executable, "main.py", "--data_name", "demo", "--processed_dir",
                                str(work / "processed"), "--out_dir", str(work / "out")], work / "main.log")
            results = work / "out" / "demo" / "results.json"
            if results.is_file():
                data = json.loads(results.read_text())
                run["timings"] = {k: round(v, 1) for k, v in data["timings"].items()}
                run["entity_timings"] = {k: round(v, 1) for k, v in data["entities"]["demo"]["timings"].items()}
                run["epochs_run"] = data["epochs_run"]["demo"]
                run["f1_paper_protocol"] = data["overall"]["paper_protocol"].get("f1")
            else:
                run["log_tail"] = (work / "main.log").read_text(errors="replace")[-2000:]
        finally:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
        runs.append(run)
        print(f"  run {i + 1}: {run['wall_s']:.0f} s wall, peak RSS {run['peak_rss_mb']:.0f} MB, exit {run['returncode']}"
              f" (load {os.getloadavg()[0]:.1f})", flush=True)
        if run["returncode"] != 0:
            print(run.get("log_tail", ""))
    wall = statistics.median(r["wall_s"] for r in runs)
    met = wall <= TARGET_S and all(r["returncode"] == 0 for r in runs)
    print("\n| command | wall (median) | peak RSS | target <= 3 min |")
    print("|---|---|---|---|")
    print(f"| python main.py --data_name demo | {wall:.0f} s ({wall / 60:.1f} min) | "
          f"{max(r['peak_rss_mb'] for r in runs):.0f} MB | {'met' if met else 'MISSED'} |")
    if "timings" in runs[-1]:
        print("run's own timings: " + ", ".join(f"{k} {v} s" for k, v in {**runs[-1]["timings"],
                                                                        **runs[-1]["entity_timings"]}.items()))
    info["load_avg_1min_end"] = round(os.getloadavg()[0], 2)
    print(f"1-minute load average: {info['load_avg_1min']} at start, {info['load_avg_1min_end']} at the end")
    out = ROOT / "bench" / "results" / "bench_demo.json"
    write_json(out, {"machine": info, "runs": runs, "wall_s_median": wall, "target_s": TARGET_S, "met": met})
    print(f"wrote {out.relative_to(ROOT)}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
