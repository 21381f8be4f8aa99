from pathlib import Path

import pytest

from sensitive_hue.config import DATASETS, Config, load_config
from sensitive_hue.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
STAR = ROOT / "config" / "star.yaml"


@pytest.mark.parametrize("name", DATASETS)
def test_every_section_loads(name):
    cfg = load_config(STAR, name)
    assert cfg.data_name == name


def test_paper_values():
    swat = load_config(STAR, "SWaT")
    assert (swat.encode_layer_num, swat.dim_model, swat.dim_hidden_fc, swat.f_in) == (6, 128, 512, 48)
    assert swat.ignore_dims == (5, 10, 28)
    msl = load_config(STAR, "MSL")
    assert (msl.encode_layer_num, msl.dim_model, msl.dim_hidden_fc, msl.f_in) == (4, 64, 128, 55)
    assert msl.ignore_entities == (20,) and msl.score_ignore_dims == {8: (31, 33), 3: (5,)}
    smap = load_config(STAR, "SMAP")
    assert (smap.encode_layer_num, smap.dim_model, smap.f_in, smap.range) == (6, 64, 25, (1, 54))
    assert (swat.d_state, swat.d_conv, swat.expand, swat.seed, swat.lr) == (16, 2, 1, 2025, 0.001)


def test_overrides_win_and_none_is_ignored():
    cfg = load_config(STAR, "MSL", overrides={"max_epoch": 3, "seed": None})
    assert cfg.max_epoch == 3 and cfg.seed == 2025


@pytest.mark.parametrize("overrides, needle", [
    ({"max_epoch": "x"}, "'max_epoch'"),
    ({"max_epoch": 2.5}, "'max_epoch'"),
    ({"uncertainty": 1}, "'uncertainty'"),
    ({"mx_epoch": 3}, "did you mean 'max_epoch'"),
    ({"model": "lstm"}, "'sensitive_mamba'"),
    ({"step_num_in": 0}, "'step_num_in'"),
    ({"val_ratio": 1.5}, "'val_ratio'"),
    ({"range": [5, 2]}, "'range'"),
])
def test_bad_values_name_the_key(overrides, needle):
    with pytest.raises(ConfigError, match=needle):
        load_config(STAR, "MSL", overrides=overrides)


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(ConfigError, match="valid names: SWaT, SMD"):
        load_config(STAR, "SMDD")


def test_missing_required_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("shared: {}\nMSL:\n  dim_model: 64\n  dim_hidden_fc: 128\n  f_in: 55\n")
    with pytest.raises(ConfigError, match="missing required config key 'encode_layer_num' in section MSL"):
        load_config(path, "MSL")


def test_bad_yaml_and_unknown_section(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("shared: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(bad, "MSL")
    odd = tmp_path / "odd.yaml"
    odd.write_text("MSLL: {}\n")
    with pytest.raises(ConfigError, match="unknown section 'MSLL'"):
        load_config(odd, "MSL")


def test_overlay_applies_after_sections(tmp_path):
    overlay = tmp_path / "o.yaml"
    overlay.write_text("shared:\n  stride: 10\nMSL:\n  max_epoch: 2\n")
    cfg = load_config(STAR, "MSL", overlays=(overlay,))
    assert (cfg.stride, cfg.max_epoch) == (10, 2)


def test_dict_round_trip():
    cfg = load_config(STAR, "MSL")
    assert Config.from_dict(cfg.to_dict()) == cfg
    assert cfg.replace(stride=7).stride == 7
    with pytest.raises(ConfigError):
        cfg.replace(stride=-1)


def test_dataset_name_suggestion_ignores_case():
    with pytest.raises(ConfigError, match="did you mean 'SMAP'"):
        load_config(STAR, "smap")
