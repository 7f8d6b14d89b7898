"""The P x K sampler: every batch has both classes, every lesion is seen, ranks are disjoint."""

from __future__ import annotations

import numpy as np
import pytest

from ultrasound_reader.training.sampler import PKBatchSampler


@pytest.mark.parametrize("n,p,frac", [(50, 8, 0.8), (23, 4, 0.95), (9, 3, 0.5), (40, 6, 0.05)])
def test_every_batch_has_both_classes_and_every_lesion_appears(n: int, p: int, frac: float) -> None:
    rng = np.random.default_rng(n)
    labels = (rng.random(n) < frac).astype(int)
    labels[:2] = [0, 1]
    s = PKBatchSampler(labels, p=p, seed=3)
    seen = set()
    for epoch in range(3):
        s.set_epoch(epoch)
        batches = list(s)
        assert len(batches) == len(s)
        for b in batches:
            assert len(b) in (p, p + 1)
            assert set(labels[b]) == {0, 1}  # every anchor has a negative
            seen.update(b)
    assert seen == set(range(n))


def test_seeded_and_epoch_dependent() -> None:
    labels = [0, 1] * 20
    a, b = PKBatchSampler(labels, 5, seed=1), PKBatchSampler(labels, 5, seed=1)
    assert list(a) == list(b)
    b.set_epoch(1)
    assert list(a) != list(b)


def test_ranks_take_disjoint_batches_of_equal_count() -> None:
    labels = [0] * 7 + [1] * 30
    ranks = [PKBatchSampler(labels, 4, seed=0, rank=r, world=3) for r in range(3)]
    runs = [list(r) for r in ranks]
    assert len({len(x) for x in runs}) == 1
    # Rank r takes batches r, r + 3, r + 6, ... of one shared order.
    every = ranks[0]._all_batches()
    assert [b for i in range(len(runs[0])) for r in runs for b in [r[i]]] == every
    # Together the ranks cover every lesion.
    assert {x for r in runs for b in r for x in b} == set(range(len(labels)))


def test_one_class_is_refused() -> None:
    with pytest.raises(ValueError):
        PKBatchSampler([1, 1, 1], 2)
