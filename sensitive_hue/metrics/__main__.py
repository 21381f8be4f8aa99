"""`python -m sensitive_hue.metrics --scores S.npy --labels L.npy [--val_scores V.npy]`: all metrics as JSON.

For scores from any detector: one score per time step (1-D .npy, plain or .gz), labels 0/1 of
the same length. Prints the `evaluate_entity` result as JSON on stdout (a short summary on
stderr with --summary). Bad files or flags give one `error:` line and exit code 2: a path that
is not a readable .npy file, --pot_risk/--pot_level/--val_quantile without --val_scores (they set
the label-free thresholds, which need validation scores), a --vus_buffer longer than the series.
Labels that make metrics meaningless (no anomaly, or every point anomalous) give a `warning:`
line on stderr; the JSON's `message` says the same.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from ..cli import ArgumentParser, run_cli
from ..config import FIELDS
from ..errors import ConfigError, DataError
from ..io import load_npy, require_file
from .checks import check_scores, check_values
from .evaluate import evaluate_entity
from .summary import format_summary, label_warning

THRESHOLD_FLAGS = ("pot_risk", "pot_level", "val_quantile")  # label-free thresholds: only with --val_scores


def _load(path: str, flag: str, what: str):
    found = require_file(path, f"pass {what} to {flag}", what=f"{flag} {path}", gz=True)
    try:
        return load_npy(found)
    except DataError as exc:  # "<path>: not a .npy array (a text file ...)": say which flag
        raise DataError(f"{flag} {exc}") from None


def _parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="python -m sensitive_hue.metrics", description=__doc__.splitlines()[0])
    parser.add_argument("--scores", required=True, help="1-D .npy of anomaly scores (higher = more anomalous)")
    parser.add_argument("--labels", required=True, help="1-D .npy of 0/1 labels, same length")
    parser.add_argument("--val_scores", help="1-D .npy of validation scores (no test data): enables label-free thresholds")
    for name in THRESHOLD_FLAGS:
        parser.add_argument(f"--{name}", type=float, help=f"label-free threshold setting, with --val_scores only "
                                                          f"(default {FIELDS[name].default})")
    parser.add_argument("--vus_buffer", type=int, help="VUS buffer length, 0 to the series length (default "
                                                        f"{FIELDS['vus_buffer'].default})")
    parser.add_argument("--summary", action="store_true", help="also print a short human-readable summary on stderr")
    return parser


def _settings(args: argparse.Namespace, n_points: int) -> argparse.Namespace:
    """The evaluation settings; ConfigError for a flag that would be ignored or is out of range."""
    given = [f"--{name}" for name in THRESHOLD_FLAGS if getattr(args, name) is not None]
    if given and args.val_scores is None:
        raise ConfigError(f"{', '.join(given)} set{'s' if len(given) == 1 else ''} the label-free thresholds, which "
                          "need validation scores: add --val_scores V.npy or leave "
                          f"{'it' if len(given) == 1 else 'them'} out")
    values = {name: FIELDS[name].default if getattr(args, name) is None else getattr(args, name)
              for name in THRESHOLD_FLAGS}
    for name, value in values.items():
        if not (math.isfinite(value) and 0 < value < 1):
            raise ConfigError(f"--{name} must be a number in (0, 1), got {value}")
    default = FIELDS["vus_buffer"].default
    if args.vus_buffer is not None and not 0 <= args.vus_buffer <= n_points:  # VUS's cost grows with the buffer
        raise ConfigError(f"--vus_buffer {args.vus_buffer}: the VUS buffer must be 0 to the series length "
                          f"({n_points} points); pass --vus_buffer {min(default, n_points)} or less")
    return argparse.Namespace(**values, vus_buffer=default if args.vus_buffer is None else args.vus_buffer)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    scores = _load(args.scores, "--scores", "a 1-D .npy of scores")
    labels = _load(args.labels, "--labels", "a 1-D .npy of 0/1 labels")
    val = None if args.val_scores is None else _load(args.val_scores, "--val_scores", "a 1-D .npy of validation scores")
    scores, labels = check_scores(scores, labels, scores_name=f"--scores {args.scores}",
                                  labels_name=f"--labels {args.labels}")
    if val is not None:
        check_values(val, name=f"--val_scores {args.val_scores}")
    settings = _settings(args, len(scores))
    result = evaluate_entity(scores, labels, val, cfg=settings)
    print(json.dumps(result, indent=2, allow_nan=False))
    if args.summary:
        print(format_summary(result, note=False), file=sys.stderr)
    warning = label_warning(result)
    if warning:
        print(f"warning: --labels {args.labels}: {warning}", file=sys.stderr)
    return 0


def cli() -> int:
    """Console script `sensitive-mamba-metrics`: `main(sys.argv[1:])`, user errors as one line and an exit code."""
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(cli())
