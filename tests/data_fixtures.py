"""Tiny raw datasets in every layout users download (plain and .gz), written into a temp folder."""

from __future__ import annotations

import contextlib
import gzip
import io
import logging
from pathlib import Path

import numpy as np

from sensitive_hue.config import load_config
from sensitive_hue.logs import get_logger

ROOT = Path(__file__).resolve().parents[1]
STAR = ROOT / "config" / "star.yaml"
WINDOW = 10  # small step_num_in so fixtures stay tiny


def config(name: str, **overrides):
    return load_config(STAR, name).replace(**{"step_num_in": WINDOW, **overrides})


@contextlib.contextmanager
def package_warnings():
    """Collect the messages of WARNING records of the package logger."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING:
                messages.append(record.getMessage())

    handler = Collect()
    get_logger().addHandler(handler)
    try:
        yield messages
    finally:
        get_logger().removeHandler(handler)


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def write(path: Path, data: bytes, gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path


def series(rows: int, dims: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(rows, dims)) * rng.uniform(0.5, 3.0, size=dims) + rng.uniform(-2, 2, size=dims)


# SMAP/MSL: (chan, spacecraft, sequences, test rows). P-2 twice (the second row must be ignored);
# T-10 has arrays but no row (it must not be read).
TELEMETRY = [
    ("P-1", "SMAP", "[[3, 5], [20, 20]]", 40),
    ("M-6", "MSL", "[[0, 2]]", 30),
    ("S-1", "SMAP", "[[10, 12]]", 35),
    ("P-2", "SMAP", "[[1, 1]]", 32),
    ("M-1", "MSL", "[[29, 29]]", 30),
    ("P-2", "SMAP", "[[5, 30]]", 32),
]


def write_smap_msl(raw: Path, gz: bool = True) -> None:
    lines = ["chan_id,spacecraft,anomaly_sequences,class,num_values"]
    lines += [f'{chan},{craft},"{seq}",[point],{rows}' for chan, craft, seq, rows in TELEMETRY]
    write(raw / "SMAP_MSL" / "labeled_anomalies.csv", ("\n".join(lines) + "\n").encode())
    seen = set()
    for index, (chan, craft, _, rows) in enumerate(TELEMETRY + [("T-10", "MSL", "", 30)]):
        if chan in seen:
            continue
        seen.add(chan)
        dims = 25 if craft == "SMAP" else 55
        train = series(25, dims, index)
        train[:, 3] = 1.0  # a constant column, as in the real data
        write(raw / "SMAP_MSL" / "train" / f"{chan}.npy", npy_bytes(train), gz=gz and index % 2 == 0)
        write(raw / "SMAP_MSL" / "test" / f"{chan}.npy", npy_bytes(series(rows, dims, 100 + index)), gz=gz)


def smd_text(array: np.ndarray) -> bytes:
    return "".join(",".join(f"{v:.6f}" for v in row) + "\n" for row in array).encode()


SMD_FIXTURE = ("machine-3-10", "machine-1-2", "machine-3-2", "machine-2-1")


def write_smd(raw: Path, machines: tuple[str, ...] = SMD_FIXTURE) -> None:
    """Alternates plain .txt and .txt.gz per machine."""
    for index, name in enumerate(machines):
        gz = index % 2 == 1
        rows = 20 + index
        labels = np.zeros(rows, dtype=int)
        labels[5:8] = 1
        write(raw / "SMD" / "train" / f"{name}.txt", smd_text(series(rows, 38, index)), gz)
        write(raw / "SMD" / "test" / f"{name}.txt", smd_text(series(rows, 38, 50 + index)), gz)
        write(raw / "SMD" / "labels" / f"{name}.txt", "".join(f"{v}\n" for v in labels).encode(), gz)


def write_swat(raw: Path, gz: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    train = series(40, 51, 1).astype(np.float32)
    test = series(30, 51, 2).astype(np.float32)
    y = np.zeros(30, dtype=np.int64)
    y[10:15] = 1
    write(raw / "SWaT" / "train.npy", npy_bytes(train), gz=gz)
    buffer = io.BytesIO()
    np.savez(buffer, x=test, y=y)
    write(raw / "SWaT" / "test.npz", buffer.getvalue())
    return train, test, y


def write_csv_pair(folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    train = folder / "plant_train.csv"
    test = folder / "plant_test.csv"
    train.write_text("time,temp,pressure,flow\n" + "".join(
        f"2024-01-01 {i // 60:02d}:{i % 60:02d},{20 + i % 3},{1.0 + 0.1 * (i % 5)},{i % 7}\n" for i in range(120)))
    # same features, another column order, plus the label column
    test.write_text("flow,time,label,pressure,temp\n" + "".join(
        f"{i % 7},2024-01-02 {i // 60:02d}:{i % 60:02d},{int(10 <= i < 13)},{1.0 + 0.1 * (i % 5)},{20 + i % 3}\n"
        for i in range(110)))
    return train, test
