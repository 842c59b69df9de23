"""Structural ops: reshape/view, transpose, expand, indexing, concat/stack, where."""
import numpy as np
import pytest

import fastgrad as fg
from tests.conftest import DTYPES, leaf


@pytest.mark.parametrize("dtype", DTYPES)
def test_reshape_view_forward_and_grad(dtype, rng):
    x = leaf(rng.normal(size=(2, 6)), dtype)
    y = x.reshape(3, 4)
    np.testing.assert_array_equal(y.numpy(), x.numpy().reshape(3, 4))
    assert np.shares_memory(y.numpy(), x.numpy())
    assert x.view(4, 3).shape == (4, 3) and x.reshape((-1,)).shape == (12,)
    assert fg.gradcheck(lambda t: t.reshape(3, 4) * t.reshape(3, 4), (leaf(rng.normal(size=(2, 6))),))


def test_view_of_a_transposed_tensor_fails_clearly(rng):
    x = fg.tensor(rng.normal(size=(3, 4))).T
    with pytest.raises(ValueError, match=r"view: .* cannot be viewed as shape \(12,\); use reshape"):
        x.view(12)
    assert x.reshape(12).shape == (12,)


def test_reshape_bad_shape():
    with pytest.raises(ValueError, match=r"reshape: cannot reshape a tensor of shape \(2, 3\) into shape \(4,\)"):
        fg.tensor(np.ones((2, 3))).reshape(4)


@pytest.mark.parametrize("dtype", DTYPES)
def test_transpose_permute(dtype, rng):
    x = rng.normal(size=(2, 3, 4)).astype(dtype)
    t = fg.tensor(x)
    np.testing.assert_array_equal(t.transpose(0, 2).numpy(), x.transpose(2, 1, 0))
    np.testing.assert_array_equal(t.T.numpy(), x.T)
    np.testing.assert_array_equal(fg.permute(t, 1, 2, 0).numpy(), x.transpose(1, 2, 0))
    assert fg.gradcheck(lambda a: a.transpose(0, 1) * fg.permute(a, 1, 0, 2), (leaf(rng.normal(size=(3, 3, 2))),))
    with pytest.raises(IndexError, match="transpose: dims"):
        t.transpose(0, 5)


def test_expand_and_squeeze(rng):
    x = leaf(rng.normal(size=(3, 1)))
    y = x.expand(3, 4)
    np.testing.assert_array_equal(y.numpy(), np.broadcast_to(x.numpy(), (3, 4)))
    assert fg.gradcheck(lambda a: a.expand(2, 3, 4) * 1.0, (x,))
    assert x.squeeze().shape == (3,) and x.squeeze(1).unsqueeze(0).shape == (1, 3)
    with pytest.raises(ValueError, match=r"expand: shape \(3, 1\) cannot be broadcast to \(2, 4\)"):
        x.expand(2, 4)


@pytest.mark.parametrize("dtype", DTYPES)
def test_basic_indexing(dtype, rng):
    x = rng.normal(size=(4, 5)).astype(dtype)
    t = leaf(x, dtype)
    for key in [1, (slice(1, 3),), (slice(None), 2), (slice(None, None, 2), slice(1, None)), (-1, -2), Ellipsis]:
        np.testing.assert_array_equal(t[key].numpy(), x[key])
    assert fg.gradcheck(lambda a: a[1:3, ::2] * a[0, ::2], (leaf(rng.normal(size=(4, 5))),))


def test_integer_array_gather_scatter_adds_repeats(rng):
    x = leaf(rng.normal(size=(4, 3)))
    idx = np.array([0, 2, 2, 3, 2])
    out = x[idx]
    np.testing.assert_array_equal(out.numpy(), x.numpy()[idx])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[:, 0], [1, 0, 3, 1])
    assert fg.gradcheck(lambda a: a[fg.tensor([1, 1, 0])] ** 2, (leaf(rng.normal(size=(3, 2))),))
    assert fg.gradcheck(lambda a: a[[0, 1, 1], [2, 0, 0]], (leaf(rng.normal(size=(3, 3))),))
    mask = x.numpy() > 0
    np.testing.assert_array_equal(x[mask].numpy(), x.numpy()[mask])


def test_indexing_bad_input_raises_index_error_never_crashes():
    x = fg.tensor(np.ones((3, 2)), requires_grad=True)
    with pytest.raises(IndexError, match=r"getitem: .*shape \(3, 2\)"):
        x[np.array([0, 3])]
    with pytest.raises(IndexError, match=r"getitem: .*shape \(3, 2\)"):
        x[np.array([-4])]
    with pytest.raises(IndexError, match="must be integer or bool, got dtype float64"):
        x[np.array([0.0, 1.0])]
    with pytest.raises(IndexError, match="must be integer or bool, got dtype float32"):
        x[fg.tensor([0.5])]
    with pytest.raises(IndexError):
        x[5]


@pytest.mark.parametrize("dtype", DTYPES)
def test_concat_and_stack(dtype, rng):
    a, b = rng.normal(size=(2, 3)).astype(dtype), rng.normal(size=(4, 3)).astype(dtype)
    np.testing.assert_array_equal(fg.concat([fg.tensor(a), fg.tensor(b)]).numpy(), np.concatenate([a, b]))
    np.testing.assert_array_equal(fg.cat([fg.tensor(a), fg.tensor(a)], dim=1).numpy(), np.concatenate([a, a], 1))
    np.testing.assert_array_equal(fg.stack([fg.tensor(a), fg.tensor(a)], dim=1).numpy(), np.stack([a, a], 1))
    x, y = leaf(rng.normal(size=(2, 3))), leaf(rng.normal(size=(1, 3)))
    assert fg.gradcheck(lambda p, q: fg.concat([p, q, p * q], dim=0).tanh(), (x, y))
    assert fg.gradcheck(lambda p: fg.stack([p, p * 2, p[::-1]], dim=2), (x,))


def test_concat_stack_bad_input():
    with pytest.raises(ValueError, match="concat: cannot join shapes"):
        fg.concat([fg.tensor(np.ones((2, 3))), fg.tensor(np.ones((2, 4)))])
    with pytest.raises(ValueError, match="stack: cannot stack shapes"):
        fg.stack([fg.tensor(np.ones(2)), fg.tensor(np.ones(3))])
    with pytest.raises(TypeError, match="concat: all tensors must have one dtype"):
        fg.concat([fg.tensor(np.ones(2)), fg.tensor(np.ones(2, np.float32))])
    with pytest.raises(TypeError, match="non-empty sequence"):
        fg.stack([])


@pytest.mark.parametrize("dtype", DTYPES)
def test_where(dtype, rng):
    a, b = rng.normal(size=(3, 4)).astype(dtype), rng.normal(size=(4,)).astype(dtype)
    cond = a > 0
    out = fg.where(fg.tensor(cond), fg.tensor(a), fg.tensor(b))
    np.testing.assert_array_equal(out.numpy(), np.where(cond, a, b))
    assert out.dtype == dtype
    assert fg.where(cond, fg.tensor(a), 0.0).dtype == dtype
    x, y = leaf(rng.normal(size=(3, 4))), leaf(rng.normal(size=(4,)))
    assert fg.gradcheck(lambda p, q: fg.where(p.numpy() > 0, p * 2, q), (x, y))
    with pytest.raises(TypeError, match="where: condition must be bool"):
        fg.where(np.ones(3), x, y)
    with pytest.raises(ValueError, match="where: shapes"):
        fg.where(np.ones(5, bool), x, y)


def test_permute_bad_input():
    with pytest.raises(ValueError, match=r"permute: \(0, 0\) is not a permutation of the dims of shape \(2, 3\)"):
        fg.permute(fg.tensor(np.ones((2, 3))), 0, 0)
