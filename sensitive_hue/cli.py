"""Shared CLI plumbing: turn `UserError` into one line on stderr and a non-zero exit code."""

from __future__ import annotations

import sys
from typing import Callable

from .errors import UserError


def run_cli(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> int:
    """Call `main(argv)`; user errors print `error: <message>` (one line) and return their exit code."""
    try:
        return int(main(argv) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:  # the message, if any, says what was kept and how to resume
        print(f"interrupted: {exc}" if str(exc) else "interrupted", file=sys.stderr)
        return 130
