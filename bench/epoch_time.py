"""Rough training-epoch and scoring time per dataset config, from timed batches.

For each dataset section of config/star.yaml: build its network, time `--steps` training steps
(forward + loss + backward + AdamW) and `--steps` scoring batches on random windows, then
extrapolate to one epoch / one test pass of one entity of the size given in TRAIN_ROWS (stride-1
windows, val_ratio held out). A full epoch of SWaT or SMD at stride 1 takes far too long on a
2-core CPU to time directly.

    python bench/epoch_time.py [--datasets SMD MSL] [--steps 3]
    (needs the package importable: `pip install -e . --no-deps` once, or prefix `PYTHONPATH=.`)
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time

import torch

from sensitive_hue.config import load_config
from sensitive_hue.losses import training_loss
from sensitive_hue.models import build_network

# (train rows, test rows) of one typical entity (../shared/datasets/README.md): SWaT's only one,
# SMD's average machine, MSL / SMAP's average channel.
ROWS = {"SWaT": (99_360, 89_984), "SMD": (23_696, 23_697), "MSL": (2_160, 2_731), "SMAP": (2_556, 8_071),
        "demo": (4_000, 4_000)}


def timed(fn, steps: int) -> float:
    fn()  # warm-up (kernel compilation, allocations)
    tic = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - tic) / steps


def measure(dataset: str, steps: int) -> dict:
    cfg = load_config("config/star.yaml", dataset)
    torch.manual_seed(0)
    f_in = cfg.f_in
    model = build_network(cfg, f_in)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    x = torch.randn(cfg.batch_size, cfg.step_num_in, f_in)

    def train_step() -> None:
        loss = training_loss(model, x, cfg)["total"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    train_s = timed(train_step, steps)
    model.eval()
    xs = torch.randn(cfg.score_batch_size, cfg.step_num_in, f_in)
    with torch.inference_mode():
        score_s = timed(lambda: model(xs), steps)
    train_rows, test_rows = ROWS[dataset]
    windows = (train_rows - cfg.step_num_in) // cfg.stride + 1
    train_batches = math.ceil(windows * (1 - cfg.val_ratio) / cfg.batch_size)
    eval_batches = math.ceil(windows * cfg.val_ratio / cfg.score_batch_size)
    test_batches = math.ceil((test_rows - cfg.step_num_in + 1) / cfg.score_batch_size)
    return {"dataset": dataset, "train_batch_s": train_s, "score_batch_s": score_s,
            "epoch_s": train_batches * train_s + eval_batches * score_s, "train_batches": train_batches,
            "test_pass_s": test_batches * score_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["demo", "MSL", "SMAP", "SMD", "SWaT"])
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print("| dataset | train batch s | score batch s | batches/epoch | epoch (1 entity) | test pass (1 entity) |")
    print("|---|---|---|---|---|---|")
    for dataset in args.datasets:
        r = measure(dataset, args.steps)
        print(f"| {dataset} | {r['train_batch_s']:.2f} | {r['score_batch_s']:.2f} | {r['train_batches']} | "
              f"{r['epoch_s'] / 60:.1f} min | {r['test_pass_s'] / 60:.1f} min |", flush=True)


if __name__ == "__main__":
    main()
