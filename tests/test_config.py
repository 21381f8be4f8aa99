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
    ({"model": "lstm"}, "valid: sensitive_mamba, sensitive_hue, pca, maxz, random, or pyod:<PyOD detector>"),
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


# --- issue 16: non-finite and oversized numbers, duplicate keys, paths that are no file ----------------

import dataclasses  # noqa: E402
import math  # noqa: E402
import typing  # noqa: E402

import yaml  # noqa: E402

from sensitive_hue.config import FIELDS, DuplicateKeyError, parse_yaml, read_yaml  # noqa: E402


def _keys_of(kind: type) -> list[str]:
    """Config keys whose annotation holds `kind` (float: every float key, Optional or not)."""
    hints = typing.get_type_hints(Config)

    def has(hint) -> bool:
        return hint is kind or any(has(arg) for arg in typing.get_args(hint))

    return [name for name in FIELDS if has(hints[name])]


FLOAT_KEYS = [name for name in _keys_of(float) if name != "pyod_params"]  # a mapping: its values are checked below
INT_KEYS = [name for name in _keys_of(int) if name not in ("range", "pyod_params")]


def test_the_key_lists_cover_the_config():
    assert {"lr", "gamma", "pot_risk", "cpus_per_job", "dropout", "pca_variance"} <= set(FLOAT_KEYS)
    assert {"seed", "batch_size", "vus_buffer", "f_in", "steps_per_epoch"} <= set(INT_KEYS)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("key", FLOAT_KEYS)
def test_every_float_key_must_be_finite(key, value):
    with pytest.raises(ConfigError, match=rf"config key '{key}' \(section command line\) must be a finite number, "
                                          rf"got {value}"):
        load_config(STAR, "MSL", overrides={key: value})


@pytest.mark.parametrize("key", INT_KEYS)
def test_every_int_key_must_fit_64_bits(key):
    origin = typing.get_origin(typing.get_type_hints(Config)[key])
    value = [2**63] if origin is tuple else {1: [2**63]} if origin is dict else 2**63
    with pytest.raises(ConfigError, match=rf"config key '{key}' .*beyond the 64-bit integer range"):
        load_config(STAR, "MSL", overrides={key: value})


@pytest.mark.parametrize("value", [math.nan, math.inf, 2**63])
def test_pyod_params_values_are_checked_like_keys(value):
    with pytest.raises(ConfigError, match=r"config key 'pyod_params' .*(finite number|64-bit integer range)"):
        load_config(STAR, "MSL", overrides={"model": "pyod:IForest", "pyod_params": {"n_estimators": value}})
    with pytest.raises(ConfigError, match="only applies to model: pyod"):
        load_config(STAR, "MSL", overrides={"pyod_params": {"n_estimators": 5}})


@pytest.mark.parametrize("text, key", [("gamma: .inf", "gamma"), ("lr: .nan", "lr"), ("pot_level: -.inf", "pot_level")])
def test_non_finite_yaml_values_name_the_key_and_file(tmp_path, text, key):
    overlay = tmp_path / "o.yaml"
    overlay.write_text(f"shared:\n  {text}\n")
    with pytest.raises(ConfigError, match=rf"config key '{key}' \(section shared of {overlay}\) must be a finite"):
        load_config(STAR, "MSL", overlays=(overlay,))


def test_a_config_built_directly_is_checked_too():
    values = dataclasses.asdict(load_config(STAR, "MSL"))
    with pytest.raises(ConfigError, match="config key 'temperature' .* must be a finite number, got nan"):
        Config(**{**values, "temperature": math.nan})


@pytest.mark.parametrize("text, message", [
    ("shared:\n  lr: 0.1\n  lr: 0.2\nMSL: {}\n", "key 'lr' in section shared appears twice (lines 2 and 3)"),
    ("MSL: {}\nshared: {}\nMSL:\n  seed: 1\n", "section 'MSL' appears twice (lines 1 and 3)"),
    ("MSL:\n  score_ignore_dims:\n    8: [1]\n    8: [2]\n", "key 8 in section MSL under score_ignore_dims appears "
                                                          "twice (lines 3 and 4)"),
    ("shared: {seed: 1, stride: 2, seed: 3}\n", "key 'seed' in section shared appears twice (lines 1 and 1)"),
])
def test_duplicate_keys_and_sections_are_refused_with_both_lines(tmp_path, text, message):
    path = tmp_path / "dup.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        read_yaml(path)
    assert str(caught.value) == f"config file {path}: {message}; keep one of them"


def test_parse_yaml_is_safe_load_otherwise():
    for text in (STAR.read_text(), "a: &x {b: 1}\nc:\n  <<: *x\n  b: 2\n", "- {x: 1}\n- {x: 1}\n", "", "1.5",
                 "a: [1, 2]\nb: {c: null}\n"):
        assert parse_yaml(text) == yaml.safe_load(text)
    with pytest.raises(yaml.YAMLError):
        parse_yaml("a: !!python/object:os.system 1\n")  # safe: no Python objects
    with pytest.raises(DuplicateKeyError, match="key 1 appears twice"):
        parse_yaml("{1: a, 1: b}")


def test_config_path_that_is_no_file(tmp_path):
    with pytest.raises(ConfigError, match=rf"config file {tmp_path}: is a folder, not a file; pass a YAML file"):
        load_config(tmp_path, "MSL")
    loop = tmp_path / "loop.yaml"
    loop.symlink_to(loop)
    with pytest.raises(ConfigError, match="loop.yaml: is a symbolic-link loop"):
        load_config(STAR, "MSL", overlays=(loop,))


def test_a_stored_config_without_a_later_key_reads_as_its_default():
    from sensitive_hue.config import changed_settings, stored_setting

    cfg = load_config(STAR, "MSL")
    older = {key: value for key, value in cfg.to_dict().items() if key != "pyod_params"}
    assert stored_setting(older, "pyod_params") == {}
    assert changed_settings(older, cfg) == []
    assert changed_settings({**older, "max_epoch": cfg.max_epoch + 1}, cfg) == ["max_epoch"]
    assert changed_settings({**older, "pyod_params": {"n": 1}}, cfg, ["pyod_params"]) == ["pyod_params"]


def test_range_errors_name_where_the_bad_value_came_from(tmp_path):
    """The range checks run after merging; each error names the file section, flag or parameters that set
    the key, not the dataset's section (`--set val_blocks=0` once read "section demo")."""
    overlay = tmp_path / "o.yaml"
    overlay.write_text("MSL:\n  val_ratio: 1.5\n")
    with pytest.raises(ConfigError, match=r"^config key 'val_blocks' \(section command line\) must be > 0"):
        load_config(STAR, "demo", overrides={"val_blocks": 0})
    with pytest.raises(ConfigError, match=rf"^config key 'val_ratio' \(section MSL of {overlay}\) must be in \(0, 1\)"):
        load_config(STAR, "MSL", overlays=(overlay,))
    with pytest.raises(ConfigError, match=r"^config key 'dropout' \(section override\) must be in \[0, 1\]"):
        load_config(STAR, "MSL").replace(dropout=2.0)
    with pytest.raises(ConfigError, match=r"^config key 'lr' \(section my parameters\) must be > 0"):
        Config.from_dict({**load_config(STAR, "MSL").to_dict(), "lr": -1.0}, "my parameters")


def test_describe_key_follows_the_merge_and_survives_copies():
    import copy
    cfg = load_config(STAR, "MSL", overrides={"lr": 0.01})
    assert cfg.describe_key("lr") == "config key 'lr' (section command line)"
    assert cfg.describe_key("seed") == f"config key 'seed' (section shared of {STAR})"
    assert cfg.describe_key("f_in") == f"config key 'f_in' (section MSL of {STAR})"
    assert cfg.describe_key("vus_buffer") == "config key 'vus_buffer' (default)"
    changed = cfg.replace(seed=3, _section="--seed")
    assert changed.describe_key("seed") == "config key 'seed' (section --seed)"
    assert changed.describe_key("lr") == cfg.describe_key("lr")
    copied = copy.deepcopy(changed)  # the __reduce_ex__ path that pickling for Ray jobs takes
    assert copied == changed and copied.describe_key("seed") == changed.describe_key("seed")
    direct = Config(**dataclasses.asdict(cfg))
    assert direct == cfg and direct.describe_key("lr") == "config key 'lr' (section MSL)"


def test_a_stored_config_without_a_key_whose_default_changed_reads_its_earlier_value():
    """score_combine was added with the max as default, then the default became topk: a checkpoint written
    before the key existed took the max, and reads so; fresh parameters take today's default."""
    from sensitive_hue.config import FIELDS, stored_setting

    stored = load_config(STAR, "MSL").to_dict()
    del stored["score_combine"]
    assert FIELDS["score_combine"].default == "topk"
    assert stored_setting(stored, "score_combine") == "max"
    assert Config.from_stored(stored).score_combine == "max"
    assert Config.from_dict(stored).score_combine == "topk"
