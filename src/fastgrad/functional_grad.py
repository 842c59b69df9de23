"""Functional gradients: ``grad(fn)`` and ``value_and_grad(fn)`` in the style of JAX."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from fastgrad._tensor import Tensor, tensor


def _leaf(x) -> Tensor:
    data = x.numpy() if isinstance(x, Tensor) else x
    if isinstance(data, (np.ndarray, np.generic)):
        data = np.array(data, dtype=data.dtype if data.dtype.kind == "f" else np.float32)
    return tensor(data, requires_grad=True)


def value_and_grad(fn: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """Return a function computing ``(fn(*args), gradient of fn w.r.t. args[argnums])``.

    ``fn`` must return a one-element Tensor. The arguments at ``argnums`` are copied into
    fresh leaves, so nothing the caller passed is modified. The gradient is a Tensor (or a
    tuple of Tensors when ``argnums`` is a sequence).
    """
    single = isinstance(argnums, int)
    nums = (argnums,) if single else tuple(argnums)

    def wrapped(*args, **kwargs):
        args = list(args)
        for n in nums:
            if not -len(args) <= n < len(args):
                raise IndexError(f"value_and_grad: argnums {n} out of range for {len(args)} arguments")
            args[n] = _leaf(args[n])
        value = fn(*args, **kwargs)
        if not isinstance(value, Tensor) or value.numel() != 1:
            raise TypeError("value_and_grad: fn must return a one-element Tensor")
        value.backward()
        grads = tuple(args[n].grad if args[n].grad is not None else
                      tensor(np.zeros(args[n].shape, dtype=args[n].dtype)) for n in nums)
        return value.detach(), (grads[0] if single else grads)

    return wrapped


def grad(fn: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """Return a function computing the gradient of ``fn`` w.r.t. ``args[argnums]``."""
    vg = value_and_grad(fn, argnums)
    return lambda *args, **kwargs: vg(*args, **kwargs)[1]
