"""`python -m sensitive_hue.metrics --scores S.npy --labels L.npy [--val_scores V.npy]`: all metrics as JSON.

For scores from any detector: one score per time step (1-D .npy, plain or .gz), labels 0/1 of
the same length. Prints the `evaluate_entity` result as JSON on stdout (a short summary on
stderr with --summary). Bad files give one `error:` line and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..cli import run_cli
from ..config import FIELDS
from ..errors import DataError
from ..io import find_data_file, load_npy
from .checks import check_scores, check_values
from .evaluate import evaluate_entity
from .summary import format_summary


def _load(path: str, flag: str):
    found = find_data_file(path)
    if found is None:
        raise DataError(f"{flag} {path}: file not found (also tried {path}.gz)")
    return load_npy(found)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sensitive_hue.metrics", description=__doc__.splitlines()[0])
    parser.add_argument("--scores", required=True, help="1-D .npy of anomaly scores (higher = more anomalous)")
    parser.add_argument("--labels", required=True, help="1-D .npy of 0/1 labels, same length")
    parser.add_argument("--val_scores", help="1-D .npy of validation scores (no test data): enables label-free thresholds")
    for name in ("pot_risk", "pot_level", "val_quantile"):
        parser.add_argument(f"--{name}", type=float, default=FIELDS[name].default, help=f"default {FIELDS[name].default}")
    parser.add_argument("--vus_buffer", type=int, default=FIELDS["vus_buffer"].default, help="VUS buffer length (default %(default)s)")
    parser.add_argument("--summary", action="store_true", help="also print a short human-readable summary on stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    scores = _load(args.scores, "--scores")
    labels = _load(args.labels, "--labels")
    val = None if args.val_scores is None else _load(args.val_scores, "--val_scores")
    check_scores(scores, labels, scores_name=f"--scores {args.scores}", labels_name=f"--labels {args.labels}")
    if val is not None:
        check_values(val, name=f"--val_scores {args.val_scores}")
    settings = argparse.Namespace(
        pot_risk=args.pot_risk, pot_level=args.pot_level, val_quantile=args.val_quantile, vus_buffer=args.vus_buffer
    )
    result = evaluate_entity(scores, labels, val, cfg=settings)
    print(json.dumps(result, indent=2, allow_nan=False))
    if args.summary:
        print(format_summary(result), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
