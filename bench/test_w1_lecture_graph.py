"""W1: the lecture graph f = (x+y)*max(y,z) at x=1, y=2, z=0, float64 scalars.

Timed: create the three inputs, forward, backward. Expected f=6, df/dx=2, df/dy=5, df/dz=0.
"""
import numpy as np
import pytest

from benchlib import fastgrad_or_skip, jax_or_skip, tag, torch_or_skip

X, Y, Z = 1.0, 2.0, 0.0
EXPECTED = (6.0, 2.0, 5.0, 0.0)
# Microsecond-scale: each round runs enough calls to last ~2 ms (pytest-benchmark's default
# of one call per round gives a bimodal, timer- and cache-dominated distribution here).
W1 = pytest.mark.benchmark(group="W1", min_time=0.002, warmup=True, warmup_iterations=2000)


def check(values, what):
    """values = (f, df/dx, df/dy, df/dz) as floats."""
    got = tuple(float(v) for v in values)
    assert got == EXPECTED, f"{what}: got (f, dx, dy, dz) = {got}, expected {EXPECTED}"


@W1
def test_w1_fastgrad_eager(benchmark):
    fg = fastgrad_or_skip("tensor", "maximum", "float64")

    def step():
        x = fg.tensor(X, dtype=fg.float64, requires_grad=True)
        y = fg.tensor(Y, dtype=fg.float64, requires_grad=True)
        z = fg.tensor(Z, dtype=fg.float64, requires_grad=True)
        f = (x + y) * fg.maximum(y, z)
        f.backward()
        return f, x, y, z

    f, x, y, z = step()
    check((f.item(), x.grad.item(), y.grad.item(), z.grad.item()), "fastgrad eager")
    tag(benchmark, "fastgrad", "eager")
    benchmark(step)


@W1
def test_w1_fastgrad_compiled(benchmark):
    fg = fastgrad_or_skip("tensor", "maximum", "float64", "compile")

    @fg.compile
    def graph(x, y, z):
        f = (x + y) * fg.maximum(y, z)
        f.backward()
        return f

    def step():
        x = fg.tensor(X, dtype=fg.float64, requires_grad=True)
        y = fg.tensor(Y, dtype=fg.float64, requires_grad=True)
        z = fg.tensor(Z, dtype=fg.float64, requires_grad=True)
        return graph(x, y, z), x, y, z

    for call in ("recording", "replay"):
        f, x, y, z = step()
        check((f.item(), x.grad.item(), y.grad.item(), z.grad.item()), f"fastgrad compiled ({call})")
    tag(benchmark, "fastgrad", "compiled")
    benchmark(step)


@W1
def test_w1_torch_eager(benchmark):
    torch = torch_or_skip()

    def step():
        x = torch.tensor(X, dtype=torch.float64, requires_grad=True)
        y = torch.tensor(Y, dtype=torch.float64, requires_grad=True)
        z = torch.tensor(Z, dtype=torch.float64, requires_grad=True)
        f = (x + y) * torch.maximum(y, z)
        f.backward()
        return f, x, y, z

    f, x, y, z = step()
    check((f.item(), x.grad.item(), y.grad.item(), z.grad.item()), "torch eager")
    tag(benchmark, "torch", "eager")
    benchmark(step)


@W1
def test_w1_jax_jit(benchmark):
    jax = jax_or_skip()
    import jax.numpy as jnp

    def f(x, y, z):
        return (x + y) * jnp.maximum(y, z)

    vg = jax.jit(jax.value_and_grad(f, argnums=(0, 1, 2)))

    def step():
        out = vg(np.float64(X), np.float64(Y), np.float64(Z))
        return jax.block_until_ready(out)

    val, (dx, dy, dz) = step()
    assert val.dtype == jnp.float64
    check((val, dx, dy, dz), "jax jit")
    tag(benchmark, "jax", "jit")
    benchmark(step)
