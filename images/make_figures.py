"""Regenerate the README's figures: `python images/make_figures.py`.

- `architecture.png`: the SensitiveMamba data flow and network, drawn from code (always).
- `demo_reconstruction.png`: a copy of the demo run's `reconstruction.png` (when the demo has run:
  `python main.py --config_path config/star.yaml --data_name demo`).
- `results.png`: one heatmap per `results/<table>.json`: per-entity-mean AUC-PR, VUS-PR, AUC-ROC and
  oracle F1, the label-free deployed F1, and (set apart) the paper protocol's F1-PA.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _box(ax, x, y, w, h, text, color):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02", fc=color, ec="#333", lw=1))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=8.5, wrap=True)


def _arrow(ax, start, end):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=10, lw=1, color="#333"))


def architecture(path: Path) -> None:
    """Boxes and arrows: input -> RevIN -> projection + position -> N x encoder -> heads."""
    fig, ax = plt.subplots(figsize=(9, 4.2), dpi=110)
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 5)
    ax.axis("off")
    blue, green, orange, grey = "#dbe9f6", "#dff0d8", "#fbe5c8", "#eeeeee"
    _box(ax, 0.1, 2.2, 1.3, 0.8, "window\nx (B, T, F)", grey)
    _box(ax, 1.7, 2.2, 1.3, 0.8, "RevIN norm\n(store mean, std)", blue)
    _box(ax, 3.3, 2.2, 1.5, 0.8, "linear projection\n+ positional emb.", blue)
    _box(ax, 5.1, 1.6, 2.0, 2.0, "N x encoder layer\n(pre-norm)\nMamba (S6) + res.\nFFN + res.\nlinear + res.", green)
    _box(ax, 7.5, 3.0, 2.3, 0.8, "residual decoder\n-> RevIN denorm: x̂", orange)
    _box(ax, 7.5, 1.4, 2.3, 0.8, "log-precision head\ns = log(1/σ²)", orange)
    _box(ax, 3.3, 0.2, 3.8, 0.8, "two overlapping crops, timestamp masking\n-> hierarchical contrastive loss (TS2Vec)", grey)
    _box(ax, 7.5, 4.1, 2.3, 0.7, "NLL: (x-x̂)² e^s - s\nweighted by σ^(2α)", grey)
    for start, end in [((1.4, 2.6), (1.7, 2.6)), ((3.0, 2.6), (3.3, 2.6)), ((4.8, 2.6), (5.1, 2.6)),
                       ((7.1, 3.0), (7.5, 3.4)), ((7.1, 2.2), (7.5, 1.8)), ((8.65, 3.8), (8.65, 4.1)),
                       ((6.1, 1.6), (6.1, 1.0)), ((4.05, 2.2), (4.05, 1.0))]:
        _arrow(ax, start, end)
    ax.set_title("SensitiveMamba: training-time data flow", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


HEATMAP_METRICS = (("auc_pr_mean", "AUC-PR\n(entity mean)"), ("vus_pr_mean", "VUS-PR\n(entity mean)"),
                   ("auc_roc_mean", "AUC-ROC\n(entity mean)"), ("f1_oracle_mean", "F1 oracle\n(entity mean)"),
                   ("f1_val_quantile", "F1 label-free\n(val. quantile)"), ("f1_pa_oracle", "F1-PA oracle\n(paper protocol*)"))


def results_chart(path: Path) -> bool:
    """One heatmap per results/<table>.json: detectors (rows) x metrics (columns), each cell its
    mean over seeds in percent; the paper-protocol column (threshold on test labels + point
    adjustment) is set apart and starred. Tables of an earlier release (without the per-entity
    means) are left out rather than shown beside the current ones."""
    tables = {}
    for file in sorted((ROOT / "results").glob("*.json")):
        data = json.loads(file.read_text())
        if isinstance(data, dict) and "rows" in data and all("auc_pr_mean" in row for row in data["rows"]):
            tables[file.stem] = data["rows"]  # file name: one table per dataset
    if not tables:
        return False
    heights = [max(len(rows), 1) * 0.32 + 0.9 for rows in tables.values()]
    fig, axes = plt.subplots(len(tables), 1, figsize=(11, sum(heights)), dpi=110, squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, (name, rows) in zip(axes[:, 0], tables.items()):
        values = np.array([[(row.get(key) or {}).get("mean") if isinstance(row.get(key), dict) else np.nan
                            for key, _ in HEATMAP_METRICS] for row in rows], dtype=float)
        ax.imshow(np.nan_to_num(values, nan=0.0), cmap="Blues", vmin=0, vmax=1, aspect="auto")
        for (i, j), value in np.ndenumerate(values):
            text = "n/a" if np.isnan(value) else f"{100 * value:.1f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="white" if not np.isnan(value) and value > 0.6 else "black")
        ax.axvline(len(HEATMAP_METRICS) - 1.5, color="black", lw=1.5)  # honest columns | paper protocol
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels([f"{row['detector'].split(' (median/IQR')[0]} ({row['n_seeds']} seed"
                            f"{'s' if row['n_seeds'] > 1 else ''})" for row in rows], fontsize=7)
        ax.set_xticks(range(len(HEATMAP_METRICS)))
        ax.set_xticklabels([label for _, label in HEATMAP_METRICS], fontsize=6.5)
        ax.xaxis.tick_top()
        ax.set_title(name, fontsize=9, loc="left", pad=24)
    fig.text(0.01, 0.003, "* threshold tuned on the test labels, then point adjustment: an upper bound that random "
             "scores nearly reach. Values in percent, mean over seeds.", fontsize=6.5)
    fig.tight_layout(rect=(0, 0.015, 1, 1))
    fig.savefig(path)
    plt.close(fig)
    return True


def main() -> int:
    architecture(HERE / "architecture.png")
    print(f"wrote {HERE / 'architecture.png'}")
    demo = ROOT / "sensitive_hue" / "model_states" / "demo" / "reconstruction.png"
    if demo.is_file():
        shutil.copyfile(demo, HERE / "demo_reconstruction.png")
        print(f"wrote {HERE / 'demo_reconstruction.png'}")
    else:
        print(f"skipped demo_reconstruction.png: run the demo first ({demo} not found)")
    if results_chart(HERE / "results.png"):
        print(f"wrote {HERE / 'results.png'}")
    else:
        print("skipped results.png: no results/<dataset>.json yet")
    return 0


if __name__ == "__main__":
    sys.exit(main())
