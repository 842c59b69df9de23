"""fastgrad.data: ArrayDataset and DataLoader."""
import numpy as np
import pytest

import fastgrad as fg
from fastgrad.data import ArrayDataset, DataLoader
from fastgrad.serialization import load, save


def _dataset(n=10, dtype=np.float64):
    X = np.stack([np.arange(n), 10 * np.arange(n)], axis=1).astype(dtype)
    y = np.arange(n)
    return ArrayDataset(X, y)


def _epoch_ids(loader):
    """The sample ids (column 0 of X) of one epoch, checking X and y stay aligned."""
    ids = []
    for X, y in loader:
        assert isinstance(X, fg.Tensor) and isinstance(y, fg.Tensor)
        np.testing.assert_array_equal(X.numpy()[:, 0], y.numpy())
        np.testing.assert_array_equal(X.numpy()[:, 1], 10 * y.numpy())
        ids.extend(y.numpy().tolist())
    return ids


# ----------------------------------------------------------------------------- ArrayDataset
def test_array_dataset_len_and_indexing_returns_tuple():
    ds = _dataset(5)
    assert len(ds) == 5
    sample = ds[3]
    assert isinstance(sample, tuple) and len(sample) == 2
    np.testing.assert_array_equal(sample[0], [3.0, 30.0])
    assert sample[1] == 3
    assert ds[-1][1] == 4
    np.testing.assert_array_equal(ds[1:3][1], [1, 2])
    np.testing.assert_array_equal(ds[np.array([4, 0])][1], [4, 0])


def test_array_dataset_accepts_tensors_and_lists():
    ds = ArrayDataset(fg.tensor([[1.0], [2.0]]), [0, 1])
    assert ds.arrays[0].dtype == np.float32
    assert ds.arrays[1].dtype == np.int64


def test_array_dataset_mismatched_lengths():
    with pytest.raises(ValueError, match=r"same length.*\[3, 4\]"):
        ArrayDataset(np.zeros((3, 2)), np.zeros(4))


def test_array_dataset_needs_arrays_with_a_sample_dimension():
    with pytest.raises(ValueError, match="at least one array"):
        ArrayDataset()
    with pytest.raises(ValueError, match="0-d"):
        ArrayDataset(np.zeros(3), np.float64(1.0))


def test_array_dataset_rejects_object_and_string_arrays():
    with pytest.raises(TypeError, match="dtype"):
        ArrayDataset(np.array(["a", "b"]))
    with pytest.raises(TypeError, match="dtype"):
        ArrayDataset(np.array([{}, {}], dtype=object))


# ----------------------------------------------------------------------------- DataLoader
@pytest.mark.parametrize("n, batch_size, drop_last, expected", [
    (10, 3, False, 4), (10, 3, True, 3), (9, 3, False, 3), (9, 3, True, 3),
    (2, 5, False, 1), (2, 5, True, 0), (0, 4, False, 0), (7, 1, False, 7),
])
def test_len_is_number_of_batches(n, batch_size, drop_last, expected):
    loader = DataLoader(_dataset(n), batch_size=batch_size, drop_last=drop_last)
    assert len(loader) == expected
    assert len(list(loader)) == expected


def test_sequential_order_without_shuffle():
    loader = DataLoader(_dataset(7), batch_size=3)
    sizes = [len(y.numpy()) for _, y in loader]
    assert sizes == [3, 3, 1]
    assert _epoch_ids(loader) == list(range(7))


def test_shuffle_covers_every_sample_once_per_epoch_and_reshuffles():
    loader = DataLoader(_dataset(50), batch_size=8, shuffle=True, seed=3)
    epochs = [_epoch_ids(loader) for _ in range(4)]
    for ids in epochs:
        assert sorted(ids) == list(range(50))
    assert all(ids != list(range(50)) for ids in epochs)
    assert len({tuple(ids) for ids in epochs}) == 4  # a new permutation every epoch


def test_drop_last_drops_only_the_short_batch():
    loader = DataLoader(_dataset(23), batch_size=5, shuffle=True, seed=1, drop_last=True)
    for _ in range(3):
        batches = [y.numpy() for _, y in loader]
        assert [len(b) for b in batches] == [5, 5, 5, 5]
        ids = np.concatenate(batches)
        assert len(set(ids.tolist())) == 20 and set(ids.tolist()) <= set(range(23))


def test_same_seed_same_sequence_of_permutations():
    a = DataLoader(_dataset(30), batch_size=4, shuffle=True, seed=123)
    b = DataLoader(_dataset(30), batch_size=4, shuffle=True, seed=123)
    c = DataLoader(_dataset(30), batch_size=4, shuffle=True, seed=124)
    seq_a = [_epoch_ids(a) for _ in range(3)]
    assert seq_a == [_epoch_ids(b) for _ in range(3)]
    assert seq_a != [_epoch_ids(c) for _ in range(3)]


def test_no_seed_uses_fastgrad_generator_so_manual_seed_reproduces():
    loader = DataLoader(_dataset(30), batch_size=4, shuffle=True)
    fg.manual_seed(7)
    first = [_epoch_ids(loader) for _ in range(2)]
    fg.manual_seed(7)
    again = [_epoch_ids(loader) for _ in range(2)]
    assert first == again
    assert first[0] != first[1]
    fg.manual_seed(8)
    assert _epoch_ids(loader) != first[0]


@pytest.mark.parametrize("x_dtype, expected", [
    (np.float64, np.float64), (np.float32, np.float32), (np.float16, np.float32),
    (np.int32, np.int64), (np.int64, np.int64), (np.uint8, np.int64), (np.bool_, np.bool_),
])
def test_batch_dtypes(x_dtype, expected):
    X = np.ones((6, 2), dtype=x_dtype)
    for shuffle in (False, True):
        (xb,) = next(iter(DataLoader(ArrayDataset(X), batch_size=4, shuffle=shuffle, seed=0)))
        assert xb.dtype == expected
        assert xb.shape == (4, 2)
        assert xb.numpy().flags.c_contiguous


def test_batches_are_copies_of_the_data():
    X = np.zeros((4, 2))
    for shuffle in (False, True):
        for (xb,) in DataLoader(ArrayDataset(X), batch_size=2, shuffle=shuffle, seed=0):
            xb.numpy()[...] = 5.0
    assert not X.any()


def test_non_contiguous_source_gives_contiguous_batches():
    X = np.arange(40.0).reshape(10, 4)[:, ::2]
    (xb,) = next(iter(DataLoader(ArrayDataset(X), batch_size=3)))
    assert xb.numpy().flags.c_contiguous
    np.testing.assert_array_equal(xb.numpy(), X[:3])


def test_array_dataset_fast_path_has_no_per_sample_loop():
    calls = []

    class Counting(ArrayDataset):
        def __getitem__(self, index):
            calls.append(index)
            return super().__getitem__(index)

    loader = DataLoader(Counting(np.zeros((100, 3)), np.arange(100)), batch_size=10,
                        shuffle=True, seed=0)
    assert sum(len(y.numpy()) for _, y in loader) == 100
    assert calls == []


def test_generic_dataset_is_collated_by_stacking():
    samples = [(np.full(3, float(i)), i) for i in range(5)]
    batches = list(DataLoader(samples, batch_size=2))
    assert len(batches) == 3
    xb, yb = batches[0]
    assert xb.shape == (2, 3) and xb.dtype == np.float64
    assert yb.dtype == np.int64 and yb.tolist() == [0, 1]
    ids = [v for _, y in DataLoader(samples, batch_size=2, shuffle=True, seed=0)
           for v in y.tolist()]
    assert sorted(ids) == list(range(5))


def test_generic_dataset_of_single_arrays_yields_tensors():
    batch = next(iter(DataLoader([np.ones(2, np.float32)] * 3, batch_size=3)))
    assert isinstance(batch, fg.Tensor) and batch.shape == (3, 2)


@pytest.mark.parametrize("batch_size", [0, -2])
def test_batch_size_must_be_positive(batch_size):
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        DataLoader(_dataset(4), batch_size=batch_size)


@pytest.mark.parametrize("batch_size", [2.0, True, "4", None])
def test_batch_size_must_be_an_int(batch_size):
    with pytest.raises(TypeError, match="batch_size must be an int"):
        DataLoader(_dataset(4), batch_size=batch_size)


def test_dataset_must_be_indexable():
    with pytest.raises(TypeError, match="__len__ and __getitem__"):
        DataLoader(iter(range(3)))


def test_state_dict_resumes_the_same_permutations(tmp_path):
    loader = DataLoader(_dataset(20), batch_size=6, shuffle=True, seed=5)
    _epoch_ids(loader)
    save(loader.state_dict(), tmp_path / "loader.npz")
    expected = [_epoch_ids(loader) for _ in range(2)]
    fresh = DataLoader(_dataset(20), batch_size=6, shuffle=True, seed=99)
    fresh.load_state_dict(load(tmp_path / "loader.npz"))
    assert [_epoch_ids(fresh) for _ in range(2)] == expected


def test_load_state_dict_seeded_vs_unseeded_mismatch():
    seeded = DataLoader(_dataset(4), shuffle=True, seed=0)
    unseeded = DataLoader(_dataset(4), shuffle=True)
    assert unseeded.state_dict() == {"generator": None}
    with pytest.raises(ValueError, match="seed"):
        unseeded.load_state_dict(seeded.state_dict())
    with pytest.raises(ValueError, match="seed"):
        seeded.load_state_dict(unseeded.state_dict())


def test_synthetic_windows_shapes_labels_and_reproducibility():
    from fastgrad.data import synthetic_windows
    x, y = synthetic_windows(n=300, vocab_size=200, window=5, num_classes=4, seed=1)
    assert x.shape == (300, 5) and y.shape == (300,) and x.dtype == np.int64
    assert x.min() >= 0 and x.max() < 200 and set(np.unique(y)) == {0, 1, 2, 3}
    x2, y2 = synthetic_windows(n=300, vocab_size=200, window=5, num_classes=4, seed=1)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    with pytest.raises(ValueError, match="window must be odd"):
        synthetic_windows(window=4)
