"""fastgrad.nn.functional embedding, dropout, linear and the penalties."""
import numpy as np
import pytest

import fastgrad as fg
import fastgrad.nn.functional as F

DTYPES = [np.float32, np.float64]


def leaf(array, dtype=np.float64):
    """A float leaf that requires grad (from_numpy keeps 0-d shapes on every core version)."""
    return fg.from_numpy(np.array(array, dtype=dtype)).requires_grad_()


def tol(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


# ----- embedding ------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("idx_shape", [(), (4,), (2, 3), (2, 2, 2)])
def test_embedding_forward(dtype, idx_shape):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((7, 3)).astype(dtype)
    idx = np.asarray(rng.integers(0, 7, idx_shape))
    out = F.embedding(idx, fg.tensor(w))
    assert out.dtype == dtype and out.shape == idx_shape + (3,)
    np.testing.assert_array_equal(out.numpy(), w[idx])


@pytest.mark.parametrize("idx", [np.array([0, 3, 3, 5]), np.array([[1, 2], [2, 1]]),
                                 np.array([[4, 4, 4]])])
@pytest.mark.parametrize("sparse", [False, True])
def test_embedding_gradcheck(idx, sparse):
    w = np.random.default_rng(1).standard_normal((6, 4))
    assert fg.gradcheck(lambda t: F.embedding(idx, t, sparse=sparse), [leaf(w)])


@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding_dense_grad_is_scatter_add(dtype):
    rng = np.random.default_rng(2)
    w = leaf(rng.standard_normal((5, 2)), dtype)
    idx = np.array([[0, 4], [4, 2], [4, 0]])
    g = rng.standard_normal((3, 2, 2)).astype(dtype)
    F.embedding(idx, w).backward(g)
    expected = np.zeros((5, 2))
    np.add.at(expected, idx.reshape(-1), g.reshape(-1, 2))
    assert w.grad.dtype == dtype
    np.testing.assert_allclose(w.grad.numpy(), expected, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding_sparse_grad_equals_dense(dtype):
    rng = np.random.default_rng(3)
    table = rng.standard_normal((10, 3))
    idx = np.array([[7, 2, 7], [2, 7, 9]])                # duplicates
    g = rng.standard_normal((2, 3, 3)).astype(dtype)
    dense_w, sparse_w = leaf(table, dtype), leaf(table, dtype)
    F.embedding(idx, dense_w).backward(g)
    F.embedding(idx, sparse_w, sparse=True).backward(g)
    grad = sparse_w.grad
    assert getattr(grad, "is_sparse", False)
    assert grad.shape == (10, 3) and grad.dtype == dtype
    assert set(grad.indices.tolist()) == {2, 7, 9}        # only the used rows
    np.testing.assert_allclose(grad.to_dense(), dense_w.grad.numpy(), **tol(dtype))
    co = grad.coalesce()                                   # duplicates sum
    assert co.indices.tolist() == [2, 7, 9]
    np.testing.assert_allclose(co.values[1], g[0, 0] + g[0, 2] + g[1, 1], **tol(dtype))


def test_embedding_sparse_accumulates_across_backward_calls():
    w = leaf(np.zeros((4, 2)))
    F.embedding(np.array([1]), w, sparse=True).sum().backward()
    F.embedding(np.array([3, 1]), w, sparse=True).sum().backward()
    assert w.grad.is_sparse
    np.testing.assert_array_equal(w.grad.to_dense(), [[0, 0], [2, 2], [0, 0], [1, 1]])


def test_embedding_sparse_on_non_leaf_falls_back_to_dense():
    w = leaf(np.ones((4, 2)))
    F.embedding(np.array([0, 0, 2]), w * 2.0, sparse=True).sum().backward()
    assert not getattr(w.grad, "is_sparse", False)
    np.testing.assert_array_equal(w.grad.numpy(), [[4, 4], [0, 0], [2, 2], [0, 0]])


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("padding_idx", [2, -3])
def test_embedding_padding_idx_gets_no_gradient(sparse, padding_idx):
    w = leaf(np.random.default_rng(4).standard_normal((5, 2)))
    idx = np.array([[2, 1], [2, 4]])
    out = F.embedding(idx, w, padding_idx=padding_idx, sparse=sparse)
    np.testing.assert_array_equal(out.numpy(), w.numpy()[idx])
    out.sum().backward()
    dense = w.grad.to_dense() if sparse else w.grad.numpy()
    np.testing.assert_array_equal(dense, [[0, 0], [1, 1], [0, 0], [0, 0], [1, 1]])
    if sparse:
        assert 2 not in w.grad.indices.tolist()
    # the remaining rows still pass gradcheck
    assert fg.gradcheck(lambda t: F.embedding(np.array([1, 4, 1]), t, padding_idx=padding_idx,
                                              sparse=sparse), [leaf(w.numpy())])


def test_embedding_bad_inputs():
    w = fg.tensor(np.zeros((5, 3)))
    with pytest.raises(IndexError, match=r"embedding.*index 5.*\(5, 3\)"):
        F.embedding(np.array([0, 5]), w)
    with pytest.raises(IndexError, match="index -1"):
        F.embedding(np.array([[0], [-1]]), w)
    with pytest.raises(TypeError, match=r"embedding.*float64.*\(2,\)"):
        F.embedding(np.array([0.0, 1.0]), w)
    with pytest.raises(TypeError, match="embedding"):
        F.embedding(fg.tensor(np.array([1.0])), w)
    with pytest.raises(TypeError, match="embedding.*weight"):
        F.embedding(np.array([0]), fg.tensor(np.zeros((5, 3), dtype=np.int64)))
    with pytest.raises(ValueError, match=r"embedding.*2-D.*\(5,\)"):
        F.embedding(np.array([0]), fg.tensor(np.zeros(5)))
    with pytest.raises(ValueError, match="padding_idx"):
        F.embedding(np.array([0]), w, padding_idx=5)
    with pytest.raises(NotImplementedError):
        F.embedding(np.array([0]), w, max_norm=1.0)


def test_embedding_does_not_modify_inputs():
    idx = np.array([[3, 1], [1, 0]], dtype=np.int32)
    table = np.random.default_rng(5).standard_normal((4, 2))
    w = leaf(table.copy())
    F.embedding(idx, w, padding_idx=1).sum().backward()
    np.testing.assert_array_equal(idx, [[3, 1], [1, 0]])
    np.testing.assert_array_equal(w.numpy(), table)


# ----- dropout --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_scaled_and_reproducible(dtype, p):
    x = np.random.default_rng(6).uniform(1, 2, (50, 40)).astype(dtype)
    fg.manual_seed(123)
    a = F.dropout(fg.tensor(x), p).numpy()
    fg.manual_seed(123)
    b = F.dropout(fg.tensor(x), p).numpy()
    np.testing.assert_array_equal(a, b)
    assert a.dtype == dtype
    kept = a != 0
    np.testing.assert_allclose(a[kept], x[kept] / (1 - p), **tol(dtype))
    assert abs(kept.mean() - (1 - p)) < 0.05                     # 2000 draws
    fg.manual_seed(123)                                          # mask: numpy reference
    u = fg.creation.generator().random(x.size).reshape(x.shape)
    np.testing.assert_array_equal(kept, u >= p)


def test_dropout_different_seeds_differ():
    x = fg.tensor(np.ones(100))
    fg.manual_seed(1)
    a = F.dropout(x).numpy()
    fg.manual_seed(2)
    b = F.dropout(x).numpy()
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_identity_when_not_training(dtype):
    x = fg.tensor(np.arange(6, dtype=dtype))
    out = F.dropout(x, 0.5, training=False)
    np.testing.assert_array_equal(out.numpy(), x.numpy())
    np.testing.assert_array_equal(F.dropout(x, 0.0).numpy(), x.numpy())


def test_dropout_p_one_zeroes():
    x = leaf(np.ones((3, 3)))
    out = F.dropout(x, 1.0)
    np.testing.assert_array_equal(out.numpy(), 0)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 0)


@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 2)])
def test_dropout_gradcheck(shape):
    x = np.random.default_rng(7).standard_normal(shape)

    def fn(t):
        fg.manual_seed(42)                     # the same mask on every evaluation
        return F.dropout(t, 0.4)
    assert fg.gradcheck(fn, [leaf(x)])


def test_dropout_backward_uses_mask_and_scale():
    x = leaf(np.ones(1000))
    fg.manual_seed(3)
    out = F.dropout(x, 0.25)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), out.numpy())     # x = 1: grad = mask / (1 - p)


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_bad_p(p):
    with pytest.raises(ValueError, match="dropout"):
        F.dropout(fg.tensor(np.ones(3)), p)


def test_dropout_does_not_modify_input():
    x = np.ones(10)
    t = leaf(x.copy())
    F.dropout(t, 0.5).sum().backward()
    np.testing.assert_array_equal(t.numpy(), x)


# ----- linear ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape", [(4,), (3, 4), (2, 3, 4)])
@pytest.mark.parametrize("with_bias", [False, True])
def test_linear_forward(dtype, x_shape, with_bias):
    rng = np.random.default_rng(8)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal((5, 4)).astype(dtype)
    b = rng.standard_normal(5).astype(dtype)
    out = F.linear(fg.tensor(x), fg.tensor(w), fg.tensor(b) if with_bias else None)
    assert out.dtype == dtype and out.shape == x_shape[:-1] + (5,)
    ref = x.astype(np.float64) @ w.T.astype(np.float64) + (b if with_bias else 0)
    np.testing.assert_allclose(out.numpy(), ref, **tol(dtype))


@pytest.mark.parametrize("x_shape,out_f", [((4,), 3), ((3, 4), 5), ((2, 3, 4), 2), ((1, 1), 1)])
def test_linear_gradcheck(x_shape, out_f):
    rng = np.random.default_rng(9)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((out_f, x_shape[-1]))
    b = rng.standard_normal(out_f)
    assert fg.gradcheck(F.linear, [leaf(x), leaf(w), leaf(b)])
    assert fg.gradcheck(F.linear, [leaf(x), leaf(w)])
    assert fg.gradcheck(lambda t: F.linear(t, fg.tensor(w), fg.tensor(b)), [leaf(x)])
    assert fg.gradcheck(lambda v: F.linear(fg.tensor(x), v), [leaf(w)])


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_transposed_weight_view(dtype):
    """A Fortran-ordered weight (a transposed view) goes to gemm with the flag flipped."""
    rng = np.random.default_rng(10)
    x = leaf(rng.standard_normal((3, 4)), dtype)
    wt = leaf(rng.standard_normal((4, 5)), dtype)       # weight = wt.T, shape (5, 4)
    out = F.linear(x, wt.T)
    np.testing.assert_allclose(out.numpy(), x.numpy() @ wt.numpy(), **tol(dtype))
    g = rng.standard_normal((3, 5)).astype(dtype)
    out.backward(g)
    np.testing.assert_allclose(x.grad.numpy(), g @ wt.numpy().T, **tol(dtype))
    np.testing.assert_allclose(wt.grad.numpy(), (g.T @ x.numpy()).T, **tol(dtype))
    assert fg.gradcheck(lambda a, b: F.linear(a, b.T), [leaf(x.numpy()), leaf(wt.numpy())])


def test_linear_grads_accumulate_beta_one():
    rng = np.random.default_rng(11)
    x, w, b = leaf(rng.standard_normal((2, 3))), leaf(rng.standard_normal((4, 3))), leaf(np.zeros(4))
    F.linear(x, w, b).sum().backward()
    F.linear(x, w, b).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), 2 * np.ones((4, 2)) @ x.numpy())
    np.testing.assert_allclose(b.grad.numpy(), [4, 4, 4, 4])


def test_linear_empty_batch_and_zero_features():
    w = fg.tensor(np.ones((3, 0)))
    b = fg.tensor(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(F.linear(fg.tensor(np.ones((2, 0))), w, b).numpy(),
                                  [[1, 2, 3], [1, 2, 3]])
    np.testing.assert_array_equal(F.linear(fg.tensor(np.ones((2, 0))), w).numpy(), np.zeros((2, 3)))
    assert F.linear(fg.tensor(np.ones((0, 4))), fg.tensor(np.ones((3, 4)))).shape == (0, 3)


def test_linear_bad_inputs():
    x = fg.tensor(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"linear.*\(2, 4\).*\(3, 5\)"):
        F.linear(x, fg.tensor(np.zeros((3, 5))))
    with pytest.raises(ValueError, match=r"linear.*bias of shape \(4,\)"):
        F.linear(x, fg.tensor(np.zeros((3, 4))), fg.tensor(np.zeros(4)))
    with pytest.raises(ValueError, match="linear"):
        F.linear(x, fg.tensor(np.zeros(4)))
    with pytest.raises(TypeError, match="linear.*float64.*float32"):
        F.linear(x, fg.tensor(np.zeros((3, 4), dtype=np.float32)))
    with pytest.raises(TypeError, match="linear"):
        F.linear(fg.tensor(np.zeros((2, 4), dtype=np.int64)), fg.tensor(np.zeros((3, 4))))


def test_linear_does_not_modify_inputs():
    rng = np.random.default_rng(12)
    xs, ws, bs = rng.standard_normal((2, 3)), rng.standard_normal((4, 3)), rng.standard_normal(4)
    x, w, b = leaf(xs.copy()), leaf(ws.copy()), leaf(bs.copy())
    F.linear(x, w, b).sum().backward()
    for t, a in ((x, xs), (w, ws), (b, bs)):
        np.testing.assert_array_equal(t.numpy(), a)


# ----- penalties ------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_penalties_forward(dtype):
    rng = np.random.default_rng(13)
    ps = [rng.standard_normal((3, 2)).astype(dtype), rng.standard_normal(4).astype(dtype)]
    ts = [fg.tensor(p) for p in ps]
    np.testing.assert_allclose(F.l2_penalty(ts).item(), sum((p.astype(np.float64) ** 2).sum() for p in ps),
                               **tol(dtype))
    np.testing.assert_allclose(F.l1_penalty(ts).item(), sum(np.abs(p.astype(np.float64)).sum() for p in ps),
                               **tol(dtype))
    np.testing.assert_allclose(F.l2_penalty(ts[0]).item(), (ps[0].astype(np.float64) ** 2).sum(),
                               **tol(dtype))
    assert F.l2_penalty([]).item() == 0 and F.l1_penalty(iter([])).item() == 0
    assert F.l2_penalty([]).shape == () and F.l2_penalty(ts).shape == ()


def test_penalties_gradcheck_and_values():
    rng = np.random.default_rng(14)
    a = rng.standard_normal((2, 3))
    a[np.abs(a) < 1e-3] = 0.5
    b = rng.standard_normal(3) + 0.1
    assert fg.gradcheck(lambda x, y: F.l2_penalty([x, y]), [leaf(a), leaf(b)])
    assert fg.gradcheck(lambda x, y: F.l1_penalty([x, y]), [leaf(a), leaf(b)])
    x = leaf(a)
    F.l2_penalty([x]).backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * a)
    x.grad = None
    F.l1_penalty(x).backward()
    np.testing.assert_allclose(x.grad.numpy(), np.sign(a))


def test_penalties_bad_input():
    with pytest.raises(TypeError, match="l2_penalty"):
        F.l2_penalty([np.ones(3)])


def test_functional_exports():
    for name in ["sigmoid", "tanh", "hardtanh", "relu", "leaky_relu", "prelu", "softmax",
                 "log_softmax", "cross_entropy", "nll_loss", "mse_loss",
                 "binary_cross_entropy_with_logits", "dropout", "embedding", "linear",
                 "l1_penalty", "l2_penalty"]:
        fn = getattr(F, name)
        assert callable(fn) and fn.__doc__ and "Parameters" in fn.__doc__, name
    assert F is fg.nn.functional if hasattr(fg, "nn") else True


def test_inplace_flag_accepted_false_only():
    x = fg.tensor(np.array([-1.0, 2.0]))
    for fn in (F.relu, F.hardtanh, F.leaky_relu, F.dropout):
        fn(x, inplace=False)
        with pytest.raises(NotImplementedError, match="inplace"):
            fn(x, inplace=True)
