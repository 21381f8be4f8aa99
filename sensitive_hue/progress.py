"""Progress bars, off unless the caller turns them on: library code never draws on a terminal by itself.

The CLIs run inside `shown(True)` (`cli.run_cli`); a Python user passes `verbose=True` to an estimator,
which turns them on for that call only. When on, a bar is drawn only on a terminal (tqdm's `disable=None`), so
log files get plain lines. Work shorter than `min_steps` draws no bar.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar

from tqdm.auto import tqdm

_enabled: ContextVar[bool] = ContextVar("sensitive_hue_progress", default=False)


def enabled() -> bool:
    """Whether bars are on in this context."""
    return _enabled.get()


@contextlib.contextmanager
def shown(on: bool):
    """Bars on (or off) inside the `with` block only."""
    token = _enabled.set(on)
    try:
        yield
    finally:
        _enabled.reset(token)


def bar(iterable=None, *, min_steps: int = 0, **kwargs) -> tqdm:
    """A tqdm bar, disabled when progress is off, when not on a terminal, or for fewer than `min_steps` steps."""
    steps = kwargs.get("total", None)
    if steps is None and iterable is not None and hasattr(iterable, "__len__"):
        steps = len(iterable)
    off = not _enabled.get() or (steps is not None and steps < min_steps)
    return tqdm(iterable, disable=True if off else None, dynamic_ncols=True, **kwargs)
