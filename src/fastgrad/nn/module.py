"""Module, the base class of layers, and Parameter, the tensors a module trains.

A Module owns parameters, buffers and child modules, registered by attribute
assignment as in PyTorch: ``self.weight = Parameter(...)`` registers a parameter,
``self.fc = Linear(...)`` a child. Registration order is the order of
``parameters()`` and ``state_dict()``.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Iterator, Mapping, NamedTuple

import numpy as np

from fastgrad._tensor import Tensor
from fastgrad.autograd import no_grad
from fastgrad.sparse import SparseRowGrad

__all__ = ["Module", "Parameter"]


class Parameter(Tensor):
    """A leaf tensor that a :class:`Module` registers as one of its parameters.

    Parameters
    ----------
    data : Tensor or array_like, optional
        The initial values: a Tensor's memory is shared (as in PyTorch), an array copied.
        An empty float32 tensor when omitted.
    requires_grad : bool
        Whether the parameter is trained (default True).

    Notes
    -----
    ``Parameter`` subclasses :class:`fastgrad.Tensor`, so ``isinstance(p, Tensor)``
    and ``isinstance(p, Parameter)`` both hold. Ops on a parameter return plain
    tensors, as in PyTorch.
    """

    def __init__(self, data: Tensor | np.ndarray | None = None, requires_grad: bool = True) -> None:
        if data is None:
            data = np.empty((0,), dtype=np.float32)
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class _IncompatibleKeys(NamedTuple):
    missing_keys: list[str]
    unexpected_keys: list[str]


def _addindent(text: str, spaces: int) -> str:
    lines = text.split("\n")
    return "\n".join(lines[:1] + [" " * spaces + line for line in lines[1:]])


class Module:
    """Base class for neural-network layers and models.

    Subclasses call ``super().__init__()`` first, assign parameters, buffers and
    child modules as attributes, and define :meth:`forward`. Calling the module
    calls ``forward``.

    Attributes
    ----------
    training : bool
        True in training mode (the default), False after :meth:`eval`; layers such
        as Dropout behave differently in the two modes.
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())

    # ----- the forward pass -----------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation of the module; subclasses must override it."""
        raise NotImplementedError(f"{type(self).__name__} has no forward(); define it in the subclass")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ----- registration ---------------------------------------------------------------
    def _check_name(self, kind: str, name: str) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {kind} before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
        if name == "" or "." in name:
            raise KeyError(f"{kind} name can't be empty or contain '.', got {name!r}")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or a None placeholder) under ``name``.

        Parameters
        ----------
        name : str
            Attribute name; must not contain ``.``.
        param : Parameter or None
            The parameter; a plain Tensor is rejected (wrap it in :class:`Parameter`).
        """
        self._check_name("parameter", name)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign {type(param).__name__!r} object to parameter {name!r} "
                            "(fastgrad.nn.Parameter or None required)")
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute {name!r} already exists")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add a tensor that is state but not a parameter (saved in ``state_dict`` if persistent).

        Parameters
        ----------
        name : str
            Attribute name; must not contain ``.``.
        tensor : Tensor or None
            The buffer.
        persistent : bool
            Include the buffer in :meth:`state_dict` (default True).
        """
        self._check_name("buffer", name)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign {type(tensor).__name__!r} object to buffer {name!r} "
                            "(fastgrad Tensor or None required)")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute {name!r} already exists")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a child module under ``name`` (it appears in ``children()`` and the repr)."""
        self._check_name("module", name)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute {name!r} already exists")
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, Parameter):
            self._check_name("parameter", name)
            self._forget(name)
            self.register_parameter(name, value)
        elif isinstance(value, Module):
            self._check_name("module", name)
            self._forget(name)
            self._modules[name] = value
        elif "_parameters" in self.__dict__ and name in self._parameters:
            self.register_parameter(name, value)          # None, or a TypeError
        elif "_modules" in self.__dict__ and name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__!r} as child module {name!r} "
                                "(fastgrad.nn.Module or None expected)")
            self._modules[name] = None
        elif "_buffers" in self.__dict__ and name in self._buffers:
            self.register_buffer(name, value, name not in self._non_persistent)
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name: str) -> None:
        """Remove ``name`` wherever it is registered, before registering it anew."""
        self.__dict__.pop(name, None)
        for table in (self._parameters, self._buffers, self._modules):
            table.pop(name, None)
        self._non_persistent.discard(name)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: look in the registries.
        for table in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(table)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                self._non_persistent.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers)
                      | set(self._modules))

    # ----- traversal ------------------------------------------------------------------
    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """Yield ``(name, module)`` for this module and all descendants, depth first.

        This module comes first with name ``prefix``; a module reachable twice is
        yielded once unless ``remove_duplicate=False``.
        """
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is not None:
                yield from module.named_modules(memo, f"{prefix}.{name}" if prefix else name,
                                                remove_duplicate)

    def modules(self) -> Iterator[Module]:
        """Yield this module and all its descendants (each once)."""
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Yield ``(name, module)`` for the direct children (each once)."""
        seen: set[int] = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        """Yield the direct child modules."""
        for _, module in self.named_children():
            yield module

    def _named_members(self, table: str, prefix: str, recurse: bool,
                       remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) \
            if recurse else [(prefix, self)]
        seen: set[int] = set()
        for module_prefix, module in modules:
            for name, value in getattr(module, table).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """Yield ``(dotted name, parameter)`` in registration order, shared ones once.

        Parameters
        ----------
        prefix : str
            Prepended (with a dot) to every name.
        recurse : bool
            Include the parameters of descendants (default True).
        remove_duplicate : bool
            Yield a parameter shared by several modules only once (default True).
        """
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Yield the parameters (of descendants too when ``recurse``), each once."""
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        """Yield ``(dotted name, buffer)`` in registration order."""
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """Yield the buffers (of descendants too when ``recurse``)."""
        for _, buf in self.named_buffers(recurse=recurse):
            yield buf

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Call ``fn`` on every child (recursively) and then on this module; return self.

        Typical use is initialisation: ``model.apply(init_weights)``.
        """
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # ----- modes and gradients ------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode (``mode=True``) or evaluation mode on this module and all children.

        Returns
        -------
        Module
            ``self``, so that ``model = Model().train()`` works.
        """
        if not isinstance(mode, bool):
            raise ValueError(f"train: training mode is expected to be a bool, got {mode!r}")
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self) -> Module:
        """Set evaluation mode; same as ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set ``requires_grad`` on every parameter (freeze or unfreeze); return self."""
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters.

        Parameters
        ----------
        set_to_none : bool
            Set ``.grad`` to None (default, as in PyTorch) instead of filling it with
            zeros. A row-sparse gradient becomes an empty row-sparse gradient.
        """
        for param in self.parameters():
            grad = param.grad
            if grad is None or set_to_none:
                param.grad = None
            elif isinstance(grad, SparseRowGrad):
                param.grad = SparseRowGrad([], np.zeros((0,) + grad.shape[1:], grad.dtype), grad.shape)
            else:
                grad.zero_()

    # ----- state ----------------------------------------------------------------------
    def _state_items(self) -> Iterator[tuple[str, Tensor]]:
        """Every ``(dotted name, tensor)`` that the state dict holds (duplicates included)."""
        for prefix, module in self.named_modules(remove_duplicate=False):
            dot = f"{prefix}." if prefix else ""
            for name, param in module._parameters.items():
                if param is not None:
                    yield dot + name, param
            for name, buf in module._buffers.items():
                if buf is not None and name not in module._non_persistent:
                    yield dot + name, buf

    def state_dict(self, keep_vars: bool = False) -> OrderedDict[str, Tensor]:
        """The module's parameters and persistent buffers by dotted name.

        Parameters
        ----------
        keep_vars : bool
            Return the parameters themselves instead of detached tensors.

        Returns
        -------
        OrderedDict of str to Tensor
            The tensors share memory with the module's (detached unless ``keep_vars``):
            copy them (e.g. ``fg.save``) to keep a snapshot.
        """
        return OrderedDict((name, t if keep_vars else t.detach()) for name, t in self._state_items())

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> _IncompatibleKeys:
        """Copy values from ``state_dict`` into this module's parameters and buffers, in place.

        Every entry is checked before anything is copied, so a failed load leaves the
        module unchanged. Values are written under ``no_grad`` into the existing
        tensors (so optimizers keep their references) and their versions are bumped.

        Parameters
        ----------
        state_dict : mapping of str to Tensor or ndarray
            As returned by :meth:`state_dict`.
        strict : bool
            Require the keys to match this module's exactly (default True).

        Returns
        -------
        NamedTuple
            ``missing_keys`` and ``unexpected_keys`` (both empty when strict succeeds).

        Raises
        ------
        RuntimeError
            Listing missing and unexpected keys (strict only), and naming the key and
            both shapes of every shape mismatch (always).
        """
        own = OrderedDict(self._state_items())
        missing = [key for key in own if key not in state_dict]
        unexpected = [key for key in state_dict if key not in own]
        errors = []
        if strict and unexpected:
            errors.append("Unexpected key(s) in state_dict: " + ", ".join(map(repr, unexpected)) + ".")
        if strict and missing:
            errors.append("Missing key(s) in state_dict: " + ", ".join(map(repr, missing)) + ".")
        pairs = []
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            source = value.numpy() if isinstance(value, Tensor) else np.asarray(value)
            if source.shape != target.shape:
                errors.append(f"size mismatch for {key}: copying a param with shape {source.shape} "
                              f"from checkpoint, the shape in current model is {target.shape}.")
            elif not np.can_cast(source.dtype, target.dtype, casting="same_kind"):
                errors.append(f"dtype mismatch for {key}: cannot copy {source.dtype} values into a "
                              f"{target.dtype} tensor.")
            else:
                pairs.append((target, source))
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(errors))
        with no_grad():
            for target, source in pairs:
                target.copy_(source)
        return _IncompatibleKeys(missing, unexpected)

    # ----- repr -----------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text inside the parentheses of this module's repr (layers override it)."""
        return ""

    def __repr__(self) -> str:
        lines = [line for line in self.extra_repr().split("\n") if line]
        for name, module in self._modules.items():
            lines.append(f"({name}): " + _addindent(repr(module), 2))
        if not lines:
            return f"{type(self).__name__}()"
        if not self._modules and len(lines) == 1:
            return f"{type(self).__name__}({lines[0]})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"
