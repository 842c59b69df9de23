"""Elementwise ops: forward vs numpy, float64 gradcheck (broadcasting), float32/float64, bad input."""
import numpy as np
import pytest

import fastgrad as fg
from tests.conftest import DTYPES, leaf, tol

BINARY = {
    "add": (fg.add, np.add), "sub": (fg.sub, np.subtract), "mul": (fg.mul, np.multiply),
    "div": (fg.div, np.divide), "maximum": (fg.maximum, np.maximum),
    "minimum": (fg.minimum, np.minimum),
}
SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4)), ((2, 3, 4), (3, 1)),
          ((), (2, 3)), ((4,), ()), ((2, 1, 4), (1, 3, 1)), ((5,), (5,))]


def positive_far(rng, shape):
    """Values away from 0 and from each other, so div and max/min are smooth."""
    return rng.uniform(0.5, 2.0, shape) * rng.choice([-1, 1], shape)


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sa,sb", SHAPES)
def test_binary_forward_matches_numpy(name, dtype, sa, sb, rng):
    op, ref = BINARY[name]
    a, b = positive_far(rng, sa).astype(dtype), positive_far(rng, sb).astype(dtype)
    out = op(fg.tensor(a), fg.tensor(b))
    expected = ref(a, b)
    assert out.shape == expected.shape and out.dtype == dtype
    np.testing.assert_allclose(out.numpy(), expected, **tol(dtype))


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("sa,sb", SHAPES)
def test_binary_gradcheck_with_broadcasting(name, sa, sb, rng):
    op, _ = BINARY[name]
    a, b = leaf(positive_far(rng, sa)), leaf(positive_far(rng, sb) * 1.3)
    assert fg.gradcheck(op, (a, b))


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_gradient_dtype_and_shape(name, dtype, rng):
    op, _ = BINARY[name]
    a = leaf(positive_far(rng, (3, 4)), dtype)
    b = leaf(positive_far(rng, (4,)), dtype)
    op(a, b).sum().backward()
    assert a.grad.shape == (3, 4) and b.grad.shape == (4,)
    assert a.grad.dtype == dtype and b.grad.dtype == dtype


def test_maximum_and_minimum_split_ties_evenly():
    a, b = leaf([1.0, 2.0, 3.0]), leaf([1.0, 5.0, 0.0])
    fg.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(b.grad.numpy(), [0.5, 1.0, 0.0])
    a.grad = b.grad = None
    fg.minimum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0.5, 1.0, 0.0])


def test_python_scalars_keep_float32():
    x = fg.tensor([1.0, 2.0])
    assert (x * 2.5).dtype == np.float32
    assert (2.5 - x).dtype == np.float32
    np.testing.assert_allclose((1.0 / x).numpy(), [1.0, 0.5])
    np.testing.assert_allclose((3 - x).numpy(), [2.0, 1.0])


def test_mixed_float32_float64_follows_numpy_promotion(rng):
    a = leaf(rng.normal(size=3), np.float32)
    b = leaf(rng.normal(size=3), np.float64)
    out = a * b
    assert out.dtype == np.float64
    out.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    np.testing.assert_allclose(a.grad.numpy(), b.numpy(), rtol=1e-6)


def test_numpy_array_operands(rng):
    a = leaf(rng.normal(size=(2, 3)))
    c = rng.normal(size=(3,))
    out = a * c
    np.testing.assert_allclose(out.numpy(), a.numpy() * c)
    out.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), np.broadcast_to(c, (2, 3)))


def test_integer_tensors_compute_without_gradients():
    a = fg.tensor([1, 2, 3])
    assert a.dtype == np.int64
    out = a + a
    assert out.dtype == np.int64 and not out.requires_grad
    np.testing.assert_array_equal(out.numpy(), [2, 4, 6])


def test_binary_bad_input():
    with pytest.raises(ValueError, match=r"add: shapes \(3, 4\) and \(5,\) cannot be broadcast"):
        fg.tensor(np.ones((3, 4))) + fg.tensor(np.ones(5))
    with pytest.raises(TypeError, match="mul: unsupported operand type 'str'"):
        fg.tensor([1.0]) * "a"
    with pytest.raises(TypeError, match="unsupported operand type 'dict'"):
        fg.add({}, fg.tensor([1.0]))


UNARY = {
    "neg": (fg.neg, np.negative, lambda r, s: r.normal(size=s)),
    "exp": (fg.exp, np.exp, lambda r, s: r.normal(size=s)),
    "log": (fg.log, np.log, lambda r, s: r.uniform(0.5, 3, s)),
    "sqrt": (fg.sqrt, np.sqrt, lambda r, s: r.uniform(0.5, 3, s)),
    "abs": (fg.abs, np.abs, lambda r, s: positive_far(r, s)),
    "tanh": (fg.tanh, np.tanh, lambda r, s: r.normal(size=s)),
    "sigmoid": (fg.sigmoid, lambda x: 1 / (1 + np.exp(-x)), lambda r, s: r.normal(size=s)),
    "relu": (fg.relu, lambda x: np.maximum(x, 0), lambda r, s: positive_far(r, s)),
    "square": (lambda x: x ** 2, np.square, lambda r, s: r.normal(size=s)),
    "cube": (lambda x: fg.pow(x, 3), lambda x: x ** 3, lambda r, s: r.normal(size=s)),
    "pow_half": (lambda x: x ** 0.5, np.sqrt, lambda r, s: r.uniform(0.5, 3, s)),
    "rpow": (lambda x: 2.0 ** x, lambda x: 2.0 ** x, lambda r, s: r.normal(size=s)),
}


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (5,), (3, 4), (2, 3, 2)])
def test_unary_forward_matches_numpy(name, dtype, shape, rng):
    op, ref, sample = UNARY[name]
    x = sample(rng, shape).astype(dtype)
    out = op(fg.tensor(x))
    assert out.dtype == dtype and out.shape == shape
    np.testing.assert_allclose(out.numpy(), ref(x), **tol(dtype))


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("shape", [(), (5,), (3, 4)])
def test_unary_gradcheck(name, shape, rng):
    op, _, sample = UNARY[name]
    assert fg.gradcheck(op, (leaf(sample(rng, shape)),))


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_is_stable_for_large_inputs(dtype):
    x = leaf([-1e4, -50.0, 0.0, 50.0, 1e4], dtype)
    out = fg.sigmoid(x)
    assert np.all(np.isfinite(out.numpy()))
    np.testing.assert_allclose(out.numpy(), [0, 0, 0.5, 1, 1], atol=1e-12)
    out.sum().backward()
    assert np.all(np.isfinite(x.grad.numpy()))


def test_abs_and_relu_gradient_at_zero_is_zero():
    x = leaf([0.0, 0.0])
    (fg.abs(x) + fg.relu(x)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0])


def test_pow_bad_input():
    x = leaf([1.0, 2.0])
    with pytest.raises(TypeError, match="pow: only a Python-number exponent"):
        x ** leaf([1.0, 2.0])
    with pytest.raises(TypeError, match="pow: unsupported exponent type 'str'"):
        fg.pow(x, "2")


def test_unary_bad_input():
    with pytest.raises(TypeError, match="exp: unsupported operand type 'str'"):
        fg.exp("x")


def test_cast_is_differentiable(rng):
    x = leaf(rng.normal(size=4), np.float32)
    y = x.double() * 2
    assert y.dtype == np.float64
    y.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), np.full(4, 2.0, np.float32))


def test_comparisons_return_bool_tensors_without_grad():
    x = leaf([1.0, 2.0, 3.0])
    for out, expected in ((x > 2, [0, 0, 1]), (x >= 2, [0, 1, 1]), (x < 2, [1, 0, 0]),
                          (x <= 2, [1, 1, 0]), (x == 2, [0, 1, 0]), (x != 2, [1, 0, 1])):
        assert out.dtype == bool and not out.requires_grad
        np.testing.assert_array_equal(out.numpy(), np.array(expected, dtype=bool))


def test_relu_propagates_nan_like_pytorch():
    out = fg.relu(fg.tensor([np.nan, -np.inf, -1.0, 2.0]))
    assert np.isnan(out.numpy()[0]) and out.numpy()[1:].tolist() == [0.0, 0.0, 2.0]


def test_a_leaf_used_by_several_matmuls_accumulates_after_the_first_overwrite(rng):
    x = leaf(rng.normal(size=(3, 3)))
    w = fg.tensor(rng.normal(size=(3, 3)))
    ((x @ w) + (w @ x) + (x @ x)).sum().backward()
    ones = np.ones((3, 3))
    expected = ones @ w.numpy().T + w.numpy().T @ ones + ones @ x.numpy().T + x.numpy().T @ ones
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12)


def test_cast_and_clone_bad_input():
    with pytest.raises(TypeError):
        fg.tensor([1.0]).astype("not-a-dtype")
    with pytest.raises(TypeError, match="clone: unsupported operand type 'str'"):
        fg.clone("x")


@pytest.mark.parametrize("dtype", DTYPES)
def test_clone_forward_and_gradcheck(dtype, rng):
    x = rng.normal(size=(2, 3)).astype(dtype)
    c = fg.clone(fg.tensor(x))
    np.testing.assert_array_equal(c.numpy(), x)
    assert c.dtype == dtype
    assert fg.gradcheck(lambda t: fg.clone(t) * t, (leaf(rng.normal(size=(2, 3))),))
