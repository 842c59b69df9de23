"""nn.init: gains, distributions' bounds and moments, fans, in-place semantics, seeding."""
import math

import numpy as np
import pytest

import fastgrad as fg
from fastgrad.nn import init

DTYPES = [np.float32, np.float64]


def _empty(*shape, dtype=np.float32):
    return fg.zeros(*shape, dtype=dtype)


@pytest.mark.parametrize("name, param, gain", [
    ("linear", None, 1.0), ("conv2d", None, 1.0), ("sigmoid", None, 1.0), ("tanh", None, 5 / 3),
    ("relu", None, math.sqrt(2)), ("leaky_relu", None, math.sqrt(2 / (1 + 0.01 ** 2))),
    ("leaky_relu", 0.2, math.sqrt(2 / 1.04)), ("leaky_relu", math.sqrt(5), math.sqrt(1 / 3)),
    ("selu", None, 0.75)])
def test_calculate_gain_table(name, param, gain):
    assert init.calculate_gain(name, param) == pytest.approx(gain, rel=1e-12)


def test_calculate_gain_errors():
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="not a valid number"):
        init.calculate_gain("leaky_relu", True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_functions_fill_in_place_return_the_tensor_and_bump_the_version(dtype):
    t = fg.zeros(4, 5, dtype=dtype, requires_grad=True)      # a leaf that requires grad
    buffer = t.numpy()
    for fn in (init.uniform_, init.normal_, init.xavier_uniform_, init.kaiming_normal_, init.ones_):
        version = t._version
        assert fn(t) is t
        assert t.numpy() is buffer and t._version > version and t.dtype == dtype
        assert t.requires_grad and t.is_leaf
    np.testing.assert_array_equal(t.numpy(), 1)
    init.constant_(t, 2.5)
    np.testing.assert_array_equal(t.numpy(), 2.5)
    init.zeros_(t)
    np.testing.assert_array_equal(t.numpy(), 0)


def test_uniform_and_normal_statistics():
    fg.manual_seed(0)
    u = init.uniform_(_empty(200, 500, dtype=np.float64), -2.0, 3.0).numpy()
    assert u.min() >= -2.0 and u.max() < 3.0
    assert u.mean() == pytest.approx(0.5, abs=0.02)
    assert u.std() == pytest.approx(5 / math.sqrt(12), rel=0.01)
    n = init.normal_(_empty(200, 500, dtype=np.float64), mean=1.0, std=0.5).numpy()
    assert n.mean() == pytest.approx(1.0, abs=0.005)
    assert n.std() == pytest.approx(0.5, rel=0.01)


def test_trunc_normal_stays_in_bounds():
    fg.manual_seed(0)
    t = init.trunc_normal_(_empty(100, 100), mean=0.0, std=1.0, a=-0.5, b=1.0).numpy()
    assert t.min() >= -0.5 and t.max() <= 1.0
    assert t.min() < -0.49 and t.max() > 0.99                     # the whole interval is used
    with pytest.raises(ValueError, match="too far"):
        init.trunc_normal_(_empty(2, 2), mean=0.0, std=1.0, a=10.0, b=11.0)


@pytest.mark.parametrize("shape, fan_in, fan_out", [((30, 20), 20, 30), ((8, 4, 3, 3), 36, 72)])
def test_xavier_uniform_bound_and_xavier_normal_std(shape, fan_in, fan_out):
    fg.manual_seed(1)
    gain = init.calculate_gain("tanh")
    bound = gain * math.sqrt(6 / (fan_in + fan_out))
    w = init.xavier_uniform_(_empty(*shape, dtype=np.float64), gain=gain).numpy()
    assert np.abs(w).max() <= bound
    assert np.abs(w).max() > 0.95 * bound
    big = (400,) + shape[1:]
    fan_in_big, fan_out_big = fan_in, fan_out * 400 // shape[0]
    w = init.xavier_normal_(_empty(*big, dtype=np.float64)).numpy()
    assert w.std() == pytest.approx(math.sqrt(2 / (fan_in_big + fan_out_big)), rel=0.03)


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("nonlinearity, a", [("relu", 0.0), ("leaky_relu", 0.2), ("tanh", 0.0)])
def test_kaiming_uniform_bound_and_normal_std(mode, nonlinearity, a):
    fg.manual_seed(2)
    shape = (300, 200)
    fan = 200 if mode == "fan_in" else 300
    std = init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    w = init.kaiming_uniform_(_empty(*shape, dtype=np.float64), a=a, mode=mode,
                              nonlinearity=nonlinearity).numpy()
    assert np.abs(w).max() <= math.sqrt(3) * std
    assert np.abs(w).max() > 0.99 * math.sqrt(3) * std
    assert w.std() == pytest.approx(std, rel=0.02)
    w = init.kaiming_normal_(_empty(*shape, dtype=np.float64), a=a, mode=mode,
                             nonlinearity=nonlinearity).numpy()
    assert w.std() == pytest.approx(std, rel=0.02)


def test_kaiming_uniform_default_of_linear_is_one_over_sqrt_fan_in():
    fg.manual_seed(3)
    w = init.kaiming_uniform_(_empty(500, 64, dtype=np.float64), a=math.sqrt(5)).numpy()
    assert np.abs(w).max() <= 1 / 8 and np.abs(w).max() > 0.99 / 8


def test_fan_errors():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(_empty(5))
    with pytest.raises(ValueError, match="mode 'fan_avg' not supported"):
        init.kaiming_normal_(_empty(2, 2), mode="fan_avg")
    with pytest.raises(TypeError, match="expected a fastgrad Tensor"):
        init.zeros_(np.zeros(3))


@pytest.mark.parametrize("fn", [init.uniform_, init.normal_, init.xavier_uniform_, init.xavier_normal_,
                                init.kaiming_uniform_, init.kaiming_normal_, init.trunc_normal_])
def test_manual_seed_reproduces_and_dtype_only_rounds(fn):
    fg.manual_seed(42)
    first = fn(_empty(6, 7, dtype=np.float64)).numpy().copy()
    following = fn(_empty(6, 7, dtype=np.float64)).numpy().copy()
    fg.manual_seed(42)
    again = fn(_empty(6, 7, dtype=np.float32)).numpy()
    assert not np.array_equal(first, following)
    np.testing.assert_array_equal(again, first.astype(np.float32))


def test_explicit_generator_is_used_instead_of_the_global_one():
    a = init.normal_(_empty(3, 3), generator=np.random.default_rng(5)).numpy().copy()
    b = init.normal_(_empty(3, 3), generator=np.random.default_rng(5)).numpy()
    np.testing.assert_array_equal(a, b)
