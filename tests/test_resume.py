"""`main.py --resume`: finished entities are kept, the rest trained, the result equals a fresh run."""

from __future__ import annotations

import json

from test_pipeline import ENTITIES, _results, _strip_timings, run_main

from pipeline_fixtures import synthetic_entity, tiny_config, write_dataset


def _comparable(results: dict) -> dict:
    """results.json without timings (fit_seconds too)."""
    results = _strip_timings(results)
    for entity in results["entities"].values():
        entity["training"].pop("fit_seconds")
    return results


def test_resume_keeps_finished_entities_and_matches_a_fresh_run(tmp_path, capsys):
    _, config = tiny_config(tmp_path)
    processed = tmp_path / "processed"
    write_dataset(processed, "SMD", [synthetic_entity(name, i) for i, name in enumerate(ENTITIES)])
    fresh, resumed = tmp_path / "fresh", tmp_path / "resumed"
    assert run_main(config, processed, fresh, "--no_plots") == 0
    assert run_main(config, processed, resumed, "--no_plots", "--entities", ENTITIES[0]) == 0  # "interrupted"
    kept = resumed / "SMD" / ENTITIES[0] / "model.pt"
    before = kept.stat().st_mtime_ns
    assert run_main(config, processed, resumed, "--no_plots", "--resume") == 0
    assert kept.stat().st_mtime_ns == before
    assert "already finished" in (resumed / "SMD" / "run.log").read_text()
    assert _comparable(_results(resumed)) == _comparable(_results(fresh))
    assert json.loads((resumed / "SMD" / "results.json").read_text())["commit"] is not None

    # another training setting in the same folder: refused, one line, nothing retrained
    capsys.readouterr()
    assert run_main(config, processed, resumed, "--no_plots", "--resume", "--max_epoch", "1") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "max_epoch=2, now 1" in err and err.count("\n") == 1
    assert kept.stat().st_mtime_ns == before

    # another scoring setting too: the finished entities were scored the old way, so keeping them would mix
    # two scorings in one table (score_norm and score_combine re-score with --test instead)
    for setting, stored in (("score_norm=test", "'validation'"), ("score_combine=mean", "'topk'")):
        assert run_main(config, processed, resumed, "--no_plots", "--resume", "--set", setting) == 2
        err = capsys.readouterr().err
        assert f"{setting.split('=')[0]}={stored}, now '{setting.split('=')[1]}'" in err and err.count("\n") == 1
    assert kept.stat().st_mtime_ns == before


def test_resume_reads_a_checkpoint_written_before_a_config_key_existed(tmp_path):
    """A run of an older version (its stored config lacks a key added since, here `pyod_params`) resumes:
    the missing key reads as its default, which keeps the older behaviour."""
    import torch

    _, config = tiny_config(tmp_path)
    processed = tmp_path / "processed"
    write_dataset(processed, "SMD", [synthetic_entity(name, i) for i, name in enumerate(ENTITIES)])
    out = tmp_path / "out"
    assert run_main(config, processed, out, "--no_plots", "--entities", ENTITIES[0]) == 0
    kept = out / "SMD" / ENTITIES[0] / "model.pt"
    checkpoint = torch.load(kept, weights_only=True)
    del checkpoint["config"]["pyod_params"]
    torch.save(checkpoint, kept)
    before = kept.stat().st_mtime_ns
    assert run_main(config, processed, out, "--no_plots", "--resume") == 0
    assert kept.stat().st_mtime_ns == before  # kept, not retrained
