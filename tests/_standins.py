"""Small duck-typed stand-ins for fastgrad.nn / fastgrad.optim used by the data/train/
serialization tests: a two-layer MLP with torch-like state_dict()/load_state_dict(), an
SGD with momentum whose state_dict() has the torch layout (int keys under "state"), and
losses built from core ops."""
from __future__ import annotations

from typing import Any, Dict, List

import numpy as np

import fastgrad as fg


class TinyMLP:
    """relu(x @ W1 + b1) @ W2 + b2, parameters drawn from fastgrad's seeded generator."""

    def __init__(self, n_in: int, n_hidden: int, n_out: int, dtype=fg.float32) -> None:
        scale1, scale2 = 1 / np.sqrt(n_in), 1 / np.sqrt(n_hidden)
        self.params: Dict[str, fg.Tensor] = {
            "W1": (fg.randn(n_in, n_hidden, dtype=dtype) * scale1).detach().requires_grad_(),
            "b1": fg.zeros(n_hidden, dtype=dtype, requires_grad=True),
            "W2": (fg.randn(n_hidden, n_out, dtype=dtype) * scale2).detach().requires_grad_(),
            "b2": fg.zeros(n_out, dtype=dtype, requires_grad=True),
        }
        self.training = True
        self.mode_calls: List[str] = []

    def __call__(self, x: fg.Tensor) -> fg.Tensor:
        p = self.params
        return (x @ p["W1"] + p["b1"]).relu() @ p["W2"] + p["b2"]

    def parameters(self) -> List[fg.Tensor]:
        return list(self.params.values())

    def train(self) -> "TinyMLP":
        self.training = True
        self.mode_calls.append("train")
        return self

    def eval(self) -> "TinyMLP":
        self.training = False
        self.mode_calls.append("eval")
        return self

    def state_dict(self) -> Dict[str, fg.Tensor]:
        return {name: p.detach() for name, p in self.params.items()}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        assert set(state) == set(self.params), (set(state), set(self.params))
        for name, p in self.params.items():
            p.numpy()[...] = np.asarray(state[name])
            p._bump_version()


class MomentumSGD:
    """SGD with momentum (torch's formula) and a torch-layout state_dict."""

    def __init__(self, params: List[fg.Tensor], lr: float, momentum: float = 0.9) -> None:
        self.param_groups = [{"params": list(params), "lr": lr, "momentum": momentum}]
        self.state: Dict[int, Dict[str, np.ndarray]] = {}

    def zero_grad(self) -> None:
        for p in self.param_groups[0]["params"]:
            p.grad = None

    def step(self) -> None:
        group = self.param_groups[0]
        for i, p in enumerate(group["params"]):
            if p.grad is None:
                continue
            g = p.grad.numpy()
            if i in self.state:
                buf = self.state[i]["momentum_buffer"]
                buf *= group["momentum"]
                buf += g
            else:
                buf = g.copy()
                self.state[i] = {"momentum_buffer": buf}
            p.numpy()[...] -= group["lr"] * buf
            p._bump_version()

    def state_dict(self) -> Dict[str, Any]:
        group = self.param_groups[0]
        return {"state": {i: dict(s) for i, s in self.state.items()},
                "param_groups": [{"lr": group["lr"], "momentum": group["momentum"],
                                  "params": list(range(len(group["params"])))}]}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        saved = state_dict["param_groups"][0]
        self.param_groups[0].update(lr=saved["lr"], momentum=saved["momentum"])
        self.state = {i: {k: np.array(v, copy=True) for k, v in s.items()}
                      for i, s in state_dict["state"].items()}


class HalveLR:
    """An epoch scheduler: lr *= 0.5 per step() (like StepLR(step_size=1, gamma=0.5))."""

    def __init__(self, optimizer: MomentumSGD) -> None:
        self.optimizer = optimizer
        self.steps = 0

    def step(self) -> None:
        self.steps += 1
        for group in self.optimizer.param_groups:
            group["lr"] *= 0.5


class RecordingPlateau:
    """A ReduceLROnPlateau-shaped scheduler (step needs the metric) that records it."""

    def __init__(self, optimizer: MomentumSGD) -> None:
        self.optimizer = optimizer
        self.metrics: List[float] = []

    def step(self, metrics: float) -> None:
        self.metrics.append(metrics)


def cross_entropy(logits: fg.Tensor, target: fg.Tensor) -> fg.Tensor:
    """Mean negative log-likelihood of integer labels under softmax(logits)."""
    m = logits.max(dim=1, keepdim=True).detach()
    log_probs = logits - ((logits - m).exp().sum(dim=1, keepdim=True).log() + m)
    one_hot = np.eye(logits.shape[1], dtype=logits.dtype)[target.numpy()]
    return -(log_probs * one_hot).sum(dim=1).mean()


def mse(output: fg.Tensor, target: fg.Tensor) -> fg.Tensor:
    """Mean squared error."""
    return ((output - target) ** 2).mean()


def blobs(n: int, seed: int = 0, dtype=np.float32):
    """Three well separated Gaussian blobs in 2-D: (X, integer labels)."""
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    y = rng.integers(0, 3, size=n)
    X = centers[y] + 0.5 * rng.standard_normal((n, 2))
    return X.astype(dtype), y.astype(np.int64)
