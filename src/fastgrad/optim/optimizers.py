"""The optimizers: each declares its options, validates them, creates its state
and calls its fused kernel. Update rules are torch.optim's documented ones.

Dense optimizers accept a row-sparse gradient (``fastgrad.SparseRowGrad``) and
apply it as the equivalent dense gradient (untouched rows get a zero gradient,
so their state still decays); only SparseAdam updates lazily.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Optional, Tuple

import numpy as np

from .._kernels import optim as _k
from .optimizer import Optimizer, check_betas, check_range, flat

def _zeros(param: np.ndarray, fill: float = 0.0) -> np.ndarray:
    return np.full(param.shape, fill, dtype=param.dtype)


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum.

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters or parameter groups.
    lr : float, default 1e-3
        Learning rate.
    momentum : float, default 0
        Momentum factor.
    dampening : float, default 0
        Dampening of the momentum.
    weight_decay : float, default 0
        L2 penalty added to the gradient.
    nesterov : bool, default False
        Nesterov momentum (needs momentum > 0 and dampening 0).
    maximize : bool, default False
        Maximize the objective instead of minimizing.

    Notes
    -----
    ``g = grad + wd p``; ``b = g`` on the first step, else
    ``b = momentum b + (1 - dampening) g``; ``g = g + momentum b`` (nesterov)
    or ``g = b``; ``p -= lr g``.
    """

    _state_keys = ("momentum_buffer",)

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
                 *, maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    @staticmethod
    def _validate(group: dict) -> None:
        for name in ("lr", "momentum", "weight_decay"):
            check_range(group, name)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def _update(self, param, grad, state, group):
        buf, first = None, False
        if group["momentum"] != 0:
            first = "momentum_buffer" not in state
            if first:
                state["momentum_buffer"] = _zeros(param)
            buf = flat(state["momentum_buffer"])
        _k.sgd(flat(param), flat(grad), buf, group["lr"], group["momentum"], group["dampening"],
               group["weight_decay"], group["nesterov"], group["maximize"], first)


class Adagrad(Optimizer):
    """Adagrad: per-element learning rates from the running sum of squared gradients.

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters or parameter groups.
    lr : float, default 1e-2
        Learning rate.
    lr_decay : float, default 0
        Learning-rate decay: ``lr / (1 + (t - 1) lr_decay)`` at step t.
    weight_decay : float, default 0
        L2 penalty added to the gradient.
    initial_accumulator_value : float, default 0
        Initial value of the sum of squares.
    eps : float, default 1e-10
        Added to the denominator.
    maximize : bool, default False
        Maximize the objective instead of minimizing.
    """

    _state_keys = ("step", "sum")

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, *, maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, maximize=maximize))

    @staticmethod
    def _validate(group: dict) -> None:
        for name in ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            check_range(group, name)

    def _init_state(self, param, group):
        return {"step": 0, "sum": _zeros(param, group["initial_accumulator_value"])}

    def _update(self, param, grad, state, group):
        state["step"] += 1
        _k.adagrad(flat(param), flat(grad), flat(state["sum"]), state["step"], group["lr"],
                   group["lr_decay"], group["weight_decay"], group["eps"], group["maximize"])


class Adadelta(Optimizer):
    """Adadelta: steps scaled by running averages of squared gradients and updates.

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters or parameter groups.
    lr : float, default 1.0
        Coefficient scaling the delta.
    rho : float, default 0.9
        Decay of the running averages.
    eps : float, default 1e-6
        Added inside the square roots.
    weight_decay : float, default 0
        L2 penalty added to the gradient.
    maximize : bool, default False
        Maximize the objective instead of minimizing.
    """

    _state_keys = ("step", "square_avg", "acc_delta")

    def __init__(self, params: Iterable[Any], lr: float = 1.0, rho: float = 0.9,
                 eps: float = 1e-6, weight_decay: float = 0.0, *,
                 maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    @staticmethod
    def _validate(group: dict) -> None:
        for name in ("lr", "eps", "weight_decay"):
            check_range(group, name)
        check_range(group, "rho", 0.0, 1.0)

    def _init_state(self, param, group):
        return {"step": 0, "square_avg": _zeros(param), "acc_delta": _zeros(param)}

    def _update(self, param, grad, state, group):
        state["step"] += 1
        _k.adadelta(flat(param), flat(grad), flat(state["square_avg"]), flat(state["acc_delta"]),
                    group["lr"], group["rho"], group["eps"], group["weight_decay"],
                    group["maximize"])


class RMSprop(Optimizer):
    """RMSprop, optionally centered and with momentum.

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters or parameter groups.
    lr : float, default 1e-2
        Learning rate.
    alpha : float, default 0.99
        Smoothing constant of the squared-gradient average.
    eps : float, default 1e-8
        Added to the denominator.
    weight_decay : float, default 0
        L2 penalty added to the gradient.
    momentum : float, default 0
        Momentum factor.
    centered : bool, default False
        Normalize by an estimate of the gradient's variance.
    maximize : bool, default False
        Maximize the objective instead of minimizing.
    """

    _state_keys = ("step", "square_avg", "momentum_buffer", "grad_avg")

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False, *, maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    @staticmethod
    def _validate(group: dict) -> None:
        for name in ("lr", "alpha", "eps", "weight_decay", "momentum"):
            check_range(group, name)

    def _init_state(self, param, group):
        state = {"step": 0, "square_avg": _zeros(param)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = _zeros(param)
        if group["centered"]:
            state["grad_avg"] = _zeros(param)
        return state

    def _update(self, param, grad, state, group):
        state["step"] += 1
        buf = flat(state["momentum_buffer"]) if group["momentum"] > 0 else None
        gavg = flat(state["grad_avg"]) if group["centered"] else None
        _k.rmsprop(flat(param), flat(grad), flat(state["square_avg"]), gavg, buf, group["lr"],
                   group["alpha"], group["eps"], group["weight_decay"], group["momentum"],
                   group["maximize"])


class Adam(Optimizer):
    """Adam, optionally AMSGrad; L2 weight decay added to the gradient.

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters or parameter groups.
    lr : float, default 1e-3
        Learning rate.
    betas : (float, float), default (0.9, 0.999)
        Decays of the first and second moment averages, each in [0, 1).
    eps : float, default 1e-8
        Added to the denominator.
    weight_decay : float, default 0
        L2 penalty (AdamW: decoupled decay ``p *= 1 - lr wd``).
    amsgrad : bool, default False
        Use the running maximum of the second moment.
    maximize : bool, default False
        Maximize the objective instead of minimizing.
    decoupled_weight_decay : bool, default False
        Decoupled weight decay, i.e. AdamW.
    """

    _state_keys = ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: Tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False) -> None:
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize,
                                      decoupled_weight_decay=decoupled_weight_decay))

    @staticmethod
    def _validate(group: dict) -> None:
        for name in ("lr", "eps", "weight_decay"):
            check_range(group, name)
        check_betas(group)

    def _init_state(self, param, group):
        return {"step": 0, "exp_avg": _zeros(param), "exp_avg_sq": _zeros(param)}

    def _update(self, param, grad, state, group):
        state["step"] += 1
        vmax = None
        if group["amsgrad"]:
            vmax = flat(state.setdefault("max_exp_avg_sq", _zeros(param)))
        beta1, beta2 = group["betas"]
        _k.adam(flat(param), flat(grad), flat(state["exp_avg"]), flat(state["exp_avg_sq"]), vmax,
                state["step"], group["lr"], beta1, beta2, group["eps"], group["weight_decay"],
                group["decoupled_weight_decay"], group["maximize"])


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p *= 1 - lr wd`` before the Adam step.

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters or parameter groups.
    lr : float, default 1e-3
        Learning rate.
    betas : (float, float), default (0.9, 0.999)
        Decays of the first and second moment averages, each in [0, 1).
    eps : float, default 1e-8
        Added to the denominator.
    weight_decay : float, default 1e-2
        Decoupled weight decay coefficient.
    amsgrad : bool, default False
        Use the running maximum of the second moment.
    maximize : bool, default False
        Maximize the objective instead of minimizing.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: Tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)


class Adafactor(Optimizer):
    """Adafactor with factored second moments (torch.optim.Adafactor's variant).

    Parameters of 2 or more dimensions keep a row and a column second-moment
    factor over their last two dimensions; vectors keep a full second moment.

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters or parameter groups.
    lr : float, default 1e-2
        Maximum relative step size and weight-decay coefficient.
    beta2_decay : float, default -0.8
        Decay rate of beta2: ``1 - beta2_t = t ** beta2_decay`` (must be <= 0).
    eps : (float or None, float), default (None, 1e-3)
        eps1 (None: the dtype's machine epsilon) stabilizes the denominator,
        eps2 bounds the parameter scale from below.
    d : float, default 1.0
        Clipping threshold of the update's RMS (>= 1).
    weight_decay : float, default 0
        Decoupled weight decay ``p *= 1 - lr wd``.
    foreach : bool or None, default None
        Accepted for torch compatibility; ignored.
    maximize : bool, default False
        Maximize the objective instead of minimizing.
    """

    _state_keys = ("step", "row_var", "col_var", "variance")

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, beta2_decay: float = -0.8,
                 eps: Tuple[Optional[float], float] = (None, 1e-3), d: float = 1.0,
                 weight_decay: float = 0.0, *, foreach: Optional[bool] = None,
                 maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, beta2_decay=beta2_decay, eps=tuple(eps), d=d,
                                      weight_decay=weight_decay, foreach=foreach,
                                      maximize=maximize))

    @staticmethod
    def _validate(group: dict) -> None:
        for name in ("lr", "weight_decay"):
            check_range(group, name)
        check_range(group, "beta2_decay", -float("inf"), 0.0)
        check_range(group, "d", 1.0)
        eps1, eps2 = group["eps"]
        if eps1 is not None and not eps1 >= 0:
            raise ValueError(f"invalid epsilon1: {eps1!r}, expected >= 0 or None")
        if not eps2 >= 0:
            raise ValueError(f"invalid epsilon2: {eps2!r}, expected >= 0")

    def _init_state(self, param, group):
        if param.ndim < 2:
            return {"step": 0, "variance": _zeros(param)}
        row_shape = param.shape[:-1] + (1,)
        col_shape = param.shape[:-2] + (1, param.shape[-1])
        return {"step": 0, "row_var": np.zeros(row_shape, param.dtype),
                "col_var": np.zeros(col_shape, param.dtype)}

    def _update(self, param, grad, state, group):
        state["step"] += 1
        eps1, eps2 = group["eps"]
        if eps1 is None:
            eps1 = float(np.finfo(param.dtype).eps)
        if param.ndim < 2:
            row, col, shape = flat(state["variance"]), None, (1, 1, param.size)
        else:
            row, col = flat(state["row_var"]), flat(state["col_var"])
            shape = (math.prod(param.shape[:-2]),) + param.shape[-2:]
        _k.adafactor(flat(param), flat(grad), row, col, *shape, state["step"], group["lr"],
                     group["beta2_decay"], eps1, eps2, group["d"], group["weight_decay"],
                     group["maximize"])


class SparseAdam(Optimizer):
    """Lazy Adam for row-sparse gradients (e.g. ``Embedding(sparse=True)``).

    Only the rows present in the gradient, and their moment estimates, change;
    duplicate row indices are summed first. A dense gradient updates every row.

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters or parameter groups.
    lr : float, default 1e-3
        Learning rate.
    betas : (float, float), default (0.9, 0.999)
        Decays of the first and second moment averages, each in [0, 1).
    eps : float, default 1e-8
        Added to the denominator (must be > 0).
    maximize : bool, default False
        Maximize the objective instead of minimizing.
    """

    _state_keys = ("step", "exp_avg", "exp_avg_sq")

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: Tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, *,
                 maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, maximize=maximize))

    @staticmethod
    def _validate(group: dict) -> None:
        check_range(group, "lr")
        if not group["eps"] > 0:
            raise ValueError(f"invalid eps: {group['eps']!r}, expected > 0")
        check_betas(group)

    def _gradient(self, param, grad):
        """(indices, values) of the coalesced rows; a dense gradient selects every row."""
        if not getattr(grad, "is_sparse", False):
            dense = super()._gradient(param, grad)
            return np.arange(param.shape[0] if param.ndim else 1, dtype=np.int64), dense
        if tuple(grad.shape) != param.shape:
            raise ValueError(f"SparseAdam: gradient of shape {tuple(grad.shape)} does not match "
                             f"parameter {param.shape}")
        grad = grad.coalesce()
        values = np.ascontiguousarray(grad.values, dtype=param.dtype)
        return np.ascontiguousarray(grad.indices, dtype=np.int64), values

    def _init_state(self, param, group):
        return {"step": 0, "exp_avg": _zeros(param), "exp_avg_sq": _zeros(param)}

    def _update(self, param, grad, state, group):
        indices, values = grad
        state["step"] += 1  # torch counts the step even when no row is touched
        if indices.size == 0:
            return
        width = param.size // max(param.shape[0], 1) if param.ndim else 1
        beta1, beta2 = group["betas"]
        _k.sparse_adam(flat(param), indices, flat(values), flat(state["exp_avg"]),
                       flat(state["exp_avg_sq"]), width, state["step"], group["lr"], beta1,
                       beta2, group["eps"], group["maximize"])
