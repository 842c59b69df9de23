"""fastgrad._kernels.optim wrappers: input checks happen before the nogil kernels."""
import numpy as np
import pytest

from fastgrad._kernels import optim as k


def test_size_mismatch_raises():
    p, g, m = np.zeros(4), np.zeros(3), np.zeros(4)
    with pytest.raises(ValueError, match="grad has 3 elements"):
        k.adam(p, g, m, m.copy(), None, 1, 1e-3, 0.9, 0.999, 1e-8, 0.0, False, False)
    with pytest.raises(ValueError, match="momentum_buffer"):
        k.sgd(p, np.zeros(4), np.zeros(5), 0.1, 0.9, 0.0, 0.0, False, False, True)


def test_dtype_mismatch_raises():
    with pytest.raises((TypeError, ValueError)):
        k.sgd(np.zeros(3, np.float32), np.zeros(3), None, 0.1, 0.0, 0.0, 0.0, False, False, False)


@pytest.mark.parametrize("indices", [[0, 5], [-1, 2], [2, 1], [1, 1]])
def test_sparse_adam_rejects_bad_indices(indices):
    p, m, v = np.zeros(10), np.zeros(10), np.zeros(10)  # 5 rows of width 2
    idx = np.array(indices, np.int64)
    with pytest.raises(ValueError, match="indices"):
        k.sparse_adam(p, idx, np.ones(4), m, v, 2, 1, 1e-3, 0.9, 0.999, 1e-8, False)
    assert not p.any() and not m.any()


def test_adafactor_shape_mismatch_raises():
    p = np.zeros(12)
    with pytest.raises(ValueError, match="does not match"):
        k.adafactor(p, p.copy(), np.zeros(3), np.zeros(4), 1, 3, 5, 1, 1e-2, -0.8, 1e-30, 1e-3,
                    1.0, 0.0, False)
    with pytest.raises(ValueError, match="col_var"):
        k.adafactor(p, p.copy(), np.zeros(3), np.zeros(5), 1, 3, 4, 1, 1e-2, -0.8, 1e-30, 1e-3,
                    1.0, 0.0, False)


def test_float32_and_float64_specialisations_agree():
    rng = np.random.default_rng(0)
    p64, g64 = rng.standard_normal(50), rng.standard_normal(50)
    p32, g32 = p64.astype(np.float32), g64.astype(np.float32)
    for p, g in ((p64, g64), (p32, g32)):
        k.adam(p, g, np.zeros_like(p), np.zeros_like(p), None, 1, 0.1, 0.9, 0.999, 1e-8, 0.0,
               False, False)
    np.testing.assert_allclose(p32, p64, rtol=1e-6, atol=1e-6)
