"""Logging to the terminal (without breaking tqdm bars) and to a file."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from tqdm.auto import tqdm

LOGGER_NAME = "sensitive_hue"


class _TqdmHandler(logging.StreamHandler):
    """Writes records through `tqdm.write` so progress bars stay intact."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record))
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


def get_logger() -> logging.Logger:
    return logging.getLogger(LOGGER_NAME)


def setup_logging(log_file: str | os.PathLike | None = None, verbose: bool = True) -> logging.Logger:
    """Configure the package logger: terminal (INFO) and, if given, `log_file` (appended)."""
    logger = get_logger()
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    if verbose:
        terminal = _TqdmHandler()
        terminal.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(terminal)
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        to_file = logging.FileHandler(log_file, encoding="utf-8")
        to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(to_file)
    return logger
