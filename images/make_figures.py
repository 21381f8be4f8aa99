"""Regenerate the README's figures: `python images/make_figures.py`.

- `architecture.png`: the SensitiveMamba data flow and network, drawn from code (always).
- `demo_reconstruction.png`: a copy of the demo run's `reconstruction.png` (when the demo has run:
  `python main.py --config_path config/star.yaml --data_name demo`).
- `results.png`: F1-PA (paper protocol) beside honest metrics for every `results/<dataset>.json`.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
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


def results_chart(path: Path) -> bool:
    """Bar chart of SensitiveMamba vs controls per dataset, from results/<dataset>.json."""
    files = sorted((ROOT / "results").glob("*.json"))
    tables = {}
    for file in files:
        data = json.loads(file.read_text())
        if isinstance(data, dict) and "rows" in data:
            tables[file.stem] = data["rows"]  # file name: SMD and SMD-all are two tables of one dataset
    if not tables:
        return False
    metrics = [("f1_pa_oracle", "F1-PA (paper protocol)"), ("f1_oracle", "F1 (oracle thr.)"),
               ("auc_pr", "AUC-PR"), ("vus_pr", "VUS-PR")]
    def base(label: str) -> str:  # "SensitiveMamba [stride 50, max_epoch 25]" -> "SensitiveMamba"
        return label.split(" [")[0]

    labels = list(dict.fromkeys(base(row["detector"]) for rows in tables.values() for row in rows))
    colors = {label: plt.cm.tab10(i % 10) for i, label in enumerate(labels)}  # one colour per detector everywhere
    fig, axes = plt.subplots(1, len(tables), figsize=(4.2 * len(tables), 4.4), dpi=110, squeeze=False)
    for ax, (dataset, rows) in zip(axes[0], tables.items()):
        width = 0.8 / len(rows)
        seen = set()
        for i, row in enumerate(rows):
            values = [row.get(key, {}).get("mean") if isinstance(row.get(key), dict) else row.get(key) for key, _ in metrics]
            values = [float("nan") if v is None else v for v in values]
            ax.bar([m + i * width for m in range(len(metrics))], values, width, label=row["detector"],
                   color=colors[base(row["detector"])], hatch="//" if base(row["detector"]) in seen else None)
            seen.add(base(row["detector"]))  # a second protocol of the same detector: hatched
        ax.set_xticks([m + width * (len(rows) - 1) / 2 for m in range(len(metrics))])
        ax.set_xticklabels([label for _, label in metrics], rotation=20, fontsize=7)
        ax.set_ylim(0, 1)
        ax.set_title(dataset, fontsize=9)
        ax.legend(fontsize=5.5, loc="upper right")
    fig.tight_layout()
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
