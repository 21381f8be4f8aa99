"""Preprocess a dataset: raw files (as downloaded) -> data/processed/<dataset>/<entity>/.

    python preprocess.py --config_path config/star.yaml --data_name SMD --raw_dir data
    python preprocess.py --data_name csv --train_csv my_train.csv --test_csv my_test.csv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sensitive_hue.cli import ArgumentParser, empty_paths, entity_list, run_cli
from sensitive_hue.config import load_config
from sensitive_hue.data.preprocess import preprocess_dataset
from sensitive_hue.data.sources import CsvFiles
from sensitive_hue.errors import ConfigError
from sensitive_hue.logs import setup_logging

DEFAULT_CONFIG = Path(__file__).resolve().parent / "config" / "star.yaml"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(prog="preprocess.py", description=__doc__.splitlines()[0])
    parser.add_argument("--config_path", default=str(DEFAULT_CONFIG), help="settings file (default: %(default)s)")
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    empty_paths(args, ("config_path", "raw_dir", "out_dir", "train_csv", "test_csv"))
    cfg = load_config(args.config_path, args.data_name)
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


if __name__ == "__main__":
    sys.exit(run_cli(main))
