"""Module and Parameter: registration, traversal, modes, gradients, state dicts, repr."""
import gc
import weakref
from collections import OrderedDict

import numpy as np
import pytest

import fastgrad as fg
from fastgrad import nn
from fastgrad.nn import Module, Parameter


class Affine(Module):
    """A minimal layer built only from Module machinery (no nn.functional)."""

    def __init__(self, n_in: int, n_out: int, dtype=np.float32) -> None:
        super().__init__()
        self.weight = Parameter(np.arange(n_in * n_out, dtype=dtype).reshape(n_in, n_out) / 10)
        self.bias = Parameter(np.zeros(n_out, dtype=dtype))
        self.register_buffer("calls", fg.zeros(1))
        self.register_buffer("scratch", fg.zeros(2), persistent=False)

    def forward(self, x):
        return x @ self.weight + self.bias


class Net(Module):
    def __init__(self) -> None:
        super().__init__()
        self.first = Affine(3, 4)
        self.scale = Parameter(np.ones(1, dtype=np.float32))
        self.second = Affine(4, 2)

    def forward(self, x):
        return self.second(self.first(x) * self.scale)


# ----- Parameter -----------------------------------------------------------------------
def test_parameter_is_a_leaf_tensor_requiring_grad():
    p = Parameter(np.array([1.0, 2.0]))
    assert isinstance(p, Parameter) and isinstance(p, fg.Tensor)
    assert p.requires_grad and p.is_leaf
    assert p.dtype == np.float64
    (p * p).sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), [2.0, 4.0])


def test_parameter_shares_a_tensors_memory_copies_an_array_and_can_be_frozen():
    source = fg.tensor([1.0, 2.0])
    p = Parameter(source, requires_grad=False)
    assert not p.requires_grad and p.dtype == np.float32
    source.numpy()[0] = 5.0
    assert p.numpy()[0] == 5.0                      # shared, as torch.nn.Parameter(t)
    array = np.array([1.0, 2.0], dtype=np.float32)
    q = Parameter(array)
    array[0] = 7.0
    assert q.numpy()[0] == 1.0 and q.requires_grad  # an array is copied


def test_parameter_ops_return_plain_tensors_and_repr_says_parameter():
    p = Parameter(np.ones(2, dtype=np.float32))
    assert type(p * 2) is fg.Tensor
    assert repr(p).startswith("Parameter containing:\ntensor(")


def test_parameters_are_freed_and_tensors_still_work_afterwards():
    refs = [weakref.ref(Parameter(np.full(3, float(i)))) for i in range(500)]
    gc.collect()
    assert all(ref() is None for ref in refs)
    totals = [(fg.ones(3) * i).sum().item() for i in range(500)]     # reuses freed memory
    assert totals == [3.0 * i for i in range(500)]


# ----- registration ----------------------------------------------------------------
def test_named_parameters_follow_registration_order_module_by_module():
    net = Net()                                 # a module's own parameters, then its children's
    assert [n for n, _ in net.named_parameters()] == [
        "scale", "first.weight", "first.bias", "second.weight", "second.bias"]
    assert [n for n, _ in net.named_parameters(recurse=False)] == ["scale"]
    assert list(net.parameters())[1] is net.first.weight
    assert [n for n, _ in net.named_parameters(prefix="net")][1] == "net.first.weight"


def test_shared_parameters_and_modules_are_yielded_once():
    net = Net()
    net.second = net.first                      # the same module twice
    assert [n for n, _ in net.named_parameters()] == ["scale", "first.weight", "first.bias"]
    assert len(list(net.modules())) == 2
    assert len(list(net.children())) == 1
    assert list(net.state_dict()) == ["scale", "first.weight", "first.bias", "first.calls",
                                      "second.weight", "second.bias", "second.calls"]


def test_modules_children_and_names():
    net = Net()
    assert [n for n, _ in net.named_children()] == ["first", "second"]
    assert list(net.children()) == [net.first, net.second]
    assert [n for n, _ in net.named_modules()] == ["", "first", "second"]
    assert list(net.modules())[0] is net


def test_buffers_are_registered_but_are_not_parameters():
    net = Net()
    assert [n for n, _ in net.named_buffers()] == ["first.calls", "first.scratch",
                                                   "second.calls", "second.scratch"]
    assert all(not isinstance(p, fg.Tensor) or p is not net.first.calls for p in net.parameters())


def test_setattr_reassignment_moves_between_registries():
    m = Affine(2, 2)
    m.weight = None                             # keeps the slot, drops the parameter
    assert "weight" in m._parameters and m.weight is None
    assert [n for n, _ in m.named_parameters()] == ["bias"]
    with pytest.raises(TypeError, match="parameter 'bias'"):
        m.bias = fg.zeros(2)                    # a plain tensor is not a parameter
    m.bias = Affine(1, 1)                       # now a child module instead
    assert "bias" not in m._parameters and "bias" in m._modules
    m.plain = 3
    assert m.plain == 3 and "plain" not in m._parameters
    del m.bias
    assert not hasattr(m, "bias")


def test_add_module_register_parameter_and_errors():
    m = Module()
    m.add_module("child", Affine(1, 1))
    m.register_parameter("p", Parameter(np.ones(1)))
    assert [n for n, _ in m.named_parameters()] == ["p", "child.weight", "child.bias"]
    with pytest.raises(KeyError, match="can't be empty or contain"):
        m.add_module("a.b", Affine(1, 1))
    with pytest.raises(TypeError, match="not a Module"):
        m.add_module("x", 3)
    with pytest.raises(KeyError, match="already exists"):
        m.register_parameter("forward", Parameter(np.ones(1)))


def test_assigning_before_init_is_a_clear_error():
    class Broken(Module):
        def __init__(self):
            self.w = Parameter(np.ones(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Broken()


def test_unknown_attribute_and_missing_forward():
    m = Module()
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        m.nothing
    with pytest.raises(NotImplementedError, match="Module has no forward"):
        m(1)


def test_call_runs_forward():
    m = Affine(3, 2)
    x = fg.ones(1, 3)
    np.testing.assert_allclose(m(x).numpy(), np.ones((1, 3)) @ m.weight.numpy())


def test_apply_visits_children_before_parent():
    net = Net()
    seen = []
    assert net.apply(lambda module: seen.append(type(module).__name__)) is net
    assert seen == ["Affine", "Affine", "Net"]


# ----- modes and gradients -----------------------------------------------------------
def test_train_and_eval_propagate_to_all_descendants():
    outer = nn.Sequential(Net(), Affine(2, 2))
    assert all(m.training for m in outer.modules())
    assert outer.eval() is outer
    assert not any(m.training for m in outer.modules())
    outer.train()
    assert all(m.training for m in outer.modules())
    outer[0].train(False)
    assert [m.training for m in outer.modules()] == [True, False, False, False, True]
    with pytest.raises(ValueError, match="bool"):
        outer.train(0)


def test_zero_grad_to_none_or_to_zeros():
    net = Net()
    net(fg.ones(2, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    grad = net.scale.grad
    net.zero_grad(set_to_none=False)
    assert net.scale.grad is grad and np.all(grad.numpy() == 0)
    assert all(np.all(p.grad.numpy() == 0) for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_requires_grad_freezes_every_parameter():
    net = Net()
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


# ----- state dicts -------------------------------------------------------------------
def test_state_dict_holds_parameters_and_persistent_buffers_in_order():
    net = Net()
    state = net.state_dict()
    assert isinstance(state, OrderedDict)
    assert list(state) == ["scale", "first.weight", "first.bias", "first.calls",
                           "second.weight", "second.bias", "second.calls"]
    assert not state["scale"].requires_grad
    assert state["scale"].numpy() is not None and np.shares_memory(state["scale"].numpy(),
                                                                  net.scale.numpy())
    assert net.state_dict(keep_vars=True)["scale"] is net.scale


def test_state_dict_round_trip_copies_in_place_and_bumps_versions():
    fg.manual_seed(0)
    source, target = Net(), Net()
    for p in source.parameters():
        nn.init.normal_(p)
    snapshot = {k: v.numpy().copy() for k, v in source.state_dict().items()}
    weight = target.first.weight
    version = weight._version
    result = target.load_state_dict(snapshot)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert target.first.weight is weight and weight._version > version
    for key, value in target.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), snapshot[key])
    assert target.first.weight.requires_grad


def test_load_state_dict_accepts_tensors_from_another_module():
    source, target = Affine(2, 3), Affine(2, 3)
    with fg.no_grad():
        source.bias.fill_(7.0)
    target.load_state_dict(source.state_dict())
    np.testing.assert_array_equal(target.bias.numpy(), [7, 7, 7])
    assert not np.shares_memory(target.bias.numpy(), source.bias.numpy())


def test_load_state_dict_strict_lists_missing_and_unexpected_keys():
    net = Net()
    state = net.state_dict()
    del state["first.bias"]
    state["third.weight"] = fg.zeros(1)
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(state)
    message = str(info.value)
    assert "Error(s) in loading state_dict for Net" in message
    assert "Missing key(s) in state_dict: 'first.bias'." in message
    assert "Unexpected key(s) in state_dict: 'third.weight'." in message
    result = net.load_state_dict(state, strict=False)
    assert result.missing_keys == ["first.bias"]
    assert result.unexpected_keys == ["third.weight"]


def test_load_state_dict_wrong_shape_names_the_key_and_both_shapes():
    net = Net()
    before = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    state = {k: np.full(v.shape, 3.0, dtype=np.float32) for k, v in net.state_dict().items()}
    state["second.weight"] = np.zeros((2, 4), dtype=np.float32)      # transposed
    for strict in (True, False):                                    # shapes are checked either way
        with pytest.raises(RuntimeError) as info:
            net.load_state_dict(state, strict=strict)
        assert ("size mismatch for second.weight: copying a param with shape (2, 4) from "
                "checkpoint, the shape in current model is (4, 2)") in str(info.value)
    for key, value in net.state_dict().items():                     # nothing was copied
        np.testing.assert_array_equal(value.numpy(), before[key])


def test_load_state_dict_rejects_unsafe_dtype_casts():
    m = Affine(1, 1)
    state = {k: v.numpy().astype(np.complex64) for k, v in m.state_dict().items()}
    with pytest.raises(RuntimeError, match="dtype mismatch for weight"):
        m.load_state_dict(state)


# ----- repr -------------------------------------------------------------------------
def test_repr_lists_children_like_torch():
    net = Net()
    assert repr(Module()) == "Module()"
    assert repr(net) == ("Net(\n"
                         "  (first): Affine()\n"
                         "  (second): Affine()\n"
                         ")")
    nested = nn.Sequential(net, nn.Linear(2, 3))
    assert repr(nested) == ("Sequential(\n"
                            "  (0): Net(\n"
                            "    (first): Affine()\n"
                            "    (second): Affine()\n"
                            "  )\n"
                            "  (1): Linear(in_features=2, out_features=3, bias=True)\n"
                            ")")
