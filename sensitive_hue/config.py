"""Typed, validated configuration.

`config/star.yaml` has a `shared` section and one section per dataset (SWaT, SMD, MSL, SMAP,
demo, csv). `load_config` merges `shared`, the dataset's section, any overlay files (same
structure) and CLI overrides, in that order, into one frozen `Config`. Every key is checked:
an unknown key, a wrong type, a non-finite number (nan, inf), an integer beyond 64 bits, a value
outside its choices or range, or a missing required key raises `ConfigError` naming the key, the
section and what is valid. A key or section given twice in one YAML file is an error naming both
lines (plain `yaml.safe_load` would keep the last one silently).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Optional, Union

import yaml

from .errors import ConfigError
from .io import require_file

DATASETS = ("SWaT", "SMD", "MSL", "SMAP", "demo", "csv")
SHARED = "shared"
MODELS = ("sensitive_mamba", "sensitive_hue", "pca", "maxz", "random")
PYOD_PREFIX = "pyod:"  # `model: pyod:IForest`: any PyOD detector by its class name, as a control
Scalar = Union[bool, int, float, str, None]  # a plain YAML value (a PyOD parameter)


@dataclass(frozen=True)
class Config:
    """All settings of one run. Field comments give meaning and the paper's value."""

    # --- required in each dataset section (no default) ---
    f_in: Optional[int]  # features the model sees, after `ignore_dims`; null for csv (inferred)
    encode_layer_num: int  # encoder layers
    dim_model: int  # d_model
    dim_hidden_fc: int  # feed-forward width

    # --- data ---
    data_name: str = "demo"  # set from the section name
    ignore_dims: tuple[int, ...] = ()  # raw columns dropped at preprocessing (SWaT: 5, 10, 28)
    range: Optional[tuple[int, int]] = None  # 1-based inclusive entity range in the documented order; null = all
    ignore_entities: tuple[int, ...] = ()  # 1-based entity indices skipped (MSL: 20)
    entities: Optional[tuple[str, ...]] = None  # entity names; overrides range when given
    score_ignore_dims: dict[int, tuple[int, ...]] = field(default_factory=dict)  # entity index -> dims left out of the score

    # --- model ---
    model: str = "sensitive_mamba"  # one of MODELS, or pyod:<PyOD detector class>, e.g. pyod:IForest
    pyod_params: dict[str, Scalar] = field(default_factory=dict)  # keyword arguments of the PyOD detector
    head_num: int = 4  # attention heads (sensitive_hue encoder only)
    dropout: float = 0.2
    d_state: int = 16
    d_conv: int = 2
    expand: int = 1
    mamba_backend: Literal["auto", "torch", "cuda"] = "auto"
    uncertainty: bool = True  # ablation: False = plain MSE loss and score, no log-precision head
    contrastive: bool = True  # ablation: False = no contrastive loss
    revin_denorm: Literal["paper", "stored", "none"] = "paper"  # paper: stats of the reconstruction (paper, SensitiveHUE); stored: exact inverse; none: no RevIN
    pca_variance: float = 0.9  # variance kept by the PCA control

    # --- training ---
    seed: int = 2025
    step_num_in: int = 100  # window length
    stride: int = 1  # stride of training windows
    steps_per_epoch: Optional[int] = None  # null: one pass over every training window (paper); N: N batches drawn per epoch
    val_ratio: float = 0.1  # share of each training series held out (seeded) as contiguous validation blocks
    val_blocks: int = 3  # at most this many validation blocks per entity, each >= step_num_in rows
    batch_size: int = 64
    max_epoch: int = 25
    patience: int = 10  # early stopping on validation NLL
    lr: float = 0.001
    lr_step_size: int = 5
    lr_gamma: float = 0.5
    alpha: float = 1.0  # variance weighting power of the NLL
    beta: float = 0.5  # instance/temporal mix of the contrastive loss
    gamma: float = 1.0  # weight of the contrastive loss
    temperature: float = 0.1
    temporal_unit: int = 1
    device: Literal["auto", "cpu", "cuda"] = "auto"
    num_threads: int = 0  # torch CPU threads; 0 = torch's default
    checkpoint_layers: bool = True  # recompute encoder activations in backward: SWaT training peak 1.8 -> 1.1 GB, same gradients

    # --- scoring and thresholds ---
    select_pos: Literal["mid", "tail"] = "mid"
    score_norm: Literal["validation", "test"] = "validation"  # per-feature median/IQR fitted on validation, or on the unlabelled test scores (paper; transductive)
    score_combine: Literal["max", "topk", "mean"] = "topk"  # point score from the normalised per-feature scores: mean of the ceil(F/10) largest (chosen on SMD machine-1-*), max (paper; maxz always), or mean
    score_batch_size: int = 64  # windows per scoring batch: on CPUs 64 beat 256 by 1.2-1.6x (cache); GPUs like 1024
    pot_risk: float = 1e-4  # POT/SPOT risk q on validation scores
    pot_level: float = 0.98  # initial quantile of POT
    val_quantile: float = 0.99  # validation-quantile threshold
    threshold_method: Literal["pot", "quantile"] = "quantile"  # label-free threshold deployed (--detect): val_quantile, or POT
    vus_buffer: int = 100  # sliding-window (buffer) length of VUS

    # --- parallel (Ray) ---
    workers: int = 1
    ray_address: Optional[str] = None
    cpus_per_job: float = 1.0
    gpus_per_job: float = 0.0

    def __post_init__(self) -> None:
        _check_values(self)

    def describe_key(self, name: str) -> str:
        """"config key 'lr' (section shared of config/star.yaml)": the key and where its value came from
        (a file's section, the command line, an estimator's parameters), for error messages."""
        origins = self.__dict__.get("_origins")
        if origins is None:  # built directly, not by load_config / from_dict / replace
            origin = f"section {self.data_name}"
        else:
            origin = f"section {origins[name]}" if name in origins else "default"
        return f"config key '{name}' ({origin})"

    def replace(self, **changes: Any) -> "Config":
        """A copy with `changes` applied and validated (keys checked like YAML keys)."""
        section = changes.pop("_section", "override")
        values = dataclasses.asdict(self)
        values.update(_coerce_section(changes, section))
        origins = {**self.__dict__.get("_origins", {}), **dict.fromkeys(changes, section)}
        return _build(values, section, origins)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples as lists, dict keys as strings)."""
        out = dataclasses.asdict(self)
        out["score_ignore_dims"] = {str(k): list(v) for k, v in self.score_ignore_dims.items()}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any], section: str = "parameters") -> "Config":
        """Build from plain values (e.g. an estimator's parameters), every key checked as YAML keys are;
        `section` names their origin in errors. Missing keys take their defaults."""
        return _build(_coerce_section(dict(values), section), section, dict.fromkeys(values, section))

    @classmethod
    def from_stored(cls, values: dict[str, Any]) -> "Config":
        """Build from a stored config (`to_dict` output in a checkpoint): a key it lacks reads as
        `stored_setting` says (the behaviour it was written with), not as today's default."""
        earlier = {key: value for key, value in EARLIER_DEFAULTS.items() if key not in values}
        return cls.from_dict({**earlier, **values}, "stored config")


FIELDS = {f.name: f for f in dataclasses.fields(Config)}
REQUIRED = tuple(name for name, f in FIELDS.items() if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)


# Keys added with one behaviour whose default changed later: a stored config without the key was written
# before it existed, and behaved as the value here.
EARLIER_DEFAULTS: dict[str, Any] = {"score_combine": "max"}


def stored_setting(stored: dict[str, Any], key: str) -> Any:
    """`key`'s value in a stored config (a checkpoint's or training state's `to_dict`). A key the stored
    config lacks was added to Config after it was written, with a default that keeps the earlier
    behaviour (the rule for every new key), so it reads as that default, or as its EARLIER_DEFAULTS
    value where the default changed since."""
    if key in stored or key in REQUIRED:
        return stored.get(key)
    if key in EARLIER_DEFAULTS:
        return EARLIER_DEFAULTS[key]
    field = FIELDS[key]
    return field.default_factory() if field.default is dataclasses.MISSING else field.default


def changed_settings(stored: dict[str, Any], cfg: Config, keys: Optional[Iterable[str]] = None) -> list[str]:
    """The keys (all of Config's, or `keys`) whose stored value differs from `cfg`'s."""
    current = cfg.to_dict()
    return [key for key in (current if keys is None else keys) if stored_setting(stored, key) != current[key]]
_HINTS = typing.get_type_hints(Config)


def _positive(cfg: Config, *names: str) -> None:
    for name in names:
        value = getattr(cfg, name)
        if value is not None and value <= 0:
            raise ConfigError(f"{cfg.describe_key(name)} must be > 0, got {value}")


INT64_MAX = 2**63 - 1


def _check_number(value: Any, what: str) -> None:
    """ConfigError unless `value` (an int or float) is finite and fits in 64 bits (what torch and numpy take);
    `what` names the key and its origin."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{what} must be a finite number, got {value}")
    if isinstance(value, int) and not isinstance(value, bool) and not -INT64_MAX <= value <= INT64_MAX:
        raise ConfigError(f"{what} is {value}, beyond the 64-bit integer range; use a smaller value")


def _numbers(value: Any) -> list:
    """Every int/float inside a field value (tuples and dicts included)."""
    if isinstance(value, (list, tuple)):
        return [n for item in value for n in _numbers(item)]
    if isinstance(value, dict):
        return [n for pair in value.items() for item in pair for n in _numbers(item)]
    return [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else []


def _check_values(cfg: Config) -> None:
    """Range checks that types alone do not express: every number finite and within 64 bits first
    (nan passes `value <= 0`), then each key's own range."""
    for name in FIELDS:
        for number in _numbers(getattr(cfg, name)):
            _check_number(number, cfg.describe_key(name))
    _positive(cfg, "f_in", "encode_layer_num", "dim_model", "dim_hidden_fc", "head_num", "d_state", "d_conv",
              "expand", "step_num_in", "stride", "batch_size", "max_epoch", "patience", "lr", "lr_step_size",
              "temperature", "temporal_unit", "score_batch_size", "vus_buffer", "workers", "cpus_per_job",
              "steps_per_epoch", "val_blocks")
    for name in ("val_ratio", "pot_risk", "pot_level", "val_quantile", "pca_variance", "lr_gamma"):
        value = getattr(cfg, name)
        if not 0.0 < value < 1.0 and not (name in ("pca_variance", "lr_gamma") and value == 1.0):
            raise ConfigError(f"{cfg.describe_key(name)} must be in (0, 1), got {value}")
    for name in ("dropout", "beta"):
        value = getattr(cfg, name)
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{cfg.describe_key(name)} must be in [0, 1], got {value}")
    for name in ("alpha", "gamma", "gpus_per_job"):
        if getattr(cfg, name) < 0:
            raise ConfigError(f"{cfg.describe_key(name)} must be >= 0, got {getattr(cfg, name)}")
    if cfg.num_threads < 0:
        raise ConfigError(f"{cfg.describe_key('num_threads')} must be >= 0, got {cfg.num_threads}")
    if cfg.entities is not None and (not cfg.entities or not all(str(name).strip() for name in cfg.entities)):
        raise ConfigError(f"{cfg.describe_key('entities')} holds an empty list or name, got "
                          f"{list(cfg.entities)}; list entity names, or null for every entity (range)")
    if cfg.range is not None and not 1 <= cfg.range[0] <= cfg.range[1]:
        raise ConfigError(f"{cfg.describe_key('range')} must be [first, last] with 1 <= first <= last, got {list(cfg.range)}")
    check_model(cfg.model, cfg.describe_key('model'))
    if cfg.pyod_params and not cfg.model.startswith(PYOD_PREFIX):
        raise ConfigError(f"{cfg.describe_key('pyod_params')} is set but model is {cfg.model!r}; "
                          "it only applies to model: pyod:<Name>")
    if cfg.model == "sensitive_hue" and cfg.dim_model % cfg.head_num:
        raise ConfigError(f"{cfg.describe_key('head_num')}: dim_model {cfg.dim_model} is not divisible by head_num {cfg.head_num}")


def check_model(name: str, where: str = "--model") -> str:
    """`name` when it is one of MODELS or pyod:<Name> (a Python identifier); else a ConfigError."""
    if name in MODELS or (name.startswith(PYOD_PREFIX) and name[len(PYOD_PREFIX):].isidentifier()):
        return name
    close = difflib.get_close_matches(name, MODELS, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise ConfigError(f"{where} is {name!r}{hint}; valid: {', '.join(MODELS)}, or {PYOD_PREFIX}<PyOD detector>, "
                      "e.g. pyod:IForest")


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return " or ".join(_type_name(a) for a in args) + " or null"
    if origin is tuple:
        return f"list of {_type_name(typing.get_args(hint)[0])}"
    if origin is dict:
        key, value = typing.get_args(hint)
        return f"mapping of {_type_name(key)} to {_type_name(value)}"
    return getattr(hint, "__name__", str(hint))


def _coerce(value: Any, hint: Any, key: str, section: str) -> Any:
    """Check `value` against the annotation `hint`; return it in the dataclass's form."""

    def fail() -> ConfigError:
        return ConfigError(f"config key '{key}' (section {section}) must be {_type_name(hint)}, got {value!r}")

    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        if value is None:
            return None
        members = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(members) == 1:
            return _coerce(value, members[0], key, section)
        for member in members:  # a plain scalar: the first member that takes it as it is (bool before int)
            if member in (bool, int, float, str) and type(value) is member:
                return _coerce(value, member, key, section)
        raise fail()
    if origin is Literal:
        if value not in typing.get_args(hint):
            raise fail()
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise fail()
        args = typing.get_args(hint)
        item_hint = args[0]
        items = tuple(_coerce(v, item_hint, key, section) for v in value)
        if args[-1] is not Ellipsis and len(items) != len(args):
            raise ConfigError(f"config key '{key}' (section {section}) must be a list of {len(args)} values, got {value!r}")
        return items
    if origin is dict:
        if not isinstance(value, dict):
            raise fail()
        key_hint, value_hint = typing.get_args(hint)
        out = {}
        for k, v in value.items():
            if key_hint is int and isinstance(k, str) and k.lstrip("-").isdigit():
                k = int(k)
            out[_coerce(k, key_hint, key, section)] = _coerce(v, value_hint, key, section)
        return out
    if hint is bool:
        if not isinstance(value, bool):
            raise fail()
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail()
        _check_number(value, f"config key '{key}' (section {section})")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail()
        _check_number(value, f"config key '{key}' (section {section})")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise fail()
        return value
    if hint is type(None):
        if value is not None:
            raise fail()
        return None
    raise fail()


def _coerce_section(values: dict[str, Any], section: str) -> dict[str, Any]:
    out = {}
    for key, value in values.items():
        if key not in FIELDS:
            close = difflib.get_close_matches(str(key), FIELDS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"unknown config key '{key}' in section {section}{hint}; valid keys: {', '.join(FIELDS)}")
        out[key] = _coerce(value, _HINTS[key], key, section)
    return out


def _build(values: dict[str, Any], section: str, origins: dict[str, str]) -> Config:
    """A validated Config from `values`; `origins` (key -> the section it came from) is attached before
    `__init__`, so that the range checks of `__post_init__` already name where a bad value came from."""
    missing = [name for name in REQUIRED if name not in values]
    if missing:
        raise ConfigError(f"missing required config key '{missing[0]}' in section {section} (required in every dataset section: {', '.join(REQUIRED)})")
    cfg = Config.__new__(Config)
    object.__setattr__(cfg, "_origins", origins)
    cfg.__init__(**values)
    return cfg


class DuplicateKeyError(yaml.YAMLError):
    """A mapping of a YAML document repeats a key (`parse_yaml`); `path`: the keys leading to that mapping."""

    def __init__(self, key: Any, first: int, second: int, path: tuple) -> None:
        self.key, self.first, self.second, self.path = key, first, second, path
        super().__init__(self.describe())

    def describe(self, top: str = "key", lines: bool = True) -> str:
        """"key 'lr' in section shared appears twice (lines 3 and 7)"; a key of the top-level mapping is
        called `top` (a config file's sections); `lines=False` leaves the line numbers out (one-line text)."""
        if not self.path:
            what = f"{top} {self.key!r}"
        else:
            under = f" under {'.'.join(map(str, self.path[1:]))}" if len(self.path) > 1 else ""
            what = f"key {self.key!r} in section {self.path[0]}{under}"
        return f"{what} appears twice" + (f" (lines {self.first} and {self.second})" if lines else "")


class _UniqueKeyLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that refuses a key repeated in one mapping (merge keys `<<` may still be overridden)."""

    def construct_document(self, node):
        self._paths: dict[int, tuple] = {}
        todo = [(node, ())]
        while todo:  # where each mapping sits, for the message
            current, path = todo.pop()
            self._paths[id(current)] = path
            if isinstance(current, yaml.MappingNode):
                todo += [(value, (*path, getattr(key, "value", "?"))) for key, value in current.value]
            elif isinstance(current, yaml.SequenceNode):
                todo += [(item, path) for item in current.value]
        return super().construct_document(node)

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    if key in seen:
                        raise DuplicateKeyError(key, seen[key], line, self._paths.get(id(node), ()))
                    seen[key] = line
                except TypeError:  # an unhashable key: SafeLoader's own error follows
                    continue
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str) -> Any:
    """`yaml.safe_load(text)`, except that a key repeated in one mapping raises `DuplicateKeyError`."""
    loader = _UniqueKeyLoader(text)  # what yaml.safe_load does, with the stricter SafeLoader
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML mapping with `parse_yaml` (`yaml.safe_load` without silent duplicates); errors name the file."""
    path = require_file(path, "pass a YAML file such as config/star.yaml (--config_path, --overlay)",
                        what=f"config file {os.fspath(path) or repr('')}", error=ConfigError)
    try:
        data = parse_yaml(path.read_text(encoding="utf-8"))
    except DuplicateKeyError as exc:
        raise ConfigError(f"config file {path}: {exc.describe('section')}; keep one of them") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"config file {path}{where}: invalid YAML ({getattr(exc, 'problem', exc)}); fix the syntax") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path}: cannot read ({exc})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: the top level must be a mapping of sections ({SHARED}, {', '.join(DATASETS)})")
    for name, section in data.items():
        if name != SHARED and name not in DATASETS:
            raise ConfigError(f"config file {path}: unknown section '{name}'; valid sections: {SHARED}, {', '.join(DATASETS)}")
        if section is not None and not isinstance(section, dict):
            raise ConfigError(f"config file {path}: section '{name}' must be a mapping of keys to values")
    return data


def check_data_name(data_name: str) -> str:
    if data_name not in DATASETS:
        by_case = {name.lower(): name for name in DATASETS}
        close = [by_case[data_name.lower()]] if data_name.lower() in by_case else difflib.get_close_matches(data_name, DATASETS, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ConfigError(f"unknown dataset '{data_name}'{hint}; valid names: {', '.join(DATASETS)}")
    return data_name


def load_config(path: str | os.PathLike, data_name: str, overlays: tuple[str | os.PathLike, ...] = (),
                overrides: dict[str, Any] | None = None) -> Config:
    """Load `shared` + `data_name`'s section of `path`, then overlays, then CLI overrides.

    `overrides` holds CLI values; entries that are None mean "not given" and are skipped.
    """
    check_data_name(data_name)
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for source in (path, *overlays):
        document = read_yaml(source)
        if source == path and data_name not in document:
            raise ConfigError(f"config file {path} has no section '{data_name}'; add one (see config/star.yaml)")
        for section in (SHARED, data_name):
            given = document.get(section) or {}
            values.update(_coerce_section(given, f"{section} of {source}"))
            origins.update(dict.fromkeys(given, f"{section} of {source}"))
    if overrides:
        given = {k: v for k, v in overrides.items() if v is not None}
        values.update(_coerce_section(given, "command line"))
        origins.update(dict.fromkeys(given, "command line"))
    values["data_name"] = data_name
    return _build(values, f"{data_name} of {path}", origins)
