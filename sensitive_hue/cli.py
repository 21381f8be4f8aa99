"""Shared CLI plumbing: turn `UserError` into one line on stderr and a non-zero exit code; an argument
parser whose usage errors are such errors too; the `--entities` list and the empty-path check shared by main.py
and preprocess.py."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Optional

from .errors import ConfigError, UserError


def run_cli(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> int:
    """Call `main(argv)` with progress bars on (a command-line run: bars on a terminal, plain lines in
    log files); user errors print `error: <message>` (one line) and return their exit code."""
    from . import progress

    try:
        with progress.shown(True):
            return int(main(argv) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:  # the message, if any, says what was kept and how to resume
        print(f"interrupted: {exc}" if str(exc) else "interrupted", file=sys.stderr)
        return 130


class ArgumentParser(argparse.ArgumentParser):
    """`argparse.ArgumentParser` whose usage errors (a bad or missing flag value) are a `ConfigError`:
    one `error:` line from `run_cli`, like every other bad input, instead of argparse's usage block."""

    def error(self, message: str):  # noqa: D401 - argparse's hook
        raise ConfigError(f"{message}; see {self.prog} --help")


def entity_list(values: Optional[list[str]], flag: str = "--entities") -> Optional[list[str]]:
    """The names or indices of `--entities`, given space- and/or comma-separated; None when the flag is
    absent. An empty list or item (`--entities ,`, `--entities ""`, `a,,b`) is a ConfigError, not
    "every entity": leave the flag out for that."""
    if values is None:
        return None
    items = [item.strip() for text in values for item in text.split(",")]
    if not items or any(not item for item in items):
        given = " ".join(repr(text) if not text.strip() or "," in text else text for text in values)
        raise ConfigError(f"{flag} {given}: empty entity name; give names or 1-based indices (e.g. {flag} M-6 3 "
                          f"or {flag} M-6,3), or leave {flag} out to run every entity")
    return items


def empty_paths(args: argparse.Namespace, names: tuple[str, ...]) -> None:
    """ConfigError for a path flag given as '' (it would silently mean the current folder)."""
    for name in names:
        if getattr(args, name, None) == "":
            raise ConfigError(f"--{name} '': an empty path; pass a file or folder, or leave --{name} out for its default")
