"""Grad-mode context managers."""
from __future__ import annotations

import contextlib

from fastgrad import _tape


class _GradMode(contextlib.ContextDecorator):
    _mode = True

    def __enter__(self) -> None:
        self._previous = _tape.set_grad_enabled(self._mode)

    def __exit__(self, *exc) -> bool:
        _tape.set_grad_enabled(self._previous)
        return False


class no_grad(_GradMode):
    """Context manager (and decorator) in which no operation is recorded."""
    _mode = False


class enable_grad(_GradMode):
    """Context manager (and decorator) that turns recording back on."""
    _mode = True


class set_grad_enabled(_GradMode):
    """Turn recording on or off, as a function call or a context manager."""

    def __init__(self, mode: bool) -> None:
        self._mode = bool(mode)
        self._previous = _tape.set_grad_enabled(self._mode)

    def __enter__(self) -> None:
        pass


@contextlib.contextmanager
def detect_anomaly():
    """Raise FloatingPointError where numpy would silently produce inf/nan in an op."""
    import numpy as np
    with np.errstate(divide="raise", invalid="raise", over="raise"):
        yield
