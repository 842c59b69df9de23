"""Layers: forward vs numpy, float64 gradcheck through inputs and parameters, default init,
float32 and float64, Embedding.from_pretrained/padding_idx, Dropout modes, Sequential."""
import math
from collections import OrderedDict

import numpy as np
import pytest

import fastgrad as fg
from fastgrad import nn

DTYPES = [np.float32, np.float64]


def _x(*shape, dtype=np.float64, seed=0, requires_grad=False):
    """Values away from 0 and +-1, so that kinks do not disturb finite differences."""
    rng = np.random.default_rng(seed)
    values = rng.uniform(0.1, 0.9, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    values += np.sign(values) * rng.choice([0.0, 1.0], size=shape)
    return fg.tensor(values.astype(dtype), requires_grad=requires_grad)


def _tol(dtype):
    return dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


def _gradcheck_layer(layer, x):
    """Gradcheck through the input and every parameter of ``layer``."""
    params = [p for p in layer.parameters() if p.requires_grad]
    assert fg.gradcheck(lambda x, *ps: layer(x), (x, *params))


# ----- Linear --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
def test_linear_forward_matches_numpy(dtype, bias):
    fg.manual_seed(0)
    layer = nn.Linear(4, 3, bias=bias, dtype=dtype)
    assert layer.weight.shape == (3, 4) and layer.weight.dtype == dtype
    assert (layer.bias is None) == (not bias)
    x = _x(5, 4, dtype=dtype)
    expected = x.numpy() @ layer.weight.numpy().T + (layer.bias.numpy() if bias else 0)
    y = layer(x)
    assert y.dtype == dtype
    np.testing.assert_allclose(y.numpy(), expected, **_tol(dtype))
    assert [n for n, _ in layer.named_parameters()] == (["weight", "bias"] if bias else ["weight"])


@pytest.mark.parametrize("shape", [(4,), (2, 4), (2, 3, 4)])
def test_linear_gradcheck(shape):
    fg.manual_seed(1)
    _gradcheck_layer(nn.Linear(4, 3, dtype=np.float64), _x(*shape, requires_grad=True))


def test_linear_default_init_is_uniform_one_over_sqrt_fan_in():
    fg.manual_seed(2)
    layer = nn.Linear(64, 400, dtype=np.float64)
    w, b = layer.weight.numpy(), layer.bias.numpy()
    bound = 1 / 8
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    assert np.abs(b).max() <= bound and np.abs(b).max() > 0.9 * bound


def test_linear_init_is_reproducible_under_manual_seed():
    fg.manual_seed(3)
    a = nn.Linear(5, 6)
    fg.manual_seed(3)
    b = nn.Linear(5, 6)
    c = nn.Linear(5, 6)
    np.testing.assert_array_equal(a.weight.numpy(), b.weight.numpy())
    np.testing.assert_array_equal(a.bias.numpy(), b.bias.numpy())
    assert not np.array_equal(a.weight.numpy(), c.weight.numpy())


def test_linear_without_inputs_has_a_zero_bias_and_outputs_zeros():
    layer = nn.Linear(0, 2)
    assert layer.weight.shape == (2, 0)
    np.testing.assert_array_equal(layer.bias.numpy(), [0, 0])
    np.testing.assert_array_equal(layer(fg.ones(3, 0)).numpy(), np.zeros((3, 2)))


def test_linear_repr_and_shape_error():
    assert repr(nn.Linear(2, 3)) == "Linear(in_features=2, out_features=3, bias=True)"
    assert repr(nn.Linear(2, 3, bias=False)) == "Linear(in_features=2, out_features=3, bias=False)"
    with pytest.raises(ValueError):
        nn.Linear(2, 3)(fg.ones(4, 5))


# ----- Embedding -----------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding_forward_is_row_lookup(dtype):
    fg.manual_seed(4)
    layer = nn.Embedding(10, 3, dtype=dtype)
    idx = np.array([[1, 4, 4], [9, 0, 2]])
    y = layer(fg.tensor(idx))
    assert y.shape == (2, 3, 3) and y.dtype == dtype
    np.testing.assert_array_equal(y.numpy(), layer.weight.numpy()[idx])


@pytest.mark.parametrize("sparse", [False, True])
def test_embedding_gradcheck_through_weight(sparse):
    fg.manual_seed(5)
    layer = nn.Embedding(6, 3, sparse=sparse, dtype=np.float64)
    idx = fg.tensor(np.array([0, 2, 2, 5]))
    assert fg.gradcheck(lambda w: layer(idx) * layer(idx), (layer.weight,))


def test_embedding_sparse_grad_touches_only_looked_up_rows():
    layer = nn.Embedding(6, 2, sparse=True)
    layer(fg.tensor(np.array([1, 3, 1]))).sum().backward()
    grad = layer.weight.grad
    assert grad.is_sparse
    np.testing.assert_array_equal(grad.to_dense()[:, 0], [0, 2, 0, 1, 0, 0])


def test_embedding_default_init_is_standard_normal_with_zero_padding_row():
    fg.manual_seed(6)
    layer = nn.Embedding(1000, 50, padding_idx=-1)
    assert layer.padding_idx == 999
    w = layer.weight.numpy()
    np.testing.assert_array_equal(w[999], 0)
    assert w[:999].std() == pytest.approx(1.0, rel=0.02)
    assert abs(w[:999].mean()) < 0.01


def test_embedding_padding_row_gets_no_gradient():
    fg.manual_seed(7)
    layer = nn.Embedding(5, 2, padding_idx=0)
    (layer(fg.tensor(np.array([0, 1, 0, 3]))) * 2.0).sum().backward()
    np.testing.assert_array_equal(layer.weight.grad.numpy(), [[0, 0], [2, 2], [0, 0], [2, 2], [0, 0]])


def test_embedding_errors_and_repr():
    with pytest.raises(ValueError, match="padding_idx 5 must be within num_embeddings"):
        nn.Embedding(5, 2, padding_idx=5)
    with pytest.raises(IndexError):
        nn.Embedding(5, 2)(fg.tensor(np.array([5])))
    assert repr(nn.Embedding(5, 2)) == "Embedding(5, 2)"
    assert repr(nn.Embedding(5, 2, padding_idx=1, sparse=True)) == "Embedding(5, 2, padding_idx=1, sparse=True)"


@pytest.mark.parametrize("dtype", DTYPES)
def test_from_pretrained_copies_keeps_dtype_and_padding_row(dtype):
    table = np.arange(12, dtype=dtype).reshape(4, 3)
    layer = nn.Embedding.from_pretrained(table, padding_idx=0)
    assert layer.weight.dtype == dtype and layer.weight.shape == (4, 3)
    np.testing.assert_array_equal(layer.weight.numpy(), table)          # padding row not zeroed
    table[1] = -1
    assert layer.weight.numpy()[1, 0] == 3                               # a copy
    from_tensor = nn.Embedding.from_pretrained(fg.tensor(table))
    np.testing.assert_array_equal(from_tensor.weight.numpy(), table)


def test_from_pretrained_frozen_weight_gets_no_grad_and_unfrozen_does():
    table = np.eye(4, dtype=np.float64)
    idx = fg.tensor(np.array([1, 3]))
    head = nn.Linear(4, 1, dtype=np.float64)
    frozen = nn.Embedding.from_pretrained(table)
    assert not frozen.weight.requires_grad and isinstance(frozen.weight, nn.Parameter)
    head(frozen(idx)).sum().backward()
    assert frozen.weight.grad is None and head.weight.grad is not None
    assert [n for n, p in frozen.named_parameters() if p.requires_grad] == []
    tuned = nn.Embedding.from_pretrained(table, freeze=False)
    assert tuned.weight.requires_grad
    head(tuned(idx)).sum().backward()
    grad = tuned.weight.grad.numpy()
    np.testing.assert_array_equal(grad[[0, 2]], 0)
    np.testing.assert_allclose(grad[1], head.weight.numpy()[0])
    np.testing.assert_allclose(grad[3], head.weight.numpy()[0])


def test_from_pretrained_rejects_non_2d():
    with pytest.raises(ValueError, match="must be 2-D"):
        nn.Embedding.from_pretrained(np.zeros(3))


# ----- Dropout -------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_training_zeroes_and_rescales_eval_is_identity(dtype):
    fg.manual_seed(8)
    layer = nn.Dropout(0.25)
    x = fg.ones(200, 50, dtype=dtype)
    y = layer(x).numpy()
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    assert kept.mean() == pytest.approx(0.75, abs=0.02)
    layer.eval()
    np.testing.assert_array_equal(layer(x).numpy(), x.numpy())


def test_dropout_mask_is_reproducible_under_manual_seed_and_p_is_checked():
    x = fg.ones(10, 10)
    fg.manual_seed(9)
    a = nn.Dropout()(x).numpy().copy()
    fg.manual_seed(9)
    b = nn.Dropout()(x).numpy()
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="between 0 and 1, but got 1.5"):
        nn.Dropout(1.5)
    assert repr(nn.Dropout(0.1)) == "Dropout(p=0.1)"


def test_dropout_follows_the_parent_mode():
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.9))
    model.eval()
    x = fg.ones(4, 3)
    np.testing.assert_array_equal(model(x).numpy(), model[0](x).numpy())


# ----- activations ---------------------------------------------------------------------
def _softmax(a, dim):
    e = np.exp(a - a.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


ACTIVATIONS = [
    (nn.ReLU(), lambda a: np.maximum(a, 0)),
    (nn.Tanh(), np.tanh),
    (nn.Sigmoid(), lambda a: 1 / (1 + np.exp(-a))),
    (nn.Hardtanh(), lambda a: np.clip(a, -1, 1)),
    (nn.Hardtanh(-0.5, 1.5), lambda a: np.clip(a, -0.5, 1.5)),
    (nn.LeakyReLU(), lambda a: np.where(a > 0, a, 0.01 * a)),
    (nn.LeakyReLU(0.2), lambda a: np.where(a > 0, a, 0.2 * a)),
    (nn.Softmax(dim=1), lambda a: _softmax(a, 1)),
    (nn.Softmax(dim=-1), lambda a: _softmax(a, -1)),
    (nn.LogSoftmax(dim=0), lambda a: np.log(_softmax(a, 0))),
    (nn.Identity(), lambda a: a),
]
IDS = ["relu", "tanh", "sigmoid", "hardtanh", "hardtanh_range", "leaky_relu", "leaky_relu_0.2",
       "softmax1", "softmax-1", "log_softmax0", "identity"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layer, reference", ACTIVATIONS, ids=IDS)
def test_activation_forward_matches_numpy(layer, reference, dtype):
    x = _x(3, 4, 5, dtype=dtype)
    y = layer(x)
    assert y.shape == x.shape and y.dtype == dtype
    np.testing.assert_allclose(y.numpy(), reference(x.numpy().astype(np.float64)),
                               rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6 if dtype == np.float32 else 1e-14)


@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 4)])
@pytest.mark.parametrize("layer", [a for a, _ in ACTIVATIONS if not isinstance(a, (nn.Softmax, nn.LogSoftmax))]
                         + [nn.Softmax(dim=0), nn.LogSoftmax(dim=-1)], ids=lambda m: repr(m))
def test_activation_gradcheck(layer, shape):
    assert fg.gradcheck(layer, (_x(*shape, requires_grad=True),))


@pytest.mark.parametrize("dtype", DTYPES)
def test_prelu_forward_per_channel_and_shared(dtype):
    x = _x(2, 3, 4, dtype=dtype)
    a = x.numpy()
    shared = nn.PReLU(dtype=dtype)
    assert shared.weight.shape == (1,) and shared.weight.numpy()[0] == 0.25
    np.testing.assert_allclose(shared(x).numpy(), np.where(a > 0, a, 0.25 * a), **_tol(dtype))
    per_channel = nn.PReLU(3, init=0.1, dtype=dtype)
    with fg.no_grad():
        per_channel.weight.copy_(np.array([0.1, 0.2, 0.3]))
    slopes = np.array([0.1, 0.2, 0.3], dtype=dtype)[None, :, None]
    np.testing.assert_allclose(per_channel(x).numpy(), np.where(a > 0, a, slopes * a), **_tol(dtype))
    assert repr(per_channel) == "PReLU(num_parameters=3)"


@pytest.mark.parametrize("num_parameters", [1, 3])
def test_prelu_gradcheck_through_input_and_slope(num_parameters):
    layer = nn.PReLU(num_parameters, init=0.3, dtype=np.float64)
    assert layer.weight.requires_grad
    _gradcheck_layer(layer, _x(2, 3, 4, requires_grad=True))


def test_activation_reprs_and_hardtanh_range_check():
    assert repr(nn.ReLU()) == "ReLU()"
    assert repr(nn.Hardtanh(-2.0, 2.0)) == "Hardtanh(min_val=-2.0, max_val=2.0)"
    assert repr(nn.LeakyReLU(0.1)) == "LeakyReLU(negative_slope=0.1)"
    assert repr(nn.Softmax(dim=1)) == "Softmax(dim=1)"
    assert repr(nn.LogSoftmax(dim=-1)) == "LogSoftmax(dim=-1)"
    with pytest.raises(ValueError, match="max_val"):
        nn.Hardtanh(1.0, -1.0)


# ----- Flatten ---------------------------------------------------------------------------
def test_flatten_keeps_the_batch_dim_and_gradient():
    x = _x(2, 3, 4, requires_grad=True)
    y = nn.Flatten()(x)
    assert y.shape == (2, 12)
    np.testing.assert_array_equal(y.numpy(), x.numpy().reshape(2, 12))
    assert nn.Flatten(0, 1)(x).shape == (6, 4)
    assert fg.gradcheck(nn.Flatten(), (x,))


# ----- Sequential -----------------------------------------------------------------------
def test_sequential_indexing_len_iteration_and_append():
    a, b, c = nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1)
    model = nn.Sequential(a, b)
    assert len(model) == 2 and list(model) == [a, b]
    assert model[0] is a and model[-1] is b
    assert model.append(c) is model and len(model) == 3 and model[2] is c
    head = model[1:]
    assert isinstance(head, nn.Sequential) and list(head) == [b, c]
    assert [n for n, _ in head.named_children()] == ["1", "2"]
    with pytest.raises(IndexError, match="index 3 is out of range for 3 modules"):
        model[3]
    model[1] = nn.ReLU()
    assert isinstance(model[1], nn.ReLU)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_sequential_forward_chains_in_order_and_gradchecks():
    fg.manual_seed(10)
    model = nn.Sequential(OrderedDict([("fc", nn.Linear(3, 4, dtype=np.float64)), ("act", nn.Tanh()),
                                       ("out", nn.Linear(4, 2, dtype=np.float64))]))
    assert model.fc is model[0] and model.out is model[2]
    x = _x(5, 3)
    h = np.tanh(x.numpy() @ model.fc.weight.numpy().T + model.fc.bias.numpy())
    np.testing.assert_allclose(model(x).numpy(),
                               h @ model.out.weight.numpy().T + model.out.bias.numpy(), rtol=1e-12)
    _gradcheck_layer(model, _x(5, 3, requires_grad=True))


def test_layers_state_dict_round_trip_reproduces_outputs():
    fg.manual_seed(11)
    source = nn.Sequential(nn.Embedding(7, 4), nn.Linear(4, 3), nn.PReLU(), nn.Linear(3, 2))
    target = nn.Sequential(nn.Embedding(7, 4), nn.Linear(4, 3), nn.PReLU(), nn.Linear(3, 2))
    idx = fg.tensor(np.array([0, 3, 6]))
    assert not np.allclose(source(idx).numpy(), target(idx).numpy())
    target.load_state_dict(source.state_dict())
    np.testing.assert_array_equal(source(idx).numpy(), target(idx).numpy())
    wrong = nn.Sequential(nn.Embedding(7, 5), nn.Linear(5, 3), nn.PReLU(), nn.Linear(3, 2))
    with pytest.raises(RuntimeError, match=r"size mismatch for 0\.weight: copying a param with shape "
                                           r"\(7, 4\) from checkpoint, the shape in current model is \(7, 5\)"):
        wrong.load_state_dict(source.state_dict())
