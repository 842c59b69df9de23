"""W2: window classifier, one Adam training step.

vocab 10000, dim 50, window 5, hidden 100 tanh, 5 classes, batch 64, float32, softmax
cross-entropy, Adam lr 1e-3 on all parameters. Two variants, two groups:

* ``W2-dense``: the embedding gradient is a dense (10000, 50) array and Adam updates
  every parameter entry (this is the WORKLOADS.md reference row).
* ``W2-sparse``: the embedding gradient touches only the rows in the batch and the
  embedding is updated lazily like torch.optim.SparseAdam (Adam for the rest).

Timed: zero grads, forward, backward, optimizer update, on a fixed batch. All
implementations start from the same fixed-seed parameters (torch layouts) and are
first checked over CHECK_STEPS steps on two alternating batches (A, B, A, so that
dense Adam must move rows a step does not touch, and lazy SparseAdam must not) against
a float64 numpy oracle whose gradients are checked by finite differences.
"""
import math

import numpy as np
import pytest

from benchlib import (ADAM_BETAS, ADAM_EPS, ADAM_LR, W2_SIZES, assert_close, assert_params_close,
                      fastgrad_or_skip, fg_param_numpy, fg_set_param, finite_difference_check,
                      jax_or_skip, softmax_xent, tag, torch_or_skip, w2_problem)

CHECK_STEPS = 3
CHECK_SCHEDULE = (0, 1, 0)   # batch of each checked step: A, B, A (B leaves A's rows without gradient)
B1, B2 = ADAM_BETAS
VARIANTS = [pytest.param(False, id="dense", marks=pytest.mark.benchmark(group="W2-dense")),
            pytest.param(True, id="sparse", marks=pytest.mark.benchmark(group="W2-sparse"))]


# ------------------------------------------------------------------ oracle


def oracle_loss_grads(p, idx, y):
    """float64 forward and backward of the window classifier, plainly written."""
    batch, dim = len(y), p["emb"].shape[1]
    x = p["emb"][idx].reshape(batch, -1)
    h = np.tanh(x @ p["w1"].T + p["b1"])
    logits = h @ p["w2"].T + p["b2"]
    loss, d = softmax_xent(logits, y)
    da = (d @ p["w2"]) * (1 - h * h)
    g_emb = np.zeros_like(p["emb"])
    np.add.at(g_emb, idx.ravel(), (da @ p["w1"]).reshape(-1, dim))
    grads = dict(emb=g_emb, w1=da.T @ x, b1=da.sum(0), w2=d.T @ h, b2=d.sum(0))
    return loss, grads


def oracle_run(problem, steps, sparse):
    """Losses and parameters after ``steps`` steps of torch.optim.Adam (and SparseAdam for emb if sparse)."""
    p = {k: v.astype(np.float64) for k, v in problem["params"].items()}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(w) for k, w in p.items()}
    batches = w2_batches(problem)
    losses = []
    for t in range(1, steps + 1):
        idx, y = batches[CHECK_SCHEDULE[(t - 1) % len(CHECK_SCHEDULE)]]
        rows = np.unique(idx)
        loss, g = oracle_loss_grads(p, idx, y)
        losses.append(loss)
        bc1, bc2 = 1 - B1 ** t, 1 - B2 ** t
        for k in p:
            if sparse and k == "emb":  # torch.optim.SparseAdam: only the gradient's rows, eps outside
                m[k][rows] = B1 * m[k][rows] + (1 - B1) * g[k][rows]
                v[k][rows] = B2 * v[k][rows] + (1 - B2) * g[k][rows] ** 2
                p[k][rows] -= ADAM_LR * math.sqrt(bc2) / bc1 * m[k][rows] / (np.sqrt(v[k][rows]) + ADAM_EPS)
            else:  # torch.optim.Adam
                m[k] = B1 * m[k] + (1 - B1) * g[k]
                v[k] = B2 * v[k] + (1 - B2) * g[k] ** 2
                p[k] -= ADAM_LR / bc1 * m[k] / (np.sqrt(v[k]) / math.sqrt(bc2) + ADAM_EPS)
    return losses, p


_ORACLE = {}


def oracle(sparse):
    if sparse not in _ORACLE:
        prob = w2_problem()
        if not _ORACLE:
            p = {k: v.astype(np.float64) for k, v in prob["params"].items()}
            _, g = oracle_loss_grads(p, prob["idx"], prob["y"])
            finite_difference_check(lambda q: oracle_loss_grads(q, prob["idx"], prob["y"])[0], p, g)
        _ORACLE[sparse] = oracle_run(prob, CHECK_STEPS, sparse)
    return _ORACLE[sparse]


def w2_batches(problem, convert=lambda a: a):
    """The two check batches (idx, y), converted to a framework's form."""
    return [(convert(problem["idx"]), convert(problem["y"])), (convert(problem["idx2"]), convert(problem["y2"]))]


def check(step, params, sparse, what, batches):
    """Run CHECK_STEPS ``step(idx, y)`` calls on the schedule's batches; compare with the oracle."""
    want_losses, want_params = oracle(sparse)
    losses = [float(step(*batches[CHECK_SCHEDULE[i % len(CHECK_SCHEDULE)]])) for i in range(CHECK_STEPS)]
    assert_close(losses, want_losses, rtol=1e-4, atol=1e-6, what=f"{what}: losses")
    assert_params_close(params(), want_params, lr=ADAM_LR, steps=CHECK_STEPS)


# ----------------------------------------------------------- numpy by hand


def adam_dense(p, g, m, v, t, tmp):
    """torch.optim.Adam's update in place, 12 passes, no temporaries beyond ``tmp``.

    Uses lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps) == (lr*sqrt(bc2)/bc1) * m / (sqrt(v) + eps*sqrt(bc2)).
    """
    bc1, bc2 = 1 - B1 ** t, 1 - B2 ** t
    m *= B1
    np.multiply(g, 1 - B1, out=tmp)
    m += tmp
    v *= B2
    np.multiply(g, g, out=tmp)
    tmp *= 1 - B2
    v += tmp
    np.sqrt(v, out=tmp)
    tmp += ADAM_EPS * math.sqrt(bc2)
    np.divide(m, tmp, out=tmp)
    tmp *= ADAM_LR * math.sqrt(bc2) / bc1
    p -= tmp


def coalesce_rows(flat, dx_rows):
    """Unique row ids and the summed gradient of each: one stable sort and one reduceat."""
    order = np.argsort(flat, kind="stable")
    sorted_rows = flat[order]
    starts = np.flatnonzero(np.r_[True, sorted_rows[1:] != sorted_rows[:-1]])
    return sorted_rows[starts], np.add.reduceat(dx_rows[order], starts, axis=0)


class NumpyWindowClassifier:
    """The step a numpy programmer writes: BLAS into preallocated buffers, in-place elementwise.

    Both variants coalesce the batch's rows (sort + reduceat, cheaper than np.add.at).
    Dense: the coalesced rows are written into a zeroed (vocab, dim) gradient and Adam runs
    over every entry. Sparse: only the touched rows of the embedding and its moments are
    read and written (SparseAdam).
    """

    def __init__(self, problem, sparse):
        self.sparse = sparse
        self.p = {k: v.copy() for k, v in problem["params"].items()}
        self.m = {k: np.zeros_like(v) for k, v in self.p.items()}
        self.v = {k: np.zeros_like(v) for k, v in self.p.items()}
        self.g = {k: np.empty_like(v) for k, v in self.p.items() if not (sparse and k == "emb")}
        self.tmp = {k: np.empty_like(v) for k, v in self.g.items()}
        s = W2_SIZES
        self.h = np.empty((s["batch"], s["hidden"]), np.float32)
        self.da = np.empty((s["batch"], s["hidden"]), np.float32)
        self.dx = np.empty((s["batch"], s["window"] * s["dim"]), np.float32)
        self.z = np.empty((s["batch"], s["classes"]), np.float32)
        self.e = np.empty((s["batch"], s["classes"]), np.float32)
        self.rows = np.arange(s["batch"])
        self.t = 0

    def step(self, idx, y):
        p, g = self.p, self.g
        h, da, dx, z, e = self.h, self.da, self.dx, self.z, self.e
        n = len(y)
        flat = idx.ravel()
        x = p["emb"].take(flat, axis=0).reshape(n, -1)
        # forward
        np.matmul(x, p["w1"].T, out=h)
        h += p["b1"]
        np.tanh(h, out=h)
        np.matmul(h, p["w2"].T, out=z)
        z += p["b2"]
        # softmax cross-entropy, d(loss)/d(logits) in e
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=e)
        s = e.sum(axis=1, keepdims=True)
        loss = np.log(s).mean() - z[self.rows, y].mean()
        e *= 1.0 / (s * n)
        e[self.rows, y] -= 1.0 / n
        # backward
        np.matmul(e.T, h, out=g["w2"])
        np.sum(e, axis=0, out=g["b2"])
        np.matmul(e, p["w2"], out=da)
        np.multiply(h, h, out=h)
        np.subtract(1, h, out=h)
        da *= h
        np.matmul(da.T, x, out=g["w1"])
        np.sum(da, axis=0, out=g["b1"])
        np.matmul(da, p["w1"], out=dx)
        dx_rows = dx.reshape(len(flat), -1)
        self.t += 1
        t = self.t
        rows, grad = coalesce_rows(flat, dx_rows)
        if self.sparse:
            # SparseAdam on the touched rows only
            emb, m, v = p["emb"], self.m["emb"], self.v["emb"]
            m_r = m.take(rows, axis=0)
            v_r = v.take(rows, axis=0)
            m_r *= B1
            m_r += (1 - B1) * grad
            v_r *= B2
            grad *= grad
            grad *= 1 - B2
            v_r += grad
            m[rows] = m_r
            v[rows] = v_r
            np.sqrt(v_r, out=v_r)
            v_r += ADAM_EPS
            np.divide(m_r, v_r, out=m_r)
            m_r *= ADAM_LR * math.sqrt(1 - B2 ** t) / (1 - B1 ** t)
            emb[rows] -= m_r
        else:
            g_emb = g["emb"]
            g_emb.fill(0)
            g_emb[rows] = grad
        for k, grad in g.items():
            adam_dense(p[k], grad, self.m[k], self.v[k], t, self.tmp[k])
        return loss


@pytest.mark.parametrize("sparse", VARIANTS)
def test_w2_numpy_by_hand(benchmark, w2, sparse):
    net = NumpyWindowClassifier(w2, sparse)
    idx, y = w2["idx"], w2["y"]
    check(net.step, lambda: net.p, sparse, "numpy by hand", w2_batches(w2))
    tag(benchmark, "numpy", "by-hand")
    benchmark(net.step, idx, y)


# ---------------------------------------------------------------- fastgrad


def fastgrad_window(fg, problem, sparse):
    """The model written against fastgrad's nn/optim API (PyTorch names, DESIGN.md)."""
    F = fg.nn.functional
    s = W2_SIZES
    emb = fg.nn.Embedding(s["vocab"], s["dim"], sparse=sparse)
    l1 = fg.nn.Linear(s["window"] * s["dim"], s["hidden"])
    l2 = fg.nn.Linear(s["hidden"], s["classes"])
    named = dict(emb=(emb, "weight"), w1=(l1, "weight"), b1=(l1, "bias"), w2=(l2, "weight"), b2=(l2, "bias"))
    for key, (module, attr) in named.items():
        fg_set_param(fg, module, attr, problem["params"][key])
    rest = list(l1.parameters()) + list(l2.parameters())
    if sparse:
        opts = [fg.optim.SparseAdam(list(emb.parameters()), lr=ADAM_LR), fg.optim.Adam(rest, lr=ADAM_LR)]
    else:
        opts = [fg.optim.Adam(list(emb.parameters()) + rest, lr=ADAM_LR)]

    def step(idx, y):
        for opt in opts:
            opt.zero_grad()
        x = emb(idx).reshape(s["batch"], s["window"] * s["dim"])
        loss = F.cross_entropy(l2(l1(x).tanh()), y)
        loss.backward()
        for opt in opts:
            opt.step()
        return loss

    def params():
        return {key: fg_param_numpy(module, attr, problem["params"][key]) for key, (module, attr) in named.items()}

    return step, params


def fastgrad_window_functional(fg, problem, sparse):
    """The same step on leaf tensors with fg.nn.functional (no nn.Module)."""
    F = fg.nn.functional
    s = W2_SIZES
    p = {k: fg.tensor(v, requires_grad=True) for k, v in problem["params"].items()}
    rest = [p[k] for k in ("w1", "b1", "w2", "b2")]
    if sparse:
        opts = [fg.optim.SparseAdam([p["emb"]], lr=ADAM_LR), fg.optim.Adam(rest, lr=ADAM_LR)]
    else:
        opts = [fg.optim.Adam([p["emb"]] + rest, lr=ADAM_LR)]

    def step(idx, y):
        for opt in opts:
            opt.zero_grad()
        x = F.embedding(idx, p["emb"], sparse=sparse).reshape(s["batch"], s["window"] * s["dim"])
        loss = F.cross_entropy(F.linear(F.linear(x, p["w1"], p["b1"]).tanh(), p["w2"], p["b2"]), y)
        loss.backward()
        for opt in opts:
            opt.step()
        return loss

    return step, lambda: {k: v.numpy() for k, v in p.items()}


def fastgrad_inputs(fg, problem, step):
    """Integer indices/targets as fastgrad takes them: numpy int64 arrays, else fg.tensor of them.

    Tries one step on a throw-away model to find the accepted form; returns the check
    batches and the timed batch in that form.
    """
    errors = []
    for convert in (lambda a: a, fg.tensor):
        try:
            batches = w2_batches(problem, convert)
            step(*batches[0])
            return batches, batches[0]
        except (TypeError, ValueError) as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    raise AssertionError("fastgrad took neither numpy int64 nor fg.tensor indices: " + "; ".join(errors))


def fg_needs(sparse):
    names = ["tensor", "nn.Embedding", "nn.Linear", "nn.Parameter", "nn.functional.cross_entropy", "optim.Adam"]
    return names + ["optim.SparseAdam"] if sparse else names


@pytest.mark.parametrize("sparse", VARIANTS)
def test_w2_fastgrad_eager(benchmark, w2, sparse):
    fg = fastgrad_or_skip(*fg_needs(sparse))
    batches, (idx, y) = fastgrad_inputs(fg, w2, fastgrad_window(fg, w2_problem(), sparse)[0])
    step, params = fastgrad_window(fg, w2, sparse)
    check(lambda i, t: step(i, t).item(), params, sparse, "fastgrad eager", batches)
    tag(benchmark, "fastgrad", "eager")
    benchmark(step, idx, y)


@pytest.mark.parametrize("sparse", VARIANTS)
def test_w2_fastgrad_functional(benchmark, w2, sparse):
    names = ["tensor", "nn.functional.embedding", "nn.functional.linear", "nn.functional.cross_entropy",
             "optim.Adam"] + (["optim.SparseAdam"] if sparse else [])
    fg = fastgrad_or_skip(*names)
    batches, (idx, y) = fastgrad_inputs(fg, w2, fastgrad_window_functional(fg, w2_problem(), sparse)[0])
    step, params = fastgrad_window_functional(fg, w2, sparse)
    check(lambda i, t: step(i, t).item(), params, sparse, "fastgrad functional", batches)
    tag(benchmark, "fastgrad", "functional")
    benchmark(step, idx, y)


@pytest.mark.parametrize("sparse", VARIANTS)
def test_w2_fastgrad_compiled(benchmark, w2, sparse):
    fg = fastgrad_or_skip(*fg_needs(sparse), "compile")
    batches, (idx, y) = fastgrad_inputs(fg, w2, fastgrad_window(fg, w2_problem(), sparse)[0])
    step, params = fastgrad_window(fg, w2, sparse)
    step = fg.compile(step)
    check(lambda i, t: step(i, t).item(), params, sparse, "fastgrad compiled", batches)
    tag(benchmark, "fastgrad", "compiled")
    benchmark(step, idx, y)


# --------------------------------------------------------------- references


@pytest.mark.parametrize("sparse", VARIANTS)
def test_w2_torch_eager(benchmark, w2, sparse):
    """nn.Embedding(sparse=) with SparseAdam for it and Adam for the rest when sparse, else Adam on all."""
    torch = torch_or_skip()
    nn, F = torch.nn, torch.nn.functional
    s = W2_SIZES
    emb = nn.Embedding(s["vocab"], s["dim"], sparse=sparse)
    l1 = nn.Linear(s["window"] * s["dim"], s["hidden"])
    l2 = nn.Linear(s["hidden"], s["classes"])
    named = dict(emb=emb.weight, w1=l1.weight, b1=l1.bias, w2=l2.weight, b2=l2.bias)
    with torch.no_grad():
        for key, param in named.items():
            param.copy_(torch.from_numpy(w2["params"][key]))
    rest = list(l1.parameters()) + list(l2.parameters())
    if sparse:
        opts = [torch.optim.SparseAdam(list(emb.parameters()), lr=ADAM_LR), torch.optim.Adam(rest, lr=ADAM_LR)]
    else:
        opts = [torch.optim.Adam(list(emb.parameters()) + rest, lr=ADAM_LR)]
    batches = w2_batches(w2, torch.from_numpy)
    idx, y = batches[0]

    def step(idx, y):
        for opt in opts:
            opt.zero_grad()
        x = emb(idx).view(s["batch"], -1)
        loss = F.cross_entropy(l2(torch.tanh(l1(x))), y)
        loss.backward()
        for opt in opts:
            opt.step()
        return loss

    check(lambda i, t: step(i, t).item(), lambda: {k: p.detach().numpy() for k, p in named.items()}, sparse,
          "torch eager", batches)
    tag(benchmark, "torch", "eager")
    benchmark(step, idx, y)


def jax_adam(jnp, p, g, m, v, t):
    """torch.optim.Adam's update as a pure function (t is the new step count, float32)."""
    m = B1 * m + (1 - B1) * g
    v = B2 * v + (1 - B2) * g * g
    bc1, bc2 = 1 - B1 ** t, 1 - B2 ** t
    return p - (ADAM_LR / bc1) * m / (jnp.sqrt(v) / jnp.sqrt(bc2) + ADAM_EPS), m, v


@pytest.mark.parametrize("sparse", VARIANTS)
def test_w2_jax_jit(benchmark, w2, sparse):
    """jit of value_and_grad plus the update. Sparse: gradient w.r.t. the gathered rows,
    segment-summed over the unique rows (static size, padded and dropped), SparseAdam on them."""
    jax = jax_or_skip()
    import jax.numpy as jnp

    s = W2_SIZES
    vocab = s["vocab"]

    def head_loss(p, x, y):
        h = jnp.tanh(x.reshape(s["batch"], -1) @ p["w1"].T + p["b1"])
        logp = jax.nn.log_softmax(h @ p["w2"].T + p["b2"])
        return -jnp.take_along_axis(logp, y[:, None], axis=1).mean()

    def adam_tree(p, g, m, v, t):
        out = {k: jax_adam(jnp, p[k], g[k], m[k], v[k], t) for k in g}
        return ({k: o[0] for k, o in out.items()}, {k: o[1] for k, o in out.items()},
                {k: o[2] for k, o in out.items()})

    def dense_step(p, m, v, t, idx, y):
        loss, g = jax.value_and_grad(lambda q: head_loss(q, q["emb"][idx], y))(p)
        t = t + 1
        p, m, v = adam_tree(p, g, m, v, t)
        return p, m, v, t, loss

    def sparse_step(p, m, v, t, idx, y):
        flat = idx.reshape(-1)
        head = {k: w for k, w in p.items() if k != "emb"}
        loss, (g, g_x) = jax.value_and_grad(head_loss, argnums=(0, 1))(head, p["emb"][flat], y)
        t = t + 1
        new_p, new_m, new_v = adam_tree(head, g, m, v, t)
        rows, inv = jnp.unique(flat, size=flat.size, fill_value=vocab, return_inverse=True)
        g_r = jax.ops.segment_sum(g_x, inv.reshape(-1), num_segments=flat.size)
        m_r = B1 * m["emb"].at[rows].get(mode="fill", fill_value=0) + (1 - B1) * g_r
        v_r = B2 * v["emb"].at[rows].get(mode="fill", fill_value=0) + (1 - B2) * g_r * g_r
        step_size = ADAM_LR * jnp.sqrt(1 - B2 ** t) / (1 - B1 ** t)
        new_p["emb"] = p["emb"].at[rows].add(-step_size * m_r / (jnp.sqrt(v_r) + ADAM_EPS), mode="drop")
        new_m["emb"] = m["emb"].at[rows].set(m_r, mode="drop")
        new_v["emb"] = v["emb"].at[rows].set(v_r, mode="drop")
        return new_p, new_m, new_v, t, loss

    train_step = jax.jit(sparse_step if sparse else dense_step, donate_argnums=(0, 1, 2))
    p = {k: jnp.asarray(v) for k, v in w2["params"].items()}
    state = [p, jax.tree.map(jnp.zeros_like, p), jax.tree.map(jnp.zeros_like, p), jnp.float32(0)]
    batches = w2_batches(w2, jnp.asarray)
    idx, y = batches[0]

    def step(idx, y):
        out = jax.block_until_ready(train_step(*state, idx, y))
        state[:] = out[:4]
        return out[4]

    check(step, lambda: {k: np.asarray(v) for k, v in state[0].items()}, sparse, "jax jit", batches)
    tag(benchmark, "jax", "jit")
    benchmark(step, idx, y)
