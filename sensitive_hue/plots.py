"""Figures a user inspects after a run (matplotlib, Agg backend, written atomically as PNG).

- `reconstruction.png`: input vs reconstruction for a few features (all when there are few,
  else those that contribute most to the score; the title says which), the anomaly score below
  with the labelled anomaly segments shaded, the thresholds drawn and the points flagged at the
  deployed (label-free) threshold marked in a strip under the score.
- `fn_visualize.png`: predictions vs labels with false negatives (red) and false positives
  (orange) shaded, before and after point adjustment at the paper-protocol (test-label)
  thresholds, and at the label-free threshold.
Conventions shared by every figure: long series are drawn as min/max envelopes over bins, so
spikes stay visible; anomalies of 1-3 points (or narrower than a bin) get a marker as well as
shading; legends sit outside the data, to the right; the score axis is linear, or symmetric-log
above the bulk of the scores when a few peaks would flatten everything else (`_score_axis`);
the x axis shows timestamps when the input has them.
"""

from __future__ import annotations

import io as _io
import os
from dataclasses import dataclass
from typing import Optional, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from . import io  # noqa: E402

MAX_FEATURES = 6  # feature panels in reconstruction.png
MAX_BINS = 3000  # longer series are drawn as min/max envelopes over this many bins
SEGMENT_COLOR, FN_COLOR, FP_COLOR, FLAG_COLOR = "#f4a6a6", "#d62728", "#ff9f1c", "tab:orange"
SHORT = 3  # segments up to this many points get a marker: shading alone is too thin to see
LEGEND = {"loc": "upper left", "bbox_to_anchor": (1.005, 1.0), "fontsize": 7, "borderaxespad": 0.0}


@dataclass
class Threshold:
    """A horizontal line on the score panel."""

    value: float | np.ndarray  # a number, or one value per point (per-entity thresholds, concatenated)
    label: str
    color: str
    style: str = "--"


def top_features(ranking: Sequence[int], n_features: int, limit: int = MAX_FEATURES) -> list[int]:
    """All features when there are at most `limit`, else the first `limit` of `ranking`."""
    if n_features <= limit:
        return list(range(n_features))
    return [int(i) for i in ranking[:limit]]


def feature_ranking(contributions: np.ndarray, ignore_dims: Sequence[int] = ()) -> list[int]:
    """Features ordered by their 99th-percentile normalised score (what drives the max), counted ones first."""
    p99 = np.percentile(contributions, 99, axis=0)
    order = sorted(range(contributions.shape[1]), key=lambda f: (f in set(ignore_dims), -p99[f], f))
    return order


def _bins(length: int) -> Optional[np.ndarray]:
    """Bin edges for series longer than MAX_BINS, else None (draw every point)."""
    return None if length <= MAX_BINS else np.linspace(0, length, MAX_BINS + 1).astype(np.int64)


def _envelope(ax, values: np.ndarray, edges: Optional[np.ndarray], **style) -> None:
    if edges is None:
        ax.plot(np.arange(len(values)), values, **style)
        return
    low = np.minimum.reduceat(values, edges[:-1])
    high = np.maximum.reduceat(values, edges[:-1])
    x = edges[:-1]
    ax.fill_between(x, low, high, step="post", color=style.get("color"), alpha=0.6, linewidth=0)
    ax.plot(x, high, drawstyle="steps-post", **{**style, "linewidth": 0.6})


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end-exclusive) of each run of True."""
    padded = np.concatenate([[False], mask.astype(bool), [False]])
    change = np.flatnonzero(padded[1:] != padded[:-1])
    return list(zip(change[0::2].tolist(), change[1::2].tolist()))


def _shade(ax, mask: np.ndarray, edges: Optional[np.ndarray], color: str, label: Optional[str] = None) -> None:
    """Shade the runs of `mask` (merged per bin for long series so the figure stays light)."""
    if edges is not None:
        hit = np.maximum.reduceat(mask.astype(np.int8), edges[:-1]) > 0
        runs = [(int(edges[a]), int(edges[b])) for a, b in _runs(hit)]
    else:
        runs = _runs(mask)
    for i, (start, end) in enumerate(runs):
        ax.axvspan(start - 0.5, end - 0.5, color=color, alpha=0.35, linewidth=0, label=label if i == 0 else None)


def _mark_short(ax, mask: np.ndarray, edges: Optional[np.ndarray], color: str, label: Optional[str] = None) -> None:
    """A marker above each run of `mask` that is at most SHORT points long or narrower than a bin."""
    width = 1 if edges is None else max(int(edges[1] - edges[0]), 1)
    centres = [(a + b - 1) / 2 for a, b in _runs(mask) if b - a <= max(SHORT, width)]
    if centres:
        ax.scatter(centres, np.full(len(centres), 0.97), transform=ax.get_xaxis_transform(), marker="v", s=22,
                   color=color, zorder=5, label=label, clip_on=False)


def _rug(ax, mask: np.ndarray, edges: Optional[np.ndarray], color: str, label: str) -> None:
    """The runs of `mask` as a band along the bottom 4% of `ax` (short runs get a marker above it)."""
    runs = _runs(mask) if edges is None else [(int(edges[a]), int(edges[b])) for a, b in
                                              _runs(np.maximum.reduceat(mask.astype(np.int8), edges[:-1]) > 0)]
    band = ax.get_xaxis_transform()
    for i, (start, end) in enumerate(runs):
        ax.fill_between([start - 0.5, end - 0.5], 0.0, 0.04, transform=band, color=color, linewidth=0,
                        label=label if i == 0 else None)
    width = 1 if edges is None else max(int(edges[1] - edges[0]), 1)
    short = [(a + b - 1) / 2 for a, b in _runs(mask) if b - a <= max(SHORT, width)]
    if short:
        ax.scatter(short, np.full(len(short), 0.07), transform=band, marker="v", s=14, color=color, zorder=5)


def _score_axis(ax, scores: np.ndarray, levels: Sequence[np.ndarray]) -> None:
    """The one y-scale rule of every score panel: linear, unless the top (the largest score or
    threshold) is more than 20x the spread of the bulk (0.5-90th percentile), then symmetric-log
    above the bulk, so the bulk, the peaks and the thresholds all stay visible."""
    low, p90 = np.percentile(scores, [0.5, 90])
    finite = [float(np.max(v[np.isfinite(v)])) for v in map(np.asarray, levels) if np.isfinite(v).any()]
    top = max([float(np.max(scores))] + finite)
    if top - low > 20 * max(p90 - low, 1e-9):
        ax.set_yscale("symlog", linthresh=max(abs(p90), 1e-3))
    ax.set_ylim(bottom=low - 0.05 * max(p90 - low, 1e-9))
    ax.set_ylabel("score", fontsize=8)


def _time_axis(ax, timestamps: Optional[Sequence], default: str) -> None:
    """Label the x axis with timestamps (a few evenly spaced ticks) when the input has them."""
    if timestamps is None or len(timestamps) == 0:
        ax.set_xlabel(default, fontsize=8)
        return
    ticks = np.linspace(0, len(timestamps) - 1, min(8, len(timestamps))).round().astype(int)
    ax.set_xticks(ticks)
    ax.set_xticklabels([str(timestamps[i]) for i in ticks], fontsize=7, rotation=15, ha="right")
    ax.set_xlabel("timestamp", fontsize=8)


def _boundaries(axes, boundaries: Sequence[tuple[int, str]]) -> None:
    """Entity boundaries of concatenated series: a vertical line each, names when few."""
    for ax in axes:
        for position, _ in boundaries[1:]:
            ax.axvline(position - 0.5, color="grey", linewidth=0.5, alpha=0.7)
    if 1 < len(boundaries) <= 30:
        for position, name in boundaries:
            axes[-1].annotate(name, (position, 0.0), xycoords=("data", "axes fraction"), xytext=(2, 2),
                              textcoords="offset points", fontsize=6, va="bottom", color="dimgrey",
                              rotation=90 if len(boundaries) > 8 else 0)


def _save(fig, path: str | os.PathLike) -> None:
    buffer = _io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    io.write_bytes(path, buffer.getvalue())


def _feature_panels(series: np.ndarray, reconstruction: Optional[np.ndarray], features: Sequence[int],
                    shaded: np.ndarray, feature_names: Optional[Sequence[str]]):
    """A figure with one panel per feature (input vs reconstruction, `shaded` points shaded) above a
    taller empty panel for the score; returns (figure, axes, envelope bin edges)."""
    n = len(features)
    fig, axes = plt.subplots(n + 1, 1, figsize=(13, 1.4 * n + 2.8), sharex=True, layout="constrained",
                             gridspec_kw={"height_ratios": [1] * n + [2]}, squeeze=False)
    axes = axes[:, 0]
    edges = _bins(len(series))
    for ax, f in zip(axes[:-1], features):
        _shade(ax, shaded, edges, SEGMENT_COLOR)
        _envelope(ax, series[:, f], edges, color="black", linewidth=0.7, label="input")
        if reconstruction is not None:
            _envelope(ax, reconstruction[:, f], edges, color="tab:blue", linewidth=0.7, alpha=0.8,
                      label="reconstruction")
        name = feature_names[f] if feature_names is not None else f"feature {f}"
        ax.set_ylabel(name, fontsize=8, rotation=0, ha="right", va="center")
        ax.tick_params(labelsize=7)
    if n:
        axes[0].legend(**LEGEND)
    return fig, axes, edges


def plot_reconstruction(path: str | os.PathLike, series: np.ndarray, reconstruction: Optional[np.ndarray],
                        scores: np.ndarray, labels: np.ndarray, features: Sequence[int], thresholds: Sequence[Threshold],
                        title: str, feature_names: Optional[Sequence[str]] = None,
                        boundaries: Sequence[tuple[int, str]] = (), flagged: Optional[np.ndarray] = None,
                        flagged_label: str = "flagged (label-free threshold)",
                        timestamps: Optional[Sequence] = None) -> None:
    """Input vs reconstruction of `features`, then the score with segments shaded, thresholds drawn
    and, given `flagged`, the flagged points as a strip under the score."""
    anomalous = labels.astype(bool)
    fig, axes, edges = _feature_panels(series, reconstruction, features, anomalous, feature_names)
    ax = axes[-1]
    _shade(ax, anomalous, edges, SEGMENT_COLOR, label="labelled anomaly")
    _mark_short(ax, anomalous, edges, FN_COLOR, label=f"labelled anomaly of <= {SHORT} points")
    _envelope(ax, scores, edges, color="tab:purple", linewidth=0.7, label="anomaly score")
    for t in thresholds:
        if np.ndim(t.value) == 0:
            ax.axhline(float(t.value), color=t.color, linestyle=t.style, linewidth=1.0, label=t.label)
        else:
            ax.plot(np.arange(len(scores)), t.value, color=t.color, linestyle=t.style, linewidth=1.0, label=t.label)
    _score_axis(ax, scores, [np.asarray(t.value, dtype=np.float64) for t in thresholds])
    if flagged is not None:  # a rug along the bottom of the score panel: what the deployed threshold flags
        _rug(ax, flagged.astype(bool), edges, FLAG_COLOR, flagged_label)
    ax.legend(**LEGEND)
    _time_axis(ax, timestamps, "test time index")
    ax.tick_params(labelsize=7)
    _boundaries(axes, boundaries)
    fig.suptitle(title, fontsize=10)
    _save(fig, path)


@dataclass
class PredictionPanel:
    """One row of fn_visualize.png: binary predictions and a caption (threshold, F1, ...)."""

    predictions: np.ndarray
    caption: str


def plot_predictions(path: str | os.PathLike, labels: np.ndarray, panels: Sequence[PredictionPanel], title: str,
                     boundaries: Sequence[tuple[int, str]] = ()) -> None:
    """Labels vs predictions per panel, false negatives (labelled, not predicted) shaded red and
    false positives (predicted, not labelled) orange; short segments get markers."""
    fig, axes = plt.subplots(len(panels), 1, figsize=(13, 1.9 * len(panels) + 0.8), sharex=True, squeeze=False,
                             layout="constrained")
    axes = axes[:, 0]
    edges = _bins(len(labels))
    truth = labels.astype(bool)
    for ax, panel in zip(axes, panels):
        pred = panel.predictions.astype(bool)
        _shade(ax, truth & ~pred, edges, FN_COLOR, label="false negative (missed)")
        _shade(ax, pred & ~truth, edges, FP_COLOR, label="false positive (false alarm)")
        _mark_short(ax, truth, edges, "black", label=f"labelled anomaly of <= {SHORT} points")
        _envelope(ax, truth.astype(np.float32), edges, color="black", linewidth=0.8, label="label")
        _envelope(ax, pred.astype(np.float32) * 0.8 + 0.1, edges, color="tab:blue", linewidth=0.8,
                  label="prediction (flagged)")
        ax.set_ylim(-0.15, 1.25)
        ax.set_yticks([0, 1])
        ax.set_yticklabels(["normal", "anomaly"], fontsize=7)
        ax.set_title(panel.caption, fontsize=8, loc="left")
        ax.tick_params(labelsize=7)
    handles = {}
    for ax in axes:  # one legend for all panels: an entry appears once whichever panel has it
        for handle, name in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(name, handle)
    axes[0].legend(handles.values(), handles.keys(), **LEGEND)
    axes[-1].set_xlabel("test time index", fontsize=8)
    _boundaries(axes, boundaries)
    fig.suptitle(title, fontsize=10)
    _save(fig, path)


def plot_detect(path: str | os.PathLike, series: np.ndarray, reconstruction: Optional[np.ndarray],
                scores: np.ndarray, flags: np.ndarray, features: Sequence[int], threshold: Threshold, title: str,
                feature_names: Sequence[str], x_label: str = "row", timestamps: Optional[Sequence] = None) -> None:
    """`--detect` figure: new data vs reconstruction for `features`, then the score with the threshold;
    flagged segments shaded everywhere (there are no labels)."""
    flagged = flags.astype(bool)
    fig, axes, edges = _feature_panels(series, reconstruction, features, flagged, feature_names)
    ax = axes[-1]
    _shade(ax, flagged, edges, SEGMENT_COLOR, label="flagged")
    _mark_short(ax, flagged, edges, FLAG_COLOR, label=f"flagged segment of <= {SHORT} points")
    _envelope(ax, scores, edges, color="tab:purple", linewidth=0.7, label="anomaly score")
    ax.axhline(float(threshold.value), color=threshold.color, linestyle=threshold.style, linewidth=1.0,
               label=threshold.label)
    _score_axis(ax, scores, [np.asarray(float(threshold.value))])
    _time_axis(ax, timestamps, x_label)
    ax.legend(**LEGEND)
    ax.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=10)
    _save(fig, path)
