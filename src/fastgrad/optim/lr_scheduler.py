"""Learning-rate schedules with torch.optim.lr_scheduler's names and closed forms.

Epoch-based schedules compute ``lr = f(initial_lr, last_epoch)`` from the
closed form every step (torch's ``_get_closed_form_lr``), so they do not chain
with manual changes of ``group["lr"]``. Construction performs the first step,
as in torch: ``last_epoch`` becomes 0 and the lrs are set to their epoch-0 values.
"""
from __future__ import annotations

import math
from bisect import bisect_right
from typing import Any, Callable, Dict, Iterable, List, Sequence, Union

from .optimizer import Optimizer

__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
           "LambdaLR", "ReduceLROnPlateau"]


def _check_optimizer(optimizer: Any) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")


class LRScheduler:
    """Base class of the epoch-based schedules.

    Parameters
    ----------
    optimizer : Optimizer
        Whose groups' ``lr`` is set at every step.
    last_epoch : int, default -1
        Index of the last epoch; -1 starts a new schedule and records each
        group's ``initial_lr``, other values resume (``initial_lr`` must exist).
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(f"param 'initial_lr' is not specified in param_groups[{i}] "
                               "when resuming an optimizer")
        self.base_lrs: List[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._last_lr: List[float] = []
        self.step()

    def _lr_at(self, base_lr: float, epoch: int, index: int) -> float:
        """The closed-form lr of group ``index`` at ``epoch``."""
        raise NotImplementedError

    def get_lr(self) -> List[float]:
        """The lrs of the current epoch (closed form)."""
        return [self._lr_at(base, self.last_epoch, i) for i, base in enumerate(self.base_lrs)]

    def get_last_lr(self) -> List[float]:
        """The lrs set by the last ``step()``, one per parameter group."""
        return list(self._last_lr)

    def step(self, epoch: Union[int, None] = None) -> None:
        """Advance one epoch (or jump to ``epoch``) and set each group's lr."""
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> Dict[str, Any]:
        """Every attribute except the optimizer (and lambdas), as in torch."""
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Restore attributes saved by ``state_dict``."""
        self.__dict__.update(state_dict)


class StepLR(LRScheduler):
    """Decay the lr by ``gamma`` every ``step_size`` epochs.

    Parameters
    ----------
    optimizer : Optimizer
        Wrapped optimizer.
    step_size : int
        Period of the decay, in epochs (> 0).
    gamma : float, default 0.1
        Multiplicative factor.
    last_epoch : int, default -1
        See LRScheduler.

    Notes
    -----
    ``lr = initial_lr * gamma ** (last_epoch // step_size)``.
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        if step_size <= 0:
            raise ValueError(f"StepLR: step_size must be positive, got {step_size}")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def _lr_at(self, base_lr, epoch, index):
        return base_lr * self.gamma ** (epoch // self.step_size)


class MultiStepLR(LRScheduler):
    """Decay the lr by ``gamma`` at each milestone epoch.

    Parameters
    ----------
    optimizer : Optimizer
        Wrapped optimizer.
    milestones : sequence of int
        Epoch indices (a milestone listed twice decays twice).
    gamma : float, default 0.1
        Multiplicative factor.
    last_epoch : int, default -1
        See LRScheduler.

    Notes
    -----
    ``lr = initial_lr * gamma ** (number of milestones <= last_epoch)``.
    """

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        self.milestones, self.gamma = sorted(milestones), gamma
        super().__init__(optimizer, last_epoch)

    def _lr_at(self, base_lr, epoch, index):
        return base_lr * self.gamma ** bisect_right(self.milestones, epoch)


class ExponentialLR(LRScheduler):
    """Decay the lr by ``gamma`` every epoch: ``lr = initial_lr * gamma ** last_epoch``.

    Parameters
    ----------
    optimizer : Optimizer
        Wrapped optimizer.
    gamma : float
        Multiplicative factor.
    last_epoch : int, default -1
        See LRScheduler.
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _lr_at(self, base_lr, epoch, index):
        return base_lr * self.gamma ** epoch


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from the initial lr to ``eta_min`` over ``T_max`` epochs.

    Parameters
    ----------
    optimizer : Optimizer
        Wrapped optimizer.
    T_max : int
        Half period, in epochs (> 0).
    eta_min : float, default 0
        Minimum lr.
    last_epoch : int, default -1
        See LRScheduler.

    Notes
    -----
    ``lr = eta_min + (initial_lr - eta_min) (1 + cos(pi last_epoch / T_max)) / 2``
    (torch's closed form; past T_max the cosine continues, without restarts).
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        if T_max <= 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be positive, got {T_max}")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def _lr_at(self, base_lr, epoch, index):
        cos = 1 + math.cos(math.pi * epoch / self.T_max)
        return self.eta_min + (base_lr - self.eta_min) * cos / 2


class LambdaLR(LRScheduler):
    """``lr = initial_lr * lr_lambda(last_epoch)``.

    Parameters
    ----------
    optimizer : Optimizer
        Wrapped optimizer.
    lr_lambda : callable or list of callables
        A function of the epoch, or one per parameter group.
    last_epoch : int, default -1
        See LRScheduler.
    """

    def __init__(self, optimizer: Optimizer,
                 lr_lambda: Union[Callable[[int], float], Sequence[Callable[[int], float]]],
                 last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        n = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != n:
                raise ValueError(f"LambdaLR: expected {n} lr_lambdas, got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * n
        super().__init__(optimizer, last_epoch)

    def _lr_at(self, base_lr, epoch, index):
        return base_lr * self.lr_lambdas[index](epoch)


class ReduceLROnPlateau:
    """Reduce the lr by ``factor`` when a metric stops improving for ``patience`` epochs.

    Parameters
    ----------
    optimizer : Optimizer
        Wrapped optimizer.
    mode : {"min", "max"}, default "min"
        Whether the metric should decrease or increase.
    factor : float, default 0.1
        ``new_lr = max(lr * factor, min_lr)``; must be < 1.
    patience : int, default 10
        Epochs without improvement tolerated before reducing.
    threshold : float, default 1e-4
        Minimum change counted as an improvement.
    threshold_mode : {"rel", "abs"}, default "rel"
        Relative (``best * (1 -/+ threshold)``) or absolute (``best -/+ threshold``).
    cooldown : int, default 0
        Epochs to wait after a reduction before counting bad epochs again.
    min_lr : float or list of float, default 0
        Lower bound of the lr (per group if a list).
    eps : float, default 1e-8
        Reductions smaller than eps are skipped.
    """

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr: Union[float, Sequence[float]] = 0.0,
                 eps: float = 1e-8) -> None:
        _check_optimizer(optimizer)
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor should be < 1.0, got {factor}")
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode {mode!r} is unknown, use 'min' or 'max'")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: threshold mode {threshold_mode!r} is unknown, "
                             "use 'rel' or 'abs'")
        n = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != n:
                raise ValueError(f"ReduceLROnPlateau: expected {n} min_lrs, got {len(min_lr)}")
            self.min_lrs = list(min_lr)
        else:
            self.min_lrs = [min_lr] * n
        self.optimizer = optimizer
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.eps = cooldown, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def is_better(self, current: float, best: float) -> bool:
        """Whether ``current`` improves on ``best`` by more than the threshold."""
        if self.mode == "min":
            bound = best * (1 - self.threshold) if self.threshold_mode == "rel" \
                else best - self.threshold
            return current < bound
        bound = best * (1 + self.threshold) if self.threshold_mode == "rel" \
            else best + self.threshold
        return current > bound

    def step(self, metrics: float) -> None:
        """Record this epoch's metric and reduce the lrs if it has plateaued."""
        current = float(metrics)
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
                old = float(group["lr"])
                new = max(old * self.factor, min_lr)
                if old - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> List[float]:
        """The lrs after the last ``step()``, one per parameter group."""
        return list(self._last_lr)

    def state_dict(self) -> Dict[str, Any]:
        """Every attribute except the optimizer."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Restore attributes saved by ``state_dict``."""
        self.__dict__.update(state_dict)
