"""fastgrad.serialization: save/load of nested structures to .npz without pickle."""
import io
import math
import pickle
import struct

import numpy as np
import pytest

import fastgrad as fg
from fastgrad.data import ArrayDataset, DataLoader
from fastgrad.serialization import load, save
from fastgrad.train import fit

from tests._standins import MomentumSGD, TinyMLP, blobs, cross_entropy


def _roundtrip(obj, tmp_path):
    path = tmp_path / "obj.npz"
    save(obj, path)
    return load(path)


def _bits(x: float) -> bytes:
    return struct.pack("<d", x)


def test_nested_structure_roundtrip(tmp_path):
    obj = {
        "weights": {"w32": fg.randn(3, 4), "w64": fg.tensor(np.arange(6.0).reshape(2, 3))},
        "ints": fg.tensor(np.array([1, -2, 3], dtype=np.int64)),
        "array": np.arange(12, dtype=np.int32).reshape(3, 4),
        "step": 7, "big": 2 ** 100, "lr": 0.1, "name": "adam ünïcode", "flag": True,
        "nothing": None, "pair": (1, 2.5), "list": [1, [2, (3, "x")], {}],
        3: "int key", 2.5: "float key", None: "none key", False: "bool key",
    }
    back = _roundtrip(obj, tmp_path)
    assert set(back) == set(obj)
    assert [type(k) for k in back] == [type(k) for k in obj]
    for key in ("w32", "w64"):
        t, u = obj["weights"][key], back["weights"][key]
        assert isinstance(u, fg.Tensor)
        assert u.dtype == t.dtype and u.shape == t.shape
        np.testing.assert_array_equal(u.numpy(), t.numpy())
    assert back["ints"].dtype == np.int64 and back["ints"].tolist() == [1, -2, 3]
    assert isinstance(back["array"], np.ndarray) and not isinstance(back["array"], fg.Tensor)
    assert back["array"].dtype == np.int32
    np.testing.assert_array_equal(back["array"], obj["array"])
    for key in ("step", "big", "lr", "name", "flag"):
        assert back[key] == obj[key] and type(back[key]) is type(obj[key])
    assert back["nothing"] is None
    assert back["pair"] == (1, 2.5) and isinstance(back["pair"], tuple)
    assert back["list"] == [1, [2, (3, "x")], {}]
    assert isinstance(back["list"][1][1], tuple)
    assert back[3] == "int key" and back[2.5] == "float key"
    assert back[None] == "none key" and back[False] == "bool key"


def test_floats_are_bit_exact(tmp_path):
    values = [0.1, -0.0, 1e-310, math.pi, float("inf"), float("-inf"), float("nan")]
    back = _roundtrip(values, tmp_path)
    assert [_bits(v) for v in back] == [_bits(v) for v in values]
    assert all(type(v) is float for v in back)


def test_zero_d_and_empty_tensors_keep_shape(tmp_path):
    obj = [fg.tensor(np.float64(2.5)).reshape(()), fg.zeros(0, 3), np.zeros((2, 0)),
           np.array(4, dtype=np.int16)]
    assert obj[0].shape == ()
    back = _roundtrip(obj, tmp_path)
    assert back[0].shape == () and back[0].dtype == np.float64 and back[0].item() == 2.5
    assert back[1].shape == (0, 3) and back[1].dtype == np.float32
    assert back[2].shape == (2, 0)
    assert back[3].shape == () and back[3].dtype == np.int16


def test_numpy_scalars_come_back_as_numpy_scalars(tmp_path):
    back = _roundtrip({"a": np.float32(1.5), "b": np.int64(3), "c": np.bool_(True)}, tmp_path)
    assert type(back["a"]) is np.float32 and back["a"] == 1.5
    assert type(back["b"]) is np.int64 and back["b"] == 3
    assert type(back["c"]) is np.bool_ and back["c"]


def test_requires_grad_is_kept_and_loaded_tensors_are_independent(tmp_path):
    w = fg.randn(2, 2, requires_grad=True)
    back = _roundtrip({"w": w, "c": fg.ones(2)}, tmp_path)
    assert back["w"].requires_grad and back["w"].is_leaf
    assert not back["c"].requires_grad
    back["w"].numpy()[...] = 0
    assert w.numpy().any()


def test_fortran_ordered_array_roundtrip(tmp_path):
    a = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    back = _roundtrip({"a": a, "t": fg.from_numpy(a)}, tmp_path)
    np.testing.assert_array_equal(back["a"], a)
    assert back["t"].numpy().flags.c_contiguous
    np.testing.assert_array_equal(back["t"].numpy(), a)


def test_file_is_a_plain_npz_loadable_without_pickle(tmp_path):
    path = tmp_path / "ckpt.npz"
    save({"w": fg.ones(2, 3), "opt": {"state": {0: {"step": 3}}}}, path)
    with np.load(path, allow_pickle=False) as archive:
        assert all(archive[name].dtype != object for name in archive.files)
        assert any(archive[name].shape == (2, 3) for name in archive.files)


def test_pickle_is_never_used(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("pickle used")

    for name in ("dumps", "dump", "loads", "load"):
        monkeypatch.setattr(pickle, name, refuse)
    back = _roundtrip({"w": fg.ones(2), "n": [1, (2.0, None)]}, tmp_path)
    assert back["n"] == [1, (2.0, None)]


def test_path_is_written_exactly_as_given(tmp_path):
    path = tmp_path / "model.ckpt"
    save({"a": 1}, str(path))
    assert path.exists() and not (tmp_path / "model.ckpt.npz").exists()
    assert load(str(path)) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["model.ckpt"]  # no temporary left over


def test_file_objects():
    buffer = io.BytesIO()
    save({"t": fg.arange(4)}, buffer)
    buffer.seek(0)
    assert load(buffer)["t"].tolist() == [0, 1, 2, 3]


def test_overwrite_existing_file(tmp_path):
    path = tmp_path / "x.npz"
    save({"v": 1}, path)
    save({"v": 2}, path)
    assert load(path) == {"v": 2}


@pytest.mark.parametrize("bad, where", [
    ({"a": {1, 2}}, r"obj\['a'\]"),
    ({"a": [object()]}, r"obj\['a'\]\[0\]"),
    ({"a": np.array([1, "x"], dtype=object)}, "object arrays"),
    ({(1, 2): 3}, "dict key"),
    ({"f": lambda: 0}, "function"),
])
def test_unsupported_values_raise_type_error_saying_where(bad, where, tmp_path):
    with pytest.raises(TypeError, match=where):
        save(bad, tmp_path / "bad.npz")
    assert list(tmp_path.iterdir()) == []


def test_reference_cycle_raises(tmp_path):
    a = {"x": 1}
    a["self"] = a
    with pytest.raises(ValueError, match="cycle"):
        save(a, tmp_path / "c.npz")


def test_shared_references_are_stored_not_mistaken_for_cycles(tmp_path):
    shared = [1, 2]
    assert _roundtrip({"a": shared, "b": shared}, tmp_path) == {"a": [1, 2], "b": [1, 2]}


def test_load_rejects_files_not_written_by_save(tmp_path):
    np.savez(tmp_path / "plain.npz", a=np.ones(2))
    with pytest.raises(ValueError, match="not written by fastgrad.save"):
        load(tmp_path / "plain.npz")
    np.save(tmp_path / "single.npy", np.ones(2))
    with pytest.raises(ValueError, match="single .npy"):
        load(tmp_path / "single.npy")


def test_optimizer_like_state_dict_keeps_int_keys(tmp_path):
    model = TinyMLP(2, 4, 3)
    opt = MomentumSGD(model.parameters(), lr=0.1)
    X, y = blobs(8)
    loss = cross_entropy(model(fg.tensor(X)), fg.tensor(y))
    loss.backward()
    opt.step()
    back = _roundtrip(opt.state_dict(), tmp_path)
    assert sorted(back["state"]) == [0, 1, 2, 3]
    assert back["param_groups"] == opt.state_dict()["param_groups"]
    for i, entry in opt.state_dict()["state"].items():
        np.testing.assert_array_equal(back["state"][i]["momentum_buffer"], entry["momentum_buffer"])


# ----------------------------------------------------------------------------- checkpoints
def _train_steps(model, opt, loader, epochs):
    for _ in range(epochs):
        for X, y in loader:
            opt.zero_grad()
            loss = cross_entropy(model(X), y)
            loss.backward()
            opt.step()


def _setup(seed):
    fg.manual_seed(seed)
    model = TinyMLP(2, 16, 3)
    opt = MomentumSGD(model.parameters(), lr=0.05, momentum=0.9)
    X, y = blobs(60)
    loader = DataLoader(ArrayDataset(X, y), batch_size=8, shuffle=True, seed=seed)
    return model, opt, loader


def _checkpoint(model, opt, loader):
    return {"model": model.state_dict(), "optimizer": opt.state_dict(),
            "loader": loader.state_dict()}


def _restore(ckpt, model, opt, loader):
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["optimizer"])
    loader.load_state_dict(ckpt["loader"])


def test_checkpoint_mid_training_continues_bit_identically(tmp_path):
    model, opt, loader = _setup(0)
    _train_steps(model, opt, loader, 6)
    reference = {k: v.numpy().copy() for k, v in model.state_dict().items()}

    model, opt, loader = _setup(0)
    _train_steps(model, opt, loader, 2)
    save(_checkpoint(model, opt, loader), tmp_path / "ckpt.npz")
    del model, opt, loader

    model, opt, loader = _setup(1)  # different init and shuffling: all must come from the file
    _restore(load(tmp_path / "ckpt.npz"), model, opt, loader)
    _train_steps(model, opt, loader, 4)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), reference[name], err_msg=name)
    assert any(not np.array_equal(reference[n], _setup(0)[0].state_dict()[n].numpy())
               for n in reference)  # training did move the weights


def test_checkpoint_between_fit_calls_continues_bit_identically(tmp_path):
    model, opt, loader = _setup(3)
    history = fit(model, cross_entropy, opt, loader, epochs=4, progress=False)
    reference = {k: v.numpy().copy() for k, v in model.state_dict().items()}

    model, opt, loader = _setup(3)
    first = fit(model, cross_entropy, opt, loader, epochs=2, progress=False)
    save(_checkpoint(model, opt, loader), tmp_path / "ckpt.npz")
    model, opt, loader = _setup(4)
    _restore(load(tmp_path / "ckpt.npz"), model, opt, loader)
    second = fit(model, cross_entropy, opt, loader, epochs=2, progress=False)
    assert first["train_loss"] + second["train_loss"] == history["train_loss"]
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), reference[name], err_msg=name)


# ----------------------------------------------------------------------------- real fastgrad.optim
optim = pytest.importorskip("fastgrad.optim")
lr_scheduler = optim.lr_scheduler

OPTIMIZERS = {
    "sgd-nesterov": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True,
                                         weight_decay=1e-3),
    "adam-amsgrad": lambda ps: optim.Adam(ps, lr=0.01, amsgrad=True),
    "adamw": lambda ps: optim.AdamW(ps, lr=0.01),
    "rmsprop": lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
    "adagrad": lambda ps: optim.Adagrad(ps, lr=0.05),
    "adadelta": lambda ps: optim.Adadelta(ps),
    "adafactor": lambda ps: optim.Adafactor(ps),
}
SCHEDULERS = {
    "none": None,
    "step": lambda opt: lr_scheduler.StepLR(opt, step_size=2, gamma=0.5),
    "multistep": lambda opt: lr_scheduler.MultiStepLR(opt, milestones=[1, 3], gamma=0.3),
    "cosine": lambda opt: lr_scheduler.CosineAnnealingLR(opt, T_max=5),
    "plateau": lambda opt: lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5),
}


def _real_setup(seed, make_opt, make_sched, dtype):
    fg.manual_seed(seed)
    model = TinyMLP(2, 16, 3, dtype=dtype)
    opt = make_opt(model.parameters())
    sched = make_sched(opt) if make_sched else None
    X, y = blobs(60, dtype=np.dtype(dtype))
    loader = DataLoader(ArrayDataset(X, y), batch_size=8, shuffle=True, seed=seed)
    val = DataLoader(ArrayDataset(*blobs(20, seed=9, dtype=np.dtype(dtype))), batch_size=8)
    return model, opt, sched, loader, val


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("opt_name, sched_name", [(o, "none") for o in OPTIMIZERS]
                         + [("sgd-nesterov", s) for s in SCHEDULERS if s != "none"]
                         + [("adam-amsgrad", "plateau")])
def test_real_optimizer_checkpoint_continues_bit_identically(tmp_path, opt_name, sched_name,
                                                             dtype):
    make_opt, make_sched = OPTIMIZERS[opt_name], SCHEDULERS[sched_name]

    def run(epochs, model, opt, sched, loader, val):
        return fit(model, cross_entropy, opt, loader, val, epochs=epochs, scheduler=sched,
                   progress=False)

    model, opt, sched, loader, val = _real_setup(0, make_opt, make_sched, dtype)
    full = run(5, model, opt, sched, loader, val)
    reference = {k: v.numpy().copy() for k, v in model.state_dict().items()}

    model, opt, sched, loader, val = _real_setup(0, make_opt, make_sched, dtype)
    first = run(2, model, opt, sched, loader, val)
    ckpt = {"model": model.state_dict(), "optimizer": opt.state_dict(),
            "loader": loader.state_dict(),
            "scheduler": sched.state_dict() if sched is not None else None}
    save(ckpt, tmp_path / "ckpt.npz")

    model, opt, sched, loader, val = _real_setup(1, make_opt, make_sched, dtype)
    ckpt = load(tmp_path / "ckpt.npz")
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["optimizer"])
    loader.load_state_dict(ckpt["loader"])
    if sched is not None:
        sched.load_state_dict(ckpt["scheduler"])
    second = run(3, model, opt, sched, loader, val)

    assert first["train_loss"] + second["train_loss"] == full["train_loss"]
    assert first["lr"] + second["lr"] == full["lr"]
    for name, value in model.state_dict().items():
        assert value.dtype == dtype
        np.testing.assert_array_equal(value.numpy(), reference[name], err_msg=name)


def test_real_optimizer_state_dict_roundtrip_types(tmp_path):
    fg.manual_seed(0)
    model = TinyMLP(2, 4, 3)
    opt = optim.Adam(model.parameters(), lr=0.01, betas=(0.8, 0.9))
    X, y = blobs(8)
    cross_entropy(model(fg.tensor(X)), fg.tensor(y)).backward()
    opt.step()
    saved = opt.state_dict()
    back = _roundtrip(saved, tmp_path)
    assert back["param_groups"] == saved["param_groups"]
    assert back["param_groups"][0]["betas"] == (0.8, 0.9)
    assert sorted(back["state"]) == sorted(saved["state"])
    for i, entry in saved["state"].items():
        assert set(back["state"][i]) == set(entry)
        for key, value in entry.items():
            assert type(back["state"][i][key]) is type(value), key
            np.testing.assert_array_equal(back["state"][i][key], value)


# ----------------------------------------------------------------------------- real fastgrad.nn
def _nn_setup(seed):
    nn = pytest.importorskip("fastgrad.nn")
    fg.manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 3))
    opt = optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.05)
    sched = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    X, y = blobs(64)
    loader = DataLoader(ArrayDataset(X, y), batch_size=8, shuffle=True)  # global generator
    val = DataLoader(ArrayDataset(*blobs(24, seed=9)), batch_size=8)
    return model, opt, sched, loader, val


def test_real_model_and_optimizer_checkpoint_continues_bit_identically(tmp_path):
    """The issue's test: an nn model + optimizer checkpoint (with dropout, a scheduler and
    shuffling from fastgrad's global generator) restored mid-training into fresh objects
    continues bit-identically to an uninterrupted run."""
    F = pytest.importorskip("fastgrad.nn.functional")

    def run(epochs, model, opt, sched, loader, val):
        return fit(model, F.cross_entropy, opt, loader, val, epochs=epochs, scheduler=sched,
                   progress=False)

    model, opt, sched, loader, val = _nn_setup(0)
    full = run(5, model, opt, sched, loader, val)
    reference = {k: v.numpy().copy() for k, v in model.state_dict().items()}

    model, opt, sched, loader, val = _nn_setup(0)
    first = run(2, model, opt, sched, loader, val)
    save({"model": model.state_dict(), "optimizer": opt.state_dict(),
          "scheduler": sched.state_dict(), "epoch": 2,
          "rng": fg.creation.generator().bit_generator.state}, tmp_path / "ckpt.npz")

    model, opt, sched, loader, val = _nn_setup(1)
    ckpt = load(tmp_path / "ckpt.npz")
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["optimizer"])
    sched.load_state_dict(ckpt["scheduler"])
    fg.creation.generator().bit_generator.state = ckpt["rng"]
    second = run(3, model, opt, sched, loader, val)

    assert first["train_loss"] + second["train_loss"] == full["train_loss"]
    assert first["val_loss"] + second["val_loss"] == full["val_loss"]
    assert first["lr"] + second["lr"] == full["lr"]
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), reference[name], err_msg=name)
    assert full["val_accuracy"][-1] > 0.9


def test_real_model_state_dict_roundtrip(tmp_path):
    model, *_ = _nn_setup(0)
    back = _roundtrip(model.state_dict(), tmp_path)
    assert list(back) == list(model.state_dict())
    fresh, *_ = _nn_setup(1)
    fresh.load_state_dict(back)
    for (name, a), b in zip(model.state_dict().items(), fresh.state_dict().values()):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)


def test_early_stopping_state_survives_save_and_load(tmp_path):
    from fastgrad.train import EarlyStopping

    model = TinyMLP(2, 3, 2)
    stopper = EarlyStopping(patience=2, restore_best=True)
    stopper.step(1.0, model)
    best = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    for p in model.parameters():
        p.numpy()[...] = 9.0
    stopper.step(2.0, model)
    other = EarlyStopping(patience=2, restore_best=True)
    other.load_state_dict(_roundtrip(stopper.state_dict(), tmp_path))
    assert other.step(3.0, model)  # second bad epoch: stops and restores the saved best
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), best[name])
