"""The main job: ``python -m fastgrad demo``.

1. The lecture graph f = (x + y) * max(y, z) at x=1, y=2, z=0 as a forward/backward
   table: each node's value, its local gradients, the upstream gradient it receives and
   the downstream gradients it sends (fan-out sums: y gets 2 + 3 = 5).
2. gradcheck of the same function against finite differences.
3. A two-layer tanh network with a softmax written from core ops, trained with plain
   SGD on a synthetic three-class data set (fixed seed); the loss falls every epoch.
"""
from __future__ import annotations

import time

import numpy as np

import fastgrad as fg


def _scalar(value: float) -> fg.Tensor:
    return fg.tensor(value, dtype=fg.float64, requires_grad=True)


def _local(fn, *values) -> list:
    """Local gradients of one op at the given input values (the op differentiated alone)."""
    leaves = [_scalar(v) for v in values]
    fn(*leaves).backward()
    return [leaf.grad.item() for leaf in leaves]


def lecture_table() -> list[dict]:
    """Forward and backward through f = (x + y) * max(y, z) at (1, 2, 0), node by node."""
    x, y, z = _scalar(1.0), _scalar(2.0), _scalar(0.0)
    q = x + y
    m = fg.maximum(y, z)
    f = q * m
    f.backward()
    dq_dx, dq_dy = _local(lambda a, b: a + b, 1.0, 2.0)
    dm_dy, dm_dz = _local(fg.maximum, 2.0, 0.0)
    df_dq, df_dm = _local(lambda a, b: a * b, q.item(), m.item())
    rows = [
        {"node": "f = q * m", "value": f.item(), "local": f"df/dq={df_dq:g}, df/dm={df_dm:g}",
         "upstream": 1.0, "downstream": f"q <- {df_dq:g}, m <- {df_dm:g}"},
        {"node": "q = x + y", "value": q.item(), "local": f"dq/dx={dq_dx:g}, dq/dy={dq_dy:g}",
         "upstream": df_dq, "downstream": f"x <- {df_dq * dq_dx:g}, y <- {df_dq * dq_dy:g}"},
        {"node": "m = max(y, z)", "value": m.item(), "local": f"dm/dy={dm_dy:g}, dm/dz={dm_dz:g}",
         "upstream": df_dm, "downstream": f"y <- {df_dm * dm_dy:g}, z <- {df_dm * dm_dz:g}"},
    ]
    chained = {"x": df_dq * dq_dx, "y": df_dq * dq_dy + df_dm * dm_dy, "z": df_dm * dm_dz}
    for name, leaf in (("x", x), ("y", y), ("z", z)):
        rows.append({"node": name, "value": leaf.item(), "local": "leaf",
                     "upstream": leaf.grad.item(), "downstream": f"df/d{name} = {leaf.grad.item():g}"})
        if leaf.grad.item() != chained[name]:
            raise AssertionError(f"backward gave df/d{name}={leaf.grad.item()}, the chain rule {chained[name]}")
    return rows


def print_lecture() -> None:
    rows = lecture_table()
    print("The lecture graph f = (x + y) * max(y, z) at x=1, y=2, z=0 (float64)")
    print(f"  {'node':<14}{'value':>7}  {'local gradients':<22}{'upstream':>9}  downstream")
    for r in rows:
        print(f"  {r['node']:<14}{r['value']:>7g}  {r['local']:<22}{r['upstream']:>9g}  {r['downstream']}")
    print("  y fans out to q and m: its gradient is the sum 2 + 3 = 5.")
    ok = fg.gradcheck(lambda x, y, z: (x + y) * fg.maximum(y, z),
                      (_scalar(1.0), _scalar(2.0), _scalar(0.5)))
    print(f"  gradcheck against two-sided finite differences: {'passed' if ok else 'FAILED'}\n")


def make_blobs(n_per_class: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three interleaved noisy spirals in 2-D: not linearly separable."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for c in range(3):
        r = np.linspace(0.05, 1.0, n_per_class)
        theta = np.linspace(c * 4.0, (c + 1) * 4.0, n_per_class) + rng.normal(0, 0.2, n_per_class)
        xs.append(np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1))
        ys.append(np.full(n_per_class, c))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys)


def softmax_cross_entropy(logits: fg.Tensor, targets: np.ndarray) -> fg.Tensor:
    """Mean cross-entropy written from core ops (a stable softmax: shift by the row max)."""
    shifted = logits - logits.max(dim=1, keepdim=True).detach()
    log_probs = shifted - shifted.exp().sum(dim=1, keepdim=True).log()
    return -log_probs[np.arange(len(targets)), targets].mean()


def train_core_mlp(epochs: int = 30, hidden: int = 64, lr: float = 1.0, batch: int = 60,
                   seed: int = 0, verbose: bool = True) -> list[float]:
    """Train a 2-64-3 tanh network with SGD on the spirals; return the loss per epoch."""
    fg.manual_seed(seed)
    x, y = make_blobs(seed=seed)
    w1 = fg.randn(2, hidden, requires_grad=False) * 1.0
    w1 = fg.tensor(w1.numpy(), requires_grad=True)
    b1 = fg.zeros(hidden, requires_grad=True)
    w2 = fg.tensor(fg.randn(hidden, 3).numpy() / np.sqrt(hidden), requires_grad=True)
    b2 = fg.zeros(3, requires_grad=True)
    params = [w1, b1, w2, b2]
    rng = np.random.default_rng(seed)
    losses = []
    if verbose:
        print(f"Training a 2-{hidden}-3 tanh network (softmax from core ops) on {len(x)} spiral points")
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        order = rng.permutation(len(x))
        total = 0.0
        for i in range(0, len(x), batch):
            idx = order[i:i + batch]
            hidden_act = (fg.tensor(x[idx]) @ w1 + b1).tanh()
            loss = softmax_cross_entropy(hidden_act @ w2 + b2, y[idx])
            for p in params:
                p.grad = None
            loss.backward()
            with fg.no_grad():
                for p in params:
                    p -= lr * p.grad
            total += loss.item() * len(idx)
        losses.append(total / len(x))
        with fg.no_grad():
            predictions = ((fg.tensor(x) @ w1 + b1).tanh() @ w2 + b2).numpy().argmax(1)
        accuracy = float((predictions == y).mean())
        if verbose and (epoch == 1 or epoch % max(1, epochs // 10) == 0 or epoch == epochs):
            rate = len(x) / (time.perf_counter() - start)
            print(f"  epoch {epoch:3d}  loss {losses[-1]:.4f}  accuracy {accuracy:.3f}  ({rate:,.0f} samples/s)")
    return losses


def run(epochs: int | None = None) -> None:
    """Everything the demo prints."""
    print(f"fastgrad {fg.__version__}\n")
    print_lecture()
    train_core_mlp(epochs=epochs or 30)
