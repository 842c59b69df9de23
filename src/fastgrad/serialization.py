"""Save and load nested structures of tensors and arrays to one .npz file, never pickle.

The structure (dicts, lists, tuples, numbers, strings, bools, None) is written as
JSON into one entry of the archive; every Tensor, numpy array and numpy scalar
goes into its own named array entry. Loading uses ``np.load(allow_pickle=False)``,
so a file cannot execute code.

>>> import os, tempfile
>>> import numpy as np
>>> import fastgrad as fg
>>> from fastgrad.serialization import save, load
>>> path = os.path.join(tempfile.mkdtemp(), "state.npz")
>>> save({"w": fg.ones(2), "step": 3, 0: (1.5, None)}, path)
>>> load(path)
{'w': tensor([1., 1.]), 'step': 3, 0: (1.5, None)}
"""
from __future__ import annotations

import json
import os
import tempfile
from typing import Any, BinaryIO, Dict, Union

import numpy as np

from fastgrad._tensor import Tensor, from_numpy

__all__ = ["save", "load"]

_STRUCTURE = "__fastgrad_structure__"
_FORMAT = "fastgrad.save"
_VERSION = 1

PathLike = Union[str, "os.PathLike[str]", BinaryIO]


class _Encoder:
    """Turns an object tree into a JSON-able tree plus a dict of named arrays."""

    def __init__(self) -> None:
        self.arrays: Dict[str, np.ndarray] = {}
        self._active: set = set()

    def _array(self, array: np.ndarray, where: str) -> str:
        if array.dtype.hasobject:
            raise TypeError(f"save: {where} is an array of dtype {array.dtype}; object arrays "
                            "cannot be stored without pickle")
        key = f"a{len(self.arrays)}"
        self.arrays[key] = array
        return key

    def encode(self, obj: Any, where: str) -> Dict[str, Any]:
        # bool before int: bool is a subclass of int
        if obj is None:
            return {"t": "none"}
        if isinstance(obj, bool):
            return {"t": "bool", "v": obj}
        if isinstance(obj, int):
            return {"t": "int", "v": int(obj)}
        if isinstance(obj, float):
            return {"t": "float", "v": float(obj).hex()}
        if isinstance(obj, str):
            return {"t": "str", "v": obj}
        if isinstance(obj, Tensor):
            return {"t": "tensor", "k": self._array(obj.numpy(), where),
                    "grad": bool(obj.requires_grad)}
        if isinstance(obj, np.ndarray):
            return {"t": "ndarray", "k": self._array(obj, where)}
        if isinstance(obj, np.generic):
            return {"t": "npscalar", "k": self._array(np.asarray(obj), where)}
        if isinstance(obj, (dict, list, tuple)):
            if id(obj) in self._active:
                raise ValueError(f"save: {where} contains itself (a reference cycle)")
            self._active.add(id(obj))
            try:
                if isinstance(obj, dict):
                    items = [[self._key(k, where), self.encode(v, f"{where}[{k!r}]")]
                             for k, v in obj.items()]
                    return {"t": "dict", "v": items}
                kind = "list" if isinstance(obj, list) else "tuple"
                return {"t": kind, "v": [self.encode(v, f"{where}[{i}]")
                                         for i, v in enumerate(obj)]}
            finally:
                self._active.discard(id(obj))
        raise TypeError(f"save: {where} has unsupported type {type(obj).__name__!r}; expected "
                        "Tensor, numpy array, number, str, bool, None, dict, list or tuple")

    def _key(self, key: Any, where: str) -> Dict[str, Any]:
        if key is None or isinstance(key, (bool, int, float, str)):
            return self.encode(key, where)
        if isinstance(key, np.integer):
            return self.encode(int(key), where)
        raise TypeError(f"save: {where} has a dict key {key!r} of type {type(key).__name__!r}; "
                        "keys must be str, int, float, bool or None")


def _decode(node: Dict[str, Any], arrays: Any) -> Any:
    kind = node["t"]
    if kind == "none":
        return None
    if kind in ("bool", "int", "str"):
        return node["v"]
    if kind == "float":
        return float.fromhex(node["v"])
    if kind == "tensor":
        array = arrays[node["k"]]
        # not np.ascontiguousarray: it turns 0-d arrays into 1-d ones
        t = from_numpy(array if array.flags.c_contiguous else array.copy(order="C"))
        if node["grad"]:
            t.requires_grad_(True)
        return t
    if kind == "ndarray":
        return arrays[node["k"]]
    if kind == "npscalar":
        return arrays[node["k"]][()]
    if kind == "dict":
        return {_decode(k, arrays): _decode(v, arrays) for k, v in node["v"]}
    if kind == "list":
        return [_decode(v, arrays) for v in node["v"]]
    if kind == "tuple":
        return tuple(_decode(v, arrays) for v in node["v"])
    raise ValueError(f"load: unknown entry type {kind!r} in the file's structure")


def save(obj: Any, path: PathLike) -> None:
    """Save a nested structure of tensors, arrays and Python values to one .npz file.

    Parameters
    ----------
    obj : object
        Tensors, numpy arrays, numpy scalars, ints, floats, strs, bools and None,
        nested in dicts (keys: str, int, float, bool or None), lists and tuples,
        e.g. ``{"model": model.state_dict(), "optimizer": optimizer.state_dict()}``.
    path : str, os.PathLike or binary file
        Written exactly as given (no ``.npz`` suffix is added). A path is written
        to a temporary file in the same directory first and then renamed, so an
        interrupted save never leaves a truncated checkpoint.

    Raises
    ------
    TypeError
        An unsupported type (the message gives where in ``obj``), or an object array.
    ValueError
        A container that contains itself.

    Notes
    -----
    ``np.savez`` writes the archive; pickle is never used. Containers shared by
    several parents are stored once per reference (sharing is not preserved).
    Subclasses load back as their base type: ``nn.Parameter`` as a Tensor (same
    ``requires_grad``), ``OrderedDict`` as a dict (same key order).

    A checkpoint that resumes training bit-identically holds everything with
    state: ``{"model": model.state_dict(), "optimizer": optimizer.state_dict(),
    "scheduler": scheduler.state_dict(), "loader": loader.state_dict(), "rng":
    fastgrad.creation.generator().bit_generator.state}`` (the last one for dropout,
    init and unseeded shuffling; restore it by assigning ``bit_generator.state``).
    """
    encoder = _Encoder()
    structure = {"format": _FORMAT, "version": _VERSION, "root": encoder.encode(obj, "obj")}
    payload = json.dumps(structure, allow_nan=False, separators=(",", ":")).encode("utf-8")
    entries = dict(encoder.arrays)
    entries[_STRUCTURE] = np.frombuffer(payload, dtype=np.uint8)
    if hasattr(path, "write"):
        np.savez(path, **entries)
        return
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".fastgrad-save-", suffix=".npz", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **entries)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load(path: PathLike) -> Any:
    """Load a structure written by :func:`save`.

    Parameters
    ----------
    path : str, os.PathLike or binary file

    Returns
    -------
    object
        The saved structure: Tensors as Tensors (dtype, shape and ``requires_grad``
        kept), numpy arrays as arrays, numpy scalars as numpy scalars, ints as
        ints, floats as floats (bit-exact, NaN and inf included), tuples as
        tuples, dict keys with their types (int keys stay ints).

    Raises
    ------
    ValueError
        The file is not an archive written by :func:`save` (e.g. a plain .npz),
        or it needs pickle.
    """
    archive = np.load(path, allow_pickle=False)
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"load: {path!r} is a single .npy array, not an archive written by "
                         "fastgrad.save")
    with archive:
        if _STRUCTURE not in archive.files:
            raise ValueError(f"load: {path!r} was not written by fastgrad.save (no "
                             f"{_STRUCTURE!r} entry)")
        structure = json.loads(archive[_STRUCTURE].tobytes().decode("utf-8"))
        if structure.get("format") != _FORMAT or structure.get("version", 0) > _VERSION:
            raise ValueError(f"load: {path!r} has unsupported format "
                             f"{structure.get('format')!r} version {structure.get('version')!r}")
        arrays = {name: archive[name] for name in archive.files if name != _STRUCTURE}
    return _decode(structure["root"], arrays)
