"""The Optimizer base class: parameter groups, per-parameter state, state_dict.

Subclasses only declare their hyper-parameters, validate them, create their
state and call their fused kernel from ``fastgrad._kernels.optim``.
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import numpy as np

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class _ParamState:
    """Per-parameter state keyed by parameter identity (Tensors overload ``==``).

    ``state[p]`` returns the state dict of ``p`` (created empty on first access),
    like the ``defaultdict(dict)`` torch uses.
    """

    def __init__(self) -> None:
        self._entries: Dict[int, Tuple[Any, dict]] = {}

    def __getitem__(self, param: Any) -> dict:
        entry = self._entries.get(id(param))
        if entry is None:
            entry = self._entries[id(param)] = (param, {})
        return entry[1]

    def __setitem__(self, param: Any, value: dict) -> None:
        self._entries[id(param)] = (param, value)

    def __contains__(self, param: Any) -> bool:
        return id(param) in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Any]:
        return (param for param, _ in self._entries.values())

    def items(self) -> Iterator[Tuple[Any, dict]]:
        """Pairs (parameter, state dict)."""
        return iter(list(self._entries.values()))

    def clear(self) -> None:
        """Forget all state."""
        self._entries.clear()


def check_range(group: dict, name: str, low: float = 0.0, high: float = float("inf"),
                high_open: bool = False) -> None:
    """Raise ValueError unless ``low <= group[name] <= high`` (``< high`` if high_open)."""
    value = group[name]
    ok = low <= value and (value < high if high_open else value <= high)
    if not ok:
        bound = f"[{low}, {high})" if high_open else f"[{low}, {high}]"
        raise ValueError(f"invalid {name}: {value!r}, expected a value in {bound}")


def check_betas(group: dict) -> None:
    """Raise ValueError unless ``group['betas']`` is a pair in [0, 1)."""
    betas = group["betas"]
    if len(betas) != 2:
        raise ValueError(f"invalid betas: {betas!r}, expected a pair (beta1, beta2)")
    for i, beta in enumerate(betas):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"invalid beta parameter at index {i}: {beta!r}, expected [0, 1)")


def flat(array: np.ndarray) -> np.ndarray:
    """A 1-D view of a C-contiguous array (never a copy, so kernels write through)."""
    if not array.flags.c_contiguous:
        raise ValueError("optimizer buffers must be C-contiguous")
    return array.reshape(-1)


class Optimizer:
    """Base class of all optimizers.

    Parameters
    ----------
    params : iterable of Tensor or of dict
        The leaf tensors to optimize, or dicts each with a ``"params"`` entry
        and per-group options overriding ``defaults`` (one parameter group each).
    defaults : dict
        Default hyper-parameters of every group.

    Attributes
    ----------
    param_groups : list of dict
        One dict per group: ``"params"`` (list of Tensors) and the options.
    defaults : dict
        The constructor's hyper-parameters.
    state : mapping
        ``state[p]`` is the per-parameter dict of ndarrays and step counts.

    Notes
    -----
    Subclasses set ``_state_keys`` and implement ``_validate(group)``,
    ``_init_state(array, group)`` and ``_update(param, grad, state, group)``,
    where ``param`` is the parameter's ndarray, updated in place.
    """

    _state_keys: Tuple[str, ...] = ()

    def __init__(self, params: Iterable[Any], defaults: Dict[str, Any]) -> None:
        self._validate(defaults)
        self.defaults = defaults
        self.state = _ParamState()
        self.param_groups: List[dict] = []
        if _is_tensor(params):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            f"Tensors or dicts, but got a {type(params).__name__}")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ------------------------------------------------------------ subclass hooks
    @staticmethod
    def _validate(group: dict) -> None:
        """Raise ValueError if an option of ``group`` is invalid."""
        check_range(group, "lr")

    def _init_state(self, param: np.ndarray, group: dict) -> dict:
        """The initial state of a parameter (``param`` is its ndarray)."""
        return {}

    def _update(self, param: np.ndarray, grad: Any, state: dict, group: dict) -> None:
        """Update ``param`` (ndarray, in place) and ``state`` given ``grad``."""
        raise NotImplementedError

    def _gradient(self, param: np.ndarray, grad: Any) -> Any:
        """The gradient as an ndarray like ``param``; row-sparse ones are made dense."""
        array = grad.to_dense() if getattr(grad, "is_sparse", False) else grad.numpy()
        if array.shape != param.shape or array.dtype != param.dtype:
            raise ValueError(f"{type(self).__name__}: gradient of shape {array.shape} "
                             f"{array.dtype} does not match parameter {param.shape} {param.dtype}")
        return array if array.flags.c_contiguous else array.copy(order="C")

    # ------------------------------------------------------------ public API
    def add_param_group(self, param_group: Dict[str, Any]) -> None:
        """Add a parameter group with its own options.

        Parameters
        ----------
        param_group : dict
            ``"params"`` (a Tensor or an iterable of Tensors) and options; missing
            options take the optimizer's defaults.

        Raises
        ------
        ValueError
            A parameter that is not a leaf, already in another group, of a
            non-floating dtype, or an invalid option.
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"a parameter group must be a dict, got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, set):
            raise TypeError("optimizer parameters must be an ordered iterable, not a set")
        params = [params] if _is_tensor(params) else list(params)
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        for p in params:
            if not _is_tensor(p):
                raise TypeError(f"optimizer can only optimize Tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
            if np.dtype(p.dtype) not in _FLOATS:
                raise ValueError(f"can only optimize float32/float64 tensors, got {p.dtype}")
            if id(p) in seen:
                raise ValueError("some parameters appear more than once in the parameter groups")
            seen.add(id(p))
        group = {**self.defaults, **param_group, "params": params}
        self._validate(group)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters.

        Parameters
        ----------
        set_to_none : bool, default True
            Set ``.grad`` to None (frees memory); otherwise fill dense gradients
            with zeros in place (row-sparse gradients are set to None).
        """
        for group in self.param_groups:
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                if set_to_none or getattr(grad, "is_sparse", False):
                    p.grad = None
                else:
                    grad.numpy()[...] = 0

    def step(self, closure: Optional[Callable[[], Any]] = None) -> Any:
        """Perform one update of every parameter that has a gradient.

        Parameters
        ----------
        closure : callable, optional
            Re-evaluates the model and returns the loss; called before the update.

        Returns
        -------
        The closure's return value, or None.
        """
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                param = p.numpy()
                grad = self._gradient(param, p.grad)
                state = self.state[p]
                if not state:
                    state.update(self._init_state(param, group))
                if param.size:
                    self._update(param, grad, state, group)
                p._bump_version()
        return loss

    def state_dict(self) -> Dict[str, Any]:
        """The optimizer's state, torch-style.

        Returns
        -------
        dict
            ``{"state": {index: {name: ndarray or int}}, "param_groups": [options
            with "params" as a list of indices]}``. Parameters are numbered in
            group order. State arrays are references, not copies (as in torch);
            ``load_state_dict`` copies them.
        """
        index = {id(p): i for i, p in enumerate(self._params())}
        groups = [{**{k: v for k, v in g.items() if k != "params"},
                   "params": [index[id(p)] for p in g["params"]]} for g in self.param_groups]
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if s and id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Load a state produced by ``state_dict`` of the same kind of optimizer.

        Parameters
        ----------
        state_dict : dict
            As returned by ``state_dict()``; arrays are copied and cast to the
            parameters' dtypes.

        Raises
        ------
        ValueError
            The dict was produced by another optimizer class (different options
            or state names) or for different parameter groups or shapes.
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            raise ValueError(f"{name}.load_state_dict expects a dict with keys 'state' and "
                             "'param_groups' as returned by state_dict()")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: loaded state dict has {len(saved_groups)} "
                             f"parameter groups, the optimizer has {len(self.param_groups)}")
        ignored = {"params", "initial_lr"}
        for ours, saved in zip(self.param_groups, saved_groups):
            if set(saved) - ignored != set(ours) - ignored:
                raise ValueError(
                    f"{name}.load_state_dict: the state dict was produced by a different "
                    f"optimizer (options {sorted(set(saved) - ignored)}, expected "
                    f"{sorted(set(ours) - ignored)})")
            if len(saved["params"]) != len(ours["params"]):
                raise ValueError(f"{name}.load_state_dict: a loaded parameter group has "
                                 f"{len(saved['params'])} parameters, the optimizer's has "
                                 f"{len(ours['params'])}")
        params = {i: p for saved, ours in zip(saved_groups, self.param_groups)
                  for i, p in zip(saved["params"], ours["params"])}
        new_state = _ParamState()
        for i, entry in state_dict["state"].items():
            if i not in params:
                raise ValueError(f"{name}.load_state_dict: state for unknown parameter {i}")
            unknown = set(entry) - set(self._state_keys)
            if unknown:
                raise ValueError(f"{name}.load_state_dict: the state dict was produced by a "
                                 f"different optimizer (state entries {sorted(unknown)})")
            new_state[params[i]] = self._load_entry(params[i], entry)
        self.state = new_state
        self.param_groups = [{**copy.deepcopy({k: v for k, v in saved.items() if k != "params"}),
                              "params": ours["params"]}
                             for saved, ours in zip(saved_groups, self.param_groups)]

    def _load_entry(self, p: Any, entry: dict) -> dict:
        """Copy one saved state entry, cast to the parameter's dtype, checking sizes."""
        out = {}
        for key, value in entry.items():
            if isinstance(value, np.ndarray) and value.dtype.kind == "f":
                if value.ndim != len(p.shape) or any(s not in (1, n) for s, n in
                                                     zip(value.shape, p.shape)):
                    raise ValueError(f"{type(self).__name__}.load_state_dict: state {key!r} "
                                     f"of shape {value.shape} does not fit a parameter of "
                                     f"shape {tuple(p.shape)}")
                value = np.array(value, dtype=p.dtype, order="C", copy=True)
            elif isinstance(value, np.ndarray):
                value = value.item() if value.ndim == 0 else value.copy()
            out[key] = value
        return out

    def _params(self) -> List[Any]:
        return [p for group in self.param_groups for p in group["params"]]

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines + [")"])


def _is_tensor(obj: Any) -> bool:
    """Duck-typed fastgrad Tensor check (avoids importing the package core here)."""
    return hasattr(obj, "is_leaf") and hasattr(obj, "numpy") and hasattr(obj, "grad")
