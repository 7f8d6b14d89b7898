"""Splits: seeded, by lesion, by centre, k-fold; no lesion on both sides."""

from __future__ import annotations

import numpy as np
import pytest

from ultrasound_reader.errors import UserError
from ultrasound_reader.training.dataset import kfold, split_by_centre, split_by_cohort, split_random


def test_random_split_is_seeded_stratified_and_disjoint() -> None:
    labels = np.array([1] * 80 + [0] * 20)
    tr, va = split_random(labels, 0.2, seed=5)
    assert len(tr) == 80 and len(va) == 20
    assert not set(tr) & set(va) and set(tr) | set(va) == set(range(100))
    assert labels[va].sum() == 16  # 4:1 within each class
    tr2, va2 = split_random(labels, 0.2, seed=5)
    assert (tr == tr2).all() and (va == va2).all()
    _, va3 = split_random(labels, 0.2, seed=6)
    assert set(va3) != set(va)


def test_centre_split_holds_out_whole_centres() -> None:
    centres = ["A", "B", "C", "A", "C", "B", "C"]
    dev, ext = split_by_centre(centres, ["C"])
    assert [centres[i] for i in ext] == ["C", "C", "C"]
    assert "C" not in {centres[i] for i in dev}
    with pytest.raises(UserError, match="'Z'"):
        split_by_centre(centres, ["Z"])
    with pytest.raises(UserError, match="every centre"):
        split_by_centre(centres, ["A", "B", "C"])


def test_kfold_partitions_and_is_seeded() -> None:
    labels = np.array([0, 1] * 13)
    folds = kfold(labels, 5, seed=0)
    assert len(folds) == 5
    vals = np.concatenate([va for _, va in folds])
    assert sorted(vals.tolist()) == list(range(26))
    for tr, va in folds:
        assert not set(tr) & set(va) and set(labels[va]) == {0, 1}
    again = kfold(labels, 5, seed=0)
    assert all((a[1] == b[1]).all() for a, b in zip(folds, again))


def test_cohort_column() -> None:
    tr, iv, ev = split_by_cohort(["training", "internal", "external", "Training", "EV"])
    assert tr.tolist() == [0, 3] and iv.tolist() == [1] and ev.tolist() == [2, 4]
    with pytest.raises(UserError, match="'elsewhere'"):
        split_by_cohort(["training", "elsewhere"])
