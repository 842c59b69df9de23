"""A training loop (``fit``) and early stopping.

``fit`` works with anything shaped like the torch API: a callable model with
``parameters()``-style optimizer, ``train()``/``eval()`` (optional) and
``state_dict()``/``load_state_dict()`` (for ``EarlyStopping(restore_best=True)``),
an optimizer with ``zero_grad()``/``step()``/``param_groups``, a loss function
``loss_fn(output, target) -> Tensor`` (mean over the batch) and loaders that yield
tuples ``(inputs..., target)`` of Tensors, like :class:`fastgrad.data.DataLoader`.
"""
from __future__ import annotations

import inspect
import math
import sys
import time
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

import numpy as np

from fastgrad._tensor import Tensor, from_numpy
from fastgrad.autograd import no_grad

__all__ = ["EarlyStopping", "fit"]


def _clone(obj: Any) -> Any:
    """A deep copy of a state_dict-like structure (tensor/array buffers copied)."""
    if isinstance(obj, Tensor):
        return from_numpy(obj.numpy().copy())
    if isinstance(obj, np.ndarray):
        return obj.copy()
    if isinstance(obj, dict):
        return type(obj)((k, _clone(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_clone(v) for v in obj)
    return obj


class EarlyStopping:
    """Stop training when a monitored metric has stopped improving.

    Parameters
    ----------
    patience : int
        Number of consecutive epochs without improvement after which
        :meth:`step` returns True (>= 0; 0 stops at the first epoch that does not
        improve).
    min_delta : float, default 0
        An epoch improves only if it beats the best value by more than this
        (>= 0): ``metric < best - min_delta`` in ``'min'`` mode,
        ``metric > best + min_delta`` in ``'max'`` mode.
    mode : {'min', 'max'}, default 'min'
        Whether lower (a loss) or higher (an accuracy) is better.
    restore_best : bool, default False
        Keep a deep copy of ``model.state_dict()`` from the best epoch (then
        :meth:`step` needs the model). When :meth:`step` returns True the best
        weights are loaded back into the model automatically; call
        :meth:`restore_best_weights` to do it at any other time (``fit`` does so
        when its epochs run out without stopping).

    Attributes
    ----------
    best : float
        The best metric seen so far (``inf`` / ``-inf`` before the first step).
    best_epoch : int
        The step (1-based) at which ``best`` was seen; 0 before any.
    num_bad_epochs : int
        Consecutive steps without improvement.
    best_state : dict or None
        The copied state_dict of the best epoch (``restore_best`` only).
    should_stop : bool
        Whether the last :meth:`step` returned True.

    Raises
    ------
    ValueError
        A negative ``patience`` or ``min_delta``, or an unknown ``mode``.

    Examples
    --------
    >>> stopper = EarlyStopping(patience=2)
    >>> [stopper.step(loss) for loss in [1.0, 0.5, 0.6, 0.7]]
    [False, False, False, True]
    >>> stopper.best, stopper.best_epoch
    (0.5, 2)
    """

    def __init__(self, patience: int, min_delta: float = 0.0, mode: str = "min",
                 restore_best: bool = False) -> None:
        if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) \
                or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be an int >= 0, got {patience!r}")
        if not min_delta >= 0:
            raise ValueError(f"EarlyStopping: min_delta must be >= 0, got {min_delta!r}")
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'min' or 'max', got {mode!r}")
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.mode = mode
        self.restore_best = bool(restore_best)
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch = 0
        self.num_bad_epochs = 0
        self.epoch = 0
        self.best_state: Optional[Dict[str, Any]] = None
        self.should_stop = False

    def is_better(self, metric: float) -> bool:
        """Whether ``metric`` improves on :attr:`best` by more than ``min_delta``."""
        if self.mode == "min":
            return metric < self.best - self.min_delta
        return metric > self.best + self.min_delta

    def step(self, metric: Any, model: Any = None) -> bool:
        """Record one epoch's metric.

        Parameters
        ----------
        metric : float or one-element Tensor
            The monitored value of this epoch (NaN never counts as improvement).
        model : object, optional
            Required when ``restore_best``: its ``state_dict()`` is copied when the
            metric improves, and its best weights are loaded back when stopping.

        Returns
        -------
        bool
            True when ``patience`` consecutive epochs have not improved.
        """
        if self.restore_best and model is None:
            raise ValueError("EarlyStopping.step: restore_best=True needs the model: "
                             "step(metric, model)")
        value = float(metric.item() if isinstance(metric, Tensor) else metric)
        self.epoch += 1
        if self.is_better(value):
            self.best, self.best_epoch, self.num_bad_epochs = value, self.epoch, 0
            if self.restore_best:
                self.best_state = _clone(model.state_dict())
        else:
            self.num_bad_epochs += 1
        self.should_stop = self.num_bad_epochs > 0 and self.num_bad_epochs >= self.patience
        if self.should_stop and self.restore_best:
            self.restore_best_weights(model)
        return self.should_stop

    def restore_best_weights(self, model: Any) -> bool:
        """Load the best epoch's copied state_dict into ``model``.

        Returns
        -------
        bool
            False when nothing was stored (``restore_best`` off, or no epoch
            improved), True otherwise.
        """
        if self.best_state is None:
            return False
        model.load_state_dict(_clone(self.best_state))
        return True

    def state_dict(self) -> Dict[str, Any]:
        """The counters and best state, storable with ``fastgrad.save``."""
        return {"best": self.best, "best_epoch": self.best_epoch, "epoch": self.epoch,
                "num_bad_epochs": self.num_bad_epochs, "should_stop": self.should_stop,
                "best_state": self.best_state}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        for key in ("best", "best_epoch", "epoch", "num_bad_epochs", "should_stop"):
            setattr(self, key, state_dict[key])
        self.best_state = _clone(state_dict["best_state"])

    def __repr__(self) -> str:
        return (f"EarlyStopping(patience={self.patience}, min_delta={self.min_delta}, "
                f"mode={self.mode!r}, restore_best={self.restore_best})")


# ----------------------------------------------------------------------------- fit helpers
def _load_tqdm() -> Optional[Callable[..., Any]]:
    """The tqdm progress bar class, or None when tqdm is not installed."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm


def _split(batch: Any, where: str) -> Tuple[Tuple[Any, ...], Any]:
    """``(inputs, target)`` of a batch ``(inputs..., target)``."""
    if isinstance(batch, (tuple, list)) and len(batch) >= 2:
        return tuple(batch[:-1]), batch[-1]
    got = type(batch).__name__
    if isinstance(batch, (tuple, list)):
        got += f" of length {len(batch)}"
    raise TypeError(f"fit: {where} must be a tuple (inputs..., target), got {got}")


def _count(target: Any) -> int:
    shape = getattr(target, "shape", ())
    return int(shape[0]) if len(shape) else 1


def _loss_value(loss: Any, phase: str, epoch: int, epochs: int, batch: int,
                batches: Optional[int]) -> float:
    if not isinstance(loss, Tensor) and (phase == "training" or
                                         not isinstance(loss, (float, int, np.floating))):
        raise TypeError(f"fit: loss_fn must return a Tensor, got {type(loss).__name__}")
    value = float(loss.item() if isinstance(loss, Tensor) else loss)
    if not math.isfinite(value):
        of = f"/{batches}" if batches is not None else ""
        raise FloatingPointError(f"fit: {phase} loss is {value} at epoch {epoch}/{epochs}, batch "
                                 f"{batch}{of} (1-based); stopping instead of training on. "
                                 "Check the learning rate, the inputs and the loss function.")
    return value


def _accuracy_hits(output: Any, target: Any) -> Optional[int]:
    """Correct argmax predictions when ``target`` holds integer class labels, else None."""
    t = np.asarray(target)
    o = np.asarray(output)
    if t.dtype.kind not in "iu" or o.ndim != t.ndim + 1 or o.ndim < 2:
        return None
    if o.shape[:1] + o.shape[2:] != t.shape:
        return None
    return int((o.argmax(axis=1) == t).sum())


def _set_mode(model: Any, training: bool) -> None:
    method = getattr(model, "train" if training else "eval", None)
    if callable(method):
        method()


def _wants_metric(scheduler: Any) -> bool:
    """True for ReduceLROnPlateau-style schedulers, whose ``step`` needs the metric."""
    try:
        parameters = inspect.signature(scheduler.step).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.default is inspect.Parameter.empty and
               p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters)


def _length(loader: Any) -> Optional[int]:
    try:
        return len(loader)
    except TypeError:
        return None


def _train_epoch(model: Any, loss_fn: Callable[[Any, Any], Any], optimizer: Any,
                 loader: Iterable[Any], bar: Any, epoch: int,
                 epochs: int) -> Tuple[float, float, int]:
    """One pass over ``loader``: (mean loss weighted by batch size, seconds, samples)."""
    batches = _length(loader)
    _set_mode(model, True)
    seen, loss_sum = 0, 0.0
    start = time.perf_counter()
    for b, batch in enumerate(loader, 1):
        inputs, target = _split(batch, "a training batch")
        optimizer.zero_grad()
        output = model(*inputs)
        loss = loss_fn(output, target)
        value = _loss_value(loss, "training", epoch, epochs, b, batches)
        loss.backward()
        optimizer.step()
        n = _count(target)
        seen += n
        loss_sum += n * value
        if bar is not None:
            elapsed = time.perf_counter() - start
            bar.set_postfix(loss=f"{loss_sum / seen:.4g}",
                            samples_s=f"{seen / max(elapsed, 1e-9):.0f}", refresh=False)
            bar.update(1)
    seconds = time.perf_counter() - start
    if seen == 0:
        raise ValueError("fit: train_loader yielded no samples")
    return loss_sum / seen, seconds, seen


def _evaluate(model: Any, loss_fn: Callable[[Any, Any], Any], loader: Iterable[Any],
              metrics: Mapping[str, Callable[[Any, Any], Any]], epoch: int,
              epochs: int) -> Dict[str, float]:
    """Mean validation loss, accuracy (class labels) and metrics, weighted by batch size."""
    total = 0
    loss_sum = 0.0
    hits: Optional[int] = 0
    sums = {name: 0.0 for name in metrics}
    batches = _length(loader)
    _set_mode(model, False)
    with no_grad():
        for b, batch in enumerate(loader, 1):
            inputs, target = _split(batch, "a validation batch")
            output = model(*inputs)
            n = _count(target)
            loss_sum += n * _loss_value(loss_fn(output, target), "validation", epoch, epochs,
                                        b, batches)
            if hits is not None:
                h = _accuracy_hits(output, target)
                hits = None if h is None else hits + h
            for name, fn in metrics.items():
                value = fn(output, target)
                sums[name] += n * float(value.item() if isinstance(value, Tensor) else value)
            total += n
    if total == 0:
        raise ValueError("fit: val_loader yielded no samples")
    result = {"val_loss": loss_sum / total}
    if hits is not None:
        result["val_accuracy"] = hits / total
    result.update({f"val_{name}": s / total for name, s in sums.items()})
    return result


def _line(epoch: int, epochs: int, record: Mapping[str, Any]) -> str:
    parts = [f"epoch {epoch}/{epochs}"]
    for key, value in record.items():
        if key in ("epoch", "seconds", "samples_per_second") or value is None:
            continue
        if isinstance(value, float):
            parts.append(f"{key} {value:.4f}" if key.endswith("accuracy") else f"{key} {value:.4g}")
        else:
            parts.append(f"{key} {value}")
    parts.append(f"{record['samples_per_second']:.0f} samples/s")
    parts.append(f"{record['seconds']:.2f}s")
    return "  ".join(parts)


# ----------------------------------------------------------------------------- fit
def fit(model: Any, loss_fn: Callable[[Any, Any], Any], optimizer: Any,
        train_loader: Iterable[Any], val_loader: Optional[Iterable[Any]] = None,
        epochs: int = 1, scheduler: Any = None, early_stopping: Optional[EarlyStopping] = None,
        metrics: Optional[Mapping[str, Callable[[Any, Any], Any]]] = None,
        progress: bool = True) -> Dict[str, List[Any]]:
    """Train ``model`` for some epochs, validating and scheduling after each.

    Parameters
    ----------
    model : callable
        Called as ``model(*inputs)``; ``train()`` / ``eval()`` are called when it
        has them (it is left in eval mode when a ``val_loader`` is given).
    loss_fn : callable
        ``loss_fn(output, target)`` returning a one-element Tensor, the mean over
        the batch (the epoch loss is the mean of batch losses weighted by batch size).
    optimizer : object
        With ``zero_grad()`` and ``step()`` (and ``param_groups`` to record ``lr``).
    train_loader, val_loader : iterable
        Yield tuples ``(inputs..., target)``, e.g. :class:`fastgrad.data.DataLoader`
        over an ``ArrayDataset(X, y)``.
    epochs : int, default 1
        Number of epochs (>= 1).
    scheduler : object, optional
        Stepped once per epoch after validation; a scheduler whose ``step`` takes a
        required argument (``ReduceLROnPlateau``) gets the validation loss (the
        training loss without a ``val_loader``).
    early_stopping : EarlyStopping, optional
        Stepped with the validation loss (training loss without a ``val_loader``)
        and the model; training stops when it returns True. With
        ``restore_best=True`` the best weights are loaded back at the end.
    metrics : dict of str to callable, optional
        Extra validation metrics ``fn(output, target) -> float``, averaged over
        samples and recorded as ``"val_<name>"``. Needs a ``val_loader``.
    progress : bool, default True
        Show progress: a tqdm bar per epoch when tqdm is installed, otherwise one
        plain line per epoch on stdout, with the loss and throughput.

    Returns
    -------
    dict of str to list
        Per-epoch lists: ``epoch`` (1-based), ``train_loss``, ``lr`` (the first
        parameter group's learning rate during the epoch, None if the optimizer has
        no ``param_groups``), ``seconds`` and ``samples_per_second`` (training
        phase), and with a ``val_loader`` also ``val_loss``, ``val_accuracy`` (when
        the targets are integer class labels and outputs are ``(N, C, ...)``
        scores) and ``val_<name>`` for each metric.

    Raises
    ------
    FloatingPointError
        A NaN or infinite loss; the message names the phase, epoch and batch. The
        optimizer is not stepped with it.
    ValueError
        ``epochs`` < 1, ``metrics`` without ``val_loader``, an empty loader.
    TypeError
        A batch that is not a tuple ``(inputs..., target)``.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"fit: epochs must be an int >= 1, got {epochs!r}")
    if not callable(loss_fn):
        raise TypeError(f"fit: loss_fn must be callable, got {type(loss_fn).__name__}")
    metrics = dict(metrics or {})
    if metrics and val_loader is None:
        raise ValueError("fit: metrics are computed on the validation set; pass a val_loader")
    tqdm = _load_tqdm() if progress else None
    plateau = scheduler is not None and _wants_metric(scheduler)
    history: Dict[str, List[Any]] = {}
    stopped = False
    for epoch in range(1, epochs + 1):
        groups = getattr(optimizer, "param_groups", None)
        lr = groups[0]["lr"] if groups else None
        bar = None if tqdm is None else tqdm(total=_length(train_loader), unit="batch",
                                             desc=f"epoch {epoch}/{epochs}", leave=True)
        try:
            train_loss, seconds, seen = _train_epoch(model, loss_fn, optimizer, train_loader,
                                                     bar, epoch, epochs)
            record: Dict[str, Any] = {"epoch": epoch, "train_loss": train_loss, "lr": lr,
                                      "seconds": seconds,
                                      "samples_per_second": seen / max(seconds, 1e-9)}
            if val_loader is not None:
                record.update(_evaluate(model, loss_fn, val_loader, metrics, epoch, epochs))
            if bar is not None:
                summary = {"loss": f"{record['train_loss']:.4g}",
                           "samples_s": f"{record['samples_per_second']:.0f}"}
                summary.update((k, f"{v:.4g}") for k, v in record.items() if k.startswith("val_"))
                bar.set_postfix(summary)
        finally:
            if bar is not None:
                bar.close()
        for key, value in record.items():
            history.setdefault(key, []).append(value)
        if progress and bar is None:
            print(_line(epoch, epochs, record), file=sys.stdout, flush=True)
        monitored = record.get("val_loss", record["train_loss"])
        if plateau:
            scheduler.step(monitored)
        elif scheduler is not None:
            scheduler.step()
        if early_stopping is not None and early_stopping.step(monitored, model):
            stopped = True
            break
    if early_stopping is not None and early_stopping.restore_best and not stopped:
        early_stopping.restore_best_weights(model)
    return history
