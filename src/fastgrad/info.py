"""Build and runtime information (``python -m fastgrad info``)."""
from __future__ import annotations

import os
import platform


def build_info() -> dict:
    """Version, compiler flags, OpenMP, BLAS library/config and thread counts."""
    import numpy as np
    import fastgrad
    from fastgrad._kernels import linalg
    from fastgrad._kernels import elementwise
    blas = linalg.blas_info()
    return {
        "fastgrad": fastgrad.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "build flags": "-O3, Cython boundscheck/initializedcheck/nonecheck off, cdivision on",
        "openmp": elementwise.OPENMP,
        "blas": blas["library"],
        "blas config": blas["config"],
        "blas threads": blas["threads"],
        "cpu count": os.cpu_count(),
    }


def print_info() -> None:
    """Print :func:`build_info` as aligned lines."""
    for key, value in build_info().items():
        print(f"{key:>13}: {value}")
