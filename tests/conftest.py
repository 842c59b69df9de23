import numpy as np
import pytest

import fastgrad as fg

DTYPES = [np.float32, np.float64]


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def leaf(array, dtype=np.float64):
    """A float leaf tensor that requires grad."""
    return fg.tensor(np.asarray(array, dtype=dtype), requires_grad=True)


def tol(dtype):
    return dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
