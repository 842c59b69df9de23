"""fastgrad.optim optimizers vs independent numpy transcriptions of torch.optim's
documented algorithms: 25-step trajectories, parameter groups, zero_grad,
state_dict round trips, lazy SparseAdam, bad input."""
import numpy as np
import pytest

import fastgrad as fg
from fastgrad import optim

STEPS = 25
SHAPES = [(), (5,), (3, 4), (2, 3, 4)]


# ------------------------------------------------------------------ problem
class Problem:
    """Parameters with a noisy quadratic loss: grad_t(p) = c * (p - target) + noise_t."""

    def __init__(self, shapes=SHAPES, seed=0):
        rng = np.random.default_rng(seed)
        self.p0 = [rng.standard_normal(s) for s in shapes]
        self.curv = [rng.uniform(0.5, 2.0, s) for s in shapes]
        self.target = [rng.standard_normal(s) for s in shapes]
        self.noise = [[0.3 * rng.standard_normal(s) for s in shapes] for _ in range(STEPS)]

    def grad(self, i, t, p):
        return self.curv[i] * (np.asarray(p, np.float64) - self.target[i]) + self.noise[t][i]


def run_fastgrad(make_opt, problem, dtype=np.float64, steps=STEPS):
    params = [fg.tensor(p.astype(dtype), dtype=dtype, requires_grad=True) for p in problem.p0]
    opt = make_opt(params)
    traj = []
    for t in range(steps):
        for i, p in enumerate(params):
            p.grad = fg.tensor(problem.grad(i, t, p.numpy()).astype(dtype), dtype=dtype)
        opt.step()
        traj.append([p.numpy().astype(np.float64) for p in params])
    return traj


def run_reference(ref_step, problem, steps=STEPS, per_param=None, **hp):
    """Reference trajectory; per_param[i] (a dict) overrides hp for parameter i."""
    params = [p.copy() for p in problem.p0]
    states = [{} for _ in params]
    traj = []
    for t in range(steps):
        for i in range(len(params)):
            g = problem.grad(i, t, params[i])
            options = {**hp, **(per_param[i] if per_param else {})}
            params[i] = ref_step(params[i], g, states[i], t + 1, **options)
        traj.append([p.copy() for p in params])
    return traj


def assert_traj_close(got, want, rtol, atol):
    assert len(got) == len(want)
    for t, (gs, ws) in enumerate(zip(got, want)):
        for g, w in zip(gs, ws):
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"step {t + 1}")


# ------------------------------------------------------------------ references
# Each transcribes the pseudo-code of torch.optim's documentation for one step t (1-based).
def ref_sgd(p, g, s, t, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
            maximize=False):
    g = -g if maximize else g
    if weight_decay:
        g = g + weight_decay * p
    if momentum:
        s["b"] = g if t == 1 else momentum * s["b"] + (1 - dampening) * g
        g = g + momentum * s["b"] if nesterov else s["b"]
    return p - lr * g


def ref_adagrad(p, g, s, t, lr=0.01, lr_decay=0.0, weight_decay=0.0,
                initial_accumulator_value=0.0, eps=1e-10, maximize=False):
    g = -g if maximize else g
    s.setdefault("sum", np.full_like(p, initial_accumulator_value))
    clr = lr / (1 + (t - 1) * lr_decay)
    if weight_decay:
        g = g + weight_decay * p
    s["sum"] = s["sum"] + g * g
    return p - clr * g / (np.sqrt(s["sum"]) + eps)


def ref_adadelta(p, g, s, t, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False):
    g = -g if maximize else g
    v, u = s.get("v", np.zeros_like(p)), s.get("u", np.zeros_like(p))
    if weight_decay:
        g = g + weight_decay * p
    v = v * rho + g * g * (1 - rho)
    dx = np.sqrt(u + eps) / np.sqrt(v + eps) * g
    s["u"] = u * rho + dx * dx * (1 - rho)
    s["v"] = v
    return p - lr * dx


def ref_rmsprop(p, g, s, t, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                centered=False, maximize=False):
    g = -g if maximize else g
    if weight_decay:
        g = g + weight_decay * p
    s["v"] = alpha * s.get("v", 0.0) + (1 - alpha) * g * g
    vt = s["v"]
    if centered:
        s["gave"] = s.get("gave", 0.0) * alpha + (1 - alpha) * g
        vt = vt - s["gave"] ** 2
    if momentum > 0:
        s["b"] = momentum * s.get("b", 0.0) + g / (np.sqrt(vt) + eps)
        return p - lr * s["b"]
    return p - lr * g / (np.sqrt(vt) + eps)


def ref_adam(p, g, s, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
             amsgrad=False, maximize=False, decoupled=False):
    b1, b2 = betas
    g = -g if maximize else g
    if decoupled:
        p = p - lr * weight_decay * p
    elif weight_decay:
        g = g + weight_decay * p
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
    mhat = s["m"] / (1 - b1 ** t)
    if amsgrad:
        s["vmax"] = np.maximum(s.get("vmax", 0.0), s["v"])
        vhat = s["vmax"] / (1 - b2 ** t)
    else:
        vhat = s["v"] / (1 - b2 ** t)
    return p - lr * mhat / (np.sqrt(vhat) + eps)


def ref_adamw(p, g, s, t, weight_decay=1e-2, **hp):
    return ref_adam(p, g, s, t, weight_decay=weight_decay, decoupled=True, **hp)


def ref_adafactor(p, g, s, t, lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0,
                  weight_decay=0.0, maximize=False):
    eps1 = np.finfo(p.dtype).eps if eps[0] is None else eps[0]
    eps2 = eps[1]
    g = -g if maximize else g
    beta2 = 1 - t ** beta2_decay
    rho = min(lr, 1 / np.sqrt(t))
    alpha = max(eps2, np.sqrt(np.mean(p * p))) * rho
    p = p - lr * weight_decay * p
    if g.ndim > 1:
        s["R"] = beta2 * s.get("R", 0.0) + (1 - beta2) * np.mean(g * g, axis=-1, keepdims=True)
        s["C"] = beta2 * s.get("C", 0.0) + (1 - beta2) * np.mean(g * g, axis=-2, keepdims=True)
        v = s["R"] * s["C"] / np.maximum(np.mean(s["R"], axis=-2, keepdims=True), eps1)
    else:
        s["V"] = beta2 * s.get("V", 0.0) + (1 - beta2) * g * g
        v = s["V"]
    u = g / np.maximum(np.sqrt(v), eps1)
    u = u / max(1.0, np.sqrt(np.mean(u * u)) / d)
    return p - alpha * u


# ------------------------------------------------------------------ trajectories
CASES = [
    (optim.SGD, ref_sgd, dict(lr=0.1)),
    (optim.SGD, ref_sgd, dict(lr=0.05, momentum=0.9)),
    (optim.SGD, ref_sgd, dict(lr=0.05, momentum=0.9, dampening=0.3)),
    (optim.SGD, ref_sgd, dict(lr=0.05, momentum=0.8, nesterov=True)),
    (optim.SGD, ref_sgd, dict(lr=0.05, momentum=0.9, weight_decay=0.1)),
    (optim.SGD, ref_sgd, dict(lr=0.05, momentum=0.5, weight_decay=0.1, maximize=True)),
    (optim.Adagrad, ref_adagrad, dict()),
    (optim.Adagrad, ref_adagrad, dict(lr=0.3, lr_decay=0.1)),
    (optim.Adagrad, ref_adagrad, dict(lr=0.3, weight_decay=0.2, initial_accumulator_value=0.5)),
    (optim.Adagrad, ref_adagrad, dict(lr=0.3, eps=1e-2, maximize=True)),
    (optim.Adadelta, ref_adadelta, dict()),
    (optim.Adadelta, ref_adadelta, dict(lr=0.5, rho=0.5, eps=1e-3, weight_decay=0.1)),
    (optim.Adadelta, ref_adadelta, dict(maximize=True)),
    (optim.RMSprop, ref_rmsprop, dict()),
    (optim.RMSprop, ref_rmsprop, dict(lr=0.02, alpha=0.9, centered=True)),
    (optim.RMSprop, ref_rmsprop, dict(lr=0.01, momentum=0.9)),
    (optim.RMSprop, ref_rmsprop, dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.1,
                                      eps=1e-3)),
    (optim.RMSprop, ref_rmsprop, dict(lr=0.01, maximize=True)),
    (optim.Adam, ref_adam, dict()),
    (optim.Adam, ref_adam, dict(lr=0.05, betas=(0.5, 0.8), eps=1e-3)),
    (optim.Adam, ref_adam, dict(lr=0.05, amsgrad=True)),
    (optim.Adam, ref_adam, dict(lr=0.05, weight_decay=0.1, amsgrad=True)),
    (optim.Adam, ref_adam, dict(lr=0.05, maximize=True)),
    (optim.AdamW, ref_adamw, dict()),
    (optim.AdamW, ref_adamw, dict(lr=0.05, weight_decay=0.3)),
    (optim.AdamW, ref_adamw, dict(lr=0.05, weight_decay=0.3, amsgrad=True, maximize=True)),
    (optim.Adafactor, ref_adafactor, dict()),
    (optim.Adafactor, ref_adafactor, dict(lr=0.1, weight_decay=0.2)),
    (optim.Adafactor, ref_adafactor, dict(lr=0.5, beta2_decay=-0.5, eps=(1e-3, 1e-2), d=1.5)),
    (optim.Adafactor, ref_adafactor, dict(lr=0.1, eps=(1e-30, 10.0), maximize=True)),
]
IDS = [f"{cls.__name__}-{'-'.join(f'{k}={v}' for k, v in hp.items()) or 'defaults'}"
       for cls, _, hp in CASES]


@pytest.mark.parametrize("cls, ref, hp", CASES, ids=IDS)
def test_trajectory_float64(cls, ref, hp):
    problem = Problem()
    got = run_fastgrad(lambda ps: cls(ps, **hp), problem)
    want = run_reference(ref, problem, **hp)
    assert_traj_close(got, want, rtol=1e-10, atol=1e-10)
    assert not np.allclose(got[-1][2], problem.p0[2])  # the parameters did move


@pytest.mark.parametrize("cls, ref, hp", CASES, ids=IDS)
def test_trajectory_float32(cls, ref, hp):
    problem = Problem(seed=1)
    got = run_fastgrad(lambda ps: cls(ps, **hp), problem, dtype=np.float32)
    if cls is optim.Adafactor and hp.get("eps", (None,))[0] is None:
        hp = dict(hp, eps=(float(np.finfo(np.float32).eps), 1e-3))  # eps1 follows the dtype
    want = run_reference(ref, problem, **hp)
    assert_traj_close(got, want, rtol=2e-4, atol=2e-4)


def test_dense_optimizers_apply_a_sparse_gradient_as_dense():
    rng = np.random.default_rng(3)
    idx = np.array([4, 1, 4, 0])
    values = rng.standard_normal((4, 3))
    sparse = fg.SparseRowGrad(idx, values, (6, 3))
    for cls in (optim.SGD, optim.Adam, optim.RMSprop, optim.Adafactor):
        a = fg.tensor(rng.standard_normal((6, 3)), requires_grad=True)
        b = fg.tensor(a.numpy().copy(), requires_grad=True)
        oa, ob = cls([a], lr=0.1), cls([b], lr=0.1)
        for _ in range(3):
            a.grad = sparse
            b.grad = fg.tensor(sparse.to_dense())
            oa.step()
            ob.step()
        np.testing.assert_array_equal(a.numpy(), b.numpy())


# ------------------------------------------------------------------ SparseAdam
def ref_sparse_adam(p, rows, values, s, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                    maximize=False):
    """torch's sparse_adam: lazy Adam on the coalesced rows only."""
    b1, b2 = betas
    uniq, inv = np.unique(rows, return_inverse=True)
    g = np.zeros((len(uniq),) + p.shape[1:])
    np.add.at(g, inv, values)
    g = -g if maximize else g
    m, v = s.setdefault("m", np.zeros_like(p)), s.setdefault("v", np.zeros_like(p))
    m[uniq] = b1 * m[uniq] + (1 - b1) * g
    v[uniq] = b2 * v[uniq] + (1 - b2) * g * g
    step_size = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
    p = p.copy()
    p[uniq] -= step_size * m[uniq] / (np.sqrt(v[uniq]) + eps)
    return p


@pytest.mark.parametrize("hp", [dict(lr=0.05), dict(lr=0.1, betas=(0.5, 0.9), eps=1e-3),
                                dict(lr=0.05, maximize=True)])
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 2e-4)])
def test_sparse_adam_trajectory_and_lazy_rows(hp, dtype, tol):
    rng = np.random.default_rng(4)
    p0 = rng.standard_normal((12, 3))
    never = [10, 11]  # rows no gradient ever touches
    w = fg.tensor(p0.astype(dtype), dtype=dtype, requires_grad=True)
    opt = optim.SparseAdam([w], **hp)
    ref, state = p0.copy(), {}
    for t in range(1, STEPS + 1):
        rows = rng.integers(0, 10, size=6)  # duplicates are likely and must be summed
        values = rng.standard_normal((6, 3))
        untouched = np.setdiff1d(np.arange(12), rows)
        before = w.numpy().copy()
        m_before = opt.state[w]["exp_avg"].copy() if t > 1 else np.zeros((12, 3))
        w.grad = fg.SparseRowGrad(rows, values.astype(dtype), (12, 3))
        opt.step()
        ref = ref_sparse_adam(ref, rows, values, state, t, **hp)
        np.testing.assert_allclose(w.numpy(), ref, rtol=tol, atol=tol, err_msg=f"step {t}")
        np.testing.assert_array_equal(w.numpy()[untouched], before[untouched])
        np.testing.assert_array_equal(opt.state[w]["exp_avg"][untouched], m_before[untouched])
    np.testing.assert_array_equal(w.numpy()[never], p0[never].astype(dtype))
    assert not np.any(opt.state[w]["exp_avg_sq"][never])


def test_sparse_adam_dense_gradient_updates_every_row():
    rng = np.random.default_rng(5)
    a = fg.tensor(rng.standard_normal((4, 2)), requires_grad=True)
    b = fg.tensor(a.numpy().copy(), requires_grad=True)
    oa, ob = optim.SparseAdam([a], lr=0.1), optim.SparseAdam([b], lr=0.1)
    g = rng.standard_normal((4, 2))
    a.grad = fg.tensor(g)
    b.grad = fg.SparseRowGrad(np.arange(4), g, (4, 2))
    oa.step()
    ob.step()
    np.testing.assert_array_equal(a.numpy(), b.numpy())


# ------------------------------------------------------------------ groups, zero_grad
def test_param_groups_with_different_lrs_and_options():
    problem = Problem(shapes=[(3,), (2, 2)])
    params = [fg.tensor(p, requires_grad=True) for p in problem.p0]
    opt = optim.SGD([{"params": [params[0]]},
                     {"params": [params[1]], "lr": 0.01, "momentum": 0.5}], lr=0.1, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01]
    assert [g["momentum"] for g in opt.param_groups] == [0.9, 0.5]
    assert opt.param_groups[1]["dampening"] == 0.0  # filled from the defaults
    want = run_reference(ref_sgd, problem, per_param=[dict(lr=0.1, momentum=0.9),
                                                      dict(lr=0.01, momentum=0.5)])
    for t in range(STEPS):
        for i, p in enumerate(params):
            p.grad = fg.tensor(problem.grad(i, t, p.numpy()))
        opt.step()
        for p, w in zip(params, want[t]):
            np.testing.assert_allclose(p.numpy(), w, rtol=1e-10, atol=1e-10)


def test_add_param_group_and_per_group_lr_change():
    a = fg.tensor(np.ones(2), requires_grad=True)
    b = fg.tensor(np.ones(2), requires_grad=True)
    opt = optim.Adam([a], lr=0.1)
    opt.add_param_group({"params": b, "lr": 0.2})
    assert len(opt.param_groups) == 2 and opt.param_groups[1]["betas"] == (0.9, 0.999)
    opt.param_groups[0]["lr"] = 0.0
    a.grad, b.grad = fg.tensor(np.ones(2)), fg.tensor(np.ones(2))
    opt.step()
    np.testing.assert_array_equal(a.numpy(), np.ones(2))  # lr 0: unchanged
    np.testing.assert_allclose(b.numpy(), np.ones(2) - 0.2, rtol=1e-6)  # first Adam step = lr


def test_zero_grad_set_to_none_and_zero_fill():
    a = fg.tensor(np.ones(3), requires_grad=True)
    b = fg.tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([a, b], lr=0.1)
    a.grad, b.grad = fg.tensor(np.ones(3)), fg.tensor(np.ones(2))
    grad = a.grad
    opt.zero_grad(set_to_none=False)
    assert a.grad is grad
    np.testing.assert_array_equal(a.grad.numpy(), np.zeros(3))
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_parameters_without_grad_are_skipped():
    a = fg.tensor(np.ones(3), requires_grad=True)
    b = fg.tensor(np.ones(3), requires_grad=True)
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = fg.tensor(np.ones(3))
    opt.step()
    np.testing.assert_array_equal(b.numpy(), np.ones(3))
    assert b not in opt.state and opt.state[a]["step"] == 1


def test_step_returns_closure_loss():
    a = fg.tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([a], lr=0.5)

    def closure():
        a.grad = fg.tensor(2 * a.numpy())
        return 7.0

    assert opt.step(closure) == 7.0
    np.testing.assert_array_equal(a.numpy(), np.zeros(2))


# ------------------------------------------------------------------ state_dict
ROUND_TRIP = [
    (optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
    (optim.Adagrad, dict(lr=0.3, lr_decay=0.1)),
    (optim.Adadelta, dict()),
    (optim.RMSprop, dict(momentum=0.5, centered=True)),
    (optim.Adam, dict(lr=0.05, amsgrad=True)),
    (optim.AdamW, dict(lr=0.05)),
    (optim.Adafactor, dict(lr=0.1)),
]


@pytest.mark.parametrize("cls, hp", ROUND_TRIP, ids=[c.__name__ for c, _ in ROUND_TRIP])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_state_dict_round_trip_continues_bit_identically(cls, hp, dtype):
    problem = Problem()
    params = [fg.tensor(p.astype(dtype), dtype=dtype, requires_grad=True) for p in problem.p0]
    opt = cls(params, **hp)

    def step(ps, o, t):
        for i, p in enumerate(ps):
            p.grad = fg.tensor(problem.grad(i, t, p.numpy()).astype(dtype), dtype=dtype)
        o.step()

    for t in range(10):
        step(params, opt, t)
    saved = opt.state_dict()
    clones = [fg.tensor(p.numpy().copy(), dtype=dtype, requires_grad=True) for p in params]
    other = cls(clones, lr=123.0)  # options come from the state dict
    other.load_state_dict(saved)
    assert other.param_groups[0]["lr"] == hp.get("lr", opt.defaults["lr"])
    for t in range(10, STEPS):
        step(params, opt, t)
        step(clones, other, t)
    for p, q in zip(params, clones):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_state_dict_structure_and_load_copies():
    a = fg.tensor(np.ones(3), requires_grad=True)
    opt = optim.Adam([a], lr=0.1)
    a.grad = fg.tensor(np.ones(3))
    opt.step()
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert sd["param_groups"][0]["params"] == [0]
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq"} and sd["state"][0]["step"] == 1
    b = fg.tensor(np.ones(3), requires_grad=True)
    other = optim.Adam([b])
    other.load_state_dict(sd)
    assert other.state[b]["exp_avg"] is not sd["state"][0]["exp_avg"]
    np.testing.assert_array_equal(other.state[b]["exp_avg"], sd["state"][0]["exp_avg"])


def test_sparse_adam_state_dict_round_trip():
    rng = np.random.default_rng(6)
    a = fg.tensor(rng.standard_normal((5, 2)), requires_grad=True)
    opt = optim.SparseAdam([a], lr=0.1)
    grads = [(rng.integers(0, 5, 3), rng.standard_normal((3, 2))) for _ in range(6)]
    for rows, vals in grads[:3]:
        a.grad = fg.SparseRowGrad(rows, vals, (5, 2))
        opt.step()
    b = fg.tensor(a.numpy().copy(), requires_grad=True)
    other = optim.SparseAdam([b])
    other.load_state_dict(opt.state_dict())
    for rows, vals in grads[3:]:
        a.grad = fg.SparseRowGrad(rows, vals, (5, 2))
        b.grad = fg.SparseRowGrad(rows, vals, (5, 2))
        opt.step()
        other.step()
    np.testing.assert_array_equal(a.numpy(), b.numpy())


# ------------------------------------------------------------------ bad input
ALL = [optim.SGD, optim.Adagrad, optim.Adadelta, optim.RMSprop, optim.Adam, optim.AdamW,
       optim.Adafactor, optim.SparseAdam]


def leaf(shape=(3,)):
    return fg.tensor(np.ones(shape), requires_grad=True)


@pytest.mark.parametrize("cls", ALL)
def test_no_parameters_raises(cls):
    with pytest.raises(ValueError, match="empty parameter list"):
        cls([])


@pytest.mark.parametrize("cls", ALL)
def test_non_leaf_raises(cls):
    with pytest.raises(ValueError, match="non-leaf"):
        cls([leaf() * 2.0])


@pytest.mark.parametrize("cls", ALL)
def test_negative_lr_raises(cls):
    with pytest.raises(ValueError, match="lr"):
        cls([leaf()], lr=-0.1)


@pytest.mark.parametrize("cls", [optim.Adam, optim.AdamW, optim.SparseAdam])
@pytest.mark.parametrize("betas", [(1.0, 0.999), (-0.1, 0.999), (0.9, 1.0), (0.9, -1e-3)])
def test_betas_outside_unit_interval_raise(cls, betas):
    with pytest.raises(ValueError, match="beta"):
        cls([leaf()], betas=betas)


@pytest.mark.parametrize("make, kwargs", [
    (optim.SGD, dict(momentum=-0.1)),
    (optim.SGD, dict(nesterov=True)),  # needs momentum
    (optim.SGD, dict(momentum=0.9, dampening=0.1, nesterov=True)),
    (optim.Adagrad, dict(eps=-1.0)),
    (optim.Adagrad, dict(lr_decay=-1.0)),
    (optim.Adadelta, dict(rho=1.5)),
    (optim.RMSprop, dict(alpha=-0.5)),
    (optim.Adam, dict(eps=-1e-8)),
    (optim.Adam, dict(weight_decay=-1.0)),
    (optim.SparseAdam, dict(eps=0.0)),
    (optim.Adafactor, dict(beta2_decay=0.5)),
    (optim.Adafactor, dict(d=0.5)),
    (optim.Adafactor, dict(eps=(-1.0, 1e-3))),
])
def test_bad_hyper_parameters_raise(make, kwargs):
    with pytest.raises(ValueError):
        make([leaf()], **kwargs)


def test_bad_group_option_raises_in_add_param_group():
    opt = optim.Adam([leaf()])
    with pytest.raises(ValueError, match="lr"):
        opt.add_param_group({"params": [leaf()], "lr": -1.0})


def test_parameter_in_two_groups_raises():
    p = leaf()
    with pytest.raises(ValueError, match="more than once"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)


def test_single_tensor_instead_of_iterable_raises():
    with pytest.raises(TypeError):
        optim.SGD(leaf(), lr=0.1)


@pytest.mark.parametrize("src_cls, dst_cls", [(optim.SGD, optim.Adam), (optim.Adam, optim.Adagrad),
                                              (optim.Adam, optim.SparseAdam),
                                              (optim.RMSprop, optim.Adadelta)])
def test_load_state_dict_of_another_optimizer_raises(src_cls, dst_cls):
    p, q = leaf(), leaf()
    src = src_cls([p], lr=0.1)
    p.grad = fg.tensor(np.ones(3))
    src.step()
    dst = dst_cls([q], lr=0.1)
    with pytest.raises(ValueError, match="different optimizer"):
        dst.load_state_dict(src.state_dict())


def test_load_state_dict_with_other_group_sizes_raises():
    src = optim.Adam([leaf(), leaf()])
    dst = optim.Adam([leaf()])
    with pytest.raises(ValueError, match="parameters"):
        dst.load_state_dict(src.state_dict())


def test_load_state_dict_with_wrong_state_shape_raises():
    p = leaf((3,))
    src = optim.Adam([p])
    p.grad = fg.tensor(np.ones(3))
    src.step()
    dst = optim.Adam([leaf((4,))])
    with pytest.raises(ValueError, match="shape"):
        dst.load_state_dict(src.state_dict())


def test_gradient_of_wrong_shape_raises():
    p = leaf((3,))
    opt = optim.SGD([p], lr=0.1)
    p.grad = fg.tensor(np.ones(4))
    with pytest.raises(ValueError, match="does not match"):
        opt.step()
