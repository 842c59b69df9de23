"""Functional neural-network ops with PyTorch's names and defaults.

Thin layer over the compiled kernels (``fastgrad._kernels.activation``, ``.loss``,
``.layers`` and ``.elementwise``): argument handling and documentation here, the math
and the index/shape validation in the kernels' modules.

>>> import numpy as np, fastgrad as fg
>>> import fastgrad.nn.functional as F
>>> logits = fg.tensor([[2.0, 0.5, -1.0]], requires_grad=True)
>>> loss = F.cross_entropy(logits, np.array([0]))
>>> loss.backward()
"""
from __future__ import annotations

from typing import Iterable, Optional, Union

import numpy as np

from fastgrad._tensor import Tensor
from fastgrad._kernels import activation as _activation
from fastgrad._kernels import elementwise as _elementwise
from fastgrad._kernels import layers as _layers
from fastgrad._kernels import loss as _loss

__all__ = [
    "sigmoid", "tanh", "hardtanh", "relu", "leaky_relu", "prelu", "softmax", "log_softmax",
    "cross_entropy", "nll_loss", "mse_loss", "binary_cross_entropy_with_logits",
    "dropout", "embedding", "linear", "l1_penalty", "l2_penalty",
]

TensorLike = Union[Tensor, np.ndarray, float, int]
Targets = Union[Tensor, np.ndarray, int, list]


def _reduction(op: str, size_average: Optional[bool], reduce: Optional[bool],
               reduction: str) -> str:
    """torch's legacy ``size_average``/``reduce`` flags mapped onto ``reduction``."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


# ----- activations ----------------------------------------------------------------------
def sigmoid(input: TensorLike) -> Tensor:
    """Logistic sigmoid ``1 / (1 + exp(-x))``, elementwise and stable for large ``|x|``.

    Parameters
    ----------
    input : Tensor
        Any shape; integer inputs are converted to float32.

    Returns
    -------
    Tensor
        Same shape and dtype as ``input``.
    """
    return _elementwise.sigmoid(input)


def tanh(input: TensorLike) -> Tensor:
    """Hyperbolic tangent, elementwise.

    Parameters
    ----------
    input : Tensor
        Any shape.

    Returns
    -------
    Tensor
        Same shape and dtype as ``input``.
    """
    return _elementwise.tanh(input)


def relu(input: TensorLike) -> Tensor:
    """Rectified linear unit ``max(x, 0)``, elementwise (gradient 0 at 0).

    Parameters
    ----------
    input : Tensor
        Any shape.

    Returns
    -------
    Tensor
        Same shape and dtype as ``input``.
    """
    return _elementwise.relu(input)


def hardtanh(input: TensorLike, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """Clamp to ``[min_val, max_val]``, elementwise.

    Parameters
    ----------
    input : Tensor
        Any shape.
    min_val, max_val : float
        The interval; the gradient is 1 strictly inside it and 0 outside or on its ends.

    Returns
    -------
    Tensor
        Same shape and dtype as ``input``.

    Raises
    ------
    ValueError
        If ``min_val > max_val``.
    """
    return _activation.hardtanh(input, min_val, max_val)


def leaky_relu(input: TensorLike, negative_slope: float = 0.01) -> Tensor:
    """``x if x > 0 else negative_slope * x``, elementwise.

    Parameters
    ----------
    input : Tensor
        Any shape.
    negative_slope : float
        Slope for non-positive inputs.

    Returns
    -------
    Tensor
        Same shape and dtype as ``input``.
    """
    return _activation.leaky_relu(input, negative_slope)


def prelu(input: TensorLike, weight: Tensor) -> Tensor:
    """Parametric ReLU ``x if x > 0 else a * x`` with a learnable slope ``a``.

    Parameters
    ----------
    input : Tensor
        Shape ``(N, C, *)``, or any shape with a single slope. Inputs with fewer than
        2 dims have one channel.
    weight : Tensor
        The slope: 1 element (shared) or ``C`` elements (one per channel, dim 1), 1-D or 0-d,
        same dtype as ``input``. Receives a gradient when it requires grad.

    Returns
    -------
    Tensor
        Same shape and dtype as ``input``.

    Raises
    ------
    ValueError
        If ``weight`` has neither 1 nor ``C`` elements.
    TypeError
        If the dtypes differ or are not float.
    """
    return _activation.prelu(input, weight)


def softmax(input: TensorLike, dim: Optional[int] = None, dtype=None) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``dim``, computed with the maximum subtracted.

    Parameters
    ----------
    input : Tensor
        Any shape.
    dim : int
        The dimension that sums to 1. ``None`` uses torch's deprecated implicit choice
        (0 for 0-, 1- and 3-D inputs, else 1) with a warning.
    dtype : numpy dtype, optional
        Convert the input to this dtype first.

    Returns
    -------
    Tensor
        Same shape as ``input``.

    Raises
    ------
    IndexError
        If ``dim`` is out of range.
    """
    if dtype is not None:
        input = _elementwise.to_dtype(input, dtype)
    return _activation.softmax(input, dim)


def log_softmax(input: TensorLike, dim: Optional[int] = None, dtype=None) -> Tensor:
    """``x - log(sum(exp(x)))`` along ``dim``, finite for any finite input.

    Parameters
    ----------
    input : Tensor
        Any shape.
    dim : int
        The normalized dimension (``None``: torch's implicit choice, with a warning).
    dtype : numpy dtype, optional
        Convert the input to this dtype first.

    Returns
    -------
    Tensor
        Same shape as ``input``.

    Raises
    ------
    IndexError
        If ``dim`` is out of range.
    """
    if dtype is not None:
        input = _elementwise.to_dtype(input, dtype)
    return _activation.log_softmax(input, dim)


# ----- losses ---------------------------------------------------------------------------
def cross_entropy(input: Tensor, target: Targets, weight: Optional[TensorLike] = None,
                  size_average: Optional[bool] = None, ignore_index: int = -100,
                  reduce: Optional[bool] = None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Cross entropy between logits and class indices: fused log-softmax + NLL.

    ``loss_i = weight[t_i] * (logsumexp(input_i) - input_i[t_i])``, computed with the row
    maximum subtracted, so it stays finite for logits of any magnitude.

    Parameters
    ----------
    input : Tensor
        Logits of shape ``(N, C)`` or ``(C,)``.
    target : Tensor or array of int
        Class indices of shape ``(N,)`` (or ``()`` for 1-D input), each in ``[0, C)`` or
        equal to ``ignore_index``. Class-probability targets are not supported.
    weight : Tensor or array, optional
        Per-class weights of shape ``(C,)``; treated as a constant (no gradient).
    size_average, reduce : bool, optional
        Deprecated torch flags; when given they override ``reduction``.
    ignore_index : int
        Targets equal to this contribute nothing, to the loss or to the mean's divisor.
    reduction : {'mean', 'sum', 'none'}
        ``'mean'`` divides the sum by the sum of the weights of the non-ignored targets
        (torch's weighted mean; NaN if all are ignored), ``'none'`` returns the ``(N,)``
        per-sample losses (0 where ignored).
    label_smoothing : float
        Only 0.0 is supported.

    Returns
    -------
    Tensor
        A scalar, or the per-sample losses for ``reduction='none'``.

    Raises
    ------
    TypeError
        If ``target`` is not of integer dtype, or ``input`` is not float.
    IndexError
        If a target is out of range (and not ``ignore_index``).
    ValueError
        If shapes do not match or ``reduction`` is unknown.
    """
    if label_smoothing != 0.0:
        raise NotImplementedError("cross_entropy: label_smoothing is not supported")
    reduction = _reduction("cross_entropy", size_average, reduce, reduction)
    return _loss.cross_entropy(input, target, weight, ignore_index, reduction)


def nll_loss(input: Tensor, target: Targets, weight: Optional[TensorLike] = None,
             size_average: Optional[bool] = None, ignore_index: int = -100,
             reduce: Optional[bool] = None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood ``-weight[t_i] * input[i, t_i]`` of log-probabilities.

    Parameters
    ----------
    input : Tensor
        Log-probabilities of shape ``(N, C)`` or ``(C,)`` (e.g. from :func:`log_softmax`).
    target : Tensor or array of int
        Class indices of shape ``(N,)`` (or ``()``), in ``[0, C)`` or ``ignore_index``.
    weight : Tensor or array, optional
        Per-class weights of shape ``(C,)`` (a constant).
    size_average, reduce : bool, optional
        Deprecated torch flags; when given they override ``reduction``.
    ignore_index : int
        Targets equal to this are skipped.
    reduction : {'mean', 'sum', 'none'}
        As in :func:`cross_entropy` (weighted mean).

    Returns
    -------
    Tensor
        A scalar, or the ``(N,)`` per-sample losses.

    Raises
    ------
    TypeError, IndexError, ValueError
        As :func:`cross_entropy`.
    """
    reduction = _reduction("nll_loss", size_average, reduce, reduction)
    return _loss.nll_loss(input, target, weight, ignore_index, reduction)


def mse_loss(input: Tensor, target: TensorLike, size_average: Optional[bool] = None,
             reduce: Optional[bool] = None, reduction: str = "mean") -> Tensor:
    """Mean squared error ``(input - target) ** 2``.

    Parameters
    ----------
    input : Tensor
        Any shape, float.
    target : Tensor or array
        Same shape (no broadcasting) and dtype; receives a gradient if it requires one.
    size_average, reduce : bool, optional
        Deprecated torch flags; when given they override ``reduction``.
    reduction : {'mean', 'sum', 'none'}
        Average, sum, or the elementwise losses.

    Returns
    -------
    Tensor
        A scalar, or the elementwise losses.

    Raises
    ------
    ValueError
        If the shapes differ or ``reduction`` is unknown.
    """
    reduction = _reduction("mse_loss", size_average, reduce, reduction)
    return _loss.mse_loss(input, target, reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: TensorLike,
                                     weight: Optional[TensorLike] = None,
                                     size_average: Optional[bool] = None,
                                     reduce: Optional[bool] = None, reduction: str = "mean",
                                     pos_weight: Optional[TensorLike] = None) -> Tensor:
    """Binary cross entropy of ``sigmoid(input)`` against ``target``, from the logits.

    ``loss = -w * [pos_weight * y * log(sigmoid(x)) + (1 - y) * log(1 - sigmoid(x))]``,
    computed as ``w * ((1 - y) x + (1 + (pos_weight - 1) y) log(1 + exp(-x)))`` with a
    stable softplus, so it is finite for logits of any magnitude.

    Parameters
    ----------
    input : Tensor
        Logits, any shape.
    target : Tensor or array
        Same shape and dtype, values usually in ``[0, 1]``; receives a gradient if it
        requires one.
    weight : Tensor or array, optional
        Broadcastable to ``input``: a rescaling weight per element (a constant).
    size_average, reduce : bool, optional
        Deprecated torch flags; when given they override ``reduction``.
    reduction : {'mean', 'sum', 'none'}
        Average, sum, or the elementwise losses.
    pos_weight : Tensor or array, optional
        Weight of positive examples, broadcastable to ``input`` (usually ``(C,)`` for the
        last dim); a constant.

    Returns
    -------
    Tensor
        A scalar, or the elementwise losses.

    Raises
    ------
    ValueError
        If shapes do not match/broadcast or ``reduction`` is unknown.
    """
    reduction = _reduction("binary_cross_entropy_with_logits", size_average, reduce, reduction)
    return _loss.binary_cross_entropy_with_logits(input, target, weight, reduction, pos_weight)


# ----- layers ---------------------------------------------------------------------------
def dropout(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Inverted dropout: zero each element with probability ``p``, scale the rest by
    ``1 / (1 - p)``.

    The mask comes from fastgrad's seeded generator (:func:`fastgrad.manual_seed`).

    Parameters
    ----------
    input : Tensor
        Any shape, float.
    p : float
        Drop probability in ``[0, 1]``; ``p == 1`` returns zeros (as torch).
    training : bool
        When False (or ``p == 0``) the input is returned unchanged.

    Returns
    -------
    Tensor
        Same shape and dtype as ``input``.

    Raises
    ------
    ValueError
        If ``p < 0`` or ``p > 1``.
    """
    return _layers.dropout(input, p, training)


def embedding(input: Targets, weight: Tensor, padding_idx: Optional[int] = None,
              max_norm: Optional[float] = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Look up rows of ``weight``: ``out[..., :] = weight[input[...], :]``.

    Parameters
    ----------
    input : Tensor or array of int
        Indices of any shape, each in ``[0, num_embeddings)``.
    weight : Tensor
        ``(num_embeddings, embedding_dim)`` float table.
    padding_idx : int, optional
        This row receives no gradient (negative values count from the end).
    max_norm, norm_type, scale_grad_by_freq
        Not supported (must keep their defaults).
    sparse : bool
        If True and ``weight`` is a leaf, ``weight.grad`` is a row-sparse
        :class:`fastgrad.SparseRowGrad` with only the looked-up rows (duplicates kept as
        separate rows; they sum in ``to_dense()``/``coalesce()``). Otherwise the gradient is a
        dense scatter-add.

    Returns
    -------
    Tensor
        Shape ``input.shape + (embedding_dim,)``.

    Raises
    ------
    TypeError
        If the indices are not integers or ``weight`` is not float.
    IndexError
        If an index is out of range.
    ValueError
        If ``weight`` is not 2-D or ``padding_idx`` is out of range.
    """
    if max_norm is not None or scale_grad_by_freq:
        raise NotImplementedError("embedding: max_norm and scale_grad_by_freq are not supported")
    return _layers.embedding(input, weight, padding_idx, sparse)


def linear(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None) -> Tensor:
    """Affine map ``input @ weight.T + bias`` as one fused op (no copy of ``weight``).

    Parameters
    ----------
    input : Tensor
        ``(..., in_features)``.
    weight : Tensor
        ``(out_features, in_features)``, same dtype.
    bias : Tensor, optional
        ``(out_features,)``, same dtype.

    Returns
    -------
    Tensor
        ``(..., out_features)``.

    Raises
    ------
    ValueError
        If the shapes do not match.
    TypeError
        If the dtypes differ or are not float.
    """
    return _layers.linear(input, weight, bias)


# ----- regularization -------------------------------------------------------------------
def _params(op: str, params) -> list:
    items = [params] if isinstance(params, Tensor) else list(params)
    for p in items:
        if not isinstance(p, Tensor):
            raise TypeError(f"{op}: expected Tensors, got {type(p).__name__}")
    return items


def l2_penalty(params: Union[Tensor, Iterable[Tensor]]) -> Tensor:
    """Sum of squared entries over ``params`` (differentiable); multiply by the
    regularization strength yourself.

    Parameters
    ----------
    params : Tensor or iterable of Tensor
        E.g. ``model.parameters()``.

    Returns
    -------
    Tensor
        A 0-d tensor (float32 0.0 for an empty iterable).
    """
    total = None
    for p in _params("l2_penalty", params):
        term = (p * p).sum()
        total = term if total is None else total + term
    return total if total is not None else Tensor(np.float32(0.0))


def l1_penalty(params: Union[Tensor, Iterable[Tensor]]) -> Tensor:
    """Sum of absolute values over ``params`` (differentiable; subgradient 0 at 0).

    Parameters
    ----------
    params : Tensor or iterable of Tensor
        E.g. ``model.parameters()``.

    Returns
    -------
    Tensor
        A 0-d tensor (float32 0.0 for an empty iterable).
    """
    total = None
    for p in _params("l1_penalty", params):
        term = _elementwise.abs(p).sum()
        total = term if total is None else total + term
    return total if total is not None else Tensor(np.float32(0.0))
