"""Per-point anomaly scores.

Networks: every test point gets a score. Windows run at stride 1; point t takes the per-feature
NLL from the window where it sits at `select_pos` (mid = window // 2, tail = window - 1); the
first and last points, which no window holds at that position, take the first / last window.
The validation blocks are scored the same way, block by block.
Detectors give raw per-feature scores (T, F); `ScoreStats` normalises each feature by the
median and IQR of the *validation* raw scores (`score_norm: validation`, the default) or of the
unlabelled test raw scores themselves (`score_norm: test`, as the paper and SensitiveHUE do:
transductive, no labels), and the point score combines the normalised features, leaving out the
entity's `score_ignore_dims`: their max (`score_combine: max`, the paper's: one sensor off is enough),
the mean of the ceil(F/10) largest (`topk`: one feature that is spikier in test than in training no
longer sets the score of normal points alone), or their mean (`mean`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from . import progress
from .config import Config
from .data.windows import WindowLoader, window_starts
from .errors import CheckpointError, ConfigError
from .losses import pointwise_nll
from .metrics.checks import SCORE_LIMIT

IQR_FLOOR_ABS = 1e-6  # IQR floor for features whose validation scores barely vary ...
IQR_FLOOR_REL = 1e-3  # ... relative to the median IQR over features, so one flat feature cannot swamp the max
LOG_PREC_CAP = 88.0  # float64 scores cap the log-precision just under exp()'s float32 overflow (88.72)


def select_position(cfg: Config) -> int:
    """Position inside a window that gives a point its score."""
    return cfg.step_num_in // 2 if cfg.select_pos == "mid" else cfg.step_num_in - 1


def _batches(series: np.ndarray, starts: np.ndarray, cfg: Config, desc: str):
    loader = WindowLoader(series, starts, cfg.step_num_in, cfg.score_batch_size, shuffle=False)
    return progress.bar(loader, desc=desc, leave=False, unit="batch", min_steps=20)


def scoring_nll(x: torch.Tensor, recon: torch.Tensor, log_prec: Optional[torch.Tensor]) -> torch.Tensor:
    """`losses.pointwise_nll` as float64 scores that stay finite for any finite network output.

    The float32 NLL overflows where a point lies far outside the training range: without instance
    normalisation (`revin_denorm: none`) a test value 1,600 training stds out (MSL P-10) drives the
    log-precision head to 127, and exp(127) is inf in float32 (0 * inf is NaN). Those entries alone are
    recomputed in float64 with the log-precision capped at LOG_PREC_CAP, just under float32's own
    limit, so every score that was finite stays bit for bit what it was, and a larger error still
    gives a larger score. A NaN from the network itself stays NaN (and fails the entity loudly)."""
    nll = pointwise_nll(x, recon, log_prec).double()
    bad = ~torch.isfinite(nll)
    if bad.any():
        capped = None if log_prec is None else log_prec[bad].double().clamp(max=LOG_PREC_CAP)
        nll[bad] = pointwise_nll(x[bad].double(), recon[bad].double(), capped)
    return nll


def _forward(model: torch.nn.Module, x: torch.Tensor, steps: slice) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature NLL (float64) and reconstruction (B, len(steps), F) at `steps` of each window; the
    network still reads the whole window, but only those steps are decoded."""
    recon, log_prec = model(x, decode_steps=steps)[:2]
    return scoring_nll(x[:, steps], recon, log_prec), recon


def _fill(nll_out: np.ndarray, recon_out: Optional[np.ndarray], model: torch.nn.Module, batches, pos: int,
          device: torch.device) -> None:
    """Write the NLL (and reconstruction) at `pos` of each window, batch after batch, into preallocated
    rows: nothing is kept per batch (small per-batch tensors kept alive pin freed batch memory in the
    heap: measured 0.5-1 MB more RSS per batch, over 1 GB for SWaT's test set)."""
    row = 0
    for x in batches:
        nll, recon = _forward(model, x.to(device), slice(pos, pos + 1))
        nll_out[row:row + len(x)] = nll[:, 0].cpu().numpy()
        if recon_out is not None:
            recon_out[row:row + len(x)] = recon[:, 0].cpu().numpy()
        row += len(x)


@torch.inference_mode()
def network_point_scores(model: torch.nn.Module, series: np.ndarray, cfg: Config,
                         device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """Raw per-feature NLL and reconstruction, both (T, F), one row per point of `series`."""
    model.eval()
    length, window, pos = len(series), cfg.step_num_in, select_position(cfg)
    nll = np.empty((length, series.shape[1]), dtype=np.float64)
    recon = np.empty((length, series.shape[1]), dtype=np.float32)
    _fill(nll[pos:], recon[pos:], model, _batches(series, window_starts(length, window, 1), cfg, "scoring"), pos,
          device)  # rows pos .. length - window + pos
    # The first `pos` and last `window - 1 - pos` points sit at `pos` of no window: the first / last window scores them.
    edges = WindowLoader(series, np.array([0, length - window]), window, 2, shuffle=False)
    edge_nll, edge_recon = (part.cpu().numpy() for part in _forward(model, next(iter(edges)).to(device), slice(None)))
    tail = length - window + pos + 1
    nll[:pos], recon[:pos] = edge_nll[0, :pos], edge_recon[0, :pos]
    nll[tail:], recon[tail:] = edge_nll[1, pos + 1:], edge_recon[1, pos + 1:]
    return nll, recon


def ignored_dims(cfg: Config, entity_index: int, n_features: int) -> tuple[int, ...]:
    """The entity's `score_ignore_dims` (keyed by its 1-based index in the documented order)."""
    dims = tuple(sorted(set(cfg.score_ignore_dims.get(entity_index, ()))))
    bad = [d for d in dims if not 0 <= d < n_features]
    if bad:
        raise ConfigError(f"{cfg.describe_key('score_ignore_dims')}: entity {entity_index} lists "
                          f"dims {bad}, outside 0..{n_features - 1}")
    if len(dims) == n_features:
        raise ConfigError(f"{cfg.describe_key('score_ignore_dims')}: entity {entity_index} "
                          "ignores every feature; leave at least one")
    return dims


def top_k(n_features: int) -> int:
    """How many of the largest normalised feature scores `score_combine: topk` averages: ceil(F / 10)."""
    return max(1, -(-n_features // 10))


COMBINE = {  # normalised per-feature scores (T, F) of the features that count -> point scores (T,)
    "max": lambda c: c.max(axis=1),
    "topk": lambda c: np.sort(c, axis=1)[:, -top_k(c.shape[1]):].mean(axis=1),
    "mean": lambda c: c.mean(axis=1),
}


@dataclass(frozen=True)
class ScoreStats:
    """Per-feature median and IQR of the validation raw scores, the dims left out of the point score, and
    how the other features combine into it (`score_combine`)."""

    median: np.ndarray  # (F,) float64
    iqr: np.ndarray  # (F,) float64, floored
    ignore_dims: tuple[int, ...] = ()
    how: str = "max"  # a key of COMBINE

    @classmethod
    def fit(cls, val_raw: np.ndarray, ignore_dims: tuple[int, ...] = (), how: str = "max") -> "ScoreStats":
        q25, median, q75 = np.percentile(val_raw, [25, 50, 75], axis=0)
        iqr = q75 - q25
        positive = iqr[iqr > 0]
        floor = max(IQR_FLOOR_ABS, IQR_FLOOR_REL * float(np.median(positive)) if positive.size else 0.0)
        return cls(median=median, iqr=np.maximum(iqr, floor), ignore_dims=tuple(ignore_dims), how=how)

    def contributions(self, raw: np.ndarray) -> np.ndarray:
        """Normalised per-feature scores (T, F); ignored dims are kept here (for plots) but not in `combine`.
        Clipped to +-SCORE_LIMIT, the range every metric takes (a no-op but for points so far off the
        validation scale, e.g. 1e40 from a log-precision that extrapolates, that they tie at the top)."""
        return np.clip((raw - self.median) / self.iqr, -SCORE_LIMIT, SCORE_LIMIT)

    def combine(self, contributions: np.ndarray) -> np.ndarray:
        """Point scores (T,): the features that count, combined as `how` says."""
        keep = np.setdiff1d(np.arange(contributions.shape[1]), self.ignore_dims)
        return COMBINE[self.how](contributions[:, keep])

    def to_state(self) -> dict:
        return {"median": torch.from_numpy(self.median.copy()), "iqr": torch.from_numpy(self.iqr.copy()),
                "ignore_dims": list(self.ignore_dims), "combine": self.how}

    @classmethod
    def from_state(cls, state: dict, n_features: int) -> "ScoreStats":
        try:
            median = state["median"].numpy().astype(np.float64)
            iqr = state["iqr"].numpy().astype(np.float64)
            ignore = tuple(int(d) for d in state["ignore_dims"])
            how = str(state.get("combine", "max"))  # checkpoints from before score_combine took the max
        except (KeyError, TypeError, AttributeError) as exc:
            raise CheckpointError(f"checkpoint score statistics are malformed ({exc!r}); retrain without --test") from None
        if how not in COMBINE:
            raise CheckpointError(f"checkpoint score statistics combine features by {how!r}, not one of "
                                  f"{', '.join(COMBINE)}; retrain without --test")
        if median.shape != (n_features,) or iqr.shape != (n_features,):
            raise CheckpointError(f"checkpoint score statistics cover {median.shape[0]} features, the data has "
                                  f"{n_features}; retrain without --test")
        return cls(median=median, iqr=iqr, ignore_dims=ignore, how=how)


@dataclass
class PointScores:
    """Scores of every point of a series and what they are made of."""

    scores: np.ndarray  # (T,) float64
    contributions: np.ndarray  # (T, F) float64, normalised per-feature scores
    reconstruction: Optional[np.ndarray]  # (T, F) float32, None for detectors without one
    stats: Optional[ScoreStats] = None  # the normalisation that made `contributions`


def score_series(detector, stats: ScoreStats, series: np.ndarray, score_norm: str = "validation") -> PointScores:
    """Score every row of `series` with a fitted detector (`detectors.Detector`): the one path shared
    by evaluation and `--detect`, so both give identical scores. `score_norm="test"` refits the
    median/IQR on this series' own raw scores (keeping `stats.ignore_dims` and `stats.how`); the
    result's `stats` says which statistics were used."""
    raw, reconstruction = detector.point_scores(series)
    if score_norm == "test":
        stats = ScoreStats.fit(raw, stats.ignore_dims, stats.how)
    contributions = stats.contributions(raw)
    return PointScores(scores=stats.combine(contributions), contributions=contributions,
                       reconstruction=reconstruction, stats=stats)


def summarise(scores: np.ndarray) -> dict[str, float]:
    """A few quantiles of a score array (stored with the checkpoint, shown in results)."""
    qs = np.percentile(scores, [1, 25, 50, 75, 99])
    return {"n": int(len(scores)), "mean": float(np.mean(scores)), "std": float(np.std(scores)),
            "min": float(np.min(scores)), "p01": float(qs[0]), "p25": float(qs[1]), "median": float(qs[2]),
            "p75": float(qs[3]), "p99": float(qs[4]), "max": float(np.max(scores))}
