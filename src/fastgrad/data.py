"""Datasets and mini-batch loading.

>>> import numpy as np
>>> import fastgrad as fg
>>> from fastgrad.data import ArrayDataset, DataLoader
>>> X = np.arange(10, dtype=np.float32).reshape(5, 2)
>>> y = np.array([0, 1, 0, 1, 1])
>>> loader = DataLoader(ArrayDataset(X, y), batch_size=2, shuffle=True, seed=0)
>>> len(loader)
3
>>> [tuple(t.shape) for t in next(iter(loader))]
[(2, 2), (2,)]
"""
from __future__ import annotations

from typing import Any, Dict, Iterator, Optional, Sequence, Tuple, Union

import numpy as np

from fastgrad import creation
from fastgrad._tensor import Tensor, from_numpy

__all__ = ["ArrayDataset", "DataLoader", "synthetic_windows"]


def _as_array(data: Any) -> np.ndarray:
    """A numpy array for ``data``: Tensors and arrays as they are, Python floats as float32.

    Python (nested lists of) floats get fastgrad's default dtype, float32, as in
    ``fg.tensor``; numpy scalars keep their dtype.
    """
    if isinstance(data, Tensor):
        return data.numpy()
    if isinstance(data, np.ndarray):
        return data
    array = np.asarray(data)
    if array.dtype.kind == "f" and not isinstance(data, np.generic):
        array = array.astype(np.float32)
    return array


def _batch_dtype(array: np.ndarray) -> Optional[np.dtype]:
    """The dtype a batch of ``array`` is given (None: keep it)."""
    kind = array.dtype.kind
    if kind == "f":
        return None if array.dtype in (np.float32, np.float64) else np.dtype(np.float32)
    if kind in "iu":
        return None if array.dtype == np.int64 else np.dtype(np.int64)
    if kind == "b":
        return None
    raise TypeError(f"ArrayDataset: unsupported array dtype {array.dtype}; expected floating "
                    "point, integer or bool data")


class ArrayDataset:
    """A dataset of arrays that share their first dimension (one sample per row).

    Parameters
    ----------
    *arrays : numpy arrays, Tensors or array_like
        At least one; all with the same length along the first axis. Tensors are
        used without a copy (their memory is shared). Floating point arrays keep
        float32/float64 (other float widths become float32), integer arrays become
        int64, bool arrays stay bool.

    Raises
    ------
    ValueError
        No arrays, a 0-d array, or arrays of different lengths.
    TypeError
        An array of an unsupported dtype (object, string, complex).

    Notes
    -----
    ``dataset[i]`` returns a tuple with the ``i``-th row of every array as numpy
    values; ``i`` may also be a slice or an integer index array.
    """

    def __init__(self, *arrays: Any) -> None:
        if not arrays:
            raise ValueError("ArrayDataset: needs at least one array")
        converted = []
        for position, data in enumerate(arrays):
            array = _as_array(data)
            if array.ndim == 0:
                raise ValueError(f"ArrayDataset: array {position} is 0-d; every array needs a "
                                 "first (sample) dimension")
            dtype = _batch_dtype(array)
            converted.append(array if dtype is None else array.astype(dtype))
        lengths = [a.shape[0] for a in converted]
        if len(set(lengths)) != 1:
            raise ValueError(f"ArrayDataset: arrays must have the same length along the first "
                             f"axis, got lengths {lengths}")
        self.arrays: Tuple[np.ndarray, ...] = tuple(converted)

    def __len__(self) -> int:
        return self.arrays[0].shape[0]

    def __getitem__(self, index: Any) -> Tuple[Any, ...]:
        return tuple(a[index] for a in self.arrays)

    def _take(self, indices: Union[slice, np.ndarray]) -> Tuple[Tensor, ...]:
        """The rows ``indices`` of every array as new C-contiguous Tensors (no sample loop)."""
        if isinstance(indices, slice):
            rows = [np.array(a[indices], order="C", copy=True) for a in self.arrays]
        else:
            rows = [np.ascontiguousarray(a.take(indices, axis=0)) for a in self.arrays]
        return tuple(from_numpy(r) for r in rows)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{a.shape} {a.dtype}" for a in self.arrays)
        return f"ArrayDataset({shapes})"


def _collate(samples: Sequence[Any]) -> Any:
    """Stack a list of samples (tuples of array_like, or array_like) into Tensors."""
    first = samples[0]
    if isinstance(first, (tuple, list)):
        return tuple(_collate([s[i] for s in samples]) for i in range(len(first)))
    array = np.stack([_as_array(s) for s in samples])
    dtype = _batch_dtype(array)
    return from_numpy(np.ascontiguousarray(array if dtype is None else array.astype(dtype)))


class DataLoader:
    """Iterate over a dataset in mini-batches of Tensors.

    Parameters
    ----------
    dataset : ArrayDataset or sequence-like
        An :class:`ArrayDataset` (fast path: each batch is one vectorised slice or
        ``take`` per array) or any object with ``__len__`` and ``__getitem__``
        returning a sample (a tuple of array_like, or an array_like), collated by
        stacking.
    batch_size : int, default 1
        Samples per batch (>= 1). The last batch may be smaller unless ``drop_last``.
    shuffle : bool, default False
        Draw a new random permutation of the samples at the start of every epoch
        (every ``iter(loader)``).
    seed : int, optional
        Seed of the loader's own numpy Generator, created once: successive epochs
        get different permutations and two loaders with the same seed the same
        sequence of them. When None, permutations are drawn from fastgrad's global
        generator (``fastgrad.creation.generator()``), so ``fg.manual_seed`` makes
        them reproducible.
    drop_last : bool, default False
        Drop the last batch when it has fewer than ``batch_size`` samples.

    Raises
    ------
    ValueError
        ``batch_size`` < 1.
    TypeError
        A ``batch_size`` that is not an int, or a dataset without ``__len__`` /
        ``__getitem__``.

    Notes
    -----
    Every sample appears exactly once per epoch (except those dropped by
    ``drop_last``). Batches of an :class:`ArrayDataset` are tuples of Tensors
    holding copies of the rows (writing to a batch never changes the dataset).
    ``len(loader)`` is the number of batches per epoch. ``state_dict()`` /
    ``load_state_dict()`` save and restore the seeded generator, so a restored
    loader continues with the same permutations.
    """

    def __init__(self, dataset: Any, batch_size: int = 1, shuffle: bool = False,
                 seed: Optional[int] = None, drop_last: bool = False) -> None:
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(f"DataLoader: dataset must define __len__ and __getitem__, got "
                            f"{type(dataset).__name__}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise TypeError(f"DataLoader: batch_size must be an int, got "
                            f"{type(batch_size).__name__}")
        if batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be >= 1, got {batch_size}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = seed
        self._generator = None if seed is None else np.random.default_rng(seed)

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self) -> Optional[np.ndarray]:
        """This epoch's sample order (None: sequential)."""
        if not self.shuffle:
            return None
        generator = self._generator if self._generator is not None else creation.generator()
        return generator.permutation(len(self.dataset))

    def __iter__(self) -> Iterator[Any]:
        order = self._order()
        n = len(self.dataset)
        fast = isinstance(self.dataset, ArrayDataset)
        for b in range(len(self)):
            start, stop = b * self.batch_size, min((b + 1) * self.batch_size, n)
            if fast:
                yield self.dataset._take(slice(start, stop) if order is None
                                         else order[start:stop])
            else:
                indices = range(start, stop) if order is None else order[start:stop].tolist()
                yield _collate([self.dataset[i] for i in indices])

    def state_dict(self) -> Dict[str, Any]:
        """The state of the loader's own generator (None when it uses the global one).

        Returns
        -------
        dict
            ``{"generator": bit generator state dict or None}``; storable with
            ``fastgrad.save``.
        """
        return {"generator": None if self._generator is None
                else self._generator.bit_generator.state}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Restore the generator state saved by :meth:`state_dict`.

        Raises
        ------
        ValueError
            The saved state and this loader disagree on having their own generator.
        """
        state = state_dict.get("generator") if isinstance(state_dict, dict) else None
        if (state is None) != (self._generator is None):
            raise ValueError("DataLoader.load_state_dict: the state was saved from a loader "
                             f"{'without' if state is None else 'with'} a seed, this loader "
                             f"has {'none' if self._generator is None else 'one'}")
        if state is not None:
            self._generator.bit_generator.state = state

    def __repr__(self) -> str:
        return (f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, seed={self.seed}, drop_last={self.drop_last})")


def synthetic_windows(n: int = 4000, vocab_size: int = 2000, window: int = 5,
                      num_classes: int = 5, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """A built-in window-classification data set (the lecture's window classifier task).

    Every word of the vocabulary has a hidden class (words of class 0 play the role of
    "not an entity"). A sample is a window of ``window`` word ids; its label is the class
    of the centre word, except that a centre word of class 0 preceded by a class-``k``
    "trigger" word (the first ``num_classes`` ids of class ``k``) takes label ``k``, so
    the context matters. Context words share the label's class more often than chance.

    Returns
    -------
    windows : ndarray of int64, shape (n, window)
    labels : ndarray of int64, shape (n,)
    """
    if window < 3 or window % 2 == 0:
        raise ValueError(f"synthetic_windows: window must be odd and >= 3, got {window}")
    if vocab_size < 10 * num_classes:
        raise ValueError(f"synthetic_windows: vocab_size {vocab_size} is too small for "
                         f"{num_classes} classes")
    rng = np.random.default_rng(seed)
    word_class = rng.integers(0, num_classes, vocab_size)
    by_class = [np.flatnonzero(word_class == c) for c in range(num_classes)]
    triggers = [ids[:num_classes] for ids in by_class]
    labels = rng.integers(0, num_classes, n)
    windows = rng.integers(0, vocab_size, (n, window))
    centre = window // 2
    for i, label in enumerate(labels):
        same = rng.random(window) < 0.4                  # context leans to the label's class
        windows[i, same] = rng.choice(by_class[label], same.sum())
        if label != 0 and rng.random() < 0.3:            # a class-0 word made an entity by
            windows[i, centre] = rng.choice(by_class[0])  # the trigger word before it
            windows[i, centre - 1] = rng.choice(triggers[label])
        else:
            windows[i, centre] = rng.choice(by_class[label])
            if label == 0:                               # keep class-0 centres trigger-free
                while any(windows[i, centre - 1] in t for t in triggers[1:]):
                    windows[i, centre - 1] = rng.integers(0, vocab_size)
    return windows.astype(np.int64), labels.astype(np.int64)
