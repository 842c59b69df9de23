"""Reductions: forward vs numpy, gradcheck over dims/keepdim, ties, aliases, bad input."""
import numpy as np
import pytest

import fastgrad as fg
from tests.conftest import DTYPES, leaf, tol

OPS = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min}
DIMS = [None, 0, 1, -1, (0, 2), (1, 2), (0, 1, 2)]


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("keepdim", [False, True])
def test_forward_matches_numpy(name, dtype, dim, keepdim, rng):
    x = rng.normal(size=(2, 3, 4)).astype(dtype)
    out = getattr(fg.tensor(x), name)(dim, keepdim)
    expected = OPS[name](x, axis=dim, keepdims=keepdim)
    assert out.shape == expected.shape and out.dtype == dtype
    np.testing.assert_allclose(out.numpy(), expected, **tol(dtype) if name in ("max", "min")
                               else dict(rtol=1e-5 if dtype == np.float32 else 1e-12))


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("keepdim", [False, True])
def test_gradcheck(name, dim, keepdim, rng):
    x = leaf(rng.permutation(24).reshape(2, 3, 4) * 0.1)  # distinct values: no ties
    assert fg.gradcheck(lambda t: getattr(t, name)(dim, keepdim) * 1.5, (x,))


@pytest.mark.parametrize("name", OPS)
def test_scalar_and_vector_inputs(name, rng):
    for shape in [(), (7,)]:
        x = leaf(rng.normal(size=shape))
        out = getattr(fg, name)(x)
        np.testing.assert_allclose(out.numpy(), OPS[name](x.numpy()))
        assert fg.gradcheck(lambda t: getattr(fg, name)(t), (x,))


def test_max_ties_split_the_gradient_evenly():
    x = leaf([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    x.max(dim=1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    x.grad = None
    x.min().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[1, 0, 0], [0, 0, 0]])


def test_axis_and_keepdims_aliases(rng):
    x = rng.normal(size=(3, 4))
    out = fg.tensor(x).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(out.numpy(), x.sum(axis=1, keepdims=True), rtol=1e-6)


def test_argmax_argmin():
    x = fg.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    np.testing.assert_array_equal(fg.argmax(x, dim=1).numpy(), [1, 0])
    np.testing.assert_array_equal(fg.argmin(x, dim=1).numpy(), [0, 1])


def test_bad_input():
    x = fg.tensor(np.ones((2, 3)))
    with pytest.raises(IndexError, match=r"sum: dim 2 is out of range for a tensor of shape \(2, 3\)"):
        x.sum(2)
    with pytest.raises(ValueError, match="repeats a dimension"):
        x.mean((0, 0))
    with pytest.raises(ValueError, match="max: cannot reduce an empty dimension"):
        fg.tensor(np.ones((0, 3))).max(0)
    with pytest.raises(TypeError, match="give dim or axis, not both"):
        x.sum(0, axis=1)
