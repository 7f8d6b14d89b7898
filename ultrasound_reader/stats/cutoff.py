"""Operating point by Youden's index, and the 2x2 metrics at a cut-off with exact CIs.

The Youden threshold is pROC's ``coords(r, "best", best.method = "youden")``: the
maximiser of sensitivity + specificity over the curve's thresholds, which are
midpoints between adjacent observed scores. At a cut-off, a case is called positive
when ``score >= cutoff`` (at a midpoint threshold this is the same as pROC's
``score > t``). Proportions get exact Clopper-Pearson intervals (R's
``binom.test``); F1 is not a binomial proportion, so it gets a stratified bootstrap
percentile interval.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import stats

from ultrasound_reader.errors import UserError
from ultrasound_reader.stats.inputs import complete_cases
from ultrasound_reader.stats.roc import curve_points, stratified_indices


def clopper_pearson(x: int, n: int, conf_level: float = 0.95) -> tuple[float, float]:
    """Exact binomial CI (R ``binom.test(x, n)$conf.int``); (nan, nan) when n == 0."""
    if n == 0:
        return (float("nan"), float("nan"))
    a = (1 - conf_level) / 2
    lo = 0.0 if x == 0 else float(stats.beta.ppf(a, x, n - x + 1))
    hi = 1.0 if x == n else float(stats.beta.ppf(1 - a, x + 1, n - x))
    return (lo, hi)


@dataclass(frozen=True)
class OperatingPoint:
    """The Youden-optimal threshold and the curve's point there."""

    threshold: float
    sensitivity: float
    specificity: float
    youden_index: float  # sensitivity + specificity - 1
    tied_thresholds: tuple[float, ...] = ()  # other thresholds with the same index

    def to_dict(self) -> dict:
        d = asdict(self)
        d["tied_thresholds"] = list(self.tied_thresholds)
        return d


def youden_cutoff(truth: object, score: object) -> OperatingPoint:
    """Threshold maximising sensitivity + specificity (pROC midpoint convention).

    pROC returns every tied maximiser; we return the lowest threshold (the more
    sensitive one) and list the others in ``tied_thresholds``. The infinite
    end thresholds are excluded (they call everything one class).
    """
    c = complete_cases(truth, score)
    thr, sens, spec = curve_points(c.truth, c.scores[0])
    finite = np.isfinite(thr)
    if not finite.any():
        raise UserError("score: all values are equal; no cut-off separates them")
    j = sens + spec
    j[~finite] = -np.inf
    best = np.max(j)
    # Sums of two fractions: compare with a tolerance so equal operating points tie
    # whatever the rounding of each fraction.
    ties = np.flatnonzero(j >= best - 1e-12)
    k = int(ties[0])
    return OperatingPoint(float(thr[k]), float(sens[k]), float(spec[k]), float(best - 1),
                          tuple(float(thr[i]) for i in ties[1:]))


@dataclass(frozen=True)
class Estimate:
    value: float
    ci_low: float
    ci_high: float
    method: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class BinaryMetrics:
    """2x2 table at a cut-off and its metrics, each with a 95 % (by default) CI."""

    cutoff: float | None
    tp: int
    fn: int
    tn: int
    fp: int
    accuracy: Estimate
    sensitivity: Estimate
    specificity: Estimate
    ppv: Estimate
    npv: Estimate
    f1: Estimate
    n_missing: int = 0
    conf_level: float = 0.95
    notes: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return self.tp + self.fn + self.tn + self.fp

    def to_dict(self) -> dict:
        return asdict(self)


def _prop(x: int, n: int, conf: float) -> Estimate:
    lo, hi = clopper_pearson(x, n, conf)
    return Estimate(x / n if n else float("nan"), lo, hi, "Clopper-Pearson exact")


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    den = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, 2 * tp / np.maximum(den, 1), np.nan)


def binary_metrics(truth: object, score_or_pred: object, cutoff: float | None = None,
                   conf_level: float = 0.95, n_boot: int = 2000, seed: int = 0,
                   require_both_classes: bool = True) -> BinaryMetrics:
    """Accuracy, sensitivity, specificity, PPV, NPV, F1 and counts at ``cutoff``.

    With ``cutoff=None`` the second argument must already be 0/1 predictions.
    Both classes are required in the truth unless ``require_both_classes=False``
    (a stratum may hold only one class: the undefined metrics are then NaN).
    """
    c = complete_cases(truth, score_or_pred, score_names=["prediction" if cutoff is None else "score"],
                       need_both_classes=require_both_classes)
    t, s = c.truth.astype(bool), c.scores[0]
    if cutoff is None:
        if not np.isin(s, (0.0, 1.0)).all():
            raise UserError("prediction: values must be 0/1 when no cut-off is given")
        pred = s.astype(bool)
    else:
        pred = s >= cutoff
    tp = int(np.sum(t & pred))
    fn = int(np.sum(t & ~pred))
    tn = int(np.sum(~t & ~pred))
    fp = int(np.sum(~t & pred))
    n = tp + fn + tn + fp
    notes = []
    # F1 bootstrap: resample positives and negatives separately, like the AUC.
    rng = np.random.default_rng(seed)
    if c.n_pos and c.n_neg:
        idx = stratified_indices(c.truth, n_boot, rng)
    else:
        idx = rng.integers(0, c.truth.size, size=(n_boot, c.truth.size))
    tb, pb = t[idx], pred[idx]
    f1b = _f1((tb & pb).sum(1), (~tb & pb).sum(1), (tb & ~pb).sum(1))
    f1 = float(_f1(np.array(tp), np.array(fp), np.array(fn)))
    a = (1 - conf_level) / 2
    f1b = f1b[np.isfinite(f1b)]
    lo, hi = (np.quantile(f1b, [a, 1 - a]) if f1b.size else (np.nan, np.nan))
    if tp + fp == 0:
        notes.append("no case called positive: PPV undefined")
    if tn + fn == 0:
        notes.append("no case called negative: NPV undefined")
    if tp + fn == 0:
        notes.append("no positive case: sensitivity undefined")
    if tn + fp == 0:
        notes.append("no negative case: specificity undefined")
    if n < 10:
        notes.append(f"only {n} cases: intervals are very wide")
    return BinaryMetrics(
        cutoff=None if cutoff is None else float(cutoff), tp=tp, fn=fn, tn=tn, fp=fp,
        accuracy=_prop(tp + tn, n, conf_level),
        sensitivity=_prop(tp, tp + fn, conf_level),
        specificity=_prop(tn, tn + fp, conf_level),
        ppv=_prop(tp, tp + fp, conf_level),
        npv=_prop(tn, tn + fn, conf_level),
        f1=Estimate(f1, float(lo), float(hi), f"stratified bootstrap percentile (B={n_boot}, seed={seed})"),
        n_missing=c.n_missing, conf_level=conf_level, notes=notes,
    )
