"""Print VUS and affiliation values computed by the authors' reference implementations on the
fixed inputs of `tests/metric_cases.py` (not a test; the values are recorded in the tests).

Throwaway environment (not part of requirements.txt):
    python3 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install numpy==2.3.5 scikit-learn==1.7.2 pandas==2.3.3 tqdm==4.67.1
    /tmp/refvenv/bin/pip install --no-deps vus==0.0.6          # TheDatumOrg/VUS, PyPI release
    /tmp/refvenv/bin/pip install <checkout of ahstat/affiliation-metrics-py>  # stdlib only
    /tmp/refvenv/bin/python tests/reference/metric_references.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from affiliation.generics import convert_vector_to_events  # noqa: E402
from affiliation.metrics import pr_from_events  # noqa: E402
from metric_cases import affiliation_cases, vus_cases  # noqa: E402
from vus.utils.metrics import metricor  # noqa: E402


def main() -> None:
    vus_values = {}
    for name, scores, labels, buffer, n_thresholds in vus_cases():
        out = metricor().RangeAUC_volume_opt(labels_original=labels, score=scores, windowSize=buffer, thre=n_thresholds)
        vus_values[name] = [float(out[4]), float(out[5])]  # VUS-ROC, VUS-PR (what generate_curve returns)
    affiliation_values = {}
    for name, pred, labels in affiliation_cases():
        events_pred, events_gt = convert_vector_to_events(list(pred)), convert_vector_to_events(list(labels))
        out = pr_from_events(events_pred, events_gt, (0, len(labels)))
        affiliation_values[name] = [float(out["precision"]), float(out["recall"])]
    print(json.dumps({"vus": vus_values, "affiliation": affiliation_values}, indent=1))


if __name__ == "__main__":
    main()
