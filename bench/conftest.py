"""pytest configuration of the benchmark suite: puts bench/ and an in-place build on sys.path.

Helpers live in ``benchlib.py`` (imported as a plain module, so it never clashes with
``tests/conftest.py``); the W2/W3 problems are fixtures here so that every benchmark
starts from fresh copies of the same fixed-seed parameters and batch.
"""
import sys
from pathlib import Path

import pytest

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
