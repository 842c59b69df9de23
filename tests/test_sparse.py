"""SparseRowGrad: coalesce and to_dense against numpy."""
import numpy as np
import pytest

from fastgrad.sparse import SparseRowGrad


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_coalesce_sums_duplicates_in_sorted_rows(dtype, rng):
    indices = np.array([3, 1, 3, 0, 1, 3])
    values = rng.normal(size=(6, 2)).astype(dtype)
    g = SparseRowGrad(indices, values, (5, 2))
    c = g.coalesce()
    assert c.indices.tolist() == [0, 1, 3] and c.values.dtype == dtype
    dense = np.zeros((5, 2), dtype)
    np.add.at(dense, indices, values)
    np.testing.assert_allclose(c.values, dense[[0, 1, 3]], rtol=1e-6)
    np.testing.assert_allclose(g.to_dense(), dense, rtol=1e-6)
    empty = SparseRowGrad(np.array([], dtype=np.int64), np.zeros((0, 2), dtype), (5, 2))
    assert empty.coalesce().values.shape == (0, 2) and not empty.to_dense().any()


def test_bad_input():
    with pytest.raises(IndexError, match="row index out of range"):
        SparseRowGrad([5], np.zeros((1, 2)), (5, 2))
    with pytest.raises(ValueError, match="do not match"):
        SparseRowGrad([1, 2], np.zeros((1, 2)), (5, 2))
