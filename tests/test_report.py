"""The report command: fake results.json files in, markdown + JSON table out."""

from __future__ import annotations

import json
import math

import pytest

from sensitive_hue import report
from sensitive_hue.cli import run_cli
from sensitive_hue.errors import DataError


def _overall(f1_pa, f1=0.5, pot=0.4, auc_pr=0.3):
    return {"per_entity_mean": {"auc_pr": 0.45, "vus_pr": 0.4, "auc_roc": 0.8, "vus_roc": 0.75, "f1_oracle": 0.6},
            "paper_protocol": {"f1_pa": f1_pa, "f1": f1},
            "label_free": {"pot": {"f1": pot, "f1_pa": 0.6}, "val_quantile": {"f1": 0.35}},
            "pa_k": {"auc": 0.55}, "continuous": {"auc_pr": auc_pr, "vus_pr": 0.25, "auc_roc": 0.7, "vus_roc": 0.65},
            "affiliation": {"f1": 0.7}}


def write_run(root, model, seed, overall, dataset="MSL", stride=20, contrastive=True, uncertainty=True,
              name=None, entities=("A", "B"), **config):
    folder = root / (name or model) / f"seed{seed}" / dataset
    folder.mkdir(parents=True)
    config = {"score_combine": "topk", **config}  # what runs of this version store; None: a run from before the key
    if config["score_combine"] is None:
        del config["score_combine"]
    data = {"dataset": dataset, "detector": model, "seed": seed, "commit": "abc1234", "mode": "train",
            "command": ["main.py", "--data_name", dataset, "--overlay", "config/cpu_protocol.yaml"],
            "config": {"stride": stride, "max_epoch": 5, "contrastive": contrastive, "uncertainty": uncertainty,
                       "seed": seed, **config},
            "entities": {e: {"n_validation_points": 100 + i} for i, e in enumerate(entities)}, "overall": overall,
            "timings": {"total_s": 120.0}}
    (folder / "results.json").write_text(json.dumps(data))
    return folder / "results.json"


def test_mean_and_sample_std_over_seeds(tmp_path):
    write_run(tmp_path, "sensitive_mamba", 1, _overall(0.9))
    write_run(tmp_path, "sensitive_mamba", 2, _overall(0.8))
    table = report.build_table("MSL", report.collect("MSL", [tmp_path]))
    (row,) = table["rows"]
    assert row["detector"] == "SensitiveMamba" and row["n_seeds"] == 2 and row["seeds"] == [1, 2]
    assert row["f1_pa_oracle"]["mean"] == pytest.approx(0.85)
    assert row["f1_pa_oracle"]["std"] == pytest.approx(math.sqrt(0.005))  # ddof 1
    assert row["f1_oracle"] == {"mean": 0.5, "std": 0.0, "n": 2}
    assert "| SensitiveMamba | 2 | 45.0 ± 0.0 | 40.0 ± 0.0 | 80.0 ± 0.0 | 60.0 ± 0.0 |" in report.to_markdown(table)
    assert "| 50.0 ± 0.0 | 85.0 ± 7.1 | 100 | 2.0 |" in report.to_markdown(table)  # pooled F1, F1-PA, val rows, wall


def test_single_seed_has_no_std_and_missing_metric_is_na(tmp_path):
    overall = _overall(0.95)
    overall["label_free"]["pot"] = {"threshold": None, "message": "POT needs at least 20 scores"}
    write_run(tmp_path, "random", 2025, overall)
    table = report.build_table("MSL", report.collect("MSL", [tmp_path]))
    (row,) = table["rows"]
    assert row["f1_pa_oracle"] == {"mean": 0.95, "std": None, "n": 1}
    assert row["f1_pot"] == {"mean": None, "std": None, "n": 0}
    line = next(x for x in report.to_markdown(table).splitlines() if x.startswith("| random"))
    assert line == "| random (uniform scores) | 1 | 45.0 | 40.0 | 80.0 | 60.0 | 35.0 | n/a | 30.0 | 25.0 | 50.0 | 95.0 | 100 | 2.0 |"


def _entity(method, n_anomalies, recall, n_predicted):
    entry = {"recall": recall, "n_predicted": n_predicted}
    return {"n_anomalies": n_anomalies, "thresholds": {"method": method},
            "metrics": {"label_free": {method: entry}}}


def test_deployed_threshold_f1_pools_counts_of_each_entitys_method():
    # entity 1 (POT): 10 anomalies, 5 hit, 8 flagged; entity 2 (quantile): 4 anomalies, 1 hit, 1 flagged;
    # entity 3: no anomaly, 3 false alarms (recall undefined)
    entities = {"a": _entity("pot", 10, 0.5, 8), "b": _entity("val_quantile", 4, 0.25, 1),
                "c": _entity("pot", 0, None, 3)}
    tp, fp, fn = 6, 3 + 0 + 3, 5 + 3
    assert report.deployed_f1(entities) == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert report.deployed_f1({"a": _entity("pot", 10, 0.0, 0)}) == 0.0
    assert report.deployed_f1({"a": {"n_anomalies": 3}}) is None


def test_rows_ordered_and_ablations_labelled(tmp_path):
    write_run(tmp_path, "random", 1, _overall(0.9))
    write_run(tmp_path, "pca", 1, _overall(0.9), contrastive=False)  # flags mean nothing for controls
    write_run(tmp_path, "sensitive_mamba", 1, _overall(0.9), contrastive=False, name="m-nc")
    write_run(tmp_path, "sensitive_mamba", 1, _overall(0.9), uncertainty=False, name="m-nu")
    write_run(tmp_path, "sensitive_mamba", 1, _overall(0.9))
    write_run(tmp_path, "sensitive_mamba", 1, _overall(0.9), name="m-rs", revin_denorm="stored")
    write_run(tmp_path, "sensitive_mamba", 1, _overall(0.9), name="m-st", score_norm="test")
    write_run(tmp_path, "pca", 1, _overall(0.9), name="p-mx", score_combine="max")
    write_run(tmp_path, "sensitive_mamba", 1, _overall(0.9), name="m-old", score_combine=None)  # took the max
    write_run(tmp_path, "sensitive_hue", 1, _overall(0.9))
    write_run(tmp_path, "maxz", 1, _overall(0.9))
    rows = [r["detector"] for r in report.build_table("MSL", report.collect("MSL", [tmp_path]))["rows"]]
    assert rows == ["SensitiveMamba", "SensitiveMamba, no contrastive", "SensitiveMamba, no uncertainty (MSE)",
                    "SensitiveMamba, revin_denorm stored", "SensitiveMamba, score_combine max",
                    "SensitiveMamba, score_norm test (median/IQR fitted on unlabelled test scores, transductive)",
                    "SensitiveHUE (attention)", "PCA (90% variance)", "PCA (90% variance), score_combine max",
                    "maxz (largest abs. z-score, no model)",
                    "random (uniform scores)"]


def test_wall_of_a_rescored_run_counts_the_training_of_its_models(tmp_path):
    path = write_run(tmp_path, "sensitive_mamba", 1, _overall(0.9))
    data = json.loads(path.read_text())
    data["mode"] = "test"
    data["entities"] = {"A": {"training": {"fit_seconds": 600.0}}, "B": {"training": {"fit_seconds": 300.0}}}
    path.write_text(json.dumps(data))
    (row,) = report.build_table("MSL", report.collect("MSL", [tmp_path]))["rows"]
    assert row["wall_s"] == [1020.0]  # 120 s re-scoring + 900 s training


def test_maxz_is_the_max_whatever_score_combine_says():
    assert report.row_label("maxz", {}) == report.row_label("maxz", {"score_combine": "topk"}) == report.DETECTOR_NAMES["maxz"]


def test_header_says_protocol_seeds_commit_command_and_oracle(tmp_path):
    write_run(tmp_path, "sensitive_mamba", 7, _overall(0.9))
    table = report.build_table("MSL", report.collect("MSL", [tmp_path]), command="python -m sensitive_hue.report X")
    text = report.to_markdown(table)
    assert "overlay `config/cpu_protocol.yaml`" in text and "stride 20, max_epoch 5" in text
    assert "paper protocol: stride 1, max_epoch 25" in text
    assert "- Seeds: 7;" in text and "runs at abc1234" in text
    assert "Rebuild: `python -m sensitive_hue.report X`" in text
    assert "*test labels*" in text and "F1-PA oracle (paper protocol)" in text and "Entities: 2 (A, B)" in text
    assert "(entity mean)" in text and "(concat.)" in text
    assert ("**Not run** (no results.json found): SensitiveHUE (attention), PCA (90% variance), maxz (largest abs. "
            "z-score, no model), random") in text


def test_protocols_differ_rows_say_which(tmp_path):
    write_run(tmp_path / "cpu", "sensitive_mamba", 1, _overall(0.9), stride=20)
    write_run(tmp_path / "paper", "sensitive_mamba", 1, _overall(0.95), stride=1)
    rows = report.build_table("MSL", report.collect("MSL", [tmp_path]))["rows"]
    assert sorted(r["detector"] for r in rows) == ["SensitiveMamba [stride 1, max_epoch 5]",
                                                    "SensitiveMamba [stride 20, max_epoch 5]"]


def test_other_datasets_ignored_and_duplicates_refused(tmp_path):
    write_run(tmp_path, "pca", 1, _overall(0.9), dataset="SMD")
    with pytest.raises(DataError, match="no MSL/results.json"):
        report.collect("MSL", [tmp_path])
    write_run(tmp_path / "a", "pca", 1, _overall(0.9))
    write_run(tmp_path / "b", "pca", 1, _overall(0.8))
    with pytest.raises(DataError, match="two runs of PCA"):
        report.collect("MSL", [tmp_path])


def test_cli_writes_markdown_and_json_for_make_figures(tmp_path, capsys):
    write_run(tmp_path / "runs", "sensitive_mamba", 1, _overall(0.9))
    out = tmp_path / "results" / "MSL.md"
    assert run_cli(report.main, ["--data_name", "MSL", "--runs", str(tmp_path / "runs"), "--out", str(out)]) == 0
    data = json.loads(out.with_suffix(".json").read_text())
    assert set(data) >= {"dataset", "protocol", "commit", "rows"} and data["dataset"] == "MSL"
    row = data["rows"][0]
    assert row["detector"] == "SensitiveMamba" and row["n_seeds"] == 1
    for key in ("f1_pa_oracle", "f1_oracle", "auc_pr", "vus_pr"):  # read by images/make_figures.py
        assert isinstance(row[key]["mean"], float)
    assert out.read_text() == capsys.readouterr().out
    assert run_cli(report.main, ["--data_name", "MSL", "--runs", str(tmp_path / "runs"), "--note", "two of four"]) == 0
    assert "\n- two of four\n" in capsys.readouterr().out
    assert "--out " + str(out) in data["command"]


def test_cli_bad_input_is_one_line_exit_2(tmp_path, capsys):
    assert run_cli(report.main, ["--data_name", "MSL", "--runs", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --runs") and err.count("\n") == 1
    bad = tmp_path / "x" / "MSL"
    bad.mkdir(parents=True)
    (bad / "results.json").write_text("{not json")
    assert run_cli(report.main, ["--data_name", "MSL", "--runs", str(tmp_path / "x"), "--out",
                                 str(tmp_path / "o.md")]) == 2
    assert "not a results.json" in capsys.readouterr().err and not (tmp_path / "o.md").exists()


def test_the_default_row_leads_its_variants_when_all_runs_predate_score_combine(tmp_path):
    """Runs from before score_combine all read as the max, so every label carries it; the run without an
    ablation still comes first."""
    write_run(tmp_path, "sensitive_mamba", 1, _overall(0.9), name="m-nc", contrastive=False, score_combine=None)
    write_run(tmp_path, "sensitive_mamba", 1, _overall(0.9), score_combine=None)
    rows = [r["detector"] for r in report.build_table("MSL", report.collect("MSL", [tmp_path]))["rows"]]
    assert rows == ["SensitiveMamba, score_combine max", "SensitiveMamba, no contrastive, score_combine max"]
