"""Reader API: a shuffled epoch is a permutation of the rows, resume jumps to the exact batch,
rank slices rebuild the global batch."""
from __future__ import annotations

import pytest
import torch

from visioncircuits.store import ActivationStore, harvest_activations

from .conftest import LAYER


@pytest.fixture(scope="module")
def store(model, image_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("reader") / "s"
    harvest_activations(model, LAYER, image_dir, root, positions=6, chunk_images=3, progress=False)
    return ActivationStore(root)


def test_epoch_is_a_permutation_and_seeded(store):
    n = len(store)
    idx = torch.cat([b for _, b in zip(range(n // 10), store.batch_indices(10, seed=1, window=2))])
    assert sorted(idx.tolist()) == list(range(n))  # one epoch: every row once
    assert not torch.equal(idx, torch.arange(n))
    again = torch.cat([b for _, b in zip(range(n // 10), store.batch_indices(10, seed=1, window=2))])
    other = torch.cat([b for _, b in zip(range(n // 10), store.batch_indices(10, seed=2, window=2))])
    assert torch.equal(idx, again) and not torch.equal(idx, other)


def test_start_jumps_to_the_same_batch_and_rows_match(store):
    it = store.batches(7, seed=3)
    seq = [next(it) for _ in range(20)]  # crosses the epoch boundary (60 rows)
    resumed = store.batches(7, seed=3, start=12)
    for b in range(12, 20):
        assert torch.equal(next(resumed), seq[b])
    all_rows = torch.cat(list(store.iter_rows()))
    idx = next(store.batch_indices(7, seed=3, start=4))
    assert torch.equal(store.rows(idx), all_rows[idx]) and torch.equal(seq[4], all_rows[idx])


def test_rank_slices_rebuild_the_global_batch(store):
    full = store.batches(9, seed=0)
    ranks = [store.batches(9, seed=0, rank=r, world=2) for r in (0, 1)]
    for _ in range(5):
        parts = [next(r) for r in ranks]
        assert [len(p) for p in parts] == [4, 5]
        assert torch.equal(torch.cat(parts), next(full))


def test_sample_and_errors(store, tmp_path):
    s = store.sample(25, seed=0)
    assert s.shape == (25, 32) and torch.equal(s, store.sample(25, seed=0))
    assert store.sample(10_000).shape == (len(store), 32)
    with pytest.raises(ValueError, match="not found"):
        ActivationStore(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="not an activation store"):
        ActivationStore(tmp_path / "empty")
