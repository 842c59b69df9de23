"""Neural-network building blocks: Module, Parameter, layers, ``functional`` and ``init``.

>>> import fastgrad as fg
>>> from fastgrad import nn
>>> fg.manual_seed(0)
>>> model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
>>> model(fg.randn(3, 4)).shape
(3, 2)
>>> [name for name, _ in model.named_parameters()]
['0.weight', '0.bias', '2.weight', '2.bias']
"""
from importlib.util import find_spec as _find_spec

from fastgrad.nn import functional, init
from fastgrad.nn.module import Module, Parameter
from fastgrad.nn.layers import (Identity, Linear, Flatten, Embedding, Dropout, Sequential, ReLU, Tanh,
                                Sigmoid, Hardtanh, LeakyReLU, PReLU, Softmax, LogSoftmax)

if _find_spec("fastgrad.nn.utils") is not None:    # clip_grad_norm_ & co., added with fastgrad.optim
    from fastgrad.nn import utils

__all__ = ["functional", "init", "Module", "Parameter", "Identity", "Linear", "Flatten", "Embedding",
           "Dropout", "Sequential", "ReLU", "Tanh", "Sigmoid", "Hardtanh", "LeakyReLU", "PReLU",
           "Softmax", "LogSoftmax"] + (["utils"] if "utils" in globals() else [])
