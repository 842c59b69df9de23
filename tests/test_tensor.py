"""Tensor construction, attributes, conversion, dtypes."""
import numpy as np
import pytest

import fastgrad as fg


def test_default_dtype_is_float32_and_float64_arrays_keep_float64():
    assert fg.tensor(1.0).dtype == np.float32
    assert fg.tensor([1.0, 2.0]).dtype == np.float32
    assert fg.tensor(np.ones(2)).dtype == np.float64
    assert fg.tensor(np.ones(2, np.float32)).dtype == np.float32
    assert fg.tensor([1, 2]).dtype == np.int64
    assert fg.tensor([1.0], dtype=fg.float64).dtype == np.float64


def test_tensor_copies_and_from_numpy_shares():
    a = np.ones(3)
    t = fg.tensor(a)
    a[0] = 5
    assert t.numpy()[0] == 1
    s = fg.from_numpy(a)
    a[1] = 7
    assert s.numpy()[1] == 7 and np.shares_memory(s.numpy(), a)


def test_attributes():
    t = fg.tensor(np.zeros((2, 3)), requires_grad=True)
    assert t.shape == (2, 3) and t.ndim == 2 and t.numel() == 6 and len(t) == 2
    assert t.size() == (2, 3) and t.size(1) == 3 and t.dim() == 2
    assert t.is_leaf and t.requires_grad and t.grad is None and t.grad_fn is None
    y = t * 2
    assert not y.is_leaf and y.requires_grad


def test_constructors():
    fg.manual_seed(3)
    a = fg.randn(2, 3)
    fg.manual_seed(3)
    b = fg.randn((2, 3))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert a.dtype == np.float32
    assert fg.zeros(2, 2).numpy().sum() == 0 and fg.ones(3).numpy().sum() == 3
    assert fg.full((2,), 7.0).numpy().tolist() == [7.0, 7.0]
    assert fg.arange(4).numpy().tolist() == [0, 1, 2, 3] and fg.arange(0.0, 1.0, 0.5).dtype == np.float32
    assert fg.zeros_like(a).shape == (2, 3) and fg.ones_like(a).dtype == np.float32
    assert fg.empty(2, dtype=fg.float64).dtype == np.float64
    r = fg.rand(1000)
    assert 0 <= r.numpy().min() and r.numpy().max() < 1
    assert fg.zeros(2, requires_grad=True).requires_grad


def test_conversions():
    t = fg.tensor([[1.0, 2.0]])
    assert t.tolist() == [[1.0, 2.0]]
    assert fg.tensor(3.5).item() == 3.5 and float(fg.tensor(2.0)) == 2.0
    np.testing.assert_array_equal(np.asarray(t), [[1.0, 2.0]])
    with pytest.raises(ValueError, match="only one-element tensors"):
        t.item()
    assert "grad_fn=<MulBackward>" in repr(fg.tensor([1.0], requires_grad=True) * 2)
    assert "requires_grad=True" in repr(fg.tensor([1.0], requires_grad=True))


def test_detach_shares_memory_and_leaves_the_graph():
    x = fg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 2).detach()
    assert not y.requires_grad and y.is_leaf
    d = x.detach()
    assert np.shares_memory(d.numpy(), x.numpy())
    assert x.data.requires_grad is False


def test_clone_is_a_differentiable_copy():
    x = fg.tensor([1.0, 2.0], requires_grad=True)
    c = x.clone()
    assert not np.shares_memory(c.numpy(), x.numpy())
    c.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])


def test_grad_assignment_is_validated():
    x = fg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"assigned gradient of shape \(3,\)"):
        x.grad = fg.tensor([1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="grad must be a Tensor or None"):
        x.grad = [1.0, 2.0]
    x.grad = fg.tensor([0.5, 0.5])
    assert x.grad.numpy().tolist() == [0.5, 0.5]


def test_bad_construction():
    with pytest.raises(TypeError, match="cannot make a tensor"):
        fg.tensor({"a": 1})
    with pytest.raises(TypeError, match="from_numpy: object arrays"):
        fg.from_numpy(np.array([object()]))
