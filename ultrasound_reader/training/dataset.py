"""A training data set: case folders plus a truth CSV, and how it is split.

One case holds one lesion (its lesion ROIs are views of the same lesion), so a split
by case is a split by lesion: no lesion ever has images on both sides. All splits are
seeded and return sorted index arrays into :attr:`DataSet.samples`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ultrasound_reader.case import Case, Truth, size_band
from ultrasound_reader.errors import UserError

log = logging.getLogger(__name__)


@dataclass
class Sample:
    """One lesion: its case (images, ROIs, factors) and its reference standard."""

    case: Case
    truth: Truth

    @property
    def label(self) -> int:
        return int(self.truth.malignant)


@dataclass
class DataSet:
    """Cases with truth, in a stable order (sorted by case id)."""

    samples: list[Sample]
    root: Path

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def labels(self) -> np.ndarray:
        return np.array([s.label for s in self.samples], dtype=np.int64)

    @property
    def centres(self) -> list[str]:
        return [s.truth.centre or "" for s in self.samples]

    def strata(self, task: str) -> dict[str, list[str | None]]:
        """Per-lesion labels of the evaluation strata: size band, and LB type for liver FLL."""
        out: dict[str, list[str | None]] = {
            "size_band": [size_band(s.truth.lesion_size_cm) if s.truth.lesion_size_cm else None for s in self.samples]}
        if task == "liver-fll":
            out["lb_type"] = [s.truth.lb_type for s in self.samples]
        return out

    def subset(self, index: Sequence[int]) -> DataSet:
        return DataSet([self.samples[i] for i in index], self.root)

    @classmethod
    def load(cls, root: str | Path, truth_csv: str | Path | None = None, task: str | None = None,
             limit: int = 0) -> DataSet:
        """Read every ``case.json`` / ``*.case.json`` under ``root`` and join the truth.

        A case without a truth row, or of another task, is an error naming the file; a
        truth row without a case is ignored (one truth file may cover several sets).
        """
        root = Path(root)
        if not root.is_dir():
            raise UserError(f"{root}: data folder not found")
        truth_csv = Path(truth_csv) if truth_csv else root / "truth.csv"
        if not truth_csv.is_file():
            raise UserError(f"{truth_csv}: truth file not found (a CSV with case_id, malignant, ...)")
        truths = Truth.read_csv(truth_csv)
        files = sorted({*root.rglob("case.json"), *root.rglob("*.case.json")})
        if not files:
            raise UserError(f"{root}: no case.json files found")
        samples: list[Sample] = []
        seen: dict[str, Path] = {}
        for f in files:
            case = Case.load(f)
            if task and case.task != task:
                raise UserError(f"{f}: case task {case.task!r} does not match the config task {task!r}")
            if case.case_id in seen:
                raise UserError(f"{f}: case id {case.case_id!r} also used by {seen[case.case_id]}")
            seen[case.case_id] = f
            truth = truths.get(case.case_id)
            if truth is None:
                raise UserError(f"{truth_csv}: no truth row for case {case.case_id!r} ({f})")
            samples.append(Sample(case, truth))
        samples.sort(key=lambda s: s.case.case_id)
        unused = len(truths) - len(samples)
        if unused:
            log.info("%s: %d truth row(s) without a case folder ignored", truth_csv, unused)
        if limit:
            samples = samples[:limit]
        return cls(samples, root)


def _check_both_classes(labels: np.ndarray, what: str) -> None:
    if labels.size and len(np.unique(labels)) < 2:
        raise UserError(f"{what}: all {labels.size} lesions are of one class; both benign and malignant are needed")


def split_random(labels: np.ndarray, fraction: float, seed: int, stratify: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random split by lesion into (training, validation) of ratio (1-f):f.

    Stratified by class when each class has at least two lesions, so a small set
    still has both classes on each side.
    """
    from sklearn.model_selection import train_test_split

    labels = np.asarray(labels)
    idx = np.arange(labels.size)
    if labels.size < 4:
        raise UserError(f"only {labels.size} lesions: at least 4 are needed to split training from validation")
    counts = np.bincount(labels, minlength=2)
    strat = labels if stratify and counts.min() >= 2 else None
    tr, va = train_test_split(idx, test_size=fraction, random_state=seed, shuffle=True, stratify=strat)
    return np.sort(tr), np.sort(va)


def split_by_centre(centres: Sequence[str], held_out: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(development, external) indices: whole centres in ``held_out`` form the external cohort."""
    centres = np.asarray(list(centres), dtype=object)
    known = set(centres.tolist())
    missing = [c for c in held_out if c not in known]
    if missing:
        raise UserError(f"split.external_centres: centre {missing[0]!r} does not occur in the truth file "
                        f"(centres: {', '.join(sorted(map(str, known)))})")
    ext = np.isin(centres, list(held_out))
    if ext.all():
        raise UserError("split.external_centres: holds out every centre, nothing is left to train on")
    return np.flatnonzero(~ext), np.flatnonzero(ext)


def split_by_cohort(cohorts: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(training, internal, external) indices from the truth file's ``cohort`` column."""
    names = {"training": 0, "train": 0, "internal": 1, "iv": 1, "validation": 1, "external": 2, "ev": 2, "test": 2}
    groups: list[list[int]] = [[], [], []]
    for i, c in enumerate(cohorts):
        key = (c or "").strip().lower()
        if key not in names:
            raise UserError(f"truth cohort {c!r} of lesion {i}: expected training, internal or external")
        groups[names[key]].append(i)
    if not groups[0]:
        raise UserError("split.method = 'cohort': no lesion has cohort 'training'")
    return tuple(np.array(g, dtype=np.int64) for g in groups)  # type: ignore[return-value]


def kfold(labels: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Seeded stratified k-fold: ``folds`` (training, validation) pairs that partition the lesions."""
    from sklearn.model_selection import KFold, StratifiedKFold

    labels = np.asarray(labels)
    if labels.size < folds:
        raise UserError(f"split.cv_folds: {folds} folds need at least {folds} lesions, have {labels.size}")
    counts = np.bincount(labels, minlength=2)
    if counts.min() >= folds:
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        it = splitter.split(np.zeros(labels.size), labels)
    else:
        it = KFold(n_splits=folds, shuffle=True, random_state=seed).split(np.zeros(labels.size))
    return [(np.sort(tr), np.sort(va)) for tr, va in it]


@dataclass
class Cohorts:
    """The training, internal validation (IV) and external validation (EV) lesions."""

    train: DataSet
    internal: DataSet
    external: DataSet | None

    def summary(self) -> dict[str, dict[str, int]]:
        def one(ds: DataSet | None) -> dict[str, int]:
            if ds is None:
                return {"lesions": 0, "malignant": 0, "benign": 0}
            y = ds.labels
            return {"lesions": int(y.size), "malignant": int(y.sum()), "benign": int(y.size - y.sum())}

        return {"training": one(self.train), "internal": one(self.internal), "external": one(self.external)}


def make_cohorts(data: DataSet, method: str, fraction: float, seed: int, stratify: bool = True,
                 external_centres: Sequence[str] = (), extra_external: DataSet | None = None) -> Cohorts:
    """Split a data set as the config says; ``extra_external`` (another folder) joins the EV cohort."""
    ext: DataSet | None = None
    if method == "cohort":
        tr, iv, ev = split_by_cohort([s.truth.cohort for s in data.samples])
        if iv.size == 0:  # no internal cohort given: carve it from training
            a, b = split_random(data.labels[tr], fraction, seed, stratify)
            tr, iv = tr[a], tr[b]
        train, internal = data.subset(tr), data.subset(iv)
        ext = data.subset(ev) if ev.size else None
    else:
        dev = data
        if method == "centre":
            dev_idx, ext_idx = split_by_centre(data.centres, external_centres)
            dev, ext = data.subset(dev_idx), data.subset(ext_idx)
        elif method != "random":
            raise ValueError(method)
        tr, iv = split_random(dev.labels, fraction, seed, stratify)
        train, internal = dev.subset(tr), dev.subset(iv)
    if extra_external is not None:
        ext = extra_external if ext is None else DataSet(ext.samples + extra_external.samples, ext.root)
    _check_both_classes(train.labels, "training cohort")
    ids = [s.case.case_id for s in train.samples]
    for other in (internal, ext):
        if other is not None and set(ids) & {s.case.case_id for s in other.samples}:
            raise UserError("a case id occurs in the training cohort and in a validation cohort")
    return Cohorts(train, internal, ext)
