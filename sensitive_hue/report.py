"""`python -m sensitive_hue.report --data_name MSL [--runs DIR ...] [--out results/MSL.md]`: one table per dataset.

Collects every `<dir>/**/<dataset>/results.json` under `--runs` (several detectors, ablations, seeds),
groups the runs into rows (detector + ablation + training protocol) and prints a markdown table of
the paper's oracle figures beside the honest metrics, as mean ± sample std over seeds. With `--out`
it writes the markdown and the JSON it is built from (`--json`, default: `--out` with `.json`).

Suggested run layout (what `results/run_all.sh` does): `runs/<protocol>/<detector>[-<ablation>]/seed<k>/`
as `main.py --out_dir`, so runs never overwrite each other.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from . import io
from .cli import run_cli
from .config import FIELDS, PYOD_PREFIX, check_data_name, stored_setting
from .errors import DataError
from .gitinfo import git_commit

# (key in the JSON, column title, path in results.json "overall"); make_figures.py reads some keys.
# The per-entity means come first: each entity scored alone, no score scales mixed (TSB-AD's convention).
COLUMNS = (
    ("auc_pr_mean", "AUC-PR (entity mean)", ("per_entity_mean", "auc_pr")),
    ("vus_pr_mean", "VUS-PR (entity mean)", ("per_entity_mean", "vus_pr")),
    ("auc_roc_mean", "AUC-ROC (entity mean)", ("per_entity_mean", "auc_roc")),
    ("f1_oracle_mean", "F1 oracle (entity mean)", ("per_entity_mean", "f1_oracle")),
    ("f1_val_quantile", "F1 label-free (val. quantile)", ("label_free", "val_quantile", "f1")),
    ("f1_pot", "F1 label-free (POT)", ("label_free", "pot", "f1")),
    ("auc_pr", "AUC-PR (concat.)", ("continuous", "auc_pr")),
    ("vus_pr", "VUS-PR (concat.)", ("continuous", "vus_pr")),
    ("f1_oracle", "F1 oracle (pooled)", ("paper_protocol", "f1")),
    ("f1_pa_oracle", "F1-PA oracle (paper protocol)", ("paper_protocol", "f1_pa")),
)
# Also kept in the JSON (not in the markdown table).
EXTRA = (
    ("vus_roc_mean", ("per_entity_mean", "vus_roc")),
    ("f1_pa_pot", ("label_free", "pot", "f1_pa")),
    ("pa_k_auc", ("pa_k", "auc")),
    ("auc_roc", ("continuous", "auc_roc")),
    ("vus_roc", ("continuous", "vus_roc")),
    ("affiliation_f1", ("affiliation", "f1")),
)
DETECTOR_NAMES = {"sensitive_mamba": "SensitiveMamba", "sensitive_hue": "SensitiveHUE (attention)",
                  "pca": "PCA (90% variance)", "maxz": "maxz (largest abs. z-score, no model)",
                  "random": "random (uniform scores)"}
DETECTOR_ORDER = tuple(DETECTOR_NAMES)
NETWORKS = ("sensitive_mamba", "sensitive_hue")
PAPER_PROTOCOL = {"stride": 1, "max_epoch": 25}
ORACLE_LABEL = ("**(entity mean)** columns score each entity alone and average over entities (entities without "
                "anomalies left out; TSB-AD's convention): the primary, threshold-free figures. **(concat.)** "
                "columns score all entities' scores concatenated (score scales mixed across entities). "
                "**F1 oracle** and **F1-PA oracle (paper protocol)** choose each entity's threshold on the *test "
                "labels* (F1-PA also applies point adjustment): upper bounds that no deployed detector can reach, "
                "and F1-PA is high even for random scores. **F1 label-free** columns threshold each entity from its "
                "validation scores only (no test labels, no point adjustment): their `val_quantile` (0.99) "
                "quantile (the default `threshold_method`), or POT (risk `pot_risk`; n/a where it cannot fit). "
                "**wall** is a run's time; a run that re-scored trained models (`--test`) counts their training too. "
                "More columns (PA%K, affiliation, VUS-ROC, F1-PA at POT) are in the JSON.")


@dataclass(frozen=True)
class Run:
    """One results.json: a (detector, ablation, protocol, seed) run of a dataset."""

    path: Path
    detector: str  # row label
    model: str
    protocol: str  # e.g. "stride 20, max_epoch 5"
    seed: int
    entities: tuple[str, ...]
    overlays: tuple[str, ...]
    commit: Optional[str]
    metrics: dict[str, Optional[float]]
    total_s: Optional[float]
    val_points_min: Optional[int] = None  # fewest validation rows of any entity


def deployed_f1(entities: dict) -> Optional[float]:
    """Pooled point-wise F1 at each entity's deployed label-free threshold (`thresholds.method`: POT, or the
    validation quantile where POT cannot fit), from the entities' result.json counts; None if any is missing."""
    tp = fp = fn = 0
    for summary in entities.values():
        try:
            entry = summary["metrics"]["label_free"][summary["thresholds"]["method"]]
            positives, flagged = int(summary["n_anomalies"]), int(entry["n_predicted"])
            hits = round(entry["recall"] * positives) if positives else 0
        except (KeyError, TypeError):
            return None
        tp, fp, fn = tp + hits, fp + flagged - hits, fn + positives - hits
    return 2 * tp / (2 * tp + fp + fn) if tp else (0.0 if tp + fn else None)


def _get(tree: dict, path: tuple[str, ...]) -> Optional[float]:
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return None if tree is None else float(tree)


def row_label(model: str, config: dict) -> str:
    """Detector name plus its ablations (networks: contrastive / uncertainty off, revin_denorm) and its
    non-default scoring choices (any detector: score_combine, score_norm test)."""
    name = DETECTOR_NAMES.get(model) or (f"PyOD {model[len(PYOD_PREFIX):]}" if model.startswith(PYOD_PREFIX) else model)
    off = []
    if model in NETWORKS:
        off = [text for key, text in (("contrastive", "no contrastive"), ("uncertainty", "no uncertainty (MSE)"))
               if config.get(key) is False]
        if config.get("revin_denorm", "paper") != "paper":
            off.append(f"revin_denorm {config['revin_denorm']}")
    combine = stored_setting(config, "score_combine")  # scoring choices, of any detector (maxz: always the max)
    if combine != FIELDS["score_combine"].default and model != "maxz":
        off.append(f"score_combine {combine}")
    label = f"{name}, {', '.join(off)}" if off else name
    if config.get("score_norm", "validation") == "test":
        label += ", score_norm test (median/IQR fitted on unlabelled test scores, transductive)"
    return label


def protocol_label(config: dict) -> str:
    """The training settings that distinguish the CPU protocol from the paper's."""
    steps = config.get("steps_per_epoch")
    budget = f", {steps} steps/epoch" if steps else ""
    return f"stride {config.get('stride')}{budget}, max_epoch {config.get('max_epoch')}"


def _val_points_min(data: dict) -> Optional[int]:
    counts = [e.get("n_validation_points") for e in (data.get("entities") or {}).values() if isinstance(e, dict)]
    return min(counts) if counts and all(isinstance(c, int) for c in counts) else None


def _overlays(command: Optional[list]) -> tuple[str, ...]:
    args = list(command or [])
    return tuple(args[i + 1] for i, arg in enumerate(args[:-1]) if arg == "--overlay")


def read_run(path: Path) -> Run:
    """Parse one results.json; DataError naming the file when it is not one of this tool's."""
    try:
        data = json.loads(io.read_bytes(path))
        config, overall = data["config"], data["overall"]
        model = data["detector"]
        if data["dataset"] != path.parent.name:
            raise KeyError(f"dataset {data['dataset']!r} in a folder named {path.parent.name!r}")
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: not a results.json of main.py ({type(exc).__name__}: {exc}); "
                        "remove it or pass --runs without it") from None
    metrics = {key: _get(overall, where) for key, _, where in COLUMNS}
    metrics.update({key: _get(overall, where) for key, where in EXTRA})
    metrics["f1_deployed"] = deployed_f1(data.get("entities") or {})
    return Run(path=path, detector=row_label(model, config), model=model, protocol=protocol_label(config),
               seed=int(data.get("seed", config.get("seed"))), entities=tuple(data.get("entities", {})),
               overlays=_overlays(data.get("command")), commit=data.get("commit"), metrics=metrics,
               total_s=_wall_s(data), val_points_min=_val_points_min(data))


def _wall_s(data: dict) -> Optional[float]:
    """The run's wall time; for a run that re-scored trained models (`--test`), their training time (from
    the checkpoints) plus the re-scoring, so the column still says what a run from scratch takes."""
    total = (data.get("timings") or {}).get("total_s")
    if total is None or data.get("mode") != "test":
        return total
    fits = [(entry.get("training") or {}).get("fit_seconds") for entry in (data.get("entities") or {}).values()]
    return None if not fits or None in fits else total + sum(fits)


def collect(dataset: str, roots: list[Path]) -> list[Run]:
    """Every results.json of `dataset` under `roots` (searched recursively), in a stable order."""
    missing = [str(root) for root in roots if not Path(root).is_dir()]
    if missing:
        raise DataError(f"--runs {missing[0]}: no such folder; pass the --out_dir of main.py runs (e.g. runs/cpu)")
    found = {p.resolve(): p for root in roots for p in sorted(Path(root).rglob("results.json")) if p.parent.name == dataset}
    runs = [read_run(found[key]) for key in sorted(found)]
    if not runs:
        raise DataError(f"no {dataset}/results.json under {', '.join(map(str, roots))}; run main.py --data_name "
                        f"{dataset} --out_dir DIR first (or results/run_all.sh)")
    seen: dict[tuple, Path] = {}
    for run in runs:
        key = (run.detector, run.protocol, run.seed)
        if key in seen:
            raise DataError(f"two runs of {run.detector} ({run.protocol}) seed {run.seed}: {seen[key]} and {run.path}; "
                            "pass --runs folders that hold one of them")
        seen[key] = run.path
    return runs


def mean_std(values: list[Optional[float]]) -> dict:
    """Mean and sample std (ddof 1; None for one value) of the values that are not None."""
    present = [v for v in values if v is not None]
    if not present:
        return {"mean": None, "std": None, "n": 0}
    mean = sum(present) / len(present)
    std = math.sqrt(sum((v - mean) ** 2 for v in present) / (len(present) - 1)) if len(present) > 1 else None
    return {"mean": mean, "std": std, "n": len(present)}


def _sort_key(run: Run) -> tuple:
    """Protocol, detector, then its variants: the one with fewest labelled changes (the default) first."""
    order = DETECTOR_ORDER.index(run.model) if run.model in DETECTOR_ORDER else len(DETECTOR_ORDER)
    return (run.protocol, order, run.detector.count(", "), run.detector, run.seed)


def build_table(dataset: str, runs: list[Run], command: Optional[str] = None, notes: tuple[str, ...] = ()) -> dict:
    """The report's JSON: dataset, protocol, commit, rows (one per detector/ablation/protocol)."""
    runs = sorted(runs, key=_sort_key)
    protocols = sorted({r.protocol for r in runs})
    groups: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.detector, run.protocol), []).append(run)
    rows = []
    for (detector, protocol), members in groups.items():
        row = {"detector": detector if len(protocols) == 1 else f"{detector} [{protocol}]", "model": members[0].model,
               "protocol": protocol, "n_seeds": len(members), "seeds": [r.seed for r in members],
               "entities": len(members[0].entities),
               "runs": [str(r.path) for r in members],
               "wall_s": [r.total_s for r in members],
               "val_points_min": min((r.val_points_min for r in members if r.val_points_min is not None), default=None)}
        for key in [k for k, _, _ in COLUMNS] + [k for k, _ in EXTRA] + ["f1_deployed"]:
            row[key] = mean_std([r.metrics[key] for r in members])
        rows.append(row)
    entity_sets = {r.entities for r in runs}
    return {
        "dataset": dataset,
        "protocol": {"training": protocols, "overlays": sorted({o for r in runs for o in r.overlays}),
                     "paper": protocol_label(PAPER_PROTOCOL),
                     "entities": sorted(entity_sets)[0] if len(entity_sets) == 1 else None,
                     "entities_differ": len(entity_sets) > 1},
        "seeds": sorted({r.seed for r in runs}),
        "commit": git_commit(),
        "run_commits": sorted({r.commit or "unknown" for r in runs}),
        "command": command,
        "not_run": [DETECTOR_NAMES[m] for m in DETECTOR_ORDER if m not in {r.model for r in runs}],
        "notes": list(notes),
        "oracle_note": ORACLE_LABEL,
        "columns": {key: title for key, title, _ in COLUMNS},
        "rows": rows,
    }


def format_cell(stat: dict) -> str:
    """A table cell: percent with one decimal, "mean ± std" where several seeds ran, "n/a" where undefined."""
    if stat["mean"] is None:
        return "n/a"
    text = f"{100 * stat['mean']:.1f}"
    return text if stat["std"] is None else f"{text} ± {100 * stat['std']:.1f}"


def to_markdown(table: dict) -> str:
    """The table with its header lines (protocol, seeds, commit, rebuild command, oracle label)."""
    proto = table["protocol"]
    overlays = ", ".join(f"`{o}`" for o in proto["overlays"]) or "none"
    entities = proto["entities"]
    lines = [
        f"# {table['dataset']}: SensitiveMamba beside controls",
        "",
        f"- Protocol: `config/star.yaml` + overlay {overlays}; training {'; '.join(proto['training'])} "
        f"(paper protocol: {proto['paper']}); test points all scored (stride-1 windows).",
        f"- Entities: {len(entities)} ({', '.join(entities)})" if entities else
        "- Entities: **differ between rows** (see the `entities` column of the JSON)",
        f"- Seeds: {', '.join(map(str, table['seeds']))}; cells are mean ± sample std over seeds where several ran, "
        "in percent.",
        f"- Commit: runs at {', '.join(table['run_commits'])}; table built at {table['commit'] or 'unknown'}.",
    ]
    if table.get("not_run"):
        lines.append(f"- **Not run** (no results.json found): {', '.join(table['not_run'])}.")
    lines += [f"- {note}" for note in table.get("notes", ())]
    if table.get("command"):
        lines.append(f"- Rebuild: `{table['command']}`")
    lines += ["", f"> {table['oracle_note']}", ""]
    titles = list(table["columns"].values())
    lines.append("| detector | seeds | " + " | ".join(titles) + " | val. rows (min/entity) | wall (min/seed) |")
    lines.append("|---|---:|" + "---:|" * len(titles) + "---:|---:|")
    for row in table["rows"]:
        cells = [format_cell(row[key]) for key in table["columns"]]
        val = "n/a" if row.get("val_points_min") is None else str(row["val_points_min"])
        walls = [w for w in row.get("wall_s") or [] if w is not None]
        wall = f"{sum(walls) / len(walls) / 60:.1f}" if walls else "n/a"
        lines.append(f"| {row['detector']} | {row['n_seeds']} | " + " | ".join(cells) + f" | {val} | {wall} |")
    lines += ["", "n/a: undefined for these runs (e.g. a metric the run predates); see the run's results.json."]
    return "\n".join(lines) + "\n"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sensitive_hue.report", description=__doc__.splitlines()[0])
    p.add_argument("--data_name", required=True, help="SWaT | SMD | MSL | SMAP | demo | csv")
    p.add_argument("--runs", nargs="+", default=["runs"], metavar="DIR",
                   help="folders searched recursively for <dataset>/results.json (default: runs)")
    p.add_argument("--out", help="write the markdown here (and the JSON beside it), e.g. results/MSL.md")
    p.add_argument("--json", help="where the JSON goes (default: --out with .json)")
    p.add_argument("--note", action="append", default=[], help="a line added to the header (repeatable)")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    args = _parser().parse_args(argv)
    check_data_name(args.data_name)
    runs = collect(args.data_name, [Path(r) for r in args.runs])
    command = " ".join(["python -m sensitive_hue.report", "--data_name", shlex.quote(args.data_name), "--runs",
                        *map(shlex.quote, args.runs), *(["--out", shlex.quote(args.out)] if args.out else []),
                        *[f"--note {shlex.quote(n)}" for n in args.note]])
    table = build_table(args.data_name, runs, command, tuple(args.note))
    markdown = to_markdown(table)
    if args.out:
        json_path = Path(args.json) if args.json else Path(args.out).with_suffix(".json")
        io.write_json(json_path, table)
        io.write_text(args.out, markdown)
        print(f"wrote {args.out} and {json_path}", file=sys.stderr)
    print(markdown, end="")
    return 0


def cli() -> int:
    """Console script `sensitive-mamba-report`: `main(sys.argv[1:])`, user errors as one line and an exit code."""
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(cli())
