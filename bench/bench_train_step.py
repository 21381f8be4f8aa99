"""One training step of the full SWaT configuration: our network vs the naive scan vs the attention encoder.

SWaT config of config/star.yaml (6 layers, d_model 128, FFN 512, d_state 16, 48 features, batch 64,
window 100, contrastive views on, dropout 0.2): one step as training runs it = `training_loss(backward=True)`
(full-window NLL forward and backward, then both contrastive views in one forward and backward) +
AdamW. Candidates, interleaved so load from other
processes hits them alike, with the same batch and the same crops/masks in each round:
  ours        the network with the `torch` Mamba backend (numba scan kernels on CPU) and the default
              `checkpoint_layers: true` (each encoder layer recomputed in backward, a third of the memory)
  ours_no_checkpoint  the same with every layer's activations kept (checkpoint_layers false)
  naive_scan  the same network with each Mamba block's recurrence as a Python loop over time under
              autograd (`bench_mamba.naive_forward`, mamba-ssm's `selective_scan_ref` formulation)
  attention   the attention-encoder variant (`--model sensitive_hue`), same depth and width and settings
Phase 1 times ours, attention and ours_no_checkpoint, the order reversed every other round; phase 2 times each naive step between
two steps of ours with the same crops. Ratios are medians of pairs close in time (ours / attention per round; each naive
step over the mean of the steps of ours around it; ours / ours_no_checkpoint per round), in wall-clock time and, for reference, in CPU
time of this process (all threads). Prints windows/s, ratios and the machine; writes
bench/results/bench_train_step.json. Targets: naive_scan / ours >= 20 and ours / attention <= 1.2.

    python bench/bench_train_step.py [--repeats 9] [--naive_repeats 3] [--threads N]
    (needs the package importable: `pip install -e . --no-deps` once, or prefix `PYTHONPATH=.`)
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads: see bench/README.md

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402
from pathlib import Path  # noqa: E402

import numba  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

from bench_mamba import naive_forward  # noqa: E402
from machine import machine  # noqa: E402
from sensitive_hue.config import load_config  # noqa: E402
from sensitive_hue.io import write_json  # noqa: E402
from sensitive_hue.losses import training_loss  # noqa: E402
from sensitive_hue.models import build_network  # noqa: E402

TARGET_NAIVE_OVER_OURS = 20.0
TARGET_OURS_OVER_ATTENTION = 1.2


def swat_config(model: str = "sensitive_mamba"):
    return load_config(str(ROOT / "config" / "star.yaml"), "SWaT").replace(model=model, mamba_backend="torch")


def step_fn(cfg, x: torch.Tensor, naive: bool = False):
    """A closure running one training step of a fresh network built from `cfg`."""
    torch.manual_seed(0)
    model = build_network(cfg, x.shape[2]).train()
    if naive:
        for layer in model.layers:
            layer.mixer.forward = types.MethodType(naive_forward, layer.mixer)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr)

    def step() -> None:  # as training._train_epoch runs it
        optimizer.zero_grad(set_to_none=True)
        training_loss(model, x, cfg, backward=True)
        optimizer.step()

    return step


def timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process, all threads) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def run_phases(candidates: dict, repeats: int, naive_repeats: int) -> dict[str, dict[str, list[float]]]:
    """Phase 1: ours, attention and ours_no_checkpoint, `repeats` rounds, the order reversed every other round
    against drift.
    Phase 2: each naive step between two steps of ours with the same seed, so the same crop length
    (the views' cost varies with it; the naive step's heavy allocations run apart from phase 1). Returns {"wall"|"cpu": {name: [seconds]}} with ours' phase-2 steps as "ours_bracket"."""
    out = {"wall": {}, "cpu": {}}

    def record(name: str, label: str, seed: int) -> None:
        torch.manual_seed(seed)  # the same crops and masks for the steps compared with each other
        w, c = timed(candidates[name])
        out["wall"].setdefault(label, []).append(w)
        out["cpu"].setdefault(label, []).append(c)
        print(f"  {label} {w:.2f} s wall, {c:.2f} s CPU (load {os.getloadavg()[0]:.1f})", flush=True)

    order = ("ours", "attention", "ours_no_checkpoint")
    for i in range(repeats):
        for name in order if i % 2 == 0 else order[::-1]:
            record(name, name, 1000 + i)
    for i in range(naive_repeats):  # the same seed (crop length) for the naive step and the two around it
        record("ours", "ours_bracket", 2000 + i)
        record("naive_scan", "naive_scan", 2000 + i)
        record("ours", "ours_bracket", 2000 + i)
    return out


def paired_ratios(times: dict[str, list[float]]) -> tuple[list[float], list[float], list[float]]:
    """naive / ours per naive step (ours = mean of the steps just before and after it), ours / attention
    and ours / ours_no_checkpoint per round: pairs close in time cancel most of the drift in the load."""
    bracket = times.get("ours_bracket", [])
    naive = [n / ((bracket[2 * i] + bracket[2 * i + 1]) / 2) for i, n in enumerate(times.get("naive_scan", []))]
    attention = [o / a for o, a in zip(times["ours"], times["attention"])]
    checkpoint = [o / p for o, p in zip(times["ours"], times["ours_no_checkpoint"])]
    return naive, attention, checkpoint


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=9, help="rounds of ours vs attention (median)")
    parser.add_argument("--naive_repeats", type=int, default=3, help="timed steps of the naive scan (about a minute each)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for torch and numba (0: torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
        numba.set_num_threads(args.threads)
    cfg = swat_config()
    torch.manual_seed(0)
    x = torch.randn(cfg.batch_size, cfg.step_num_in, cfg.f_in)
    candidates = {"ours": step_fn(cfg, x), "naive_scan": step_fn(cfg, x, naive=True),
                  "attention": step_fn(swat_config("sensitive_hue"), x),
                  "ours_no_checkpoint": step_fn(cfg.replace(checkpoint_layers=False), x)}
    info = machine()
    print(" ".join(f"{k}={v}" for k, v in info.items()))
    print(f"SWaT config: {cfg.encode_layer_num} layers, d_model {cfg.dim_model}, FFN {cfg.dim_hidden_fc}, "
          f"d_state {cfg.d_state}, {cfg.f_in} features, batch {cfg.batch_size}, window {cfg.step_num_in}, "
          f"contrastive {cfg.contrastive}, dropout {cfg.dropout}, checkpoint_layers {cfg.checkpoint_layers}")
    first_ms = timed(candidates["ours"])[0] * 1e3  # numba: compile or load the kernels
    for name in ("ours", "attention", "attention", "ours_no_checkpoint"):
        candidates[name]()  # warm-up (the naive loop has nothing to warm up and takes a minute)
    times = run_phases(candidates, args.repeats, args.naive_repeats)
    wall, cpu = times["wall"], times["cpu"]
    naive_wall, attention_wall, checkpoint_wall = paired_ratios(wall)
    naive_cpu, attention_cpu, _ = paired_ratios(cpu)
    naive_over_ours = statistics.median(naive_wall) if naive_wall else float("nan")
    ours_over_attention = statistics.median(attention_wall)
    rows = []
    for name in wall:
        seconds = statistics.median(wall[name])
        rows.append({"candidate": name, "step_s": round(seconds, 4), "windows_per_s": round(cfg.batch_size / seconds, 2),
                     "cpu_s": round(statistics.median(cpu[name]), 4), "runs": len(wall[name]),
                     "all_step_s": [round(t, 4) for t in wall[name]]})
    print("\n| candidate | step s (median, wall) | windows/s | CPU s per step | runs |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['candidate']} | {row['step_s']:.2f} | {row['windows_per_s']:.1f} | {row['cpu_s']:.2f} | "
              f"{row['runs']} |")
    met_naive = naive_over_ours >= TARGET_NAIVE_OVER_OURS
    met_attention = ours_over_attention <= TARGET_OURS_OVER_ATTENTION
    print(f"naive_scan / ours = {naive_over_ours:.1f}x wall (pairs: {', '.join(f'{r:.1f}' for r in naive_wall)}; "
          f"CPU time {statistics.median(naive_cpu) if naive_cpu else float('nan'):.1f}x) - target >= "
          f"{TARGET_NAIVE_OVER_OURS:.0f}x: {'met' if met_naive else 'MISSED'}")
    print(f"ours / attention = {ours_over_attention:.2f}x wall (rounds {min(attention_wall):.2f}-{max(attention_wall):.2f}; "
          f"CPU time {statistics.median(attention_cpu):.2f}x) - target <= {TARGET_OURS_OVER_ATTENTION}x: "
          f"{'met' if met_attention else 'MISSED'}")
    print(f"ours / ours_no_checkpoint = {statistics.median(checkpoint_wall):.2f}x wall (rounds "
          f"{min(checkpoint_wall):.2f}-{max(checkpoint_wall):.2f}): the time cost of checkpoint_layers")
    print(f"first step of ours (numba compile or cache load included): {first_ms:.0f} ms")
    info["load_avg_1min_end"] = round(os.getloadavg()[0], 2)
    print(f"1-minute load average: {info['load_avg_1min']} at start, {info['load_avg_1min_end']} at the end")
    out = ROOT / "bench" / "results" / "bench_train_step.json"
    write_json(out, {"machine": info, "config": {k: getattr(cfg, k) for k in (
        "encode_layer_num", "dim_model", "dim_hidden_fc", "d_state", "d_conv", "expand", "f_in", "batch_size",
        "step_num_in", "contrastive", "dropout", "checkpoint_layers")}, "rows": rows,
        "naive_over_ours": round(naive_over_ours, 2) if naive_wall else None,
        "naive_over_ours_paired": [round(r, 2) for r in naive_wall],
        "naive_over_ours_cpu_time": round(statistics.median(naive_cpu), 2) if naive_cpu else None,
        "ours_over_attention_rounds": [round(r, 3) for r in attention_wall],
        "ours_over_attention": round(ours_over_attention, 3),
        "ours_over_attention_cpu_time": round(statistics.median(attention_cpu), 3),
        "ours_over_ours_no_checkpoint": round(statistics.median(checkpoint_wall), 3),
        "ours_over_ours_no_checkpoint_rounds": [round(r, 3) for r in checkpoint_wall], "first_step_ms": round(first_ms, 1),
        "targets": {"naive_over_ours_min": TARGET_NAIVE_OVER_OURS, "met_naive": met_naive,
                    "ours_over_attention_max": TARGET_OURS_OVER_ATTENTION, "met_attention": met_attention}})
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
