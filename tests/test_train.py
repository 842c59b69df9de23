"""fastgrad.train: EarlyStopping and fit."""
import math

import numpy as np
import pytest

import fastgrad as fg
import fastgrad.train as train_module
from fastgrad.data import ArrayDataset, DataLoader
from fastgrad.train import EarlyStopping, fit

from tests._standins import HalveLR, MomentumSGD, RecordingPlateau, TinyMLP, blobs, cross_entropy, mse


# ----------------------------------------------------------------------------- EarlyStopping
def _run(stopper, values):
    return [stopper.step(v) for v in values]


def test_patience_counts_consecutive_epochs_without_improvement():
    stopper = EarlyStopping(patience=3)
    assert _run(stopper, [5.0, 4.0, 4.5, 4.2, 3.0, 3.1, 3.2]) == [False] * 7
    assert stopper.num_bad_epochs == 2 and stopper.best == 3.0 and stopper.best_epoch == 5
    assert stopper.step(3.0) is True  # equal is not better: third bad epoch
    assert stopper.should_stop


def test_patience_zero_stops_at_first_non_improvement():
    assert _run(EarlyStopping(patience=0), [3.0, 2.0, 2.5]) == [False, False, True]


def test_min_delta_requires_improvement_by_more_than_it():
    stopper = EarlyStopping(patience=2, min_delta=0.1)
    # 0.95 and 0.86 improve by <= 0.1 on the best (1.0): not improvements
    assert _run(stopper, [1.0, 0.95, 0.91]) == [False, False, True]
    assert stopper.best == 1.0
    stopper = EarlyStopping(patience=2, min_delta=0.1)
    # 0.85 improves on 1.0; 0.8 does not (by 0.05); 0.74 does (by 0.11 on 0.85); 0.7, 0.66 not
    assert _run(stopper, [1.0, 0.85, 0.8, 0.74, 0.7, 0.66]) == [False] * 5 + [True]
    assert stopper.best == 0.74 and stopper.best_epoch == 4


def test_mode_max():
    stopper = EarlyStopping(patience=2, mode="max", min_delta=0.01)
    assert _run(stopper, [0.5, 0.7, 0.705, 0.8, 0.79, 0.8]) == [False] * 5 + [True]
    assert stopper.best == 0.8 and stopper.best_epoch == 4


def test_nan_metric_is_never_an_improvement():
    stopper = EarlyStopping(patience=2)
    assert _run(stopper, [1.0, float("nan"), float("nan")]) == [False, False, True]
    assert stopper.best == 1.0


def test_metric_may_be_a_tensor():
    stopper = EarlyStopping(patience=1)
    stopper.step(fg.tensor(2.0))
    assert stopper.best == 2.0


@pytest.mark.parametrize("kwargs, match", [
    ({"patience": -1}, "patience"), ({"patience": 1.5}, "patience"),
    ({"patience": 1, "min_delta": -0.1}, "min_delta"),
    ({"patience": 1, "min_delta": float("nan")}, "min_delta"),
    ({"patience": 1, "mode": "minimum"}, "mode"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EarlyStopping(**kwargs)


def _weights(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def _perturb(model, value):
    for p in model.parameters():
        p.numpy()[...] = value


def test_restore_best_copies_the_best_state_and_restores_it_on_stop():
    fg.manual_seed(0)
    model = TinyMLP(2, 3, 2)
    stopper = EarlyStopping(patience=2, restore_best=True)
    _perturb(model, 1.0)
    assert not stopper.step(1.0, model)
    _perturb(model, 2.0)
    assert not stopper.step(0.5, model)  # best: all parameters 2.0
    _perturb(model, 3.0)  # would corrupt an aliased (not copied) best state
    assert not stopper.step(0.7, model)
    _perturb(model, 4.0)
    assert stopper.step(0.6, model)
    assert all((w == 2.0).all() for w in _weights(model).values())
    # the stored best state is not aliased by the model after restoring
    _perturb(model, 5.0)
    assert stopper.restore_best_weights(model)
    assert all((w == 2.0).all() for w in _weights(model).values())


def test_restore_best_needs_the_model():
    with pytest.raises(ValueError, match="needs the model"):
        EarlyStopping(patience=1, restore_best=True).step(1.0)


def test_restore_best_weights_without_a_stored_state():
    model = TinyMLP(2, 3, 2)
    before = _weights(model)
    stopper = EarlyStopping(patience=1)
    stopper.step(1.0, model)
    assert stopper.restore_best_weights(model) is False
    assert all(np.array_equal(before[k], v) for k, v in _weights(model).items())


def test_without_restore_best_stopping_leaves_weights_alone():
    model = TinyMLP(2, 3, 2)
    stopper = EarlyStopping(patience=1)
    stopper.step(1.0, model)
    _perturb(model, 7.0)
    assert stopper.step(2.0, model)
    assert all((w == 7.0).all() for w in _weights(model).values())


def test_state_dict_roundtrip():
    model = TinyMLP(2, 3, 2)
    stopper = EarlyStopping(patience=3, restore_best=True)
    assert [stopper.step(v, model) for v in (1.0, 0.5, 0.8)] == [False] * 3
    other = EarlyStopping(patience=3, restore_best=True)
    other.load_state_dict(stopper.state_dict())
    for v in (0.9, 0.4):
        assert other.step(v, model) == stopper.step(v, model)
    assert (other.best, other.best_epoch, other.num_bad_epochs) == (0.4, 5, 0)


# ----------------------------------------------------------------------------- fit
def _problem(n_train=120, n_val=60, batch_size=16, seed=0):
    fg.manual_seed(seed)
    model = TinyMLP(2, 16, 3)
    opt = MomentumSGD(model.parameters(), lr=0.05)
    Xt, yt = blobs(n_train, seed=seed)
    Xv, yv = blobs(n_val, seed=seed + 100)
    train = DataLoader(ArrayDataset(Xt, yt), batch_size=batch_size, shuffle=True, seed=seed)
    val = DataLoader(ArrayDataset(Xv, yv), batch_size=32)
    return model, opt, train, val


def test_fit_learns_and_returns_per_epoch_history():
    model, opt, train, val = _problem()
    history = fit(model, cross_entropy, opt, train, val, epochs=5, progress=False)
    assert set(history) == {"epoch", "train_loss", "lr", "seconds", "samples_per_second",
                            "val_loss", "val_accuracy"}
    assert all(len(v) == 5 for v in history.values())
    assert history["epoch"] == [1, 2, 3, 4, 5]
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history["val_loss"][-1] < 0.3
    assert history["val_accuracy"][-1] >= 0.95
    assert history["lr"] == [0.05] * 5
    assert all(s > 0 for s in history["seconds"])
    assert all(math.isclose(r, 120 / s) for r, s in
               zip(history["samples_per_second"], history["seconds"]))


def test_fit_reports_exact_weighted_validation_loss_and_accuracy():
    model, opt, train, val = _problem(n_val=50)  # last val batch has 18 samples
    history = fit(model, cross_entropy, opt, train, val, epochs=1, progress=False)
    Xv, yv = val.dataset.arrays
    with fg.no_grad():
        out = model(fg.tensor(Xv))
        loss = cross_entropy(out, fg.tensor(yv)).item()
    assert history["val_loss"][0] == pytest.approx(loss, rel=1e-5)
    assert history["val_accuracy"][0] == np.mean(out.numpy().argmax(1) == yv)


def test_fit_switches_train_and_eval_modes_and_validates_without_grad():
    model, opt, train, val = _problem()
    grad_enabled = []

    def loss_fn(output, target):
        grad_enabled.append((model.training, fg.is_grad_enabled()))
        return cross_entropy(output, target)

    fit(model, loss_fn, opt, train, val, epochs=2, progress=False)
    assert model.mode_calls == ["train", "eval", "train", "eval"]
    n_train, n_val = len(train), len(val)
    expected = ([(True, True)] * n_train + [(False, False)] * n_val) * 2
    assert grad_enabled == expected


def test_regression_has_no_accuracy_and_extra_metrics_are_averaged():
    fg.manual_seed(0)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 2))
    y = (X @ np.array([[1.0], [-2.0]]))
    model = TinyMLP(2, 8, 1, dtype=fg.float64)
    opt = MomentumSGD(model.parameters(), lr=0.01)
    loader = DataLoader(ArrayDataset(X, y), batch_size=10)
    mae = lambda out, t: float(np.abs(out.numpy() - t.numpy()).mean())  # noqa: E731
    history = fit(model, mse, opt, loader, loader, epochs=2, progress=False,
                  metrics={"mae": mae})
    assert "val_accuracy" not in history
    assert len(history["val_mae"]) == 2
    with fg.no_grad():
        out = model(fg.tensor(X)).numpy()
    assert history["val_mae"][-1] == pytest.approx(np.abs(out - y).mean())


def test_fit_without_validation():
    model, opt, train, _ = _problem()
    history = fit(model, cross_entropy, opt, train, epochs=2, progress=False)
    assert set(history) == {"epoch", "train_loss", "lr", "seconds", "samples_per_second"}


def test_nan_loss_stops_with_a_message_naming_epoch_and_batch():
    """Bad input: a NaN loss in fit() stops with a clear message naming the epoch and batch."""
    fg.manual_seed(0)
    X = np.random.default_rng(0).standard_normal((40, 2))
    y = X.sum(axis=1, keepdims=True)
    y[21, 0] = np.nan  # a corrupt target: sample 21 -> batch 3 of 5 (batch_size 8, no shuffle)
    model = TinyMLP(2, 4, 1, dtype=fg.float64)
    opt = MomentumSGD(model.parameters(), lr=0.1)
    loader = DataLoader(ArrayDataset(X, y), batch_size=8)
    with pytest.raises(FloatingPointError,
                       match=r"training loss is nan at epoch 1/3, batch 3/5"):
        fit(model, mse, opt, loader, epochs=3, progress=False)
    # the optimizer was not stepped with the NaN gradient
    assert all(np.isfinite(p.numpy()).all() for p in model.parameters())


def test_inf_loss_in_a_later_epoch_names_that_epoch():
    model, opt, train, val = _problem()
    calls = []

    def loss_fn(output, target):
        calls.append(1)
        loss = cross_entropy(output, target)
        return loss * float("inf") if len(calls) == len(train) + len(val) + 2 else loss

    with pytest.raises(FloatingPointError, match=r"loss is inf at epoch 2/4, batch 2/8"):
        fit(model, loss_fn, opt, train, val, epochs=4, progress=False)


def test_nan_validation_loss_names_the_validation_phase():
    model, opt, train, _ = _problem()
    Xv, yv = blobs(10)
    Xv[9] = np.inf
    val = DataLoader(ArrayDataset(Xv, yv), batch_size=4)
    with pytest.raises(FloatingPointError, match=r"validation loss is .* at epoch 1/2, batch 3/3"):
        fit(model, cross_entropy, opt, train, val, epochs=2, progress=False)


def test_epoch_scheduler_is_stepped_once_per_epoch_and_lr_recorded():
    model, opt, train, val = _problem()
    scheduler = HalveLR(opt)
    history = fit(model, cross_entropy, opt, train, val, epochs=3, scheduler=scheduler,
                  progress=False)
    assert scheduler.steps == 3
    assert history["lr"] == [0.05, 0.025, 0.0125]


def test_plateau_scheduler_gets_the_validation_loss():
    model, opt, train, val = _problem()
    scheduler = RecordingPlateau(opt)
    history = fit(model, cross_entropy, opt, train, val, epochs=3, scheduler=scheduler,
                  progress=False)
    assert scheduler.metrics == history["val_loss"]
    model, opt, train, _ = _problem()
    scheduler = RecordingPlateau(opt)
    history = fit(model, cross_entropy, opt, train, epochs=2, scheduler=scheduler,
                  progress=False)
    assert scheduler.metrics == history["train_loss"]


def test_early_stopping_stops_fit_and_restores_best():
    model, opt, train, val = _problem()
    opt.param_groups[0]["lr"] = 5.0  # diverging-ish: validation loss gets worse
    stopper = EarlyStopping(patience=2, restore_best=True)

    history = fit(model, cross_entropy, opt, train, val, epochs=30, early_stopping=stopper,
                  progress=False)
    n = len(history["epoch"])
    assert n < 30 and stopper.should_stop
    assert stopper.num_bad_epochs == 2
    assert stopper.best == min(history["val_loss"])
    assert stopper.best_epoch == int(np.argmin(history["val_loss"])) + 1
    # the restored model reproduces the best validation loss
    Xv, yv = val.dataset.arrays
    with fg.no_grad():
        loss = cross_entropy(model(fg.tensor(Xv)), fg.tensor(yv)).item()
    assert loss == pytest.approx(stopper.best, rel=1e-5)


def test_restore_best_when_epochs_run_out_without_stopping():
    model, opt, train, val = _problem()
    stopper = EarlyStopping(patience=100, restore_best=True)
    history = fit(model, cross_entropy, opt, train, val, epochs=4, early_stopping=stopper,
                  progress=False)
    assert len(history["epoch"]) == 4 and not stopper.should_stop
    Xv, yv = val.dataset.arrays
    with fg.no_grad():
        loss = cross_entropy(model(fg.tensor(Xv)), fg.tensor(yv)).item()
    assert loss == pytest.approx(min(history["val_loss"]), rel=1e-5)


def test_plain_progress_is_one_line_per_epoch_with_loss_and_throughput(capsys, monkeypatch):
    monkeypatch.setattr(train_module, "_load_tqdm", lambda: None)
    model, opt, train, val = _problem()
    fit(model, cross_entropy, opt, train, val, epochs=3)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    for i, line in enumerate(lines, 1):
        assert line.startswith(f"epoch {i}/3")
        assert "train_loss" in line and "val_loss" in line and "samples/s" in line


def test_progress_false_prints_nothing(capsys):
    model, opt, train, val = _problem()
    fit(model, cross_entropy, opt, train, val, epochs=1, progress=False)
    assert capsys.readouterr().out == ""


class FakeTqdm:
    instances = []

    def __init__(self, total=None, desc=None, unit=None, leave=None):
        self.total, self.desc, self.updates, self.postfixes, self.closed = total, desc, 0, [], False
        FakeTqdm.instances.append(self)

    def update(self, n=1):
        self.updates += n

    def set_postfix(self, ordered_dict=None, refresh=True, **kwargs):
        self.postfixes.append(dict(ordered_dict or {}, **kwargs))

    def close(self):
        self.closed = True


def test_tqdm_bar_per_epoch_when_installed(capsys, monkeypatch):
    FakeTqdm.instances = []
    monkeypatch.setattr(train_module, "_load_tqdm", lambda: FakeTqdm)
    model, opt, train, val = _problem()
    fit(model, cross_entropy, opt, train, val, epochs=2)
    assert capsys.readouterr().out == ""  # no plain lines when tqdm shows progress
    assert [bar.desc for bar in FakeTqdm.instances] == ["epoch 1/2", "epoch 2/2"]
    for bar in FakeTqdm.instances:
        assert bar.total == len(train) and bar.updates == len(train) and bar.closed
        assert "loss" in bar.postfixes[0] and "samples_s" in bar.postfixes[0]
        assert "val_loss" in bar.postfixes[-1]


def test_tqdm_bar_is_closed_when_training_fails(monkeypatch):
    FakeTqdm.instances = []
    monkeypatch.setattr(train_module, "_load_tqdm", lambda: FakeTqdm)
    model, opt, train, _ = _problem()
    with pytest.raises(FloatingPointError):
        fit(model, lambda o, t: cross_entropy(o, t) * float("nan"), opt, train, epochs=1)
    assert FakeTqdm.instances[0].closed


def test_fit_bad_arguments():
    model, opt, train, val = _problem()
    with pytest.raises(ValueError, match="epochs"):
        fit(model, cross_entropy, opt, train, epochs=0, progress=False)
    with pytest.raises(ValueError, match="val_loader"):
        fit(model, cross_entropy, opt, train, metrics={"m": lambda o, t: 0.0}, progress=False)
    with pytest.raises(TypeError, match="loss_fn"):
        fit(model, None, opt, train, progress=False)
    X = ArrayDataset(np.zeros((4, 2), np.float32))
    with pytest.raises(TypeError, match=r"tuple \(inputs\.\.\., target\)"):
        fit(model, cross_entropy, opt, DataLoader(X, batch_size=2), progress=False)
    empty = DataLoader(ArrayDataset(np.zeros((0, 2), np.float32), np.zeros(0, np.int64)))
    with pytest.raises(ValueError, match="no samples"):
        fit(model, cross_entropy, opt, empty, progress=False)


def test_model_with_several_inputs():
    fg.manual_seed(0)
    X, y = blobs(32)
    model = TinyMLP(2, 8, 3)
    opt = MomentumSGD(model.parameters(), lr=0.05)

    def two_input_model(a, b):
        return model(a + b)

    loader = DataLoader(ArrayDataset(X / 2, X / 2, y), batch_size=8)
    history = fit(two_input_model, cross_entropy, opt, loader, loader, epochs=2, progress=False)
    assert len(history["val_accuracy"]) == 2


# ----------------------------------------------------------------------------- real fastgrad.optim
def test_real_schedulers_are_stepped_the_right_way():
    optim = pytest.importorskip("fastgrad.optim")
    assert train_module._wants_metric(
        optim.lr_scheduler.ReduceLROnPlateau(optim.SGD([fg.zeros(1, requires_grad=True)], lr=1)))
    assert not train_module._wants_metric(
        optim.lr_scheduler.StepLR(optim.SGD([fg.zeros(1, requires_grad=True)], lr=1), 1))

    model, _, train, val = _problem()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    history = fit(model, cross_entropy, opt, train, val, epochs=3, scheduler=scheduler,
                  progress=False)
    assert history["lr"] == [0.1, 0.05, 0.025]
    assert history["val_accuracy"][-1] >= 0.95

    model, _, train, val = _problem()
    opt = optim.Adam(model.parameters(), lr=0.01)
    scheduler = optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", patience=0, factor=0.5)
    # mode="max" on a decreasing validation loss: every epoch after the first is "bad"
    history = fit(model, cross_entropy, opt, train, val, epochs=3, scheduler=scheduler,
                  progress=False)
    assert history["val_loss"][2] < history["val_loss"][1] < history["val_loss"][0]
    assert history["lr"] == [0.01, 0.01, 0.005]


# ----------------------------------------------------------------------------- real fastgrad.nn
def test_fit_with_real_nn_module_and_early_stopping_restore_best():
    nn = pytest.importorskip("fastgrad.nn")
    optim = pytest.importorskip("fastgrad.optim")
    F = nn.functional
    fg.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 3))
    opt = optim.SGD(model.parameters(), lr=2.0, momentum=0.9)  # too large: val loss goes up
    Xt, yt = blobs(120)
    Xv, yv = blobs(60, seed=100)
    train = DataLoader(ArrayDataset(Xt, yt), batch_size=16, shuffle=True, seed=0)
    val = DataLoader(ArrayDataset(Xv, yv), batch_size=32)
    stopper = EarlyStopping(patience=2, restore_best=True)
    history = fit(model, F.cross_entropy, opt, train, val, epochs=40, early_stopping=stopper,
                  progress=False)
    assert stopper.should_stop and len(history["epoch"]) < 40
    assert not model.training  # left in eval mode after validation
    with fg.no_grad():
        loss = F.cross_entropy(model(fg.tensor(Xv)), fg.tensor(yv)).item()
    assert loss == pytest.approx(min(history["val_loss"]), rel=1e-5)


def test_real_tqdm_progress(capsys):
    pytest.importorskip("tqdm")
    model, opt, train, val = _problem()
    history = fit(model, cross_entropy, opt, train, val, epochs=2)
    err = capsys.readouterr().err
    assert "epoch 1/2" in err and "epoch 2/2" in err and "samples_s" in err and "val_loss" in err
    assert len(history["train_loss"]) == 2


def test_loss_fn_must_return_a_tensor_for_training():
    model, opt, train, _ = _problem()
    with pytest.raises(TypeError, match="loss_fn must return a Tensor, got float"):
        fit(model, lambda o, t: 1.0, opt, train, progress=False)
