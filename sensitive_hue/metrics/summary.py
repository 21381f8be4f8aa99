"""A few human-readable lines from an evaluation result, for the CLIs, and the warning they print
when the labels make metrics meaningless (every point normal, or every point anomalous)."""

from __future__ import annotations

TRIVIAL = " (trivial)"  # marks a figure that every point labelled anomalous makes perfect whatever the scores


def _fmt(value, mark: str = "") -> str:
    return "n/a" if value is None else f"{value:.4f}{mark}"


def label_warning(result: dict) -> str | None:
    """Why the labels make metrics meaningless, from `result["message"]` (`evaluate_entity` /
    `evaluate_overall`), with the metrics that are trivially perfect when every point is anomalous;
    None for labels with both classes."""
    message = result.get("message")
    if not message:
        return None
    if result.get("anomaly_ratio") == 1.0:
        message += ("; F1, F1-PA, PA%K AUC and affiliation F1 at the oracle threshold, and label-free F1-PA, are "
                    "trivially perfect and say nothing about the detector (marked 'trivial' in summaries)")
    return message


def format_summary(result: dict, note: bool = True) -> str:
    """Summary of `evaluate_entity` / `evaluate_overall` output; oracle figures are labelled as such.

    Figures made trivial by all-anomalous labels are marked; `note`: end with `label_warning`'s text
    (a CLI that prints it as a `warning:` line passes False)."""
    paper = result["paper_protocol"]
    cont = result["continuous"]
    mark = TRIVIAL if result.get("anomaly_ratio") == 1.0 else ""
    lines = [
        f"points {result['n_points']}, anomaly segments {result['n_segments']}, anomaly ratio {100 * result['anomaly_ratio']:.2f}%",
        f"F1-PA {_fmt(paper['f1_pa'], mark)} (paper protocol: oracle threshold, PA) | "
        f"F1 {_fmt(paper['f1'], mark)} (paper protocol: oracle threshold, no PA)",
    ]
    for name, label in (("pot", "POT"), ("val_quantile", "validation quantile")):
        entry = result.get("label_free", {}).get(name)
        if entry is None:
            continue
        if entry.get("threshold") is None and entry.get("thresholds") is None:
            lines.append(f"label-free {label} threshold: n/a ({entry['message']})")
        else:
            lines.append(
                f"label-free {label} threshold: F1 {_fmt(entry['f1'])}, F1-PA {_fmt(entry['f1_pa'], mark)}, "
                f"PA%K AUC {_fmt(entry['pa_k_auc'])}, affiliation F1 {_fmt(entry['affiliation_f1'])}"
            )
    lines.append(
        f"PA%K AUC {_fmt(result['pa_k']['auc'], mark)} (oracle per K) | AUC-ROC {_fmt(cont['auc_roc'])} | "
        f"AUC-PR {_fmt(cont['auc_pr'])} | VUS-ROC {_fmt(cont['vus_roc'])} | VUS-PR {_fmt(cont['vus_pr'])} | "
        f"affiliation F1 {_fmt(result['affiliation']['f1'], mark)} (oracle threshold)"
    )
    warning = label_warning(result)
    if note and warning:
        lines.append(f"note: {warning}")
    return "\n".join(lines)
