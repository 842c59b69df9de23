"""Optimizers (fused Cython update kernels) and learning-rate schedules.

Each optimizer follows the update rule torch.optim documents, with the same
hyper-parameter defaults, so switching from PyTorch gives the same trajectory.
"""
from . import lr_scheduler
from .optimizer import Optimizer
from .optimizers import SGD, Adadelta, Adafactor, Adagrad, Adam, AdamW, RMSprop, SparseAdam

__all__ = ["Optimizer", "SGD", "Adagrad", "Adadelta", "RMSprop", "Adam", "AdamW", "Adafactor",
           "SparseAdam", "lr_scheduler"]
