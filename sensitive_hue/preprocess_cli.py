"""`sensitive-mamba-preprocess` / `python preprocess.py`: raw files (as downloaded) -> data/processed/<dataset>/<entity>/.

    python preprocess.py --config_path config/star.yaml --data_name SMD --raw_dir data
    python preprocess.py --data_name csv --train_csv my_train.csv --test_csv my_test.csv
    sensitive-mamba-preprocess --data_name demo     # the console script (pip install -e .): the same command

Default paths are relative to the current folder (`--raw_dir data`, `--out_dir data/processed`), except
`--config_path`: `config/star.yaml` in the current folder and, when there is none, the repository's
`config/star.yaml` (as `main_cli.default_config`). `preprocess.py` at the repository root is a shim that calls
`main` here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .cli import ArgumentParser, empty_paths, entity_list, run_cli
from .config import load_config
from .data.preprocess import preprocess_dataset
from .data.sources import CsvFiles
from .errors import ConfigError
from .logs import setup_logging
from .main_cli import CONFIG, REPOSITORY_CONFIG, default_config

PROG = "preprocess.py"  # what usage and error lines call the command; the console script passes its own name


def parse_args(argv: list[str] | None, prog: str = PROG) -> argparse.Namespace:
    parser = ArgumentParser(prog=prog, description="Preprocess a dataset: raw files (as downloaded) -> "
                                                   "data/processed/<dataset>/<entity>/.")
    parser.add_argument("--config_path", help=f"settings file (default: {CONFIG}, else the repository's "
                                              f"{REPOSITORY_CONFIG})")
    parser.add_argument("--data_name", required=True, help="SWaT, SMD, MSL, SMAP, demo or csv")
    parser.add_argument("--raw_dir", default="data", help="folder holding SMAP_MSL/, SMD/, SWaT/ (default: data)")
    parser.add_argument("--out_dir", default="data/processed", help="processed output root (default: data/processed)")
    parser.add_argument("--entities", nargs="+", help="entity names or 1-based indices, space- or comma-separated "
                                                      "(csv: the entity name)")
    parser.add_argument("--train_csv", help="csv: training file (numeric columns, anomaly-free)")
    parser.add_argument("--test_csv", help="csv: test file (same columns plus the label column)")
    parser.add_argument("--label_column", default="label", help="csv: 0/1 label column of the test file")
    parser.add_argument("--timestamp_column", help="csv: column to leave out of the features")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    """The command: `argv` (default: `sys.argv[1:]`) as `preprocess.py` takes it; 0 on success. User errors
    raise (`run_cli` turns them into one `error:` line)."""
    args = parse_args(argv, prog)
    empty_paths(args, ("config_path", "raw_dir", "out_dir", "train_csv", "test_csv"))
    cfg = load_config(default_config() if args.config_path is None else args.config_path, args.data_name)
    entities = entity_list(args.entities)
    csv_files = None
    if args.data_name == "csv":
        if not args.train_csv or not args.test_csv:
            raise ConfigError("--data_name csv needs --train_csv FILE and --test_csv FILE")
        csv_files = CsvFiles(Path(args.train_csv), Path(args.test_csv), args.label_column, args.timestamp_column)
    elif args.train_csv or args.test_csv or args.timestamp_column:
        raise ConfigError(f"--train_csv/--test_csv/--timestamp_column are for --data_name csv, not {args.data_name}")
    setup_logging()
    preprocess_dataset(cfg, args.raw_dir, args.out_dir, entities=entities, csv=csv_files)
    return 0


def cli() -> int:
    """Console script `sensitive-mamba-preprocess`: `main(sys.argv[1:])`, user errors as one line and an exit code."""
    return run_cli(lambda argv: main(argv, prog="sensitive-mamba-preprocess"))


if __name__ == "__main__":
    sys.exit(cli())
