"""Train, score and evaluate SensitiveMamba (or a control) on a dataset; `--test` evaluates saved models.

    python main.py --config_path config/star.yaml --data_name demo
    python main.py --config_path config/star.yaml --data_name MSL --raw_dir ../shared/datasets --entities M-6 3
    python main.py --config_path config/star.yaml --data_name MSL --test
    python main.py --config_path config/star.yaml --data_name demo --detect new_data.csv

A shim: the command is `sensitive_hue/main_cli.py` (also the console script `sensitive-mamba`).
"""

import sys

from sensitive_hue.cli import run_cli
from sensitive_hue.main_cli import main

if __name__ == "__main__":
    sys.exit(run_cli(main))
