"""fastgrad: reverse-mode automatic differentiation with a compiled tape and kernels.

>>> import fastgrad as fg
>>> x = fg.tensor(1.0, dtype=fg.float64, requires_grad=True)
>>> y = fg.tensor(2.0, dtype=fg.float64, requires_grad=True)
>>> z = fg.tensor(0.0, dtype=fg.float64, requires_grad=True)
>>> f = (x + y) * fg.maximum(y, z)
>>> f.backward()
>>> (f.item(), x.grad.item(), y.grad.item(), z.grad.item())
(6.0, 2.0, 5.0, 0.0)
"""
__version__ = "0.1.0"

try:
    from fastgrad._kernels import linalg as _linalg
except ImportError as _error:  # BLAS not found through the rpath (e.g. an unusual layout)
    from fastgrad._blas_preload import preload as _preload
    _preload(_error)
    from fastgrad._kernels import linalg as _linalg

from fastgrad import _tensor
from fastgrad._tensor import Tensor, tensor, from_numpy, float32, float64
from fastgrad._tape import is_grad_enabled, Node
from fastgrad._kernels import elementwise as _elementwise, reduce as _reduce, shape as _shape
from fastgrad._kernels.elementwise import (add, sub, mul, div, neg, exp, log, sqrt, abs,
                                           tanh, sigmoid, relu, pow, maximum, minimum, clone)
from fastgrad._kernels.reduce import sum, mean, max, min, argmax, argmin
from fastgrad._kernels.shape import (reshape, view, transpose, permute, expand, broadcast_to,
                                     concat, stack, where)
from fastgrad._kernels.linalg import matmul
from fastgrad.autograd import no_grad, enable_grad, set_grad_enabled, detect_anomaly
from fastgrad.creation import (zeros, ones, full, empty, rand, randn, arange, zeros_like,
                               ones_like, manual_seed)
from fastgrad.sparse import SparseRowGrad
from fastgrad.testing import gradcheck, GradcheckError
from fastgrad.functional_grad import grad, value_and_grad


cat = concat


class _Ops:
    """The op table Tensor's operators and methods dispatch to."""
    add, sub, mul, div, neg, pow, maximum, minimum = add, sub, mul, div, neg, pow, maximum, minimum
    exp, log, sqrt, abs, tanh, sigmoid, relu, clone = exp, log, sqrt, abs, tanh, sigmoid, relu, clone
    rpow = staticmethod(_elementwise.rpow)
    cast = staticmethod(_elementwise.to_dtype)
    compare = staticmethod(_elementwise.compare)
    sum, mean, max, min = sum, mean, max, min
    reshape, view, transpose, expand = reshape, view, transpose, expand
    getitem = staticmethod(_shape.getitem)
    matmul = matmul


_tensor._bind_ops(_Ops)

# The model, optimizer, data and training layers load on first use: ``import fastgrad``
# stays close to numpy's own import time (the W6 workload).
_LAZY_MODULES = ("nn", "optim", "data", "train", "serialization")
_LAZY_NAMES = {"save": "serialization", "load": "serialization"}


def __getattr__(name: str):
    import importlib
    if name in _LAZY_MODULES:
        value = importlib.import_module(f"fastgrad.{name}")
    elif name in _LAZY_NAMES:
        value = getattr(importlib.import_module(f"fastgrad.{_LAZY_NAMES[name]}"), name)
    else:
        raise AttributeError(f"module 'fastgrad' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY_MODULES) | set(_LAZY_NAMES))


__all__ = [name for name in dir() if not name.startswith("_")] + list(_LAZY_MODULES) + list(_LAZY_NAMES)
