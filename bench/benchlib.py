"""Shared helpers of the benchmark suite (workloads W1-W6 of WORKLOADS.md).

Every benchmark tags itself with ``tag(benchmark, framework, mode)`` so that
``bench/ratios.py`` can pair fastgrad's median with each reference's median per
workload group. Reference frameworks (torch, jax) are optional: their tests call
``torch_or_skip()`` / ``jax_or_skip()`` and skip when the import fails. fastgrad
parts that have not landed yet (nn, optim, compile) skip through ``fastgrad_or_skip``.

Nothing here imports fastgrad, torch or jax at module level, so the suite collects
with numpy alone.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SEED = 0

# An in-place build (`python setup.py build_ext --inplace`) is importable without
# PYTHONPATH=src; an installed fastgrad wins when there is one.
if importlib.util.find_spec("fastgrad") is None and (ROOT / "src" / "fastgrad").is_dir():
    sys.path.insert(0, str(ROOT / "src"))

# Adam / SGD hyper-parameters of W2 and W3 (torch.optim defaults where not given).
ADAM_LR, ADAM_BETAS, ADAM_EPS = 1e-3, (0.9, 0.999), 1e-8
SGD_LR, SGD_MOMENTUM = 0.01, 0.9


# ----------------------------------------------------------------- frameworks


def fastgrad_or_skip(*attrs: str):
    """Import fastgrad, or skip; also skip when a dotted attribute (``"nn.Linear"``) is missing.

    Parameters
    ----------
    attrs : str
        Dotted names below ``fastgrad`` that the benchmark needs, e.g. ``"optim.Adam"``.

    Returns
    -------
    module
        The ``fastgrad`` module.
    """
    fg = pytest.importorskip("fastgrad", reason="fastgrad is not importable (build it first)")
    for dotted in attrs:
        obj = fg
        path = "fastgrad"
        for part in dotted.split("."):
            path += "." + part
            if not hasattr(obj, part):
                try:  # a subpackage that is not imported by fastgrad/__init__.py
                    obj = importlib.import_module(path)
                    continue
                except ImportError:
                    pytest.skip(f"{path} is not available yet in this fastgrad build")
            obj = getattr(obj, part)
    return fg


def torch_or_skip():
    """Import torch or skip (torch is a benchmark reference only, never a dependency)."""
    return pytest.importorskip("torch", reason="torch not installed (optional reference)")


def jax_or_skip():
    """Import jax with 64-bit types enabled (W1/W5 are float64), or skip."""
    jax = pytest.importorskip("jax", reason="jax not installed (optional reference)")
    jax.config.update("jax_enable_x64", True)
    return jax


def tag(benchmark, framework: str, mode: str) -> None:
    """Record which implementation a benchmark times (read by bench/ratios.py).

    Parameters
    ----------
    framework : str
        ``"fastgrad"``, ``"numpy"``, ``"torch"``, ``"jax"`` or ``"python"``.
    mode : str
        ``"eager"``, ``"compiled"``, ``"jit"``, ``"by-hand"``, ``"dense"``, ``"sparse"`` ...
    """
    benchmark.extra_info["framework"] = framework
    benchmark.extra_info["mode"] = mode
    benchmark.extra_info["impl"] = f"{framework}-{mode}"
    benchmark.extra_info["threads"] = os.environ.get("BENCH_THREADS") or "default"


# ------------------------------------------------------------------- checking


def assert_close(got, want, rtol: float, atol: float, what: str) -> None:
    """assert_allclose with a message naming the quantity that differs."""
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64),
                               rtol=rtol, atol=atol, err_msg=f"{what} is wrong")


def assert_params_close(got: dict, want: dict, lr: float, steps: int, rtol: float = 1e-3,
                        atol: float = 2e-5, outlier_fraction: float = 1e-3) -> None:
    """Compare trained float32 parameters with the float64 oracle's after a few optimizer steps.

    Adam moves a coordinate by about ``lr * g / (|g| + eps)``, which is ill-conditioned
    where the gradient is at rounding level; a few such coordinates may differ by up to
    the step size. So: at most ``outlier_fraction`` of the entries may miss the
    ``rtol``/``atol`` tolerance, and none may differ by more than ``2 * steps * lr``.
    A wrong gradient or update misses on far more entries than that.
    """
    assert set(got) == set(want), f"parameter names differ: {sorted(got)} vs {sorted(want)}"
    for name, ref in want.items():
        val = np.asarray(got[name], dtype=np.float64)
        assert val.shape == ref.shape, f"{name}: shape {val.shape}, expected {ref.shape}"
        diff = np.abs(val - ref)
        bad = diff > atol + rtol * np.abs(ref)
        assert bad.mean() <= outlier_fraction, (
            f"{name}: {bad.sum()} of {bad.size} entries off (max diff {diff.max():.3g})")
        assert diff.max() <= 2 * steps * lr, f"{name}: max diff {diff.max():.3g} exceeds the step size"


def softmax_xent(logits: np.ndarray, y: np.ndarray):
    """Mean softmax cross-entropy and its gradient w.r.t. the logits (float64 oracle helper)."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)
    n = len(y)
    loss = float(np.mean(np.log(s[:, 0]) - z[np.arange(n), y]))
    d = e / s
    d[np.arange(n), y] -= 1.0
    return loss, d / n


def finite_difference_check(loss_fn, params: dict, grads: dict, n_coords: int = 6,
                            eps: float = 1e-6, rtol: float = 1e-4, atol: float = 1e-8, seed: int = SEED):
    """Check an oracle's analytic float64 gradients against central differences on a few coordinates."""
    rng = np.random.default_rng(seed)
    for name, p in params.items():
        g = grads[name]
        # the largest-gradient coordinates plus random ones (random rows of the embedding are mostly 0)
        flat = np.argsort(-np.abs(g).ravel())[: n_coords // 2]
        flat = np.concatenate([flat, rng.integers(0, p.size, n_coords - len(flat))])
        for k in flat:
            i = np.unravel_index(k, p.shape)
            old = p[i]
            p[i] = old + eps
            up = loss_fn(params)
            p[i] = old - eps
            down = loss_fn(params)
            p[i] = old
            fd = (up - down) / (2 * eps)
            assert abs(fd - g[i]) <= atol + rtol * abs(fd), f"oracle gradient of {name}{i}: {g[i]} vs fd {fd}"


# ------------------------------------------------------------------- problems


def linear_init(rng: np.random.Generator, n_in: int, n_out: int):
    """torch.nn.Linear's default init, weight (out, in) and bias (out,), as float32."""
    bound = 1.0 / np.sqrt(n_in)
    w = rng.uniform(-bound, bound, size=(n_out, n_in)).astype(np.float32)
    b = rng.uniform(-bound, bound, size=n_out).astype(np.float32)
    return w, b


W2_SIZES = dict(vocab=10000, dim=50, window=5, hidden=100, classes=5, batch=64)
W3_SIZES = dict(n_in=784, hidden=256, classes=10, batch=128)


def w2_problem() -> dict:
    """Fixed initial parameters (torch layouts) and one batch of the window classifier (W2)."""
    s = W2_SIZES
    rng = np.random.default_rng(SEED)
    emb = rng.standard_normal((s["vocab"], s["dim"])).astype(np.float32)  # nn.Embedding init
    w1, b1 = linear_init(rng, s["window"] * s["dim"], s["hidden"])
    w2, b2 = linear_init(rng, s["hidden"], s["classes"])
    idx = rng.integers(0, s["vocab"], size=(s["batch"], s["window"]), dtype=np.int64)
    y = rng.integers(0, s["classes"], size=s["batch"], dtype=np.int64)
    # a second batch, used by the correctness check only (dense Adam must keep moving rows
    # that a step does not touch; a single repeated batch could not tell)
    idx2 = rng.integers(0, s["vocab"], size=(s["batch"], s["window"]), dtype=np.int64)
    y2 = rng.integers(0, s["classes"], size=s["batch"], dtype=np.int64)
    return dict(params=dict(emb=emb, w1=w1, b1=b1, w2=w2, b2=b2), idx=idx, y=y, idx2=idx2, y2=y2)


def w3_problem() -> dict:
    """Fixed initial parameters (torch layouts) and one batch of the MLP (W3)."""
    s = W3_SIZES
    rng = np.random.default_rng(SEED + 3)
    w1, b1 = linear_init(rng, s["n_in"], s["hidden"])
    w2, b2 = linear_init(rng, s["hidden"], s["hidden"])
    w3, b3 = linear_init(rng, s["hidden"], s["classes"])
    x = rng.standard_normal((s["batch"], s["n_in"])).astype(np.float32)
    y = rng.integers(0, s["classes"], size=s["batch"], dtype=np.int64)
    return dict(params=dict(w1=w1, b1=b1, w2=w2, b2=b2, w3=w3, b3=b3), x=x, y=y)


# --------------------------------------------------------- fastgrad model glue


def fg_set_param(fg, module, name: str, value: np.ndarray) -> None:
    """Replace ``module.<name>`` by a Parameter holding ``value`` (transposed if the layout is (in, out))."""
    current = getattr(module, name)
    if tuple(current.shape) != value.shape and tuple(current.shape) == value.T.shape:
        value = value.T
    assert tuple(current.shape) == value.shape, f"{name}: shape {tuple(current.shape)} vs {value.shape}"
    setattr(module, name, fg.nn.Parameter(fg.tensor(np.ascontiguousarray(value))))
    np.testing.assert_array_equal(getattr(module, name).numpy(), value,
                                  err_msg=f"could not set fastgrad parameter {name}")


def fg_param_numpy(module, name: str, like: np.ndarray) -> np.ndarray:
    """A fastgrad parameter as numpy, in the layout of ``like`` (torch layout)."""
    val = np.asarray(getattr(module, name).numpy())
    return val.T if val.shape != like.shape and val.T.shape == like.shape else val


def fg_index_forms(fg, arr: np.ndarray):
    """Forms in which fastgrad may accept integer indices/targets: numpy first, then fg.tensor."""
    yield arr
    try:
        yield fg.tensor(arr)
    except Exception:  # no integer tensors in this build
        return
