"""W4: C = A @ B with A, B 1024x1024 float32, then backward of C.sum() (three GEMMs).

Timed: forward + backward, i.e. C = A@B, dA = G@B.T, dB = A.T@G with G = ones.
Gradients start from None each call (no accumulation into a previous grad).
"""
import numpy as np
import pytest

from benchlib import SEED, assert_close, fastgrad_or_skip, jax_or_skip, tag, torch_or_skip

N = 1024


def operands():
    rng = np.random.default_rng(SEED + 4)
    a = rng.standard_normal((N, N)).astype(np.float32)
    b = rng.standard_normal((N, N)).astype(np.float32)
    return a, b


def expected(a, b):
    """float64 reference of C, dA, dB."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    c = a64 @ b64
    return c, np.broadcast_to(b64.sum(axis=1), (N, N)), np.broadcast_to(a64.sum(axis=0)[:, None], (N, N))


def check(c, ga, gb, a, b, what):
    c_ref, ga_ref, gb_ref = expected(a, b)
    for name, got, want in (("C", c, c_ref), ("dA", ga, ga_ref), ("dB", gb, gb_ref)):
        got = np.asarray(got)
        assert got.dtype == np.float32, f"{what}: {name} dtype {got.dtype}, expected float32"
        assert_close(got, want, rtol=1e-4, atol=1e-3, what=f"{what}: {name}")


def numpy_three_gemms(a, b):
    """What a numpy programmer writes: three BLAS calls into preallocated outputs."""
    c = np.empty((N, N), np.float32)
    ga = np.empty((N, N), np.float32)
    gb = np.empty((N, N), np.float32)

    def step():
        np.matmul(a, b, out=c)
        g = np.ones((N, N), np.float32)  # d(sum C)/dC
        np.matmul(g, b.T, out=ga)
        np.matmul(a.T, g, out=gb)
        return c, ga, gb

    return step


@pytest.mark.benchmark(group="W4")
def test_w4_numpy_by_hand(benchmark):
    a, b = operands()
    step = numpy_three_gemms(a, b)
    check(*step(), a, b, "numpy by hand")
    tag(benchmark, "numpy", "by-hand")
    benchmark(step)


@pytest.mark.benchmark(group="W4")
def test_w4_fastgrad_eager(benchmark):
    fg = fastgrad_or_skip("tensor", "float32")
    a_np, b_np = operands()
    a = fg.tensor(a_np, requires_grad=True)
    b = fg.tensor(b_np, requires_grad=True)

    def step():
        a.grad = None
        b.grad = None
        c = a @ b
        c.sum().backward()
        return c

    c = step()
    check(c.numpy(), a.grad.numpy(), b.grad.numpy(), a_np, b_np, "fastgrad eager")
    tag(benchmark, "fastgrad", "eager")
    benchmark(step)


@pytest.mark.benchmark(group="W4")
def test_w4_torch_eager(benchmark):
    torch = torch_or_skip()
    a_np, b_np = operands()
    a = torch.tensor(a_np, requires_grad=True)
    b = torch.tensor(b_np, requires_grad=True)

    def step():
        a.grad = None
        b.grad = None
        c = a @ b
        c.sum().backward()
        return c

    c = step()
    check(c.detach().numpy(), a.grad.numpy(), b.grad.numpy(), a_np, b_np, "torch eager")
    tag(benchmark, "torch", "eager")
    benchmark(step)


@pytest.mark.benchmark(group="W4")
def test_w4_jax_jit(benchmark):
    jax = jax_or_skip()
    import jax.numpy as jnp

    a_np, b_np = operands()
    a, b = jnp.asarray(a_np), jnp.asarray(b_np)

    def f(a, b):
        c = a @ b
        return c.sum(), c

    vg = jax.jit(jax.value_and_grad(f, argnums=(0, 1), has_aux=True))

    def step():
        return jax.block_until_ready(vg(a, b))

    (_, c), (ga, gb) = step()
    check(c, ga, gb, a_np, b_np, "jax jit")
    tag(benchmark, "jax", "jit")
    benchmark(step)
