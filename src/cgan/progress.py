"""Progress bars of the long commands (evaluate, train-evaluator, study, export): drawn on stderr while a
command runs `bars_on_terminal()` and stderr is a terminal; a pipe or a log file gets none, nor does a
library call or the service."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from tqdm import tqdm

_shown: ContextVar[bool] = ContextVar("cgan_progress_bars", default=False)


@contextmanager
def bars_on_terminal() -> Iterator[None]:
    token = _shown.set(sys.stderr.isatty())
    try:
        yield
    finally:
        _shown.reset(token)


def bar(total: int, desc: str, unit: str = "it") -> tqdm:
    """A tqdm bar, disabled unless bars are shown; it goes away when closed, so bars do not pile up."""
    return tqdm(total=total, desc=desc, unit=unit, disable=not _shown.get(), leave=False, dynamic_ncols=True)
