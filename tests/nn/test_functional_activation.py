"""fastgrad.nn.functional activations vs numpy references, gradchecks, bad inputs."""
import numpy as np
import pytest

import fastgrad as fg
import fastgrad.nn.functional as F

DTYPES = [np.float32, np.float64]
SHAPES = [(5,), (3, 4), (2, 3, 4), (2, 3, 2, 2)]


def leaf(array, dtype=np.float64):
    return fg.tensor(np.asarray(array, dtype=dtype), requires_grad=True)


def tol(dtype):
    return dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


def away_from(x, points, gap=1e-3):
    """Move entries within ``gap`` of the kinks so finite differences are valid."""
    for p in points:
        x = np.where(np.abs(x - p) < gap, p + 0.1, x)
    return x


def np_softmax(x, dim):
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


def np_log_softmax(x, dim):
    m = x.max(axis=dim, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=dim, keepdims=True))


# ----- sigmoid / tanh / relu: the elementwise ops, re-exported --------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,ref", [("sigmoid", lambda x: 1 / (1 + np.exp(-x))),
                                      ("tanh", np.tanh), ("relu", lambda x: np.maximum(x, 0))])
def test_reexported_forward(name, ref, dtype):
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(dtype)
    out = getattr(F, name)(fg.tensor(x))
    assert out.dtype == dtype
    np.testing.assert_allclose(out.numpy(), ref(x.astype(np.float64)), **tol(dtype))


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu"])
def test_reexported_gradcheck(name):
    x = away_from(np.random.default_rng(1).standard_normal((2, 3)), [0.0])
    assert fg.gradcheck(getattr(F, name), [leaf(x)])


# ----- hardtanh -------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lo,hi", [(-1.0, 1.0), (-0.5, 2.0), (0.0, 6.0)])
def test_hardtanh_forward(dtype, lo, hi):
    x = (3 * np.random.default_rng(2).standard_normal((4, 5))).astype(dtype)
    out = F.hardtanh(fg.tensor(x), lo, hi)
    assert out.dtype == dtype and out.shape == x.shape
    np.testing.assert_allclose(out.numpy(), np.clip(x, lo, hi), **tol(dtype))


def test_hardtanh_defaults():
    x = np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0])
    np.testing.assert_array_equal(F.hardtanh(fg.tensor(x)).numpy(), np.clip(x, -1, 1))


@pytest.mark.parametrize("shape", SHAPES)
def test_hardtanh_gradcheck(shape):
    x = away_from(2 * np.random.default_rng(3).standard_normal(shape), [-1.0, 1.0, -0.5, 0.7])
    assert fg.gradcheck(F.hardtanh, [leaf(x)])
    assert fg.gradcheck(lambda t: F.hardtanh(t, -0.5, 0.7), [leaf(x)])


@pytest.mark.parametrize("dtype", DTYPES)
def test_hardtanh_backward_values(dtype):
    x = leaf([-2.0, -0.5, 0.5, 2.0], dtype)
    F.hardtanh(x).sum().backward()
    assert x.grad.dtype == dtype
    np.testing.assert_array_equal(x.grad.numpy(), [0, 1, 1, 0])


def test_hardtanh_bad_interval():
    with pytest.raises(ValueError, match="hardtanh"):
        F.hardtanh(fg.tensor([1.0]), 1.0, -1.0)


# ----- leaky_relu -----------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("slope", [0.01, 0.2, -0.5])
def test_leaky_relu_forward(dtype, slope):
    x = np.random.default_rng(4).standard_normal((3, 5)).astype(dtype)
    out = F.leaky_relu(fg.tensor(x), slope)
    assert out.dtype == dtype
    np.testing.assert_allclose(out.numpy(), np.where(x > 0, x, slope * x), **tol(dtype))


def test_leaky_relu_default_slope():
    out = F.leaky_relu(fg.tensor(np.array([-2.0, 3.0])))
    np.testing.assert_allclose(out.numpy(), [-0.02, 3.0])


@pytest.mark.parametrize("shape", SHAPES)
def test_leaky_relu_gradcheck(shape):
    x = away_from(np.random.default_rng(5).standard_normal(shape), [0.0])
    assert fg.gradcheck(F.leaky_relu, [leaf(x)])
    assert fg.gradcheck(lambda t: F.leaky_relu(t, 0.3), [leaf(x)])


# ----- prelu ----------------------------------------------------------------------------
def np_prelu(x, w):
    w = np.asarray(w)
    if w.size > 1:
        w = w.reshape((1, -1) + (1,) * (x.ndim - 2))
    return np.where(x > 0, x, w * x)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,nw", [((6,), 1), ((3, 4), 1), ((3, 4), 4), ((2, 3, 5), 3),
                                      ((2, 3, 2, 2), 3), ((2, 3, 2, 2), 1)])
def test_prelu_forward(dtype, shape, nw):
    rng = np.random.default_rng(6)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.uniform(0.05, 0.5, nw).astype(dtype)
    out = F.prelu(fg.tensor(x), fg.tensor(w))
    assert out.dtype == dtype and out.shape == shape
    np.testing.assert_allclose(out.numpy(), np_prelu(x, w), **tol(dtype))


@pytest.mark.parametrize("shape,nw", [((6,), 1), ((3, 4), 4), ((2, 3, 5), 3),
                                      ((2, 3, 2, 2), 3), ((2, 3, 2, 2), 1)])
def test_prelu_gradcheck(shape, nw):
    rng = np.random.default_rng(7)
    x = away_from(rng.standard_normal(shape), [0.0])
    w = rng.uniform(0.05, 0.5, nw)
    assert fg.gradcheck(F.prelu, [leaf(x), leaf(w)])


def test_prelu_weight_grad_values():
    x = leaf([[-1.0, 2.0], [-3.0, -4.0]])
    w = leaf([0.1, 0.2])
    F.prelu(x, w).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [-4.0, -4.0])
    np.testing.assert_allclose(x.grad.numpy(), [[0.1, 1.0], [0.1, 0.2]])


def test_prelu_scalar_weight_and_frozen_weight():
    x = leaf([[-1.0, 2.0, -3.0]])
    w = fg.tensor(np.array(0.25))                     # 0-d, no grad
    out = F.prelu(x, w)
    np.testing.assert_allclose(out.numpy(), [[-0.25, 2.0, -0.75]])
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0.25, 1.0, 0.25]])


def test_prelu_bad_weight():
    x = fg.tensor(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"prelu.*\(4,\).*\(2, 3, 4\)"):
        F.prelu(x, fg.tensor(np.ones(4)))
    with pytest.raises(ValueError, match="prelu"):
        F.prelu(fg.tensor(np.zeros(5)), fg.tensor(np.ones(5)))   # 1-D input: one channel
    with pytest.raises(TypeError, match="prelu"):
        F.prelu(x, fg.tensor(np.ones(3, dtype=np.float32)))


# ----- softmax / log_softmax ------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,dim", [((5,), 0), ((3, 4), 1), ((3, 4), 0), ((2, 3, 4), -1),
                                       ((2, 3, 4), 1), ((2, 3, 4), 0), ((2, 3, 2, 2), 2)])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_forward(dtype, shape, dim, log):
    x = (3 * np.random.default_rng(8).standard_normal(shape)).astype(dtype)
    fn, ref = (F.log_softmax, np_log_softmax) if log else (F.softmax, np_softmax)
    out = fn(fg.tensor(x), dim=dim)
    assert out.dtype == dtype and out.shape == shape
    np.testing.assert_allclose(out.numpy(), ref(x.astype(np.float64), dim), **tol(dtype))


@pytest.mark.parametrize("shape,dim", [((5,), 0), ((3, 4), 1), ((3, 4), 0), ((2, 3, 4), 1),
                                       ((2, 3, 2, 2), -1)])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_gradcheck(shape, dim, log):
    fn = F.log_softmax if log else F.softmax
    x = np.random.default_rng(9).standard_normal(shape)
    assert fg.gradcheck(lambda t: fn(t, dim=dim), [leaf(x)])


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_large_inputs_stable(dtype):
    x = np.array([[1e4, 0.0, -1e4], [5e3, 5e3, 5e3], [-1e4, -1e4 + 1, -1e4]], dtype=dtype)
    s = F.softmax(fg.tensor(x), dim=1).numpy()
    ls = F.log_softmax(fg.tensor(x), dim=1).numpy()
    assert np.all(np.isfinite(s)) and np.all(np.isfinite(ls))
    np.testing.assert_allclose(s, np_softmax(x.astype(np.float64), 1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ls, np_log_softmax(x.astype(np.float64), 1), rtol=1e-5, atol=1e-3)
    t = leaf(x, dtype)
    F.log_softmax(t, dim=1).sum().backward()
    assert np.all(np.isfinite(t.grad.numpy()))


def test_softmax_implicit_dim_warns():
    x = np.random.default_rng(10).standard_normal((2, 3))
    with pytest.warns(UserWarning, match="implicit"):
        out = F.softmax(fg.tensor(x))
    np.testing.assert_allclose(out.numpy(), np_softmax(x, 1))


def test_softmax_dtype_argument():
    out = F.softmax(fg.tensor(np.ones((2, 2), dtype=np.float32)), dim=1, dtype=np.float64)
    assert out.dtype == np.float64


def test_softmax_bad_dim():
    with pytest.raises(IndexError, match=r"softmax.*\(2, 3\)"):
        F.softmax(fg.tensor(np.zeros((2, 3))), dim=2)
    with pytest.raises(IndexError, match="log_softmax"):
        F.log_softmax(fg.tensor(np.zeros((2, 3))), dim=-3)


def test_softmax_after_inplace_edit_of_output_raises():
    x = leaf(np.zeros((2, 3)))
    y = F.softmax(x, dim=1)
    with fg.no_grad():
        y.mul_(2.0)
    with pytest.raises(RuntimeError, match="SoftmaxBackward"):
        y.sum().backward()


@pytest.mark.parametrize("fn", [lambda t: F.hardtanh(t), lambda t: F.leaky_relu(t),
                                lambda t: F.softmax(t, dim=0), lambda t: F.log_softmax(t, dim=0)])
def test_inputs_not_modified(fn):
    x = np.random.default_rng(11).standard_normal(6)
    t = leaf(x.copy())
    fn(t).sum().backward()
    np.testing.assert_array_equal(t.numpy(), x)


def test_no_grad_records_nothing():
    x = leaf(np.ones(3))
    with fg.no_grad():
        for out in (F.hardtanh(x), F.leaky_relu(x), F.softmax(x, dim=0),
                    F.prelu(x, leaf([0.1]))):
            assert not out.requires_grad
