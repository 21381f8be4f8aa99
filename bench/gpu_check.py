"""GPU check: the torch backend on CUDA against the CPU, and SWaT training / scoring windows/s on the GPU.

Run through `bench/gpu_check.sh` (which finds a Python with CUDA torch). Checks, float64 and float32:
  - a Mamba block (SWaT width: d_model 128, d_state 16, d_conv 2, expand 1, torch backend): CPU
    (numba scan kernels) vs CUDA (pure-torch scan): output and the gradients of the input and of
    every parameter;
  - the SWaT network (6 layers, dropout 0 so both devices compute the same function): eval-mode
    outputs, and `training_loss` (NLL + contrastive views; crops and masks come from the CPU
    generator on both devices) with the gradients of every parameter;
  - with mamba-ssm importable: the `cuda` backend against the `torch` backend on the GPU.
Then windows/s on the GPU for the SWaT configuration (dropout 0.2, batch 64, window 100): training
steps (training_loss + backward + AdamW) and stride-1 scoring through `scoring.network_point_scores`
at score_batch_size 64 (the default), 256 and 1024, for the torch backend and, if available, the cuda backend.
Prints everything and writes `--out` (JSON). Exit 1 when a check fails.

    python bench/gpu_check.py [--out bench/results/gpu_check.json]
    python bench/gpu_check.py --cpu --steps 1 --points 600 --out /tmp/gpu_check.json   # dry run without a GPU:
        # the pure-torch scan (CUDA's) against the numba kernels, both on the CPU
    (needs the package importable: `pip install -e . --no-deps` once, or prefix `PYTHONPATH=.`)
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import copy  # noqa: E402
import functools  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

from sensitive_hue.config import load_config  # noqa: E402
from sensitive_hue.io import write_json  # noqa: E402
from sensitive_hue.losses import training_loss  # noqa: E402
from sensitive_hue.models import build_network, mamba  # noqa: E402
from sensitive_hue.models.mamba import Mamba, cuda_kernels  # noqa: E402
from sensitive_hue.scoring import network_point_scores  # noqa: E402

TOLERANCE = {torch.float64: 1e-9, torch.float32: 2e-3}  # max |a - b| / max |b|, per tensor
CUDA_KERNEL_TOLERANCE = 5e-3  # mamba-ssm's fused kernels vs our scan, float32


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def worst(pairs: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> tuple[str, float]:
    errors = {name: rel_err(a, b) for name, (a, b) in pairs.items()}
    name = max(errors, key=errors.get)
    return name, errors[name]


def swat_config(**kw):
    return load_config(str(ROOT / "config" / "star.yaml"), "SWaT").replace(mamba_backend="torch", **kw)


@contextlib.contextmanager
def torch_scan(device: torch.device):
    """On the CPU (dry run), route the Mamba blocks to the pure-torch scan that CUDA runs, so the
    check still compares two implementations; on CUDA that scan is already the one used."""
    original = mamba.selective_scan
    if device.type == "cpu":
        mamba.selective_scan = functools.partial(original, impl="torch")
    try:
        yield
    finally:
        mamba.selective_scan = original


def block_outputs(block: Mamba, x: torch.Tensor, grad: torch.Tensor) -> dict[str, torch.Tensor]:
    x = x.clone().requires_grad_(True)
    block.zero_grad(set_to_none=True)
    y = block(x)
    y.backward(grad)
    out = {"output": y, "grad input": x.grad}
    out.update({f"grad {n}": p.grad for n, p in block.named_parameters()})
    return out


def network_outputs(model, x: torch.Tensor, cfg) -> dict[str, torch.Tensor]:
    model.eval()
    with torch.no_grad():
        recon, log_prec = model(x)
    model.train()  # dropout is 0: train mode computes the same function
    model.zero_grad(set_to_none=True)
    torch.manual_seed(123)  # crops and masks: CPU generator on both devices
    losses = training_loss(model, x, cfg)
    losses["total"].backward()
    out = {"recon": recon, "log_prec": log_prec, "loss total": losses["total"], "loss nll": losses["nll"],
           "loss contrastive": losses["contrastive"]}
    out.update({f"grad {n}": p.grad for n, p in model.named_parameters() if p.grad is not None})
    return out


def compare(name: str, ref: dict, other: dict, tol: float, checks: list) -> None:
    label, err = worst({k: (other[k], ref[k]) for k in ref})
    ok = err <= tol
    checks.append({"check": name, "worst": label, "rel_err": err, "tolerance": tol, "ok": ok})
    print(f"  {'ok  ' if ok else 'FAIL'} {name}: worst {label} rel err {err:.2e} (tolerance {tol:.0e})", flush=True)


def correctness(device: torch.device, checks: list) -> None:
    print("correctness (reference: CPU; TF32 off)")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    for dtype in (torch.float64, torch.float32):
        torch.manual_seed(0)
        block = Mamba(128, 16, 2, 1, backend="torch").to(dtype)
        x = torch.randn(4, 100, 128, dtype=dtype)
        grad = torch.randn(4, 100, 128, dtype=dtype)
        ref = block_outputs(block, x, grad)
        with torch_scan(device):
            other = block_outputs(copy.deepcopy(block).to(device), x.to(device), grad.to(device))
        compare(f"Mamba block {str(dtype)[6:]}: {device.type} torch scan vs cpu numba scan", ref, other, TOLERANCE[dtype], checks)
        cfg = swat_config(dropout=0.0)
        torch.manual_seed(0)
        net = build_network(cfg, cfg.f_in).to(dtype)
        xs = torch.randn(8, cfg.step_num_in, cfg.f_in, dtype=dtype)
        ref = network_outputs(net, xs, cfg)
        with torch_scan(device):
            other = network_outputs(copy.deepcopy(net).to(device), xs.to(device), cfg)
        compare(f"SWaT network {str(dtype)[6:]}: {device.type} torch scan vs cpu numba scan", ref, other, TOLERANCE[dtype], checks)
    if device.type == "cuda" and cuda_kernels() is not None:
        torch.manual_seed(0)
        block = Mamba(128, 16, 2, 1, backend="torch").to(device)
        fused = Mamba(128, 16, 2, 1, backend="cuda").to(device)
        fused.load_state_dict(block.state_dict())
        x, grad = torch.randn(4, 100, 128, device=device), torch.randn(4, 100, 128, device=device)
        compare("Mamba block float32 cuda backend vs torch backend", block_outputs(block, x, grad),
                block_outputs(fused, x, grad), CUDA_KERNEL_TOLERANCE, checks)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def train_windows_per_s(cfg, device: torch.device, steps: int) -> float:
    torch.manual_seed(0)
    model = build_network(cfg, cfg.f_in).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    x = torch.randn(cfg.batch_size, cfg.step_num_in, cfg.f_in, device=device)

    def step() -> None:
        loss = training_loss(model, x, cfg)["total"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return steps * cfg.batch_size / (time.perf_counter() - start)


def score_windows_per_s(cfg, device: torch.device, points: int) -> float:
    torch.manual_seed(0)
    model = build_network(cfg, cfg.f_in).to(device).eval()
    series = np.random.default_rng(0).standard_normal((points, cfg.f_in)).astype(np.float32)
    network_point_scores(model, series[:2 * cfg.score_batch_size], cfg, device)  # warm-up
    sync(device)
    start = time.perf_counter()
    network_point_scores(model, series, cfg, device)
    sync(device)
    return points / (time.perf_counter() - start)


def throughput(device: torch.device, steps: int, points: int) -> list[dict]:
    print(f"throughput on {device.type}: SWaT config, {steps} training steps of batch 64; {points} points scored")
    backends = ["torch"] + (["cuda"] if device.type == "cuda" and cuda_kernels() is not None else [])
    rows = []
    for backend in backends:
        cfg = swat_config().replace(mamba_backend=backend)
        row = {"backend": backend, "train_windows_per_s": round(train_windows_per_s(cfg, device, steps), 1)}
        for batch in (64, 256, 1024):
            row[f"score_windows_per_s_batch{batch}"] = round(
                score_windows_per_s(cfg.replace(score_batch_size=batch), device, points), 1)
        rows.append(row)
        print(f"  {backend} backend: training {row['train_windows_per_s']:.0f} windows/s; scoring "
              + ", ".join(f"{row[f'score_windows_per_s_batch{b}']:.0f} windows/s (batch {b})" for b in (64, 256, 1024)),
              flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "gpu_check.json"))
    parser.add_argument("--cpu", action="store_true", help="dry run of the script on the CPU (no GPU needed)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--points", type=int, default=20000)
    args = parser.parse_args(argv)
    if not args.cpu and not torch.cuda.is_available():
        print("no CUDA device visible to torch; run on a CUDA machine (or --cpu for a dry run)")
        return 2
    device = torch.device("cpu" if args.cpu else "cuda")
    info = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
            "gpu": torch.cuda.get_device_name(0) if device.type == "cuda" else None,
            "mamba_ssm_kernels": cuda_kernels() is not None, "cpu_threads": torch.get_num_threads()}
    print(" ".join(f"{k}={v}" for k, v in info.items()), flush=True)
    checks: list[dict] = []
    started = time.perf_counter()
    correctness(device, checks)
    rows = throughput(device, args.steps, args.points)
    info["seconds"] = round(time.perf_counter() - started, 1)
    failed = [c["check"] for c in checks if not c["ok"]]
    print(f"{len(checks) - len(failed)}/{len(checks)} checks passed; {info['seconds']:.0f} s")
    write_json(Path(args.out), {"machine": info, "checks": checks, "throughput": rows})
    print(f"wrote {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
