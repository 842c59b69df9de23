"""examples/word_vectors.py on a tiny generated vocabulary (no GloVe/VADER packages needed)."""
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "word_vectors.py"


@pytest.fixture(scope="module")
def wv():
    spec = importlib.util.spec_from_file_location("word_vectors", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules["word_vectors"] = module            # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules["word_vectors"]


def tiny_data(n_words=80, dim=8, seed=0):
    """A vocabulary whose vectors carry the sentiment along one direction, and a lexicon
    with neutral words and words without a vector mixed in."""
    rng = np.random.default_rng(seed)
    direction = rng.standard_normal(dim)
    direction /= np.linalg.norm(direction)
    scores = rng.choice([-1.0, 1.0], size=n_words) * rng.uniform(0.5, 3.5, size=n_words)
    vectors = 0.5 * rng.standard_normal((n_words, dim)) + 1.5 * np.sign(scores)[:, None] * direction
    vocab = [f"word{i}" for i in range(n_words)] + ["the", "of", "calm"]
    vectors = np.vstack([vectors, rng.standard_normal((3, dim))]).astype(np.float32)
    lexicon = {f"word{i}": float(s) for i, s in enumerate(scores)}
    lexicon.update({"calm": 0.0, ":-)": 2.0, "unvectored": -1.5})
    return vocab, vectors, lexicon


def test_read_vader_lexicon_parses_the_shipped_format(wv, tmp_path):
    path = tmp_path / "vader_lexicon.txt"
    path.write_bytes(b"$:\t-1.5\t0.80623\t[-1, -1, -1, -1, -3, -1, -3, -1, -2, -1]\r\n"
                     b"good\t1.9\t0.9434\t[2, 1, 1, 3, 2, 4, 2, 2, 1, 1]\r\n"
                     b"\r\n"
                     b"meh\t-0.3\t0.78102\t[-1, -1, -1, 1, 0, 0, 0, 1, -1, -1]")
    assert wv.read_vader_lexicon(path) == {"$:": -1.5, "good": 1.9, "meh": -0.3}
    path.write_text("broken line without tabs\n")
    with pytest.raises(ValueError, match="line 1"):
        wv.read_vader_lexicon(path)


def test_load_glove_reads_the_parquet_index_and_npy(wv, tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"index": ["the", "good", "bad"]}), tmp_path / "glove_6B_index.parquet")
    np.save(tmp_path / "glove_6B_50d_emb.npy", np.arange(6, dtype=np.float32).reshape(3, 2))
    vocab, vectors = wv.load_glove(tmp_path)
    assert vocab == ["the", "good", "bad"]
    np.testing.assert_array_equal(vectors[2], [4, 5])


def test_build_dataset_labels_by_sign_and_splits_by_word(wv):
    vocab, vectors, lexicon = tiny_data()
    data = wv.build_dataset(vocab, vectors, lexicon, test_fraction=0.25, seed=1)
    assert len(data.words) == 80                        # neutral and vector-less words dropped
    assert "calm" not in data.words and ":-)" not in data.words and "unvectored" not in data.words
    for i, word in enumerate(data.words):
        assert data.labels[i] == (lexicon[word] > 0)
        np.testing.assert_array_equal(data.vectors[i], vectors[vocab.index(word)])
    assert len(data.test_idx) == 20
    assert set(data.train_idx).isdisjoint(data.test_idx)
    assert sorted(set(data.train_idx) | set(data.test_idx)) == list(range(80))
    again = wv.build_dataset(vocab, vectors, lexicon, test_fraction=0.25, seed=1)
    np.testing.assert_array_equal(again.test_idx, data.test_idx)


def test_frozen_training_generalizes_and_moves_no_row(wv):
    data = wv.build_dataset(*tiny_data(), seed=0)
    result = wv.train(data, freeze=True, epochs=30, hidden=8, batch_size=16)
    assert result.train_accuracy >= 0.95
    assert result.test_accuracy >= 0.9
    np.testing.assert_array_equal(result.model.embedding.weight.numpy(), data.vectors)
    assert result.train_movement == 0 and result.test_movement == 0


def test_fine_tuning_moves_training_rows_only(wv):
    data = wv.build_dataset(*tiny_data(), seed=0)
    result = wv.train(data, freeze=False, epochs=30, hidden=8, batch_size=16)
    weight = result.model.embedding.weight.numpy()
    np.testing.assert_array_equal(weight[data.test_idx], data.vectors[data.test_idx])
    assert np.all(np.any(weight[data.train_idx] != data.vectors[data.train_idx], axis=1))
    assert result.train_movement > 0 and result.test_movement == 0
    assert result.train_accuracy >= 0.95


def test_main_prints_both_accuracies(wv, monkeypatch, capsys):
    monkeypatch.setattr(wv, "load_data", tiny_data)
    results = wv.main(["--epochs", "5", "--hidden", "4"])
    out = capsys.readouterr().out
    assert set(results) == {"frozen", "fine-tuned"}
    assert "80 lexicon words with a vector" in out
    for name, r in results.items():
        assert f"{name:>10} embeddings: train accuracy {r.train_accuracy:.3f}, test accuracy on unseen " \
               f"words {r.test_accuracy:.3f}" in out
