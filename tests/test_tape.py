"""The tape: reverse sweep, fan-out sums, accumulation, release, versions, grad mode, depth."""
import gc
import weakref

import numpy as np
import pytest

import fastgrad as fg
from tests.conftest import leaf


def test_lecture_graph():
    x, y, z = leaf(1.0), leaf(2.0), leaf(0.0)
    f = (x + y) * fg.maximum(y, z)
    f.backward()
    assert (f.item(), x.grad.item(), y.grad.item(), z.grad.item()) == (6.0, 2.0, 5.0, 0.0)


def test_fan_out_sums_gradients():
    x = leaf([3.0])
    y = x * x + x          # x used three times
    y.backward(np.ones(1))
    np.testing.assert_allclose(x.grad.numpy(), [7.0])


def test_diamond_graph_visits_each_node_once(rng):
    x = leaf(rng.normal(size=4))
    a = x.exp()
    b = a * 2
    c = a * 3
    (b + c).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 5 * np.exp(x.numpy()))


def test_leaf_grads_accumulate_across_backward_calls():
    x = leaf([1.0, 2.0])
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 6.0])
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])


def test_second_backward_through_a_freed_graph_raises():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0])


def test_saved_buffers_are_released_after_backward():
    x = leaf(np.ones(1000))
    y = x.exp()
    out = y.sum()
    saved_ref = weakref.ref(y.numpy())  # exp saves its output
    del y
    out.backward()
    gc.collect()
    assert saved_ref() is None


def test_in_place_modification_of_a_saved_buffer_raises_naming_the_op():
    x = leaf([1.0, 2.0])
    y = x * 2
    z = y * y              # saves y
    with fg.no_grad():
        y.add_(1.0)
    with pytest.raises(RuntimeError, match="needed by MulBackward .* modified by an in-place operation"):
        z.sum().backward()


def test_in_place_on_a_leaf_that_requires_grad_raises():
    x = leaf([1.0, 2.0])
    for op in (lambda: x.add_(1.0), lambda: x.mul_(2.0), lambda: x.sub_(1.0), lambda: x.zero_(),
               lambda: x.copy_(np.zeros(2))):
        with pytest.raises(RuntimeError, match="in-place"):
            op()
    with fg.no_grad():
        x.add_(1.0)
        x -= 1.0
    np.testing.assert_array_equal(x.numpy(), [1.0, 2.0])
    assert x._version == 2


def test_in_place_on_a_non_leaf_is_recorded():
    x = leaf([1.0, 2.0])
    y = x * 1.0
    y *= 3.0
    y += x
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 4.0])


def test_in_place_ops_bump_the_version_and_write_the_buffer():
    t = fg.tensor([1.0, 2.0])
    buf = t.numpy()
    t.add_(1.0).mul_(2.0).div_(4.0).sub_(0.5)
    np.testing.assert_allclose(buf, [0.5, 1.0])
    assert t._version == 4
    t.zero_()
    t.fill_(3.0)
    assert t._version == 6 and buf[0] == 3.0


def test_no_grad_records_nothing():
    x = leaf([1.0])
    with fg.no_grad():
        y = x * 2
    assert not y.requires_grad and y.grad_fn is None
    assert fg.is_grad_enabled()

    @fg.no_grad()
    def f(t):
        return t * 2
    assert not f(x).requires_grad
    with fg.no_grad():
        with fg.enable_grad():
            assert (x * 2).requires_grad


def test_tensors_that_do_not_require_grad_are_not_recorded():
    a, b = fg.tensor([1.0]), fg.tensor([2.0])
    assert (a * b).grad_fn is None


def test_backward_is_iterative_for_a_million_node_chain():
    x = leaf([1.0])
    y = x
    for _ in range(1_000_000):
        y = y + 1.0
    y.backward(np.ones(1))
    np.testing.assert_array_equal(x.grad.numpy(), [1.0])
    del y                  # freeing the chain must not recurse either
    gc.collect()


def test_freeing_an_unused_million_node_graph_does_not_recurse():
    x = leaf([1.0])
    y = x
    for _ in range(1_000_000):
        y = y * 1.0
    del y
    gc.collect()


def test_backward_bad_input():
    x = leaf([1.0, 2.0])
    y = x * 2
    with pytest.raises(RuntimeError, match=r"only for one-element outputs, this one has shape \(2,\)"):
        y.backward()
    with pytest.raises(ValueError, match=r"gradient has shape \(3,\) but the output has shape \(2,\)"):
        y.backward(np.ones(3))
    with pytest.raises(RuntimeError, match="does not require grad"):
        fg.tensor([1.0]).sum().backward()


def test_backward_with_explicit_gradient(rng):
    x = leaf(rng.normal(size=3))
    g = rng.normal(size=3)
    (x * 2).backward(fg.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), 2 * g)


def test_requires_grad_on_an_integer_tensor_raises():
    with pytest.raises(RuntimeError, match="only float32/float64 tensors can require gradients, got dtype int64"):
        fg.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="got dtype int64"):
        fg.tensor([1, 2]).requires_grad_()


def test_grad_fn_and_next_functions():
    x = leaf([1.0])
    y = (x * 2).exp()
    assert y.grad_fn.name() == "ExpBackward"
    assert y.grad_fn.next_functions[0].name() == "MulBackward"
