"""Preprocess a dataset: raw files (as downloaded) -> data/processed/<dataset>/<entity>/.

    python preprocess.py --config_path config/star.yaml --data_name SMD --raw_dir data
    python preprocess.py --data_name csv --train_csv my_train.csv --test_csv my_test.csv

A shim: the command is `sensitive_hue/preprocess_cli.py` (also the console script `sensitive-mamba-preprocess`).
"""

import sys

from sensitive_hue.cli import run_cli
from sensitive_hue.preprocess_cli import main

if __name__ == "__main__":
    sys.exit(run_cli(main))
