"""pytest configuration of the benchmark suite: puts bench/ and an in-place build on sys.path.

``BENCH_THREADS=N`` in the environment pins every framework to N threads (OpenMP,
OpenBLAS, MKL, XLA's CPU pools; set here, before numpy, torch or jax load). Leave it
unset to time each library as it comes. On a machine shared with other work, N=1 avoids
the collapse of spinning thread pools under oversubscription; say which you used.

Helpers live in ``benchlib.py`` (imported as a plain module, so it never clashes with
``tests/conftest.py``); the W2/W3 problems are fixtures here so that every benchmark
starts from fresh copies of the same fixed-seed parameters and batch.
"""
import os
import sys
from pathlib import Path

import pytest

THREADS = os.environ.get("BENCH_THREADS", "")
if THREADS:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = THREADS
    xla = f"--xla_cpu_multi_thread_eigen={'false' if THREADS == '1' else 'true'} intra_op_parallelism_threads={THREADS}"
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + xla).strip()

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # noqa: E402  (adds ../src to sys.path for an in-place build)


@pytest.fixture
def w2():
    """Fresh copy of the W2 window-classifier problem (params in torch layouts, idx, y)."""
    return benchlib.w2_problem()


@pytest.fixture
def w3():
    """Fresh copy of the W3 MLP problem (params in torch layouts, x, y)."""
    return benchlib.w3_problem()


def pytest_benchmark_update_machine_info(config, machine_info):
    """Record the thread setting and the load when the run started (quote ratios with them)."""
    machine_info["bench_threads"] = THREADS or "default"
    machine_info["loadavg_at_start"] = list(os.getloadavg())
    machine_info["cpu_count"] = os.cpu_count()


def pytest_collection_modifyitems(session, config, items):
    """Run fastgrad and numpy benchmarks before any test imports torch or jax.

    fastgrad's eager ops allocate GC-tracked objects; full collections traverse every
    tracked object in the process, so torch/jax modules loaded by an earlier reference
    test would slow fastgrad down in a way no fastgrad user sees. Order within each
    framework stays the collection order.
    """
    def rank(item):
        name = item.name.lower()
        return 2 if "_jax_" in name else 1 if "_torch_" in name else 0
    items.sort(key=rank)
