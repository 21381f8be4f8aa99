"""Nothing the tool reads can run code: checkpoints load with `torch.load(weights_only=True)`, arrays
without pickle, YAML with `safe_load`; a scan of the source keeps it that way, and a checkpoint carrying
a pickled payload is refused without running it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from sensitive_hue import entity, train_state
from sensitive_hue.errors import CheckpointError

from pipeline_fixtures import ROOT, tiny_config

UNSAFE_YAML = {"load", "load_all", "full_load", "full_load_all", "unsafe_load", "unsafe_load_all"}
UNSAFE_MODULES = {"pickle", "cPickle", "dill", "joblib", "shelve", "marshal"}


def _sources() -> list[Path]:
    """Every Python file of the project (package, CLIs, bench, tests), not virtual environments."""
    return sorted(p for p in ROOT.rglob("*.py")
                  if not any(part.startswith(".") or part in ("venv", "build") for part in p.relative_to(ROOT).parts))


def _keyword(call: ast.Call, name: str):
    """The constant value of keyword `name` in `call`, `...` when absent, None when not a constant."""
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value.value if isinstance(keyword.value, ast.Constant) else None
    return ...


DELIBERATE = "# deliberately unsafe"  # allowed on a line of a test that shows what the safe loaders prevent


def _problems(path: Path, root: Path = ROOT) -> list[str]:
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    tree = ast.parse(text, filename=str(path))
    is_test = path.relative_to(root).parts[0] == "tests"
    found = []
    for node in ast.walk(tree):
        where = f"{path.relative_to(root)}:{getattr(node, 'lineno', '?')}"
        if is_test and hasattr(node, "lineno") and lines[node.lineno - 1].rstrip().endswith(DELIBERATE):
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"{where}: imports {m}" for m in modules if m.split(".")[0] in UNSAFE_MODULES]
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in ("eval", "exec"):
            found.append(f"{where}: {func.id}()")
        if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)):
            continue
        owner, name = func.value.id, func.attr
        if owner == "torch" and name == "load" and _keyword(node, "weights_only") is not True:
            found.append(f"{where}: torch.load without weights_only=True")
        if owner == "yaml" and name in UNSAFE_YAML:
            found.append(f"{where}: yaml.{name} (use yaml.safe_load)")
        if owner in ("np", "numpy") and name == "load":
            pickle = _keyword(node, "allow_pickle")
            if pickle is not False and not (is_test and pickle is ...):  # tests may rely on numpy's default
                found.append(f"{where}: np.load without allow_pickle=False")
        if owner in ("pd", "pandas") and name == "read_pickle":
            found.append(f"{where}: pandas.read_pickle")
    return found


def test_the_source_never_unpickles_or_evaluates_what_it_reads():
    sources = _sources()
    assert len(sources) > 40 and ROOT / "sensitive_hue" / "pipeline.py" in sources
    problems = [problem for path in sources for problem in _problems(path)]
    assert problems == []


def test_the_scan_finds_each_unsafe_pattern(tmp_path):
    """The scanner itself can fail: each forbidden call in a file is reported."""
    fake_root = tmp_path / "project"
    (fake_root / "sensitive_hue").mkdir(parents=True)
    bad = fake_root / "sensitive_hue" / "bad.py"
    bad.write_text("import pickle\nimport numpy as np, torch, yaml\ntorch.load('m.pt')\n"
                   "torch.load('m.pt', weights_only=False)\nnp.load('a.npy', allow_pickle=True)\nnp.load('a.npy')\n"
                   f"yaml.load(open('c'))\neval('1')\ntorch.load('m.pt')  {DELIBERATE}\n")
    found = _problems(bad, fake_root)
    assert [p.split(": ", 1)[1] for p in found] == [
        "imports pickle", "torch.load without weights_only=True", "torch.load without weights_only=True",
        "np.load without allow_pickle=False", "np.load without allow_pickle=False", "yaml.load (use yaml.safe_load)",
        "eval()", "torch.load without weights_only=True"]  # the marker exempts test files only


class _Payload:
    """Unpickling this runs `Path.touch(marker)`: proof that a loader executed code from the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


@pytest.mark.parametrize("kind", ["model.pt", "train_state.pt"])
def test_a_checkpoint_carrying_code_is_refused_without_running_it(tmp_path, kind):
    cfg, _ = tiny_config(tmp_path)
    marker, path = tmp_path / "owned", tmp_path / kind
    torch.save({"format": 1, "config": cfg.to_dict(), "payload": _Payload(marker)}, path)
    # io.load_torch says "not a <checkpoint|training state> written by this tool"; entity.read_checkpoint says
    # "not a readable checkpoint" until it calls io.load_torch (issue 16, item 6)
    with pytest.raises(CheckpointError, match=rf"{kind}: not a (readable checkpoint|.* written by this tool \(it "
                                              r"holds Python objects other than tensors)"):
        if kind == "model.pt":
            entity.read_checkpoint(path, cfg)
        else:
            train_state.read(path, "machine-1-1")
    assert not marker.exists()
    torch.load(path, weights_only=False)  # the payload is live: an unsafe loader would run it # deliberately unsafe
    assert marker.exists()
