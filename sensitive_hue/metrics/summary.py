"""A few human-readable lines from an evaluation result, for the CLIs."""

from __future__ import annotations


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def format_summary(result: dict) -> str:
    """Summary of `evaluate_entity` / `evaluate_overall` output; oracle figures are labelled as such."""
    paper = result["paper_protocol"]
    cont = result["continuous"]
    lines = [
        f"points {result['n_points']}, anomaly segments {result['n_segments']}, anomaly ratio {100 * result['anomaly_ratio']:.2f}%",
        f"F1-PA {_fmt(paper['f1_pa'])} (paper protocol: oracle threshold, PA) | "
        f"F1 {_fmt(paper['f1'])} (paper protocol: oracle threshold, no PA)",
    ]
    for name, label in (("pot", "POT"), ("val_quantile", "validation quantile")):
        entry = result.get("label_free", {}).get(name)
        if entry is None:
            continue
        if entry.get("threshold") is None and entry.get("thresholds") is None:
            lines.append(f"label-free {label} threshold: n/a ({entry['message']})")
        else:
            lines.append(
                f"label-free {label} threshold: F1 {_fmt(entry['f1'])}, F1-PA {_fmt(entry['f1_pa'])}, "
                f"PA%K AUC {_fmt(entry['pa_k_auc'])}, affiliation F1 {_fmt(entry['affiliation_f1'])}"
            )
    lines.append(
        f"PA%K AUC {_fmt(result['pa_k']['auc'])} (oracle per K) | AUC-ROC {_fmt(cont['auc_roc'])} | "
        f"AUC-PR {_fmt(cont['auc_pr'])} | VUS-ROC {_fmt(cont['vus_roc'])} | VUS-PR {_fmt(cont['vus_pr'])} | "
        f"affiliation F1 {_fmt(result['affiliation']['f1'])} (oracle threshold)"
    )
    if result.get("message"):
        lines.append(f"note: {result['message']}")
    return "\n".join(lines)
