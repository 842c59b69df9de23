"""W6: wall time of ``python -c "import fastgrad"`` in a fresh interpreter.

Beside it: the bare interpreter (``pass``), ``import numpy`` (fastgrad's floor, since it
imports numpy), and torch / jax when installed. Each round is one subprocess; the
parent never imports torch or jax for these.
"""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchlib import tag

ROUNDS, WARMUP = 7, 1


def module_dir(name):
    """Directory to put on PYTHONPATH so a fresh interpreter finds ``name`` as this process does."""
    spec = importlib.util.find_spec(name)
    if spec is None:
        return None
    origin = Path(spec.origin if spec.origin not in (None, "namespace") else list(spec.submodule_search_locations)[0])
    return str(origin.parent.parent if origin.name == "__init__.py" else origin.parent)


def run_import(benchmark, statement, framework, mode, path=None):
    env = dict(os.environ)
    if path:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [path, env.get("PYTHONPATH")]))
    cmd = [sys.executable, "-c", statement]
    # correctness first: the import must succeed
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{statement!r} failed:\n{done.stderr}"
    tag(benchmark, framework, mode)
    benchmark.extra_info["command"] = " ".join(cmd[1:])
    benchmark.pedantic(subprocess.run, args=(cmd,), kwargs=dict(env=env, check=True),
                       rounds=ROUNDS, warmup_rounds=WARMUP, iterations=1)


@pytest.mark.benchmark(group="W6")
def test_w6_fastgrad_import(benchmark):
    path = module_dir("fastgrad")
    if path is None:
        pytest.skip("fastgrad is not importable (build it first)")
    run_import(benchmark, "import fastgrad; fastgrad.tensor", "fastgrad", "import", path)


@pytest.mark.benchmark(group="W6")
def test_w6_python_bare(benchmark):
    run_import(benchmark, "pass", "python", "bare")


@pytest.mark.benchmark(group="W6")
def test_w6_numpy_import(benchmark):
    run_import(benchmark, "import numpy", "numpy", "import")


@pytest.mark.benchmark(group="W6")
def test_w6_torch_import(benchmark):
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch not installed (optional reference)")
    run_import(benchmark, "import torch", "torch", "import")


@pytest.mark.benchmark(group="W6")
def test_w6_jax_import(benchmark):
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax not installed (optional reference)")
    run_import(benchmark, "import jax, jax.numpy", "jax", "import")
