"""Build of fastgrad's compiled modules: the Extension list, flags and Cython directives.

All metadata lives in pyproject.toml. Every ``.pyx`` under ``src/fastgrad`` becomes one
extension module linked against scipy-openblas32's CBLAS. ``FASTGRAD_CYTHON_DEBUG=1``
turns Cython's bounds/wraparound/None checks back on for debugging.
"""
import os
import tempfile
from pathlib import Path

import numpy
import scipy_openblas32
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools._distutils.ccompiler import new_compiler
from setuptools._distutils.sysconfig import customize_compiler

SRC = Path("src")
DEBUG = os.environ.get("FASTGRAD_CYTHON_DEBUG") == "1"


def openmp_flags() -> list:
    """Return ['-fopenmp'] when the C compiler builds and links an OpenMP program, else []."""
    compiler = new_compiler()
    customize_compiler(compiler)
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "probe.c")
        with open(source, "w") as f:
            f.write("#include <omp.h>\nint main(void) { return omp_get_max_threads() > 0 ? 0 : 1; }\n")
        try:
            objects = compiler.compile([source], output_dir=tmp, extra_postargs=["-fopenmp"])
            compiler.link_executable(objects, os.path.join(tmp, "probe"), extra_postargs=["-fopenmp"])
        except Exception:
            print("fastgrad: OpenMP not available, building serial kernels")
            return []
    return ["-fopenmp"]


OPENMP = openmp_flags()
BLAS_LIB_DIR = scipy_openblas32.get_lib_dir()


def extension(pyx: Path) -> Extension:
    module = ".".join(pyx.relative_to(SRC).with_suffix("").parts)
    depth = len(pyx.relative_to(SRC).parts) - 1  # package folders between site-packages and the .so
    relative_blas = "$ORIGIN/" + "../" * depth + "scipy_openblas32/lib"
    return Extension(
        module,
        [str(pyx)],
        include_dirs=[numpy.get_include(), scipy_openblas32.get_include_dir()],
        library_dirs=[BLAS_LIB_DIR],
        libraries=[scipy_openblas32.get_library()],
        runtime_library_dirs=[relative_blas, BLAS_LIB_DIR],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
                       ("FASTGRAD_OPENMP", "1" if OPENMP else "0")],
        # -fno-math-errno: sqrt/exp need not set errno, so loops that call them vectorize
        extra_compile_args=(["-O3", "-g0", "-fno-math-errno", *OPENMP] if not DEBUG
                            else ["-O0", "-g", *OPENMP]),
        extra_link_args=OPENMP,
    )


DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    # wraparound stays on: kernels index raw pointers, where it has no effect, while the
    # validation code beside them indexes Python tuples with negative indices.
    "wraparound": True,
    "initializedcheck": DEBUG,
    "nonecheck": DEBUG,
    "cdivision": not DEBUG,
    "embedsignature": True,
}

setup(
    ext_modules=cythonize(
        [extension(p) for p in sorted(SRC.rglob("*.pyx"))],
        compiler_directives=DIRECTIVES,
        nthreads=os.cpu_count() or 1,
    ),
)
