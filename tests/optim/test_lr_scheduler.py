"""fastgrad.optim.lr_scheduler vs torch's closed forms and hand-computed sequences."""
import math

import numpy as np
import pytest

import fastgrad as fg
from fastgrad import optim
from fastgrad.optim import lr_scheduler as sch


def make_opt(lrs=(1.0,)):
    groups = [{"params": [fg.tensor(np.ones(2), requires_grad=True)], "lr": lr} for lr in lrs]
    return optim.SGD(groups, lr=0.5)


def sequence(opt, scheduler, epochs):
    """lrs of every group after construction and after each of `epochs` steps."""
    out = [scheduler.get_last_lr()]
    assert out[0] == [g["lr"] for g in opt.param_groups]
    for _ in range(epochs):
        scheduler.step()
        out.append(scheduler.get_last_lr())
        assert out[-1] == [g["lr"] for g in opt.param_groups]
    return np.array(out)


def test_step_lr_hand_computed():
    opt = make_opt()
    got = sequence(opt, sch.StepLR(opt, step_size=3, gamma=0.5), 8)[:, 0]
    np.testing.assert_allclose(got, [1, 1, 1, .5, .5, .5, .25, .25, .25], rtol=1e-15)


def test_step_lr_closed_form_two_groups():
    opt = make_opt((0.1, 0.3))
    got = sequence(opt, sch.StepLR(opt, step_size=4, gamma=0.3), 30)
    epochs = np.arange(31)[:, None]
    np.testing.assert_allclose(got, np.array([0.1, 0.3]) * 0.3 ** (epochs // 4), rtol=1e-12)


def test_multistep_lr():
    opt = make_opt()
    got = sequence(opt, sch.MultiStepLR(opt, milestones=[5, 2, 5, 7], gamma=0.1), 9)[:, 0]
    np.testing.assert_allclose(got, [1, 1, .1, .1, .1, .001, .001, 1e-4, 1e-4, 1e-4], rtol=1e-12)


def test_exponential_lr():
    opt = make_opt((0.2,))
    got = sequence(opt, sch.ExponentialLR(opt, gamma=0.9), 30)[:, 0]
    np.testing.assert_allclose(got, 0.2 * 0.9 ** np.arange(31), rtol=1e-12)


def test_cosine_annealing_lr():
    opt = make_opt((0.1,))
    got = sequence(opt, sch.CosineAnnealingLR(opt, T_max=10, eta_min=0.001), 30)[:, 0]
    e = np.arange(31)
    np.testing.assert_allclose(got, 0.001 + (0.1 - 0.001) * (1 + np.cos(np.pi * e / 10)) / 2,
                               rtol=1e-12)
    assert got[0] == 0.1 and abs(got[10] - 0.001) < 1e-15 and abs(got[20] - 0.1) < 1e-15


def test_lambda_lr_per_group():
    opt = make_opt((1.0, 2.0))
    scheduler = sch.LambdaLR(opt, [lambda e: 0.5 ** e, lambda e: 1.0 / (e + 1)])
    got = sequence(opt, scheduler, 6)
    e = np.arange(7)
    np.testing.assert_allclose(got[:, 0], 0.5 ** e, rtol=1e-15)
    np.testing.assert_allclose(got[:, 1], 2.0 / (e + 1), rtol=1e-15)


def test_lambda_lr_wrong_number_of_lambdas_raises():
    with pytest.raises(ValueError, match="lr_lambdas"):
        sch.LambdaLR(make_opt((1.0, 2.0)), [lambda e: 1.0])


def test_initial_lr_recorded_and_resume():
    opt = make_opt((0.4,))
    scheduler = sch.ExponentialLR(opt, gamma=0.5)
    assert opt.param_groups[0]["initial_lr"] == 0.4
    for _ in range(3):
        scheduler.step()
    resumed = sch.ExponentialLR(opt, gamma=0.5, last_epoch=scheduler.last_epoch)
    assert resumed.get_last_lr() == [0.4 * 0.5 ** 4]  # construction takes one step


def test_resume_without_initial_lr_raises():
    with pytest.raises(KeyError, match="initial_lr"):
        sch.StepLR(make_opt(), step_size=2, last_epoch=5)


def test_scheduler_state_dict_round_trip():
    opt = make_opt((0.1,))
    scheduler = sch.CosineAnnealingLR(opt, T_max=7)
    for _ in range(4):
        scheduler.step()
    state = scheduler.state_dict()
    assert "optimizer" not in state and state["last_epoch"] == 4
    other_opt = make_opt((0.1,))
    other = sch.CosineAnnealingLR(other_opt, T_max=99)
    other.load_state_dict(state)
    scheduler.step()
    other.step()
    assert other.get_last_lr() == scheduler.get_last_lr()
    assert other_opt.param_groups[0]["lr"] == opt.param_groups[0]["lr"]


def test_scheduled_lr_is_used_by_the_optimizer():
    p = fg.tensor(np.zeros(1), requires_grad=True)
    opt = optim.SGD([p], lr=1.0)
    scheduler = sch.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        p.grad = fg.tensor(np.ones(1))
        opt.step()
        scheduler.step()
    np.testing.assert_allclose(p.numpy(), [-(1 + 0.5 + 0.25)], rtol=1e-15)


def test_scheduler_rejects_non_optimizer():
    with pytest.raises(TypeError):
        sch.StepLR(object(), step_size=1)


# ------------------------------------------------------------------ ReduceLROnPlateau
def plateau_lrs(metrics, **kwargs):
    opt = make_opt()
    scheduler = sch.ReduceLROnPlateau(opt, **kwargs)
    out = []
    for m in metrics:
        scheduler.step(m)
        out.append(scheduler.get_last_lr()[0])
        assert out[-1] == opt.param_groups[0]["lr"]
    return out


def test_plateau_patience_and_cooldown_hand_computed():
    metrics = [10, 9, 9, 9, 9, 8, 8, 8]
    got = plateau_lrs(metrics, factor=0.5, patience=1, threshold=0.0, cooldown=1)
    assert got == [1, 1, 1, .5, .5, .5, .5, .25]


def test_plateau_min_lr_and_eps():
    got = plateau_lrs([5, 5, 5, 5, 5, 5], factor=0.5, patience=0, min_lr=0.3)
    assert got == [1, .5, .3, .3, .3, .3]


def test_plateau_max_mode_and_threshold():
    # rel threshold 0.1: an increase counts only if above best * 1.1
    got = plateau_lrs([1.0, 1.05, 1.08, 1.2, 1.21, 1.22], mode="max", factor=0.1, patience=1,
                      threshold=0.1)
    assert np.allclose(got, [1, 1, .1, .1, .1, .01])
    # abs threshold 0.5 in min mode
    got = plateau_lrs([10, 9.6, 9.0, 8.8, 8.7], factor=0.1, patience=1, threshold=0.5,
                      threshold_mode="abs")
    assert np.allclose(got, [1, 1, 1, 1, .1])


def test_plateau_bad_arguments_raise():
    with pytest.raises(ValueError, match="factor"):
        sch.ReduceLROnPlateau(make_opt(), factor=1.0)
    with pytest.raises(ValueError, match="mode"):
        sch.ReduceLROnPlateau(make_opt(), mode="up")
    with pytest.raises(ValueError, match="threshold"):
        sch.ReduceLROnPlateau(make_opt(), threshold_mode="pct")
    with pytest.raises(ValueError, match="min_lr"):
        sch.ReduceLROnPlateau(make_opt((1.0, 2.0)), min_lr=[0.1])


def test_plateau_state_dict_round_trip():
    opt = make_opt()
    scheduler = sch.ReduceLROnPlateau(opt, factor=0.5, patience=1)
    for m in [3, 2, 2]:
        scheduler.step(m)
    state = scheduler.state_dict()
    assert state["best"] == 2 and state["num_bad_epochs"] == 1 and "optimizer" not in state
    other_opt = make_opt()
    other = sch.ReduceLROnPlateau(other_opt)
    other.load_state_dict(state)
    other.step(2)
    assert other_opt.param_groups[0]["lr"] == 0.5 and math.isclose(other.get_last_lr()[0], 0.5)
