"""`main.py --detect`: a small demo model scores its own test part exactly as the evaluation did, flags the
injected anomalies, loads checkpoints with mamba-ssm's layout from a GPU run on the CPU, matches a CSV
model's columns by name, and turns every bad input into one line with nothing written."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from sensitive_hue import main_cli
from sensitive_hue.cli import run_cli
from sensitive_hue.config import load_config
from sensitive_hue.data.preprocess import preprocess_dataset
from sensitive_hue.data.sources import CsvFiles, make_demo
from sensitive_hue.detect import MAX_GAP_ROWS, run_detect

ROOT = Path(__file__).resolve().parents[1]

# Small enough to train in seconds, big enough that the label-free threshold finds the demo's anomalies.
SMALL_CONFIG = {"step_num_in": 32, "stride": 2, "encode_layer_num": 1, "dim_model": 32, "dim_hidden_fc": 32,
                "d_state": 8, "max_epoch": 2, "device": "cpu", "mamba_backend": "torch", "num_threads": 1}


def as_flags(values: dict) -> list[str]:
    return [text for key, value in values.items() for text in ("--set", f"{key}={value}")]


SMALL = as_flags(SMALL_CONFIG)
# What --detect reads from the command line: the model's shape (checked against the checkpoint) and the
# runtime settings; training-only settings (stride, max_epoch) would be refused as having no effect.
def detect_flags(values: dict) -> list[str]:
    return as_flags({key: value for key, value in values.items() if key not in ("stride", "max_epoch")})


DETECT_FLAGS = detect_flags(SMALL_CONFIG)
CONFIG = str(ROOT / "config" / "star.yaml")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_main(*argv: str) -> int:
    return run_cli(main_cli.main, list(argv))


def detect(out: Path, file: Path, *extra: str, data_name: str = "demo", flags=DETECT_FLAGS) -> int:
    return run_main("--config_path", CONFIG, "--data_name", data_name, "--out_dir", str(out), *flags,
                    "--detect", str(file), *extra)


def read_scores(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "scores.csv", float_precision="round_trip")


@pytest.fixture(scope="module", autouse=True)
def _restore_threads():
    threads = torch.get_num_threads()  # --num_threads 1 sets torch's global thread count
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A small model trained on the demo; the demo's test part as new data (CSV with timestamps, .npy)."""
    base = tmp_path_factory.mktemp("detect")
    out = base / "out"
    assert run_main("--config_path", CONFIG, "--data_name", "demo", "--processed_dir", str(base / "processed"),
                    "--raw_dir", str(base / "raw"), "--out_dir", str(out), "--no_plots", *SMALL) == 0
    raw = make_demo()
    frame = pd.DataFrame(raw.test, columns=raw.columns)
    frame.insert(0, "timestamp", pd.date_range("2025-01-01", periods=len(frame), freq="min").astype(str))
    frame.to_csv(base / "new.csv", index=False)
    np.save(base / "new.npy", raw.test)
    return {"out": out, "csv": base / "new.csv", "npy": base / "new.npy", "frame": frame, "raw": raw,
            "evaluation": np.load(out / "demo" / "scores" / "demo.npy"),
            "checkpoint": torch.load(out / "demo" / "demo" / "model.pt", weights_only=True)}


@pytest.fixture
def fresh(demo, tmp_path):
    """An out_dir holding only a copy of the trained checkpoint."""
    out = tmp_path / "out"
    (out / "demo" / "demo").mkdir(parents=True)
    shutil.copy(demo["out"] / "demo" / "demo" / "model.pt", out / "demo" / "demo" / "model.pt")
    return out


def test_scores_equal_the_evaluation_path_bit_for_bit(demo, fresh, capsys):
    assert detect(fresh, demo["csv"]) == 0
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert "4,000 points scored in" in summary and "segments flagged" in summary and "quantile" in summary, summary
    folder = fresh / "detect" / "demo"
    scores = read_scores(folder)
    assert list(scores.columns) == ["timestamp", "score", "flag", "top1", "top2", "top3"]
    assert np.array_equal(scores["score"].to_numpy(), demo["evaluation"])  # bit for bit, from the CSV's text
    assert list(scores["timestamp"]) == list(demo["frame"]["timestamp"])
    threshold = demo["checkpoint"]["thresholds"]["val_quantile"]["threshold"]  # the default threshold_method
    assert np.array_equal(scores["flag"].to_numpy() == 1, demo["evaluation"] >= threshold)
    assert (folder / "detect.png").read_bytes()[:8] == PNG_MAGIC

    result = run_detect(load_config(CONFIG, "demo", overrides=SMALL_CONFIG), demo["npy"], fresh, plot=False)
    assert np.array_equal(result.points.scores, demo["evaluation"])
    assert result.threshold.value == threshold and result.threshold.method == "val_quantile"
    rows = np.arange(len(result.flags))
    # the first top feature is the one whose normalised score is the point's score (the max)
    assert np.array_equal(result.points.contributions[rows, result.top[:, 0]], result.points.scores)
    assert (np.diff(result.points.contributions[rows[:, None], result.top], axis=1) <= 0).all()
    assert list(scores["top1"]) == [f"ch{i}" for i in result.top[:, 0]]


def test_threshold_method_pot_uses_the_stored_pot_threshold(demo, fresh):
    assert detect(fresh, demo["npy"], "--no_plots", "--set", "threshold_method=pot") == 0
    threshold = json.loads((fresh / "detect" / "demo" / "anomalies.json").read_text())["threshold"]
    assert threshold["method"] == "pot"
    assert threshold["value"] == demo["checkpoint"]["thresholds"]["pot"]["threshold"]


def test_flagged_segments_overlap_the_injected_anomalies(demo, fresh):
    assert detect(fresh, demo["csv"], "--no_plots") == 0
    report = json.loads((fresh / "detect" / "demo" / "anomalies.json").read_text())
    found = report["segments"]
    assert report["points"] == 4000 and report["flagged_points"] == sum(s["duration"] for s in found)
    flagged = np.zeros(4000, bool)
    for segment in found:
        assert segment["duration"] == segment["end_index"] - segment["start_index"] + 1
        assert segment["peak_score"] >= report["threshold"]["value"]
        assert segment["start"] == demo["frame"]["timestamp"][segment["start_index"]]
        assert len(segment["top_features"]) == 3 and segment["top_features"][0]["feature"].startswith("ch")
        flagged[segment["start_index"]:segment["end_index"] + 1] = True
    injected = demo["raw"].info["anomalies"]
    hit = [bool(flagged[a["start"]:a["end"] + 1].any()) for a in injected]
    assert sum(hit) >= 5, (hit, [(s["start_index"], s["end_index"]) for s in found])
    labels = demo["raw"].labels.astype(bool)
    precision = (flagged & labels).sum() / flagged.sum()
    assert precision >= 2 * labels.mean(), precision  # flags concentrate on the anomalies (base rate 14%)


def mamba_ssm_layout(d_model: int, d_state: int, d_conv: int, expand: int) -> dict[str, tuple[int, ...]]:
    """Names and shapes of `mamba_ssm.modules.mamba_simple.Mamba(d_model, d_state, d_conv, expand)`'s
    state_dict (bias=False, conv_bias=True), in its order: own parameters first, then submodules."""
    d_inner, dt_rank = expand * d_model, math.ceil(d_model / 16)
    return {"A_log": (d_inner, d_state), "D": (d_inner,), "in_proj.weight": (2 * d_inner, d_model),
            "conv1d.weight": (d_inner, 1, d_conv), "conv1d.bias": (d_inner,),
            "x_proj.weight": (dt_rank + 2 * d_state, d_inner), "dt_proj.weight": (d_inner, dt_rank),
            "dt_proj.bias": (d_inner,), "out_proj.weight": (d_model, d_inner)}


def test_checkpoint_from_a_gpu_run_with_mamba_ssm_layout_scores_on_cpu(demo, fresh):
    checkpoint = dict(demo["checkpoint"])
    cfg = checkpoint["config"]
    layout = mamba_ssm_layout(cfg["dim_model"], cfg["d_state"], cfg["d_conv"], cfg["expand"])
    ours = checkpoint["state_dict"]
    gpu_state = {}  # as a cuda-backend run saves it: every mixer's tensors under mamba-ssm's names, in its order
    for i in range(cfg["encode_layer_num"]):
        prefix = f"layers.{i}.mixer."
        assert {k[len(prefix):]: tuple(v.shape) for k, v in ours.items() if k.startswith(prefix)} == layout
        gpu_state.update({prefix + name: ours[prefix + name].clone() for name in layout})
    gpu_state.update({k: v.clone() for k, v in ours.items() if ".mixer." not in k})
    checkpoint["state_dict"] = gpu_state
    checkpoint["config"] = {**cfg, "mamba_backend": "cuda", "device": "cuda"}
    torch.save(checkpoint, fresh / "demo" / "demo" / "model.pt")
    flags = detect_flags({k: v for k, v in SMALL_CONFIG.items() if k != "mamba_backend"})  # auto: torch on the CPU
    assert detect(fresh, demo["npy"], "--no_plots", flags=flags) == 0
    assert np.array_equal(read_scores(fresh / "detect" / "demo")["score"].to_numpy(), demo["evaluation"])


def test_csv_model_matches_columns_by_name_and_skips_timestamp_and_label(tmp_path, capsys):
    rng = np.random.default_rng(3)
    t = np.arange(900)[:, None]
    values = np.sin(2 * np.pi * t / 30 + np.array([0.0, 1.0, 2.0])) + 0.1 * rng.standard_normal((900, 3))
    values[700:720, 1] += 4.0
    frame = pd.DataFrame(values, columns=["temp", "flow", "pressure"])
    frame.insert(0, "ts", pd.date_range("2025-03-01", periods=900, freq="s").astype(str))
    frame["label"] = (np.arange(900) >= 700) & (np.arange(900) < 720)
    frame["label"] = frame["label"].astype(int)
    frame.iloc[:600].drop(columns="label").to_csv(tmp_path / "plant.csv", index=False)
    frame.iloc[600:].to_csv(tmp_path / "plant_test.csv", index=False)
    small_config = {**SMALL_CONFIG, "step_num_in": 16, "dim_model": 16, "dim_hidden_fc": 16, "d_state": 4,
                    "max_epoch": 1}
    small, small_detect = as_flags(small_config), detect_flags(small_config)
    cfg = load_config(CONFIG, "csv", overrides={"step_num_in": 16})
    preprocess_dataset(cfg, tmp_path, tmp_path / "processed", progress=False,
                       csv=CsvFiles(tmp_path / "plant.csv", tmp_path / "plant_test.csv", timestamp_column="ts"))
    out = tmp_path / "out"
    assert run_main("--config_path", CONFIG, "--data_name", "csv", "--processed_dir", str(tmp_path / "processed"),
                    "--out_dir", str(out), "--no_plots", *small) == 0
    shuffled = frame.iloc[600:][["pressure", "label", "ts", "temp", "flow"]]
    shuffled.to_csv(tmp_path / "new.csv", index=False)
    assert detect(out, tmp_path / "new.csv", "--no_plots", data_name="csv", flags=small_detect) == 0
    scores = read_scores(out / "detect" / "plant")
    assert list(scores.columns[:3]) == ["ts", "score", "flag"]
    assert np.array_equal(scores["score"].to_numpy(), np.load(out / "csv" / "scores" / "plant.npy"))
    assert set(scores["top1"]) <= {"temp", "flow", "pressure"}

    frame.iloc[600:][["ts", "temp", "pressure"]].assign(speed=1.0).to_csv(tmp_path / "bad.csv", index=False)
    shutil.rmtree(out / "detect")
    capsys.readouterr()
    _fails(capsys, out, detect(out, tmp_path / "bad.csv", data_name="csv", flags=small_detect), "missing: flow; extra: speed")


# --- bad input: one line, exit 2, nothing written ------------------------------------------------------


def _fails(capsys, out: Path, code: int, *expected: str) -> None:
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    for text in expected:
        assert text in err, err
    assert not (out / "detect").exists()


def test_columns_missing_or_extra_are_listed_by_name(demo, fresh, tmp_path, capsys):
    path = tmp_path / "cols.csv"
    demo["frame"].drop(columns=["ch5", "ch2"]).assign(pressure=1.0).to_csv(path, index=False)
    _fails(capsys, fresh, detect(fresh, path), "missing: ch2, ch5", "extra: pressure", "trained on ch0, ch1")


def test_wrong_column_count_is_an_error(demo, fresh, tmp_path, capsys):
    np.save(tmp_path / "seven.npy", np.zeros((100, 7)))
    _fails(capsys, fresh, detect(fresh, tmp_path / "seven.npy"), "7 columns", "trained on 6")
    np.savetxt(tmp_path / "plain.csv", np.zeros((100, 5)), delimiter=",")  # no header: matched by count
    _fails(capsys, fresh, detect(fresh, tmp_path / "plain.csv"), "5 columns", "trained on 6")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_names_row_and_column(demo, fresh, tmp_path, capsys, bad):
    frame = demo["frame"].head(200).copy()
    frame.loc[10, "ch2"] = bad
    frame.to_csv(tmp_path / "gap.csv", index=False)
    _fails(capsys, fresh, detect(fresh, tmp_path / "gap.csv"), f"{bad} at line 12, column 'ch2'",
           "--nan_policy interpolate")
    values = demo["raw"].test[:200].copy()
    values[10, 2] = bad
    np.save(tmp_path / "gap.npy", values)
    _fails(capsys, fresh, detect(fresh, tmp_path / "gap.npy"), "row 10 (0-based), column col2")


def test_interpolate_fills_short_gaps_with_a_warning_and_refuses_long_ones(demo, fresh, tmp_path, capsys):
    frame = demo["frame"].head(300).copy()
    frame.loc[50:52, "ch1"] = np.nan
    frame.loc[0, "ch4"] = np.inf
    frame.to_csv(tmp_path / "short.csv", index=False)
    assert detect(fresh, tmp_path / "short.csv", "--nan_policy", "interpolate", "--no_plots") == 0
    err = capsys.readouterr().err  # warnings go to stderr, one line each
    assert "warning: " in err and "filled 4 non-finite values (longest gap 3 rows)" in err
    report = json.loads((fresh / "detect" / "demo" / "anomalies.json").read_text())
    assert report["filled_non_finite"] == 4 and report["points"] == 300
    shutil.rmtree(fresh / "detect")
    frame.loc[100:100 + MAX_GAP_ROWS, "ch3"] = np.nan
    frame.to_csv(tmp_path / "long.csv", index=False)
    _fails(capsys, fresh, detect(fresh, tmp_path / "long.csv", "--nan_policy", "interpolate"),
           f"{MAX_GAP_ROWS + 1} non-finite values in a row from line 102, column 'ch3'")


def test_fewer_rows_than_one_window(demo, fresh, tmp_path, capsys):
    demo["frame"].head(20).to_csv(tmp_path / "short.csv", index=False)
    _fails(capsys, fresh, detect(fresh, tmp_path / "short.csv"), "20 rows, fewer than one window",
           "step_num_in=32")


def test_checkpoint_of_another_dataset(demo, fresh, capsys):
    (fresh / "SMD" / "demo").mkdir(parents=True)
    shutil.move(fresh / "demo" / "demo" / "model.pt", fresh / "SMD" / "demo" / "model.pt")
    _fails(capsys, fresh, detect(fresh, demo["npy"], data_name="SMD"), "data_name='demo'", "SMD")


def test_checkpoint_without_threshold_says_how_to_fix_and_threshold_flag_works(demo, fresh, capsys):
    checkpoint = dict(demo["checkpoint"], thresholds={})
    torch.save(checkpoint, fresh / "demo" / "demo" / "model.pt")
    _fails(capsys, fresh, detect(fresh, demo["npy"]), "stores no label-free threshold", "--threshold X",
           "retrain")
    assert detect(fresh, demo["npy"], "--threshold", "5", "--no_plots") == 0
    scores = read_scores(fresh / "detect" / "demo")
    assert np.array_equal(scores["flag"].to_numpy() == 1, demo["evaluation"] >= 5)
    assert json.loads((fresh / "detect" / "demo" / "anomalies.json").read_text())["threshold"]["method"] == "user"


def test_missing_file_model_or_flag_misuse(demo, fresh, tmp_path, capsys):
    _fails(capsys, fresh, detect(fresh, tmp_path / "absent.csv"), "absent.csv not found")
    _fails(capsys, tmp_path, detect(tmp_path, demo["npy"]), "no trained demo model", "train first")
    _fails(capsys, fresh, detect(fresh, demo["npy"], "--entity", "other"), "entity other", "trained entities there: demo")
    _fails(capsys, fresh, run_main("--config_path", CONFIG, "--data_name", "demo", "--out_dir", str(fresh),
                                   "--threshold", "3"), "only apply with --detect")
    text = tmp_path / "words.csv"
    demo["frame"].head(100).assign(ch3="high").to_csv(text, index=False)
    _fails(capsys, fresh, detect(fresh, text), "column 'ch3' is not numeric")
