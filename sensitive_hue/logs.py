"""Logging to the terminal (without breaking tqdm bars) and to a file.

On the terminal, INFO records go to stdout; WARNING records go to stderr as one line starting
with `warning: ` (the prefix the CLIs use; never a Python warning), so they stand out from the
progress and can be told apart from the results.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from tqdm.auto import tqdm

LOGGER_NAME = "sensitive_hue"


WARNING_PREFIX = "warning: "


class _TqdmHandler(logging.StreamHandler):
    """Writes records through `tqdm.write` so progress bars stay intact; warnings to stderr, prefixed."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            if logging.WARNING <= record.levelno < logging.ERROR:
                if not text.startswith(WARNING_PREFIX):
                    text = WARNING_PREFIX + text
                tqdm.write(text, file=sys.stderr)
            else:
                tqdm.write(text)
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
        try:
            Path(log_file).parent.mkdir(parents=True, exist_ok=True)
            to_file = logging.FileHandler(log_file, encoding="utf-8")
        except OSError as exc:
            from .errors import OutputError

            raise OutputError(f"cannot write {log_file} ({exc.strerror or exc}); choose a writable output "
                              "folder") from None
        to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(to_file)
    return logger
