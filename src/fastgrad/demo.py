"""The main job: ``python -m fastgrad demo``.

1. The lecture graph f = (x + y) * max(y, z) at x=1, y=2, z=0 as a forward/backward
   table: each node's value, its local gradients, the upstream gradient it receives and
   the downstream gradients it sends (fan-out sums: y gets 2 + 3 = 5).
2. gradcheck of the same function against finite differences.
3. A two-layer tanh network with a softmax written from core ops, trained with plain
   SGD on a synthetic three-class data set (fixed seed); the loss falls every epoch.
4. The lecture's window classifier (embedding lookup of a 5-word window, concatenation,
   hidden tanh layer, softmax) trained with Adam, a StepLR schedule, dropout, L2 weight
   decay, shuffled mini-batches and early stopping on the built-in synthetic window data.
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


def train_core_mlp(epochs: int = 30, hidden: int = 64, lr: float = 0.5, batch: int = 30,
                   seed: int = 0, verbose: bool = True) -> list[float]:
    """Train a 2-64-3 tanh network with SGD on the spirals; return the loss per epoch."""
    fg.manual_seed(seed)
    x, y = make_blobs(seed=seed)
    w1 = fg.randn(2, hidden, requires_grad=True)
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
    print()
    train_window_classifier(epochs=epochs or 20)


class WindowClassifier(fg.nn.Module):
    """The lecture's window classifier: embed a window of words, concatenate the vectors,
    one hidden tanh layer, then class scores (softmax lives in the cross-entropy loss).
    """

    def __init__(self, vocab_size: int, embedding_dim: int = 50, window: int = 5,
                 hidden: int = 100, num_classes: int = 5, dropout: float = 0.0,
                 sparse: bool = False) -> None:
        super().__init__()
        self.embedding = fg.nn.Embedding(vocab_size, embedding_dim, sparse=sparse)
        self.hidden = fg.nn.Linear(window * embedding_dim, hidden)
        self.dropout = fg.nn.Dropout(dropout)
        self.out = fg.nn.Linear(hidden, num_classes)

    def forward(self, windows: fg.Tensor) -> fg.Tensor:
        vectors = self.embedding(windows)                          # (B, window, dim)
        concatenated = vectors.reshape(vectors.shape[0], -1)       # (B, window * dim)
        return self.out(self.dropout(self.hidden(concatenated).tanh()))


def train_window_classifier(epochs: int = 20, seed: int = 0, progress: bool = True) -> dict:
    """Train the window classifier on the built-in synthetic windows; return the history."""
    from fastgrad.data import ArrayDataset, DataLoader, synthetic_windows
    from fastgrad.optim import Adam
    from fastgrad.optim.lr_scheduler import StepLR
    from fastgrad.train import EarlyStopping, fit

    fg.manual_seed(seed)
    vocab, window, classes = 500, 5, 5
    x, y = synthetic_windows(n=8000, vocab_size=vocab, window=window, num_classes=classes, seed=seed)
    split = int(0.8 * len(x))
    train_loader = DataLoader(ArrayDataset(x[:split], y[:split]), batch_size=64, shuffle=True, seed=seed)
    val_loader = DataLoader(ArrayDataset(x[split:], y[split:]), batch_size=256)
    model = WindowClassifier(vocab, 50, window, 100, classes, dropout=0.2)
    optimizer = Adam(model.parameters(), lr=3e-3, weight_decay=1e-5)    # L2 weight decay
    scheduler = StepLR(optimizer, step_size=4, gamma=0.5)               # halve every 4 epochs
    stopper = EarlyStopping(patience=3, mode="min", restore_best=True)
    if progress:
        print(f"Training the window classifier (vocab {vocab}, dim 50, window {window}, hidden 100 "
              f"tanh, {classes} classes) on {split} synthetic windows, validating on {len(x) - split}")
        print("  Adam lr 3e-3 + L2 weight decay 1e-5, StepLR halving every 4 epochs, dropout 0.2, "
              "batch 64 shuffled, early stopping (patience 3)")
    history = fit(model, fg.nn.functional.cross_entropy, optimizer, train_loader, val_loader,
                  epochs=epochs, scheduler=scheduler, early_stopping=stopper, progress=progress)
    if progress:
        best = int(np.argmin(history["val_loss"]))
        print(f"  best epoch {best + 1}: validation loss {history['val_loss'][best]:.4f}, "
              f"validation accuracy {history['val_accuracy'][best]:.3f} (chance {1 / classes:.2f})")
    return history
