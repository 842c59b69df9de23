"""gradcheck and the functional grad/value_and_grad."""
import re

import numpy as np
import pytest

import fastgrad as fg
from fastgrad._tape import Node
from tests.conftest import leaf


def test_gradcheck_passes_on_correct_gradients(rng):
    assert fg.gradcheck(lambda a, b: (a @ b).tanh().sum(0), (leaf(rng.normal(size=(3, 2))), leaf(rng.normal(size=(2, 4)))))


def test_gradcheck_detects_a_wrong_gradient(rng):
    x = leaf(rng.normal(size=3))

    def wrong(t):
        # forward 2*t, but route the gradient through a detached copy: backward gives 1, not 2
        return t + t.detach()
    with pytest.raises(fg.GradcheckError, match=r"input 0 \(shape \(3,\)\) at index \(0,\): analytic") as info:
        fg.gradcheck(wrong, (x,))
    analytic, numeric = [float(v) for v in re.findall(r"(?:analytic|numeric) ([-0-9.e]+)", str(info.value))]
    assert numeric == pytest.approx(2 * analytic, rel=1e-6)


def test_gradcheck_requires_float64_leaves(rng):
    with pytest.raises(ValueError, match="must be float64"):
        fg.gradcheck(lambda t: t * 2, (leaf(rng.normal(size=2), np.float32),))
    with pytest.raises(ValueError, match="no input requires grad"):
        fg.gradcheck(lambda t: t * 2, (fg.tensor(np.ones(2)),))


def test_gradcheck_restores_inputs_and_grads(rng):
    x = leaf(rng.normal(size=3))
    before = x.numpy().copy()
    fg.gradcheck(lambda t: t.exp(), (x,))
    np.testing.assert_array_equal(x.numpy(), before)
    assert x.grad is None


def test_value_and_grad_and_grad():
    f = lambda x, y: (x * y + x.exp()).sum()
    x, y = np.array([0.5, 1.0]), np.array([2.0, 3.0])
    value, gx = fg.value_and_grad(f)(x, y)
    np.testing.assert_allclose(value.item(), np.sum(x * y + np.exp(x)))
    np.testing.assert_allclose(gx.numpy(), y + np.exp(x))
    gx, gy = fg.grad(f, argnums=(0, 1))(x, y)
    np.testing.assert_allclose(gy.numpy(), x)
    assert gx.dtype == np.float64
    x_tensor = fg.tensor(x)
    fg.grad(f)(x_tensor, y)
    assert x_tensor.grad is None           # the caller's tensor is untouched


def test_value_and_grad_bad_input():
    with pytest.raises(TypeError, match="one-element Tensor"):
        fg.grad(lambda x: x * 2)(np.ones(3))
    with pytest.raises(IndexError, match="argnums 3 out of range"):
        fg.grad(lambda x: x.sum(), argnums=3)(np.ones(3))
