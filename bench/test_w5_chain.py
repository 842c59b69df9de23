"""W5: y = y*1.0001 + 0.0001 repeated 10000 times on a 16-element float64 vector, then y.sum().backward().

Timed: forward + backward (20000 recorded ops, a graph 20000 nodes deep). The gradient
starts from None each call.
"""
import numpy as np
import pytest

from benchlib import SEED, assert_close, fastgrad_or_skip, jax_or_skip, tag, torch_or_skip

STEPS, SIZE, MUL, ADD = 10000, 16, 1.0001, 0.0001


def start():
    return np.random.default_rng(SEED + 5).standard_normal(SIZE)


def expected(x0):
    """Value and gradient, computed in the same order as the chain (float64)."""
    y = x0.copy()
    g = 1.0
    for _ in range(STEPS):
        y = y * MUL + ADD
        g *= MUL
    return y, np.full(SIZE, g)


def check(y, grad, x0, what):
    y_ref, g_ref = expected(x0)
    assert np.asarray(y).dtype == np.float64, f"{what}: y is {np.asarray(y).dtype}, expected float64"
    assert_close(y, y_ref, rtol=1e-12, atol=1e-12, what=f"{what}: y")
    assert_close(grad, g_ref, rtol=1e-12, atol=0, what=f"{what}: dy.sum()/dx")


@pytest.mark.benchmark(group="W5")
def test_w5_fastgrad_eager(benchmark):
    fg = fastgrad_or_skip("tensor", "float64")
    x0 = start()
    x = fg.tensor(x0, dtype=fg.float64, requires_grad=True)

    def step():
        x.grad = None
        y = x
        for _ in range(STEPS):
            y = y * MUL + ADD
        y.sum().backward()
        return y

    y = step()
    check(y.numpy(), x.grad.numpy(), x0, "fastgrad eager")
    tag(benchmark, "fastgrad", "eager")
    benchmark(step)


@pytest.mark.benchmark(group="W5")
def test_w5_torch_eager(benchmark):
    torch = torch_or_skip()
    x0 = start()
    x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)

    def step():
        x.grad = None
        y = x
        for _ in range(STEPS):
            y = y * MUL + ADD
        y.sum().backward()
        return y

    y = step()
    check(y.detach().numpy(), x.grad.numpy(), x0, "torch eager")
    tag(benchmark, "torch", "eager")
    benchmark(step)


@pytest.mark.benchmark(group="W5")
def test_w5_jax_jit(benchmark):
    """jit of value_and_grad over a fori_loop (unrolling 10000 steps in Python would only time XLA's compiler)."""
    jax = jax_or_skip()
    import jax.numpy as jnp

    x0 = start()

    def f(x):
        y = jax.lax.fori_loop(0, STEPS, lambda i, y: y * MUL + ADD, x)
        return y.sum(), y

    vg = jax.jit(jax.value_and_grad(f, has_aux=True))
    x = jnp.asarray(x0)

    def step():
        return jax.block_until_ready(vg(x))

    (_, y), g = step()
    check(y, g, x0, "jax jit")
    tag(benchmark, "jax", "jit")
    benchmark(step)
