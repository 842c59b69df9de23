"""fastgrad.nn.functional losses vs numpy references, gradchecks, stability, bad inputs."""
import numpy as np
import pytest

import fastgrad as fg
import fastgrad.nn.functional as F

DTYPES = [np.float32, np.float64]
REDUCTIONS = ["mean", "sum", "none"]


def leaf(array, dtype=np.float64):
    """A float leaf that requires grad (from_numpy keeps 0-d shapes on every core version)."""
    return fg.from_numpy(np.array(array, dtype=dtype)).requires_grad_()


def tol(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


def np_log_softmax(x):
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def np_nll(logp, t, weight=None, ignore_index=-100, reduction="mean"):
    """torch's nll_loss semantics for (N, C) log-probabilities."""
    logp = np.atleast_2d(logp)
    t = np.atleast_1d(t)
    c = logp.shape[1]
    w = np.ones(c) if weight is None else np.asarray(weight, dtype=np.float64)
    used = t != ignore_index
    safe = np.where(used, t, 0)
    wi = np.where(used, w[safe], 0.0)
    losses = -wi * logp[np.arange(len(t)), safe]
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / wi.sum()


def np_bce_logits(x, y, w=None, pw=None):
    p = 1 / (1 + np.exp(-x))
    pw = 1.0 if pw is None else pw
    loss = -(pw * y * np.log(p) + (1 - y) * np.log(1 - p))
    return loss if w is None else w * loss


def reduce_np(v, reduction):
    return v if reduction == "none" else (v.sum() if reduction == "sum" else v.mean())


# ----- cross_entropy --------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("n,c", [(1, 2), (4, 3), (7, 5)])
def test_cross_entropy_forward(dtype, reduction, n, c):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c)).astype(dtype)
    t = rng.integers(0, c, n)
    out = F.cross_entropy(fg.tensor(x), t, reduction=reduction)
    assert out.dtype == dtype
    assert out.shape == ((n,) if reduction == "none" else ())
    ref = np_nll(np_log_softmax(x.astype(np.float64)), t, reduction=reduction)
    np.testing.assert_allclose(out.numpy(), ref, **tol(dtype))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_1d_input(reduction):
    x = np.array([0.5, -1.0, 2.0])
    out = F.cross_entropy(fg.tensor(x), np.array(2), reduction=reduction)
    assert out.shape == ()
    np.testing.assert_allclose(out.item(), -np_log_softmax(x)[2])
    assert fg.gradcheck(lambda t: F.cross_entropy(t, 1, reduction=reduction), [leaf(x)])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("n,c", [(1, 2), (4, 3), (5, 6)])
def test_cross_entropy_gradcheck(reduction, n, c):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, c))
    t = rng.integers(0, c, n)
    assert fg.gradcheck(lambda z: F.cross_entropy(z, t, reduction=reduction), [leaf(x)])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_weights_and_ignore_index_vs_numpy(reduction):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 4))
    t = np.array([0, 3, -100, 2, 3, 1])
    w = np.array([0.5, 2.0, 1.0, 3.0])
    out = F.cross_entropy(fg.tensor(x), t, weight=fg.tensor(w), reduction=reduction)
    ref = np_nll(np_log_softmax(x), t, w, -100, reduction)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12)
    if reduction == "mean":          # divisor: sum of weights of used targets = 0.5+3+1+3+2
        np.testing.assert_allclose(out.item(), -(
            0.5 * np_log_softmax(x)[0, 0] + 3 * np_log_softmax(x)[1, 3] + np_log_softmax(x)[3, 2]
            + 3 * np_log_softmax(x)[4, 3] + 2 * np_log_softmax(x)[5, 1]) / 9.5, rtol=1e-12)
    assert fg.gradcheck(lambda z: F.cross_entropy(z, t, weight=w, reduction=reduction), [leaf(x)])


def test_cross_entropy_custom_ignore_index_gets_no_gradient():
    x = leaf(np.random.default_rng(3).standard_normal((3, 4)))
    t = np.array([1, 2, 1])
    F.cross_entropy(x, t, ignore_index=2).backward()
    np.testing.assert_array_equal(x.grad.numpy()[1], 0)
    ref = np_nll(np_log_softmax(x.numpy()), t, None, 2)
    np.testing.assert_allclose(F.cross_entropy(x, t, ignore_index=2).item(), ref)
    assert fg.gradcheck(lambda z: F.cross_entropy(z, t, ignore_index=2), [leaf(x.numpy())])


def test_cross_entropy_all_ignored_mean_is_nan():
    out = F.cross_entropy(fg.tensor(np.zeros((2, 3))), np.array([-100, -100]))
    assert np.isnan(out.item())
    assert F.cross_entropy(fg.tensor(np.zeros((2, 3))), np.array([-100, -100]),
                           reduction="sum").item() == 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_stable_at_1e4(dtype):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, -1e4], [1e4, 1e4, -1e4]], dtype=dtype)
    t = np.array([1, 1, 2])
    z = leaf(x, dtype)
    out = F.cross_entropy(z, t, reduction="none")
    ref = np.array([2e4, 0.0, 2e4 + np.log(2)])
    assert np.all(np.isfinite(out.numpy()))
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-6, atol=1e-6)
    out.sum().backward()
    g = z.grad.numpy()
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, [[1, -1, 0], [0, 0, 0], [0.5, 0.5, -1]], atol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_int32_targets_and_tensor_targets(dtype):
    x = np.random.default_rng(4).standard_normal((3, 4)).astype(dtype)
    a = F.cross_entropy(fg.tensor(x), np.array([0, 1, 3], dtype=np.int32))
    b = F.cross_entropy(fg.tensor(x), fg.tensor(np.array([0, 1, 3])))
    c = F.cross_entropy(fg.tensor(x), [0, 1, 3])
    np.testing.assert_allclose(a.numpy(), b.numpy())
    np.testing.assert_allclose(a.numpy(), c.numpy())


def test_cross_entropy_equals_log_softmax_then_nll():
    x = np.random.default_rng(5).standard_normal((4, 5))
    t = np.array([4, 0, 2, 2])
    fused = F.cross_entropy(fg.tensor(x), t)
    composed = F.nll_loss(F.log_softmax(fg.tensor(x), dim=1), t)
    np.testing.assert_allclose(fused.item(), composed.item(), rtol=1e-12)


def test_cross_entropy_legacy_flags():
    x = np.random.default_rng(6).standard_normal((3, 2))
    t = np.array([0, 1, 1])
    s = F.cross_entropy(fg.tensor(x), t, size_average=False)
    np.testing.assert_allclose(s.item(), F.cross_entropy(fg.tensor(x), t, reduction="sum").item())
    assert F.cross_entropy(fg.tensor(x), t, reduce=False).shape == (3,)


@pytest.mark.parametrize("fn", [F.cross_entropy, F.nll_loss])
def test_class_loss_bad_targets(fn):
    x = fg.tensor(np.zeros((3, 4)))
    with pytest.raises(IndexError, match=r"(cross_entropy|nll_loss).*4 classes.*\(3, 4\)"):
        fn(x, np.array([0, 4, 1]))
    with pytest.raises(IndexError, match="out of range"):
        fn(x, np.array([0, -1, 1]))
    with pytest.raises(TypeError, match=r"integer.*float32.*\(3,\).*\(3, 4\)"):
        fn(x, np.array([0.0, 1.0, 2.0], dtype=np.float32))
    with pytest.raises(TypeError, match="integer"):
        fn(x, fg.tensor(np.array([0.0, 1.0, 2.0])))
    with pytest.raises(TypeError, match="integer"):
        fn(x, np.array([True, False, True]))
    with pytest.raises(ValueError, match=r"target of shape \(2,\).*\(3, 4\)"):
        fn(x, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"weight of shape \(3,\)"):
        fn(x, np.array([0, 1, 2]), weight=np.ones(3))
    with pytest.raises(ValueError, match="reduction"):
        fn(x, np.array([0, 1, 2]), reduction="avg")
    with pytest.raises(ValueError, match=r"\(2, 3, 4\)"):
        fn(fg.tensor(np.zeros((2, 3, 4))), np.zeros((2, 4), dtype=np.int64))
    with pytest.raises(TypeError, match="float"):
        fn(fg.tensor(np.zeros((3, 4), dtype=np.int64)), np.array([0, 1, 2]))


def test_cross_entropy_label_smoothing_not_supported():
    with pytest.raises(NotImplementedError):
        F.cross_entropy(fg.tensor(np.zeros((1, 2))), np.array([0]), label_smoothing=0.1)


def test_class_loss_inputs_not_modified():
    x = np.random.default_rng(7).standard_normal((3, 4))
    t = np.array([1, -100, 3])
    w = np.array([1.0, 2.0, 3.0, 4.0])
    xs, ts, ws = x.copy(), t.copy(), w.copy()
    z = leaf(x)
    F.cross_entropy(z, t, weight=w).backward()
    F.nll_loss(z, t, weight=w).backward()
    np.testing.assert_array_equal(z.numpy(), xs)
    np.testing.assert_array_equal(t, ts)
    np.testing.assert_array_equal(w, ws)


# ----- nll_loss -------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_forward(dtype, reduction):
    rng = np.random.default_rng(8)
    logp = np_log_softmax(rng.standard_normal((5, 3))).astype(dtype)
    t = np.array([0, 2, 1, -100, 2])
    w = np.array([1.0, 0.5, 2.0])
    out = F.nll_loss(fg.tensor(logp), t, weight=w, reduction=reduction)
    assert out.dtype == dtype
    np.testing.assert_allclose(out.numpy(), np_nll(logp.astype(np.float64), t, w, -100, reduction),
                               **tol(dtype))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("n,c", [(1, 3), (4, 2), (6, 5)])
def test_nll_loss_gradcheck(reduction, n, c):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((n, c))
    t = rng.integers(0, c, n)
    w = rng.uniform(0.5, 2.0, c)
    assert fg.gradcheck(lambda z: F.nll_loss(z, t, reduction=reduction), [leaf(x)])
    assert fg.gradcheck(lambda z: F.nll_loss(z, t, weight=w, reduction=reduction), [leaf(x)])


# ----- mse_loss -------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(), (5,), (3, 4), (2, 3, 2)])
def test_mse_forward(dtype, reduction, shape):
    rng = np.random.default_rng(10)
    x = np.asarray(rng.standard_normal(shape)).astype(dtype)
    y = np.asarray(rng.standard_normal(shape)).astype(dtype)
    out = F.mse_loss(fg.tensor(x), fg.tensor(y), reduction=reduction)
    assert out.dtype == dtype
    ref = reduce_np((x.astype(np.float64) - y) ** 2, reduction)
    np.testing.assert_allclose(out.numpy(), ref, **tol(dtype))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(), (5,), (3, 4), (2, 3, 2)])
def test_mse_gradcheck(reduction, shape):
    rng = np.random.default_rng(11)
    x = np.asarray(rng.standard_normal(shape))
    y = np.asarray(rng.standard_normal(shape))
    assert fg.gradcheck(lambda a, b: F.mse_loss(a, b, reduction=reduction), [leaf(x), leaf(y)])
    assert fg.gradcheck(lambda a: F.mse_loss(a, y, reduction=reduction), [leaf(x)])


def test_mse_bad_shapes():
    with pytest.raises(ValueError, match=r"mse_loss.*\(3,\).*\(4,\)"):
        F.mse_loss(fg.tensor(np.zeros(3)), fg.tensor(np.zeros(4)))
    with pytest.raises(TypeError, match="mse_loss"):
        F.mse_loss(fg.tensor(np.zeros(3)), fg.tensor(np.zeros(3, dtype=np.float32)))
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(fg.tensor(np.zeros(3)), fg.tensor(np.zeros(3)), reduction="bad")


# ----- binary_cross_entropy_with_logits ---------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_bce_logits_forward(dtype, reduction, weighted):
    rng = np.random.default_rng(12)
    x = rng.standard_normal((4, 3)).astype(dtype)
    y = rng.uniform(0, 1, (4, 3)).astype(dtype)
    w = rng.uniform(0.5, 2, (4, 1)) if weighted else None
    pw = rng.uniform(0.5, 3, 3) if weighted else None
    out = F.binary_cross_entropy_with_logits(fg.tensor(x), fg.tensor(y), weight=w,
                                             reduction=reduction, pos_weight=pw)
    assert out.dtype == dtype
    ref = reduce_np(np_bce_logits(x.astype(np.float64), y.astype(np.float64), w, pw), reduction)
    np.testing.assert_allclose(out.numpy(), ref, **tol(dtype))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 2, 3)])
def test_bce_logits_gradcheck(reduction, shape):
    rng = np.random.default_rng(13)
    x = 3 * rng.standard_normal(shape)
    y = rng.uniform(0, 1, shape)
    pw = rng.uniform(0.5, 3, shape[-1])
    w = rng.uniform(0.5, 2, shape)
    fn = F.binary_cross_entropy_with_logits
    assert fg.gradcheck(lambda a, b: fn(a, b, reduction=reduction), [leaf(x), leaf(y)])
    assert fg.gradcheck(lambda a, b: fn(a, b, weight=w, reduction=reduction, pos_weight=pw),
                        [leaf(x), leaf(y)])


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_logits_stable(dtype):
    x = np.array([1e4, -1e4, 1e4, -1e4, 0.0], dtype=dtype)
    y = np.array([1.0, 0.0, 0.0, 1.0, 1.0], dtype=dtype)
    z = leaf(x, dtype)
    out = F.binary_cross_entropy_with_logits(z, fg.tensor(y), reduction="none")
    np.testing.assert_allclose(out.numpy(), [0, 0, 1e4, 1e4, np.log(2)], rtol=1e-6, atol=1e-6)
    out.sum().backward()
    np.testing.assert_allclose(z.grad.numpy(), [0, 0, 1, -1, -0.5], atol=1e-6)


def test_bce_logits_bad_inputs():
    fn = F.binary_cross_entropy_with_logits
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        fn(fg.tensor(np.zeros(3)), fg.tensor(np.zeros(2)))
    with pytest.raises(ValueError, match=r"pos_weight of shape \(2,\).*\(4, 3\)"):
        fn(fg.tensor(np.zeros((4, 3))), fg.tensor(np.zeros((4, 3))), pos_weight=np.ones(2))
    with pytest.raises(ValueError, match=r"weight of shape \(5,\)"):
        fn(fg.tensor(np.zeros((4, 3))), fg.tensor(np.zeros((4, 3))), weight=np.ones(5))


def test_losses_do_not_modify_inputs():
    rng = np.random.default_rng(14)
    x, y, pw = rng.standard_normal((3, 2)), rng.uniform(0, 1, (3, 2)), np.array([2.0, 3.0])
    a, b = leaf(x.copy()), leaf(y.copy())
    F.binary_cross_entropy_with_logits(a, b, pos_weight=pw).backward()
    F.mse_loss(a, b).backward()
    np.testing.assert_array_equal(a.numpy(), x)
    np.testing.assert_array_equal(b.numpy(), y)
    np.testing.assert_array_equal(pw, [2.0, 3.0])


def test_loss_grads_accumulate_with_other_paths():
    x = leaf(np.random.default_rng(15).standard_normal((2, 3)))
    t = np.array([0, 2])
    (F.cross_entropy(x, t) + F.cross_entropy(x, t)).backward()
    twice = x.grad.numpy().copy()
    x.grad = None
    F.cross_entropy(x, t).backward()
    np.testing.assert_allclose(twice, 2 * x.grad.numpy())
