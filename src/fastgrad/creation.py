"""Tensor constructors and the seeded random generator."""
from __future__ import annotations

import numpy as np

from fastgrad._tensor import Tensor, from_numpy, float32

_generator = None       # created on first use (numpy.random costs ~13 ms to import)


def manual_seed(seed: int) -> None:
    """Seed fastgrad's generator (init, dropout, shuffling) for reproducible runs."""
    global _generator
    _generator = np.random.default_rng(seed)


def generator() -> np.random.Generator:
    """The numpy Generator behind fastgrad's random functions."""
    global _generator
    if _generator is None:
        _generator = np.random.default_rng()
    return _generator


def _shape(size) -> tuple:
    if len(size) == 1 and not isinstance(size[0], (int, np.integer)):
        return tuple(size[0])
    return tuple(size)


def _make(array: np.ndarray, requires_grad: bool) -> Tensor:
    t = from_numpy(np.asarray(array, order="C"))
    if requires_grad:
        t.requires_grad_(True)
    return t


def zeros(*size, dtype=float32, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros of the given shape."""
    return _make(np.zeros(_shape(size), dtype=dtype), requires_grad)


def ones(*size, dtype=float32, requires_grad: bool = False) -> Tensor:
    """A tensor of ones of the given shape."""
    return _make(np.ones(_shape(size), dtype=dtype), requires_grad)


def full(size, fill_value, dtype=float32, requires_grad: bool = False) -> Tensor:
    """A tensor of the given shape filled with ``fill_value``."""
    return _make(np.full(tuple(size) if not isinstance(size, int) else (size,), fill_value, dtype=dtype),
                 requires_grad)


def empty(*size, dtype=float32, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor of the given shape."""
    return _make(np.empty(_shape(size), dtype=dtype), requires_grad)


def rand(*size, dtype=float32, requires_grad: bool = False) -> Tensor:
    """Uniform samples on [0, 1) from the seeded generator."""
    return _make(generator().random(_shape(size)).astype(dtype), requires_grad)


def randn(*size, dtype=float32, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from the seeded generator."""
    return _make(generator().standard_normal(_shape(size)).astype(dtype), requires_grad)


def arange(start, end=None, step=1, dtype=None, requires_grad: bool = False) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive) by ``step``; int64 for integer args."""
    if end is None:
        start, end = 0, start
    if dtype is None and any(isinstance(v, float) for v in (start, end, step)):
        dtype = float32
    return _make(np.arange(start, end, step, dtype=dtype), requires_grad)


def zeros_like(t, dtype=None, requires_grad: bool = False) -> Tensor:
    """Zeros with the shape (and dtype) of ``t``."""
    a = np.asarray(t)
    return _make(np.zeros(a.shape, dtype=dtype or a.dtype), requires_grad)


def ones_like(t, dtype=None, requires_grad: bool = False) -> Tensor:
    """Ones with the shape (and dtype) of ``t``."""
    a = np.asarray(t)
    return _make(np.ones(a.shape, dtype=dtype or a.dtype), requires_grad)
