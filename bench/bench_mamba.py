"""Mamba layer forward+backward: our torch backend vs a naive autograd loop vs a Transformer layer.

At B 64, T 100, d_state 16, d_conv 2, expand 1 (the paper's block) and d_model 128 and 64, times
one forward+backward (median) of: our `Mamba` (torch backend: numba kernels on CPU), the same
block with mamba-ssm's reference formulation (the recurrence as a Python loop over time under
autograd, (B, L, D, N) tensors materialised, as `selective_scan_ref`), and
`nn.TransformerEncoderLayer(d, 4, 4d, batch_first=True)` in training mode. Runs are interleaved so
load from other processes hits all three alike. On a CUDA machine the GPU is measured too.
Prints a table plus machine info and writes bench/results/bench_mamba.json.

    python bench/bench_mamba.py [--repeats 15] [--naive_repeats 3] [--threads N]
    (needs the package importable: `pip install -e . --no-deps` once, or prefix `PYTHONPATH=.`)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numba
import torch
import torch.nn.functional as F
from torch import nn

from machine import machine
from sensitive_hue.io import write_json
from sensitive_hue.models.mamba import Mamba, cuda_kernels

ROOT = Path(__file__).resolve().parents[1]

BATCH, LENGTH, D_STATE, D_CONV, EXPAND = 64, 100, 16, 2, 1


def naive_forward(m: Mamba, u: torch.Tensor) -> torch.Tensor:
    """The block with the recurrence as a Python loop over time, differentiated by autograd."""
    L = u.shape[1]
    x, z = m.in_proj(u).chunk(2, dim=-1)
    x = F.silu(m.conv1d(x.transpose(1, 2))[..., :L].transpose(1, 2))
    dt, Bm, Cm = torch.split(m.x_proj(x), [m.dt_rank, m.d_state, m.d_state], dim=-1)
    delta = F.softplus(m.dt_proj(dt))
    A = -torch.exp(m.A_log)
    delta_A = torch.exp(delta[..., None] * A)  # (B, L, D, N)
    delta_B_u = (delta * x)[..., None] * Bm[:, :, None, :]
    h = u.new_zeros(u.shape[0], m.d_inner, m.d_state)
    ys = []
    for t in range(L):
        h = delta_A[:, t] * h + delta_B_u[:, t]
        ys.append(torch.einsum("bdn,bn->bd", h, Cm[:, t]))
    y = torch.stack(ys, 1) + x * m.D
    return m.out_proj(y * F.silu(z))


def timed(fn, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) * 1e3


def bench_width(d_model: int, device: torch.device, repeats: int, naive_repeats: int) -> dict:
    """Median forward+backward ms of each candidate at one width."""
    torch.manual_seed(0)
    u = torch.randn(BATCH, LENGTH, d_model, device=device, requires_grad=True)
    grad = torch.randn(BATCH, LENGTH, d_model, device=device)
    ours = Mamba(d_model, D_STATE, D_CONV, EXPAND, backend="torch").to(device)
    attention = nn.TransformerEncoderLayer(d_model, 4, 4 * d_model, batch_first=True).to(device).train()
    candidates = {"ours": lambda: ours(u).backward(grad),
                  "naive_loop": lambda: naive_forward(ours, u).backward(grad),
                  "transformer": lambda: attention(u).backward(grad)}
    if device.type == "cuda" and cuda_kernels() is not None:
        fused = Mamba(d_model, D_STATE, D_CONV, EXPAND, backend="cuda").to(device)
        candidates["mamba_ssm_cuda"] = lambda: fused(u).backward(grad)
    first_call_ms = timed(candidates["ours"], device)  # numba: compile, or load from the disk cache
    for fn in candidates.values():
        fn()  # warm-up
    times = {name: [] for name in candidates}
    for i in range(repeats):
        for name, fn in candidates.items():
            if name != "naive_loop" or i < naive_repeats:
                times[name].append(timed(fn, device))
    row = {name: round(statistics.median(ts), 2) for name, ts in times.items()}
    row.update(d_model=d_model, device=device.type, first_call_ms=round(first_call_ms, 1),
               ours_vs_transformer=round(row["ours"] / row["transformer"], 3),
               naive_over_ours=round(row["naive_loop"] / row["ours"], 1), repeats=repeats, naive_repeats=naive_repeats)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--naive_repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for torch and numba (0: torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
        numba.set_num_threads(args.threads)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    info = machine()
    print(" ".join(f"{k}={v}" for k, v in info.items()))
    print(f"B {BATCH}, T {LENGTH}, d_state {D_STATE}, d_conv {D_CONV}, expand {EXPAND}; forward+backward, median ms")
    print("| device | d_model | ours | naive loop | transformer | ours / transformer | naive / ours |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    for device in devices:
        for d_model in (128, 64):
            row = bench_width(d_model, device, args.repeats, args.naive_repeats)
            rows.append(row)
            print(f"| {device.type} | {d_model} | {row['ours']:.1f} | {row['naive_loop']:.1f} | {row['transformer']:.1f} "
                  f"| {row['ours_vs_transformer']:.2f}x | {row['naive_over_ours']:.0f}x |"
                  + (f" mamba-ssm cuda {row['mamba_ssm_cuda']:.1f}" if "mamba_ssm_cuda" in row else ""))
    print("first call of ours (numba compile or cache load), ms:",
          ", ".join(f"{r['device']} d{r['d_model']}: {r['first_call_ms']:.0f}" for r in rows))
    info["load_avg_1min_end"] = round(os.getloadavg()[0], 2)
    print(f"1-minute load average: {info['load_avg_1min']} at start, {info['load_avg_1min_end']} at the end")
    out = ROOT / "bench" / "results" / "bench_mamba.json"
    write_json(out, {"machine": info, "shape": {"batch": BATCH, "length": LENGTH, "d_state": D_STATE,
                                                 "d_conv": D_CONV, "expand": EXPAND}, "rows": rows})
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
