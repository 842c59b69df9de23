"""Fallback for finding BLAS when the extension's rpath does not reach it."""
import ctypes
import importlib.util
import os


def preload(error: ImportError) -> None:
    """Load scipy-openblas32's shared library globally so the extensions can bind to it."""
    spec = importlib.util.find_spec("scipy_openblas32")
    if spec is None or spec.origin is None:
        raise ImportError("fastgrad needs scipy-openblas32 (pip install scipy-openblas32)") from error
    lib_dir = os.path.join(os.path.dirname(spec.origin), "lib")
    for name in os.listdir(lib_dir):
        if name.startswith("libscipy_openblas") and ".so" in name:
            ctypes.CDLL(os.path.join(lib_dir, name), mode=ctypes.RTLD_GLOBAL)
            return
    raise ImportError(f"no libscipy_openblas in {lib_dir}") from error
