"""Row-sparse gradients: the gradient of an embedding table touches only looked-up rows."""
from __future__ import annotations

import numpy as np


class SparseRowGrad:
    """A gradient that is zero except in some rows of a dense tensor.

    Parameters
    ----------
    indices : array of int
        Row indices (may repeat: repeated rows sum).
    values : ndarray
        ``values[i]`` is the gradient of row ``indices[i]``; shape ``(len(indices),) + shape[1:]``.
    shape : tuple
        The dense shape.
    """

    is_sparse = True

    def __init__(self, indices, values, shape) -> None:
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        self.values = np.asarray(values)
        self.shape = tuple(shape)
        if self.values.shape != (len(self.indices),) + self.shape[1:]:
            raise ValueError(f"SparseRowGrad: values of shape {self.values.shape} do not match "
                             f"{len(self.indices)} rows of shape {self.shape[1:]}")
        if len(self.indices) and (self.indices.min() < 0 or self.indices.max() >= self.shape[0]):
            raise IndexError(f"SparseRowGrad: row index out of range for shape {self.shape}")

    @property
    def dtype(self):
        return self.values.dtype

    def coalesce(self) -> "SparseRowGrad":
        """Sorted unique rows, duplicates summed (a sort and one ``add.reduceat`` pass)."""
        if len(self.indices) == 0:
            return SparseRowGrad(self.indices, self.values, self.shape)
        order = np.argsort(self.indices, kind="stable")
        ordered = self.indices[order]
        starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
        values = np.add.reduceat(self.values[order], starts, axis=0)
        return SparseRowGrad(ordered[starts], values, self.shape)

    def to_dense(self) -> np.ndarray:
        """The dense gradient as a numpy array."""
        dense = np.zeros(self.shape, dtype=self.values.dtype)
        unique = self.coalesce()
        dense[unique.indices] = unique.values
        return dense

    def __add__(self, other: "SparseRowGrad") -> "SparseRowGrad":
        return SparseRowGrad(np.concatenate([self.indices, other.indices]),
                             np.concatenate([self.values, other.values]), self.shape)

    def __repr__(self) -> str:
        return f"SparseRowGrad(rows={len(self.indices)}, shape={self.shape}, dtype={self.dtype})"
