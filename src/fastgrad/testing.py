"""Numeric gradient checking."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from fastgrad._tensor import Tensor
from fastgrad.autograd import no_grad


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with the numeric one (or backward is not reentrant)."""


def _outputs(result) -> list:
    results = result if isinstance(result, (tuple, list)) else (result,)
    if not all(isinstance(r, Tensor) for r in results):
        raise TypeError("gradcheck: fn must return a Tensor or a tuple of Tensors")
    return list(results)


def _projected(fn, inputs, weights) -> float:
    outs = _outputs(fn(*inputs))
    return float(sum(np.sum(o.numpy() * w) for o, w in zip(outs, weights)))


def _analytic(fn, inputs, weights, checked) -> list:
    for t in checked:
        t.grad = None
    outs = _outputs(fn(*inputs))
    total = None
    for o, w in zip(outs, weights):
        if o.requires_grad:
            term = (o * w).sum()
            total = term if total is None else total + term
    if total is None:
        return [np.zeros(t.shape) for t in checked]
    total.backward()
    return [np.zeros(t.shape) if t.grad is None else
            (t.grad.to_dense() if getattr(t.grad, "is_sparse", False) else t.grad.numpy().copy())
            for t in checked]


def gradcheck(fn: Callable, inputs: Sequence[Tensor] | Tensor, eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3, seed: int = 0) -> bool:
    """Compare backward's gradients of ``fn`` with two-sided finite differences.

    The outputs are projected on fixed random weights ``w`` (one scalar ``sum(w * fn(x))``),
    and for every element of every input that requires grad the analytic derivative is
    compared with ``(s(x + eps) - s(x - eps)) / (2 eps)``. Backward is run twice and must
    give the same result (reentrancy).

    Parameters
    ----------
    fn : callable
        Takes the tensors of ``inputs`` and returns a Tensor or a tuple of Tensors.
    inputs : Tensor or sequence of Tensor
        float64 tensors; those with ``requires_grad`` are checked.
    eps, atol, rtol : float
        Step and tolerances: pass when ``|analytic - numeric| <= atol + rtol * |numeric|``.

    Returns
    -------
    bool
        True when every gradient matches.

    Raises
    ------
    GradcheckError
        Naming the input, the element index and both values of the first mismatch.
    """
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    checked = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad")
    for t in checked:
        if t.dtype != np.float64:
            raise ValueError(f"gradcheck: inputs must be float64 for finite differences, got {t.dtype}")
        if not t.is_leaf:
            raise ValueError("gradcheck: inputs must be leaf tensors")
    rng = np.random.default_rng(seed)
    with no_grad():
        weights = [rng.standard_normal(o.shape) for o in _outputs(fn(*inputs))]
    saved = [t.grad for t in checked]
    try:
        first = _analytic(fn, inputs, weights, checked)
        second = _analytic(fn, inputs, weights, checked)
    finally:
        for t, g in zip(checked, saved):
            t.grad = g
    for i, (a, b) in enumerate(zip(first, second)):
        if not np.allclose(a, b, rtol=1e-12, atol=1e-12):
            raise GradcheckError(f"gradcheck: backward is not reentrant for input {i}: two runs "
                                 f"gave different gradients (max difference {np.max(np.abs(a - b))})")
    with no_grad():
        for i, (t, analytic) in enumerate(zip(checked, first)):
            buf = t.numpy()
            for index in np.ndindex(*buf.shape):
                original = buf[index]
                buf[index] = original + eps
                plus = _projected(fn, inputs, weights)
                buf[index] = original - eps
                minus = _projected(fn, inputs, weights)
                buf[index] = original
                numeric = (plus - minus) / (2 * eps)
                if not abs(analytic[index] - numeric) <= atol + rtol * abs(numeric):
                    raise GradcheckError(
                        f"gradcheck: gradient mismatch for input {i} (shape {tuple(buf.shape)}) at "
                        f"index {index}: analytic {float(analytic[index])!r}, numeric {float(numeric)!r}")
    return True
