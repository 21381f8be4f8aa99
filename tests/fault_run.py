"""Run a CLI script with one injected fault, for the crash tests: `python tests/fault_run.py SCRIPT ARGS...`

The fault is named by the environment variable SH_FAULT (the production code has no test hooks):
  <SIG>:train:<entity>:<epoch>:<batches>  send signal <SIG> (KILL or INT) to this process once training
                                          of <entity> has done <batches> batches of epoch <epoch> (1-based)
  <SIG>:replace:<file name>               send <SIG> when a fully written temporary file is about to
                                          replace <file name> (atomic writes: the kill lands between the
                                          write and the rename)
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _fire(sig: signal.Signals) -> None:
    """Deliver `sig` to this thread, now (`os.kill(getpid())` lets the kernel pick any of the process's threads)."""
    signal.raise_signal(sig)


def _at_batch(sig: signal.Signals, entity: str, epoch: int, batches: int) -> None:
    from sensitive_hue import training

    armed = {"on": False, "done": 0}
    train_epoch, training_loss = training._train_epoch, training.training_loss

    def patched_epoch(state, loader, cfg, device, desc):
        armed["on"] = desc.rsplit(" epoch ", 1)[0] == entity and state.epoch + 1 == epoch
        armed["done"] = 0
        return train_epoch(state, loader, cfg, device, desc)

    def patched_loss(model, x, cfg, **kwargs):
        if armed["on"]:
            if armed["done"] == batches:
                armed["on"] = False
                _fire(sig)
            armed["done"] += 1
        return training_loss(model, x, cfg, **kwargs)

    training._train_epoch, training.training_loss = patched_epoch, patched_loss


def _at_replace(sig: signal.Signals, name: str) -> None:
    replace = os.replace

    def patched(src, dst, *args, **kwargs):
        if Path(dst).name == name:
            _fire(sig)
        return replace(src, dst, *args, **kwargs)

    os.replace = patched


def main() -> None:
    sys.path.insert(0, str(ROOT))
    spec = os.environ.get("SH_FAULT", "")
    if spec:
        sig_name, where, *args = spec.split(":")
        sig = getattr(signal, f"SIG{sig_name}")
        if sig == signal.SIGINT:  # a shell starts background jobs with SIGINT ignored, and children inherit that
            signal.signal(signal.SIGINT, signal.default_int_handler)
        if where == "train":
            _at_batch(sig, args[0], int(args[1]), int(args[2]))
        elif where == "replace":
            _at_replace(sig, args[0])
        else:
            raise SystemExit(f"unknown SH_FAULT {spec!r}")
    script, *argv = sys.argv[1:]
    sys.argv = [script, *argv]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
