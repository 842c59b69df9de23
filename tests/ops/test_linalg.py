"""matmul: all shape cases vs numpy, gradcheck, transposed views without copies, bad input."""
import numpy as np
import pytest

import fastgrad as fg
from tests.conftest import DTYPES, leaf

CASES = [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)),
         ((2, 3, 4), (4, 5)), ((2, 2, 3, 4), (4, 2)), ((1, 4), (4, 1))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sa,sb", CASES)
def test_forward_matches_numpy(dtype, sa, sb, rng):
    a, b = rng.normal(size=sa).astype(dtype), rng.normal(size=sb).astype(dtype)
    out = fg.tensor(a) @ fg.tensor(b)
    expected = a @ b
    assert out.shape == expected.shape and out.dtype == dtype
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-4 if dtype == np.float32 else 1e-12,
                               atol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("sa,sb", CASES)
def test_gradcheck(sa, sb, rng):
    assert fg.gradcheck(fg.matmul, (leaf(rng.normal(size=sa)), leaf(rng.normal(size=sb))))


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradients_match_the_closed_form(dtype, rng):
    a, b = leaf(rng.normal(size=(5, 3)), dtype), leaf(rng.normal(size=(3, 4)), dtype)
    g = rng.normal(size=(5, 4)).astype(dtype)
    (a @ b).backward(g)
    rt = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(a.grad.numpy(), g @ b.numpy().T, rtol=rt, atol=rt)
    np.testing.assert_allclose(b.grad.numpy(), a.numpy().T @ g, rtol=rt, atol=rt)


def test_transposed_operands(rng):
    a, b = leaf(rng.normal(size=(4, 3))), leaf(rng.normal(size=(5, 4)))
    out = a.T @ b.T
    np.testing.assert_allclose(out.numpy(), a.numpy().T @ b.numpy().T, rtol=1e-12)
    assert fg.gradcheck(lambda x, y: x.T @ y.T, (a, b))
    assert fg.gradcheck(lambda x, y: (x.T @ x) @ (x.T @ y.T), (a, b))


def test_transpose_is_a_view_passed_to_blas_without_a_copy(rng):
    a = fg.tensor(rng.normal(size=(4, 3)))
    at = a.T
    assert np.shares_memory(at.numpy(), a.numpy()) and at.numpy().flags.f_contiguous
    np.testing.assert_allclose((at @ a).numpy(), a.numpy().T @ a.numpy(), rtol=1e-12)


def test_mixed_dtypes_promote(rng):
    out = fg.tensor(rng.normal(size=(2, 3)).astype(np.float32)) @ fg.tensor(rng.normal(size=(3, 2)))
    assert out.dtype == np.float64


def test_bad_input():
    with pytest.raises(ValueError, match=r"matmul: shapes \(3, 4\) and \(5, 6\) are not aligned"):
        fg.tensor(np.ones((3, 4))) @ fg.tensor(np.ones((5, 6)))
    with pytest.raises(ValueError, match="at least 1 dimension"):
        fg.matmul(fg.tensor(1.0), fg.tensor(np.ones(3)))
    with pytest.raises(TypeError, match="matmul: operands must be float32 or float64"):
        fg.tensor([1, 2]) @ fg.tensor([3, 4])
    with pytest.raises(ValueError, match="right operand must be 1-D or 2-D"):
        fg.tensor(np.ones((2, 3, 4))) @ fg.tensor(np.ones((2, 4, 3)))
    with pytest.raises(TypeError, match="matmul: unsupported operand type 'str'"):
        fg.matmul(fg.tensor(np.ones(3)), "abc")
