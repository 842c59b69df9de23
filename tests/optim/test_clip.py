"""fastgrad.nn.utils gradient clipping vs numpy."""
import math

import numpy as np
import pytest

import fastgrad as fg
from fastgrad.nn.utils import clip_grad_norm_, clip_grad_value_


def params_with_grads(grads, dtype=np.float64):
    params = []
    for g in grads:
        p = fg.tensor(np.zeros(np.shape(g), dtype), dtype=dtype, requires_grad=True)
        if g is not None:
            p.grad = fg.tensor(np.asarray(g, dtype), dtype=dtype)
        params.append(p)
    return params


def rand_grads(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in [(3,), (2, 4), ()]]


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
def test_clip_grad_norm_scales_to_max_norm(norm_type):
    grads = rand_grads()
    params = params_with_grads(grads)
    flat = np.concatenate([g.ravel() for g in grads])
    want = np.max(np.abs(flat)) if norm_type == math.inf else \
        np.sum(np.abs(flat) ** norm_type) ** (1 / norm_type)
    total = clip_grad_norm_(params, max_norm=0.5, norm_type=norm_type)
    assert total.shape == () and math.isclose(total.item(), want, rel_tol=1e-12)
    coef = 0.5 / (want + 1e-6)
    for p, g in zip(params, grads):
        np.testing.assert_allclose(p.grad.numpy(), g * coef, rtol=1e-12)
    clipped = np.concatenate([p.grad.numpy().ravel() for p in params])
    got_norm = np.max(np.abs(clipped)) if norm_type == math.inf else \
        np.sum(np.abs(clipped) ** norm_type) ** (1 / norm_type)
    assert got_norm <= 0.5


def test_clip_grad_norm_below_max_leaves_grads_unchanged():
    grads = rand_grads(1)
    params = params_with_grads(grads)
    total = clip_grad_norm_(params, max_norm=100.0)
    assert total.item() < 100
    for p, g in zip(params, grads):
        np.testing.assert_array_equal(p.grad.numpy(), g)


def test_clip_grad_norm_skips_missing_grads_and_accepts_a_single_tensor():
    params = params_with_grads([np.array([3.0, 4.0]), None])
    assert params[1].grad is None
    total = clip_grad_norm_(params, 1.0)
    assert math.isclose(total.item(), 5.0)
    assert params[1].grad is None
    single = params_with_grads([np.array([6.0, 8.0])])[0]
    assert math.isclose(clip_grad_norm_(single, 5.0).item(), 10.0)
    np.testing.assert_allclose(single.grad.numpy(), [3.0, 4.0], rtol=1e-6)


def test_clip_grad_norm_float32_returns_float32():
    params = params_with_grads(rand_grads(2), dtype=np.float32)
    total = clip_grad_norm_(params, 0.1)
    assert total.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in params)


def test_clip_grad_norm_nonfinite():
    params = params_with_grads([np.array([1.0, np.nan])])
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(params[0].grad.numpy()[0], 1.0)  # untouched on error
    assert math.isnan(clip_grad_norm_(params, 1.0).item())


def test_clip_grad_norm_bad_norm_type_raises():
    with pytest.raises(ValueError, match="norm_type"):
        clip_grad_norm_(params_with_grads(rand_grads()), 1.0, norm_type=0.0)


def test_clip_grad_norm_sparse_gradient_uses_the_dense_norm():
    p = fg.tensor(np.zeros((4, 2)), requires_grad=True)
    values = np.array([[3.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    p.grad = fg.SparseRowGrad(np.array([1, 2, 1]), values, (4, 2))
    dense = p.grad.to_dense()  # row 1 = [4, 0]
    total = clip_grad_norm_([p], 1.0)
    assert math.isclose(total.item(), np.linalg.norm(dense), rel_tol=1e-12)
    np.testing.assert_allclose(p.grad.to_dense(), dense / (np.linalg.norm(dense) + 1e-6),
                               rtol=1e-12)


def test_clip_grad_value():
    grads = rand_grads(3)
    params = params_with_grads(grads + [None])
    clip_grad_value_(params, 0.5)
    for p, g in zip(params, grads):
        np.testing.assert_array_equal(p.grad.numpy(), np.clip(g, -0.5, 0.5))
    assert params[-1].grad is None
    with pytest.raises(ValueError, match="clip_value"):
        clip_grad_value_(params, -1.0)
