"""Gradient clipping: clip_grad_norm_ and clip_grad_value_ (torch.nn.utils names).

Both modify ``p.grad`` in place; row-sparse gradients are modified through their
stored values: their norm is that of the dense gradient they represent, and
clip_grad_value_ clamps each stored value (duplicate rows separately).
"""
from __future__ import annotations

import math
from typing import Any, Iterable, List, Union

import numpy as np

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _grads(parameters: Union[Any, Iterable[Any]]) -> List[Any]:
    """The non-None gradients of the parameters (a single Tensor is accepted)."""
    if hasattr(parameters, "grad") and hasattr(parameters, "numpy"):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def _buffer(grad: Any) -> np.ndarray:
    """The ndarray holding a gradient's entries (a sparse gradient's stored values)."""
    return grad.values if getattr(grad, "is_sparse", False) else grad.numpy()


def _vector_norm(array: np.ndarray, norm_type: float) -> float:
    values = np.abs(array.ravel())
    if norm_type == math.inf:
        return float(values.max(initial=0.0))
    return float(np.sum(values.astype(np.float64) ** norm_type) ** (1.0 / norm_type))


def clip_grad_norm_(parameters: Union[Any, Iterable[Any]], max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False) -> Any:
    """Scale gradients in place so that their total norm is at most ``max_norm``.

    Parameters
    ----------
    parameters : Tensor or iterable of Tensor
        Parameters whose ``.grad`` is clipped (those without a gradient are skipped).
    max_norm : float
        Maximum total norm.
    norm_type : float, default 2.0
        Order p > 0 of the norm, or ``math.inf`` for the max-norm.
    error_if_nonfinite : bool, default False
        Raise RuntimeError if the total norm is nan or inf.

    Returns
    -------
    Tensor
        The total norm of all gradients (viewed as one vector) before clipping,
        a 0-d tensor of the gradients' dtype.

    Notes
    -----
    As in torch, every gradient is multiplied by
    ``min(1, max_norm / (total_norm + 1e-6))``.
    """
    from .. import tensor

    norm_type, max_norm = float(norm_type), float(max_norm)
    if not (norm_type > 0):
        raise ValueError(f"clip_grad_norm_: norm_type must be > 0 or inf, got {norm_type}")
    grads = _grads(parameters)
    if not grads:
        return tensor(0.0)
    norms = [_vector_norm(_buffer(g.coalesce() if getattr(g, "is_sparse", False) else g),
                          norm_type) for g in grads]
    total = _vector_norm(np.array(norms), norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from "
                           "`parameters` is non-finite, so it cannot be clipped. To disable "
                           "this error and scale the gradients by the non-finite norm anyway, "
                           "set `error_if_nonfinite=False`")
    coef = min(max_norm / (total + 1e-6), 1.0)
    for grad in grads:
        array = _buffer(grad)
        array *= array.dtype.type(coef)
    return tensor(np.array(total, dtype=_buffer(grads[0]).dtype))


def clip_grad_value_(parameters: Union[Any, Iterable[Any]], clip_value: float) -> None:
    """Clamp every gradient entry to ``[-clip_value, clip_value]`` in place.

    Parameters
    ----------
    parameters : Tensor or iterable of Tensor
        Parameters whose ``.grad`` is clipped (those without a gradient are skipped).
    clip_value : float
        Bound of the absolute value of each entry (>= 0).
    """
    clip_value = float(clip_value)
    if clip_value < 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    for grad in _grads(parameters):
        array = _buffer(grad)
        np.clip(array, -clip_value, clip_value, out=array)
