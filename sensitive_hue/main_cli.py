"""`sensitive-mamba` / `python main.py`: train, score and evaluate SensitiveMamba (or a control) on a dataset;
`--test` evaluates saved models.

    python main.py --config_path config/star.yaml --data_name demo
    python main.py --config_path config/star.yaml --data_name MSL --raw_dir ../shared/datasets --entities M-6 3
    python main.py --config_path config/star.yaml --data_name MSL --test
    python main.py --config_path config/star.yaml --data_name demo --detect new_data.csv
    sensitive-mamba --data_name demo        # the console script (pip install -e .): the same command

Default paths are relative to the current folder: `--raw_dir data`, `--processed_dir data/processed`,
`--out_dir sensitive_hue/model_states` (from the repository root: the repository's folders, as always).
`--config_path` defaults to `config/star.yaml` in the current folder and, when there is none, to the
`config/star.yaml` of the repository this package lives in (a checkout or an editable install), so the
console script finds the paper's settings from any folder. `main.py` at the repository root is a shim
that calls `main` here.
"""


from __future__ import annotations

import os

# Before torch loads: otherwise torch's OpenMP threads spin while they wait, which made training steps
# about 3x slower on a busy 2-core machine (bench/README.md). A user's own OMP_WAIT_POLICY wins. This runs
# after `sensitive_hue/__init__.py`, which therefore must not import torch (tests/test_packaging.py checks).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import yaml  # noqa: E402

from .cli import ArgumentParser, empty_paths, entity_list, run_cli  # noqa: E402
from .config import MODELS, check_model, DuplicateKeyError, load_config, parse_yaml  # noqa: E402
from .errors import ConfigError  # noqa: E402

RAW_DIR, PROCESSED_DIR = "data", "data/processed"  # defaults of --raw_dir and --processed_dir
CONFIG = "config/star.yaml"  # default of --config_path: here, else the repository's (default_config)
REPOSITORY_CONFIG = Path(__file__).resolve().parents[1] / CONFIG
PROG = "main.py"  # what usage and error lines call the command; the console script passes its own name


def default_config() -> str:
    """`config/star.yaml` in the current folder if it exists, else the repository's when it exists (a checkout
    or an editable install), else the relative path (whose error message says what to pass)."""
    if Path(CONFIG).exists() or not REPOSITORY_CONFIG.is_file():
        return CONFIG
    return str(REPOSITORY_CONFIG)


def _key_value(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key.strip(), parse_yaml(value)
    except DuplicateKeyError as exc:
        raise argparse.ArgumentTypeError(f"{text}: {exc.describe(lines=False)}") from None
    except yaml.YAMLError:
        raise argparse.ArgumentTypeError(f"{text}: the value is not valid YAML") from None


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description="Train, score and evaluate SensitiveMamba (or a control) on a dataset; "
                                              "--test evaluates saved models.")
    p.add_argument("--config_path", help=f"YAML config (default: {CONFIG}, else the repository's {REPOSITORY_CONFIG})")
    p.add_argument("--data_name", default="demo", help="SWaT | SMD | MSL | SMAP | demo | csv (default: demo)")
    p.add_argument("--overlay", action="append", default=[], metavar="FILE",
                   help="extra config file(s) with the same sections, applied in order after --config_path")
    p.add_argument("--test", action="store_true", help="evaluate the models saved in --out_dir, no training")
    p.add_argument("--entities", nargs="+", metavar="E",
                   help="entities to run: names (e.g. M-6) or 1-based indices in the documented order, "
                        "space- or comma-separated")
    p.add_argument("--out_dir", default="sensitive_hue/model_states", help="where outputs go (<out_dir>/<dataset>/)")
    p.add_argument("--raw_dir", help=f"raw downloads (default: {RAW_DIR})")
    p.add_argument("--processed_dir", help=f"processed arrays (default: {PROCESSED_DIR})")
    p.add_argument("--no_plots", action="store_true", help="skip the PNG figures")
    p.add_argument("--resume", action="store_true",
                   help="keep entities already finished in --out_dir with the same config (interrupted runs)")
    d = p.add_argument_group("detect anomalies in new data with a trained model (no training, no labels)")
    d.add_argument("--detect", metavar="FILE", help="score FILE (CSV with the training columns, optional timestamp "
                   "column; or .npy) and write <out_dir>/detect/<entity>/")
    d.add_argument("--entity", help="whose model to use (default: the only one trained in --out_dir)")
    d.add_argument("--threshold", type=float, help="flag scores >= this instead of the stored label-free threshold")
    d.add_argument("--nan_policy", choices=("error", "interpolate"),
                   help="NaN/inf in FILE: error (default) or interpolate gaps of up to 10 rows")
    g = p.add_argument_group("config overrides (take precedence over the YAML)")
    g.add_argument("--model", type=check_model, metavar="|".join(MODELS) + "|pyod:NAME",
                   help="detector: the network, the attention encoder, a control, or any PyOD detector as a control "
                        "(pyod:IForest, pyod:ECOD, ...; its keyword arguments: --set 'pyod_params={n_estimators: 200}')")
    g.add_argument("--seed", type=int)
    g.add_argument("--device", choices=("auto", "cpu", "cuda"))
    g.add_argument("--mamba_backend", choices=("auto", "torch", "cuda"))
    g.add_argument("--max_epoch", type=int)
    g.add_argument("--batch_size", type=int)
    g.add_argument("--lr", type=float)
    g.add_argument("--num_threads", type=int, help="torch CPU threads of a serial run (0 = torch's default); "
                   "Ray jobs use --cpus_per_job")
    g.add_argument("--no_contrastive", action="store_const", const=False, dest="contrastive",
                   help="ablation: train without the contrastive loss")
    g.add_argument("--no_uncertainty", action="store_const", const=False, dest="uncertainty",
                   help="ablation: no log-precision head (plain MSE loss and score)")
    g.add_argument("--set", action="append", default=[], type=_key_value, metavar="KEY=VALUE",
                   help="any other config key, e.g. --set stride=5 --set select_pos=tail")
    r = p.add_argument_group("parallel jobs on Ray, one per entity (pip install -r requirements-distributed.txt)")
    r.add_argument("--workers", type=int, help="N > 1: run N jobs at a time on a local Ray instance (default 1: "
                   "serial, in this process, without Ray)")
    r.add_argument("--ray_address", metavar="HOST:PORT", help="run the jobs on the Ray cluster started there with "
                   "`ray start --head` (its resources set the parallelism)")
    r.add_argument("--cpus_per_job", type=float, help="CPUs Ray reserves per job; also its torch threads (default 1)")
    r.add_argument("--gpus_per_job", type=float, help="GPU share per job, e.g. 0.25: four jobs per GPU (default 0: CPU)")
    return p


OVERRIDES = ("model", "seed", "device", "mamba_backend", "max_epoch", "batch_size", "lr", "num_threads",
             "contrastive", "uncertainty", "workers", "ray_address", "cpus_per_job", "gpus_per_job")


def _given(args: argparse.Namespace) -> dict[str, str]:
    """Config key -> the option that set it on this command line (`--lr`, `--no_contrastive`, `--set gamma=...`)."""
    flags = {"contrastive": "--no_contrastive", "uncertainty": "--no_uncertainty"}
    given = {key: flags.get(key, f"--{key}") for key in OVERRIDES if getattr(args, key) is not None}
    given.update({key: f"--set {key}=..." for key, _ in args.set})
    return given


def _refuse_ignored(names: list[str], why: str) -> None:
    if names:
        them = "it" if len(names) == 1 else "them"
        raise ConfigError(f"{', '.join(names)} {'has' if len(names) == 1 else 'have'} no effect here: {why}; "
                          f"leave {them} out")


def _check_mode_options(args: argparse.Namespace, cfg) -> None:
    """ConfigError for options the chosen mode would silently ignore: training settings with --test, Ray job
    resources in a serial run."""
    given = _given(args)
    if cfg.workers <= 1 and cfg.ray_address is None:
        _refuse_ignored([given[key] for key in ("cpus_per_job", "gpus_per_job") if key in given],
                        "--cpus_per_job and --gpus_per_job size the Ray jobs of a parallel run, and this run is serial "
                        "(add --workers N or --ray_address HOST:PORT; a serial run's threads are --num_threads)")
    if args.test:
        from .entity import TRAINING_KEYS

        ignored = [given[key] for key in given if key in TRAINING_KEYS] + (["--resume"] if args.resume else [])
        _refuse_ignored(ignored, "--test evaluates the saved models as they were trained (their weights, seed and "
                                 "validation split), without training or resuming")


def _check_detect_options(args: argparse.Namespace) -> None:
    """--detect reads the model's settings and thresholds from its checkpoint: the options it would ignore."""
    from .detect import RUNTIME_KEYS
    from .entity import CHECKPOINT_KEYS

    used = {*CHECKPOINT_KEYS, *RUNTIME_KEYS, "threshold_method"}
    ignored = [flag for key, flag in _given(args).items() if key not in used]
    ignored += [f"--{name}" for name in ("raw_dir", "processed_dir") if getattr(args, name) is not None]
    ignored += ["--resume"] if args.resume else []
    _refuse_ignored(ignored, "--detect scores with the trained model's stored settings and label-free threshold "
                             "(it reads no raw or processed data and trains nothing; pass --threshold X for another "
                             "threshold)")


def _detect(args: argparse.Namespace, cfg) -> int:
    """--detect: score a new file with a trained model."""
    if args.detect is None:
        raise ConfigError("--entity, --threshold and --nan_policy only apply with --detect FILE")
    if args.test or args.entities:
        raise ConfigError("--detect scores new data with a trained model: leave out --test and --entities "
                          "(pick the model with --entity)")
    _check_detect_options(args)
    from .detect import run_detect

    run_detect(cfg, args.detect, args.out_dir, entity=args.entity, threshold=args.threshold,
               nan_policy=args.nan_policy, plot=not args.no_plots)
    return 0


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    """The command: `argv` (default: `sys.argv[1:]`) as `main.py` takes it; 0 on success. User errors raise
    (`run_cli` turns them into one `error:` line)."""
    args = build_parser(prog).parse_args(argv)
    empty_paths(args, ("config_path", "out_dir", "raw_dir", "processed_dir", "detect"))
    if args.config_path is None:
        args.config_path = default_config()
    overrides = {key: getattr(args, key) for key in OVERRIDES}
    for key, value in args.set:
        if key in overrides and overrides[key] is not None:
            raise ConfigError(f"--set {key}=... repeats --{key}; give it once")
        overrides[key] = value
    cfg = load_config(args.config_path, args.data_name, overlays=tuple(args.overlay), overrides=overrides)
    entities = entity_list(args.entities)
    if args.detect is not None or any(v is not None for v in (args.entity, args.threshold, args.nan_policy)):
        return _detect(args, cfg)
    _check_mode_options(args, cfg)

    from . import parallel
    from .pipeline import run_dataset  # after the config is valid: torch import is slow

    if parallel.requested(cfg):
        parallel.import_ray(cfg)  # without Ray: one line saying how to install it, before anything is written

    raw_dir = RAW_DIR if args.raw_dir is None else args.raw_dir
    processed_dir = PROCESSED_DIR if args.processed_dir is None else args.processed_dir
    run_dataset(cfg, raw_dir=raw_dir, processed_dir=processed_dir, out_dir=args.out_dir,
                entities=entities, test_only=args.test, plots=not args.no_plots,
                command=[*_invocation(prog), *(sys.argv[1:] if argv is None else argv)], resume=args.resume)
    return 0


def _invocation(prog: str) -> list[str]:
    """How results.json records the command, and the Ctrl-C hint repeats it after the interpreter:
    `python main.py ...`, or `python -m sensitive_hue.main_cli ...` for the console script (same command)."""
    return ["main.py"] if prog == PROG else ["-m", "sensitive_hue.main_cli"]


def cli() -> int:
    """Console script `sensitive-mamba`: `main(sys.argv[1:])`, user errors as one line and an exit code."""
    return run_cli(lambda argv: main(argv, prog="sensitive-mamba"))


if __name__ == "__main__":
    sys.exit(cli())
