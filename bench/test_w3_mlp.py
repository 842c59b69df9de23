"""W3: MLP 784-256-256-10 ReLU, batch 128, float32, softmax cross-entropy, SGD lr 0.01 momentum 0.9.

Timed: one training step (zero grads, forward, backward, SGD-momentum update), on a
fixed batch. Every implementation starts from the same fixed-seed parameters
(torch layouts: weight (out, in)) and is first checked over CHECK_STEPS steps against
a float64 numpy oracle whose gradients are checked by finite differences.
"""
import numpy as np
import pytest

from benchlib import (SGD_LR, SGD_MOMENTUM, assert_close, assert_params_close, fastgrad_or_skip,
                      fg_param_numpy, fg_set_param, finite_difference_check, jax_or_skip, softmax_xent,
                      tag, torch_or_skip, w3_problem)

CHECK_STEPS = 3
LAYERS = (("w1", "b1"), ("w2", "b2"), ("w3", "b3"))


# ------------------------------------------------------------------ oracle


def oracle_loss_grads(p, x, y):
    """float64 forward and backward of the MLP, plainly written."""
    a1 = x @ p["w1"].T + p["b1"]
    h1 = np.maximum(a1, 0)
    a2 = h1 @ p["w2"].T + p["b2"]
    h2 = np.maximum(a2, 0)
    logits = h2 @ p["w3"].T + p["b3"]
    loss, d3 = softmax_xent(logits, y)
    d2 = (d3 @ p["w3"]) * (a2 > 0)
    d1 = (d2 @ p["w2"]) * (a1 > 0)
    grads = dict(w3=d3.T @ h2, b3=d3.sum(0), w2=d2.T @ h1, b2=d2.sum(0), w1=d1.T @ x, b1=d1.sum(0))
    return loss, grads


def oracle_run(problem, steps):
    """Losses (before each update) and parameters after ``steps`` torch-style SGD-momentum steps."""
    p = {k: v.astype(np.float64) for k, v in problem["params"].items()}
    x, y = problem["x"].astype(np.float64), problem["y"]
    buf = {k: np.zeros_like(v) for k, v in p.items()}
    losses = []
    for _ in range(steps):
        loss, g = oracle_loss_grads(p, x, y)
        losses.append(loss)
        for k in p:
            buf[k] = SGD_MOMENTUM * buf[k] + g[k]  # torch: buf = g on the first step, same thing
            p[k] -= SGD_LR * buf[k]
    return losses, p


_ORACLE = {}


def oracle():
    if not _ORACLE:
        prob = w3_problem()
        p = {k: v.astype(np.float64) for k, v in prob["params"].items()}
        x = prob["x"].astype(np.float64)
        _, g = oracle_loss_grads(p, x, prob["y"])
        finite_difference_check(lambda q: oracle_loss_grads(q, x, prob["y"])[0], p, g)
        _ORACLE["run"] = oracle_run(prob, CHECK_STEPS)
    return _ORACLE["run"]


def check(step, params, what):
    """Run CHECK_STEPS steps through ``step()`` and compare losses and parameters with the oracle."""
    want_losses, want_params = oracle()
    losses = [float(step()) for _ in range(CHECK_STEPS)]
    assert_close(losses, want_losses, rtol=1e-4, atol=1e-6, what=f"{what}: losses")
    assert_params_close(params(), want_params, lr=SGD_LR, steps=CHECK_STEPS)


# ----------------------------------------------------------- numpy by hand


class NumpyMLP:
    """The step a numpy programmer writes: BLAS into preallocated buffers, in-place elementwise."""

    def __init__(self, problem):
        self.p = {k: v.copy() for k, v in problem["params"].items()}
        self.buf = {k: np.zeros_like(v) for k, v in self.p.items()}
        self.g = {k: np.empty_like(v) for k, v in self.p.items()}
        batch, hidden, classes = problem["x"].shape[0], self.p["w1"].shape[0], self.p["w3"].shape[0]
        self.h1 = np.empty((batch, hidden), np.float32)
        self.h2 = np.empty((batch, hidden), np.float32)
        self.d1 = np.empty((batch, hidden), np.float32)
        self.d2 = np.empty((batch, hidden), np.float32)
        self.z = np.empty((batch, classes), np.float32)
        self.e = np.empty((batch, classes), np.float32)
        self.rows = np.arange(batch)

    def step(self, x, y):
        p, g = self.p, self.g
        h1, h2, z, e, d1, d2 = self.h1, self.h2, self.z, self.e, self.d1, self.d2
        # forward
        np.matmul(x, p["w1"].T, out=h1)
        h1 += p["b1"]
        np.maximum(h1, 0, out=h1)
        np.matmul(h1, p["w2"].T, out=h2)
        h2 += p["b2"]
        np.maximum(h2, 0, out=h2)
        np.matmul(h2, p["w3"].T, out=z)
        z += p["b3"]
        # softmax cross-entropy, d(loss)/d(logits) in e
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=e)
        s = e.sum(axis=1, keepdims=True)
        loss = np.log(s).mean() - z[self.rows, y].mean()
        e *= 1.0 / (s * len(y))
        e[self.rows, y] -= 1.0 / len(y)
        # backward
        np.matmul(e.T, h2, out=g["w3"])
        np.sum(e, axis=0, out=g["b3"])
        np.matmul(e, p["w3"], out=d2)
        d2 *= h2 > 0
        np.matmul(d2.T, h1, out=g["w2"])
        np.sum(d2, axis=0, out=g["b2"])
        np.matmul(d2, p["w2"], out=d1)
        d1 *= h1 > 0
        np.matmul(d1.T, x, out=g["w1"])
        np.sum(d1, axis=0, out=g["b1"])
        # SGD with momentum (torch semantics; buf starts at 0 so the first buf is g)
        for k, w in p.items():
            b = self.buf[k]
            b *= SGD_MOMENTUM
            b += g[k]
            np.multiply(b, SGD_LR, out=g[k])
            w -= g[k]
        return loss


@pytest.mark.benchmark(group="W3")
def test_w3_numpy_by_hand(benchmark, w3):
    net = NumpyMLP(w3)
    x, y = w3["x"], w3["y"]
    check(lambda: net.step(x, y), lambda: net.p, "numpy by hand")
    tag(benchmark, "numpy", "by-hand")
    benchmark(net.step, x, y)


# ---------------------------------------------------------------- fastgrad


def fastgrad_mlp(fg, problem):
    F = fg.nn.functional
    layers = [fg.nn.Linear(784, 256), fg.nn.Linear(256, 256), fg.nn.Linear(256, 10)]
    for layer, (w, b) in zip(layers, LAYERS):
        fg_set_param(fg, layer, "weight", problem["params"][w])
        fg_set_param(fg, layer, "bias", problem["params"][b])
    model = fg.nn.Sequential(layers[0], fg.nn.ReLU(), layers[1], fg.nn.ReLU(), layers[2])
    opt = fg.optim.SGD(model.parameters(), lr=SGD_LR, momentum=SGD_MOMENTUM)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    def params():
        out = {}
        for layer, (w, b) in zip(layers, LAYERS):
            out[w] = fg_param_numpy(layer, "weight", problem["params"][w])
            out[b] = fg_param_numpy(layer, "bias", problem["params"][b])
        return out

    return step, params


FG_NEEDS = ("tensor", "nn.Linear", "nn.Sequential", "nn.ReLU", "nn.Parameter",
            "nn.functional.cross_entropy", "optim.SGD")
FG_FUNCTIONAL_NEEDS = ("tensor", "nn.functional.linear", "nn.functional.relu",
                       "nn.functional.cross_entropy", "optim.SGD")


def fastgrad_mlp_functional(fg, problem):
    """The same step on leaf tensors with fg.nn.functional (no nn.Module)."""
    F = fg.nn.functional
    p = {k: fg.tensor(v, requires_grad=True) for k, v in problem["params"].items()}
    opt = fg.optim.SGD(list(p.values()), lr=SGD_LR, momentum=SGD_MOMENTUM)

    def step(x, y):
        opt.zero_grad()
        h = F.relu(F.linear(x, p["w1"], p["b1"]))
        h = F.relu(F.linear(h, p["w2"], p["b2"]))
        loss = F.cross_entropy(F.linear(h, p["w3"], p["b3"]), y)
        loss.backward()
        opt.step()
        return loss

    return step, lambda: {k: v.numpy() for k, v in p.items()}


@pytest.mark.benchmark(group="W3")
def test_w3_fastgrad_eager(benchmark, w3):
    fg = fastgrad_or_skip(*FG_NEEDS)
    step, params = fastgrad_mlp(fg, w3)
    x, y = fg.tensor(w3["x"]), w3["y"]
    check(lambda: step(x, y).item(), params, "fastgrad eager")
    tag(benchmark, "fastgrad", "eager")
    benchmark(step, x, y)


@pytest.mark.benchmark(group="W3")
def test_w3_fastgrad_functional(benchmark, w3):
    fg = fastgrad_or_skip(*FG_FUNCTIONAL_NEEDS)
    step, params = fastgrad_mlp_functional(fg, w3)
    x, y = fg.tensor(w3["x"]), w3["y"]
    check(lambda: step(x, y).item(), params, "fastgrad functional")
    tag(benchmark, "fastgrad", "functional")
    benchmark(step, x, y)


@pytest.mark.benchmark(group="W3")
def test_w3_fastgrad_compiled(benchmark, w3):
    fg = fastgrad_or_skip(*FG_NEEDS, "compile")
    step, params = fastgrad_mlp(fg, w3)
    step = fg.compile(step)
    x, y = fg.tensor(w3["x"]), w3["y"]
    check(lambda: step(x, y).item(), params, "fastgrad compiled")
    tag(benchmark, "fastgrad", "compiled")
    benchmark(step, x, y)


# --------------------------------------------------------------- references


@pytest.mark.benchmark(group="W3")
def test_w3_torch_eager(benchmark, w3):
    torch = torch_or_skip()
    nn, F = torch.nn, torch.nn.functional
    layers = [nn.Linear(784, 256), nn.Linear(256, 256), nn.Linear(256, 10)]
    with torch.no_grad():
        for layer, (w, b) in zip(layers, LAYERS):
            layer.weight.copy_(torch.from_numpy(w3["params"][w]))
            layer.bias.copy_(torch.from_numpy(w3["params"][b]))
    model = nn.Sequential(layers[0], nn.ReLU(), layers[1], nn.ReLU(), layers[2])
    opt = torch.optim.SGD(model.parameters(), lr=SGD_LR, momentum=SGD_MOMENTUM)
    x, y = torch.from_numpy(w3["x"]), torch.from_numpy(w3["y"])

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    def params():
        out = {}
        for layer, (w, b) in zip(layers, LAYERS):
            out[w], out[b] = layer.weight.detach().numpy(), layer.bias.detach().numpy()
        return out

    check(lambda: step().item(), params, "torch eager")
    tag(benchmark, "torch", "eager")
    benchmark(step)


@pytest.mark.benchmark(group="W3")
def test_w3_jax_jit(benchmark, w3):
    jax = jax_or_skip()
    import jax.numpy as jnp

    def loss_fn(p, x, y):
        h = jax.nn.relu(x @ p["w1"].T + p["b1"])
        h = jax.nn.relu(h @ p["w2"].T + p["b2"])
        logp = jax.nn.log_softmax(h @ p["w3"].T + p["b3"])
        return -jnp.take_along_axis(logp, y[:, None], axis=1).mean()

    def train_step(p, buf, x, y):
        loss, g = jax.value_and_grad(loss_fn)(p, x, y)
        buf = jax.tree.map(lambda b, g: SGD_MOMENTUM * b + g, buf, g)
        p = jax.tree.map(lambda w, b: w - SGD_LR * b, p, buf)
        return p, buf, loss

    train_step = jax.jit(train_step, donate_argnums=(0, 1))
    state = {"p": {k: jnp.asarray(v) for k, v in w3["params"].items()}}
    state["buf"] = jax.tree.map(jnp.zeros_like, state["p"])
    x, y = jnp.asarray(w3["x"]), jnp.asarray(w3["y"])

    def step():
        state["p"], state["buf"], loss = jax.block_until_ready(train_step(state["p"], state["buf"], x, y))
        return loss

    check(step, lambda: {k: np.asarray(v) for k, v in state["p"].items()}, "jax jit")
    tag(benchmark, "jax", "jit")
    benchmark(step)
