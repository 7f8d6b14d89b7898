"""Turning user columns into clean arrays: binary truth, numeric scores, missing values.

Every public statistic goes through here, so a bad column is refused in one place
with one clear line (:class:`UserError`), and missing values are dropped *and
counted* instead of silently propagating NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ultrasound_reader.errors import UserError

# Spellings of the two classes accepted in a truth column (case-insensitive).
_POSITIVE = {"1", "1.0", "true", "yes", "y", "pos", "positive", "malignant", "poor", "case"}
_NEGATIVE = {"0", "0.0", "false", "no", "n", "neg", "negative", "benign", "good", "control"}


def as_truth(values: object, name: str = "truth") -> np.ndarray:
    """0/1 floats with NaN for missing; refuses anything that is not two classes."""
    arr = np.asarray(values, dtype=object).ravel()
    out = np.full(arr.shape, np.nan)
    bad: list[str] = []
    for i, v in enumerate(arr):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            continue
        if isinstance(v, (bool, np.bool_)):
            out[i] = float(v)
            continue
        if isinstance(v, (int, float, np.integer, np.floating)):
            if v in (0, 1):
                out[i] = float(v)
                continue
            bad.append(repr(v))
            continue
        s = str(v).strip().lower()
        if s in ("", "na", "nan", "none", "null"):
            continue
        if s in _POSITIVE:
            out[i] = 1.0
        elif s in _NEGATIVE:
            out[i] = 0.0
        else:
            bad.append(repr(v))
    if bad:
        shown = ", ".join(sorted(set(bad))[:5])
        raise UserError(f"{name}: values must be 0/1 (or true/false, malignant/benign); got {shown}")
    return out


def as_score(values: object, name: str = "score") -> np.ndarray:
    """Floats with NaN for missing; refuses text and infinities."""
    try:
        arr = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        raise UserError(f"{name}: values must be numbers") from None
    if np.isinf(arr).any():
        raise UserError(f"{name}: {int(np.isinf(arr).sum())} infinite value(s)")
    return arr


@dataclass(frozen=True)
class Complete:
    """Rows complete in truth and every score, plus what was dropped."""

    truth: np.ndarray  # int8 0/1
    scores: tuple[np.ndarray, ...]
    n_missing: int
    keep: np.ndarray  # boolean mask over the input rows

    @property
    def n_pos(self) -> int:
        return int(self.truth.sum())

    @property
    def n_neg(self) -> int:
        return int(self.truth.size - self.truth.sum())


def complete_cases(
    truth: object,
    *scores: object,
    truth_name: str = "truth",
    score_names: Sequence[str] | None = None,
    need_both_classes: bool = True,
) -> Complete:
    """Keep rows with truth and all scores present; check both classes remain."""
    t = as_truth(truth, truth_name)
    names = list(score_names or [f"score{i + 1}" if len(scores) > 1 else "score" for i in range(len(scores))])
    s = [as_score(x, n) for x, n in zip(scores, names)]
    for x, n in zip(s, names):
        if x.shape != t.shape:
            raise UserError(f"{n}: {x.size} values but {truth_name} has {t.size}")
    keep = ~np.isnan(t)
    for x in s:
        keep &= ~np.isnan(x)
    n_missing = int(t.size - keep.sum())
    tt = t[keep].astype(np.int8)
    if need_both_classes:
        check_both_classes(tt, truth_name, n_missing)
    return Complete(tt, tuple(x[keep] for x in s), n_missing, keep)


def check_both_classes(truth: np.ndarray, name: str = "truth", n_missing: int = 0) -> None:
    n_pos = int(np.sum(truth == 1))
    n_neg = int(np.sum(truth == 0))
    if n_pos == 0 or n_neg == 0:
        which = "positive (1)" if n_pos else "negative (0)"
        extra = f" after dropping {n_missing} row(s) with missing values" if n_missing else ""
        raise UserError(
            f"{name}: all {n_pos + n_neg} complete case(s) are {which}{extra}; "
            "ROC statistics need both positives and negatives"
        )
