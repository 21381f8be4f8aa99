"""Print the README's compact results tables from `results/<dataset>.json`, so every figure in the README's
Results section is regenerated, not copied by hand: `python results/readme_tables.py MSL SWaT`.

A single-entity dataset (SWaT) gets its threshold-free figures and the label-free F1; a multi-entity one
the per-entity means (the primary columns) beside the concatenated AUC-PR and the paper protocol's F1-PA.
Cells are percent, mean ± sample std over seeds where several ran; the best cell of each column is bold.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sensitive_hue.report import format_cell

HERE = Path(__file__).resolve().parent
SINGLE = (("auc_pr", "AUC-PR"), ("vus_pr", "VUS-PR"), ("auc_roc", "AUC-ROC"), ("f1_oracle", "F1 (oracle)"),
          ("f1_val_quantile", "F1 label-free (val. quantile)"))
MULTI = (("auc_pr_mean", "AUC-PR (entity mean)"), ("vus_pr_mean", "VUS-PR (entity mean)"),
         ("auc_roc_mean", "AUC-ROC (entity mean)"), ("f1_oracle_mean", "F1 oracle (entity mean)"),
         ("auc_pr", "AUC-PR (concat.)"), ("f1_pa_oracle", "F1-PA oracle (paper protocol)"))
SHORTER = (  # the tables' row labels, shortened for the README (the tables keep the long ones)
    (", score_norm test (median/IQR fitted on unlabelled test scores, transductive)",
     ", `score_norm: test` (transductive, as the paper)"),
    ("score_combine max", "`score_combine: max`"),
    ("revin_denorm stored", "`revin_denorm: stored`"),
    ("revin_denorm none", "`revin_denorm: none`"),
    ("no uncertainty (MSE)", "no uncertainty (MSE instead of the heteroscedastic NLL)"),
)


def row_label(row: dict, main_protocol: str | None = None) -> str:
    """The README's label of a table row: default model marked, seeds counted where several ran. In a table
    that mixes training protocols, rows of `main_protocol` drop the report's "[protocol]" suffix and the
    others name theirs ("budget: ...")."""
    protocol = row.get("protocol")
    label = row["detector"].removesuffix(f" [{protocol}]")
    for long, short in SHORTER:
        label = label.replace(long, short)
    if main_protocol is not None and protocol != main_protocol:
        label += f", budget: {protocol}"
    elif label == "SensitiveMamba":
        label = "SensitiveMamba (default)"
    seeds = row.get("n_seeds", 1)
    return f"{label}, {seeds} seeds" if seeds > 1 else label


def markdown(table: dict) -> str:
    """One markdown table of `table` (a results/<dataset>.json), titled with its dataset and run commit(s)."""
    rows = table["rows"]
    entities = max(row.get("entities", 1) for row in rows)
    title = f"{table['dataset']}" + (f" ({entities} entities)" if entities > 1 else "")
    title += f", runs at {', '.join(table.get('run_commits') or ['?'])}"
    columns = SINGLE if entities == 1 else MULTI
    protocols = [row.get("protocol") for row in rows]
    main_protocol = max(protocols, key=protocols.count) if len(set(protocols)) > 1 else None  # most rows' one
    missing = {"mean": None, "std": None}
    best = {key: max((r.get(key, missing)["mean"] for r in rows if r.get(key, missing)["mean"] is not None),
                     default=None) for key, _ in columns}
    lines = [f"| {title} | " + " | ".join(name for _, name in columns) + " |",
             "|---|" + "---:|" * len(columns)]
    for row in rows:
        cells = []
        for key, _ in columns:
            stat = row.get(key, missing)
            text = format_cell(stat)
            cells.append(f"**{text}**" if stat["mean"] is not None and stat["mean"] == best[key] else text)
        lines.append(f"| {row_label(row, main_protocol)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="+", help="table names, e.g. MSL SWaT (results/<name>.json)")
    for name in parser.parse_args(argv).datasets:
        table = json.loads((HERE / f"{name}.json").read_text())
        print(markdown(table) + "\n")


if __name__ == "__main__":
    main()
