"""Empirical ROC curve, AUC and stratified-bootstrap confidence intervals.

The curve is pROC's: thresholds are ``-Inf``, the midpoints between adjacent
distinct scores, and ``+Inf``; a case is called positive when its score is above
the threshold (``direction = "<"``, controls <= t < cases). The bootstrap resamples
positives and negatives separately (pROC's ``boot.stratified = TRUE``) and takes
percentile intervals with R's default quantile (type 7, numpy's ``linear``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from ultrasound_reader.stats.inputs import complete_cases


@dataclass(frozen=True)
class RocCurve:
    """Operating points ordered by increasing threshold (sensitivity falls)."""

    thresholds: np.ndarray
    sensitivity: np.ndarray
    specificity: np.ndarray
    auc: float
    n_pos: int
    n_neg: int
    n_missing: int = 0

    def to_dict(self) -> dict:
        return {
            "thresholds": [_json_float(t) for t in self.thresholds],
            "sensitivity": self.sensitivity.tolist(),
            "specificity": self.specificity.tolist(),
            "auc": self.auc, "n_pos": self.n_pos, "n_neg": self.n_neg, "n_missing": self.n_missing,
        }


def _json_float(x: float) -> float | str:
    return x if np.isfinite(x) else ("Infinity" if x > 0 else "-Infinity")


def curve_points(truth: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds, sensitivity, specificity) of clean 0/1 truth and score arrays."""
    t = truth.astype(bool)
    pos, neg = np.sort(score[t]), np.sort(score[~t])
    uniq = np.unique(score)
    thr = np.concatenate([[-np.inf], (uniq[:-1] + uniq[1:]) / 2, [np.inf]])
    sens = (pos.size - np.searchsorted(pos, thr, side="right")) / pos.size
    spec = np.searchsorted(neg, thr, side="left") / neg.size
    return thr, sens, spec


def auc_mann_whitney(truth: np.ndarray, score: np.ndarray) -> float:
    """AUC = P(score_pos > score_neg) + 1/2 P(tie), from mid-ranks."""
    t = truth.astype(bool)
    m, n = int(t.sum()), int((~t).sum())
    r = stats.rankdata(score)
    return float((r[t].sum() - m * (m + 1) / 2) / (m * n))


def roc_curve(truth: object, score: object) -> RocCurve:
    """pROC-style empirical ROC curve; missing rows dropped and counted."""
    c = complete_cases(truth, score)
    thr, sens, spec = curve_points(c.truth, c.scores[0])
    return RocCurve(thr, sens, spec, auc_mann_whitney(c.truth, c.scores[0]), c.n_pos, c.n_neg, c.n_missing)


def roc_auc(truth: object, score: object) -> float:
    """Area under the empirical ROC curve (ties count 1/2), as pROC ``auc()``."""
    c = complete_cases(truth, score)
    return auc_mann_whitney(c.truth, c.scores[0])


def stratified_indices(truth: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, N) row indices resampling positives and negatives separately."""
    pos = np.flatnonzero(truth == 1)
    neg = np.flatnonzero(truth == 0)
    ip = pos[rng.integers(0, pos.size, size=(n_boot, pos.size))]
    ineg = neg[rng.integers(0, neg.size, size=(n_boot, neg.size))]
    return np.concatenate([ip, ineg], axis=1)


def bootstrap_aucs(truth: np.ndarray, score: np.ndarray, n_boot: int = 2000, seed: int = 0) -> np.ndarray:
    """AUCs of ``n_boot`` stratified resamples (vectorised by mid-ranks, in chunks)."""
    rng = np.random.default_rng(seed)
    t = truth.astype(np.int8)
    m = int(t.sum())
    n = t.size - m
    out = np.empty(n_boot)
    chunk = max(1, 2_000_000 // t.size)
    for a in range(0, n_boot, chunk):
        b = min(n_boot, a + chunk)
        idx = stratified_indices(t, b - a, rng)  # positives first, then negatives
        r = stats.rankdata(score[idx], axis=1)
        out[a:b] = (r[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n)
    return out


@dataclass(frozen=True)
class BootstrapCi:
    estimate: float
    ci_low: float
    ci_high: float
    conf_level: float
    n_boot: int
    seed: int
    method: str = "stratified bootstrap, percentile"

    def to_dict(self) -> dict:
        return asdict(self)


def bootstrap_auc_ci(truth: object, score: object, n_boot: int = 2000, conf_level: float = 0.95,
                     seed: int = 0) -> BootstrapCi:
    """Percentile CI of the AUC over stratified resamples (pROC ``ci.auc(method="bootstrap")``).

    Random numbers differ from R's, so the limits agree with pROC only to
    Monte-Carlo precision; ``seed`` makes ours reproducible.
    """
    c = complete_cases(truth, score)
    aucs = bootstrap_aucs(c.truth, c.scores[0], n_boot, seed)
    a = (1 - conf_level) / 2
    lo, hi = np.quantile(aucs, [a, 1 - a])
    return BootstrapCi(auc_mann_whitney(c.truth, c.scores[0]), float(lo), float(hi), conf_level, n_boot, seed)


def sensitivity_at(spec_grid: np.ndarray, sens: np.ndarray, spec: np.ndarray) -> np.ndarray:
    """Sensitivity of a step ROC curve at given specificities (the upper corner on ties)."""
    # spec rises with the threshold while sens falls; flip so specificity is the x axis,
    # and on vertical segments (same specificity) keep the highest sensitivity.
    order = np.lexsort((-sens, spec))
    x, y = spec[order], sens[order]
    xu, first = np.unique(x, return_index=True)
    return np.interp(spec_grid, xu, y[first])


def roc_ci_band(truth: object, score: object, specificities: np.ndarray | None = None,
                n_boot: int = 2000, conf_level: float = 0.95, seed: int = 0) -> dict:
    """Bootstrap CI of sensitivity over a specificity grid (like pROC ``ci.se``), for plots."""
    c = complete_cases(truth, score)
    grid = np.linspace(0, 1, 51) if specificities is None else np.asarray(specificities, float)
    rng = np.random.default_rng(seed)
    idx = stratified_indices(c.truth, n_boot, rng)
    curves = np.empty((n_boot, grid.size))
    for k in range(n_boot):
        tt, ss = c.truth[idx[k]], c.scores[0][idx[k]]
        _, se, sp = curve_points(tt, ss)
        curves[k] = sensitivity_at(grid, se, sp)
    a = (1 - conf_level) / 2
    lo, med, hi = np.quantile(curves, [a, 0.5, 1 - a], axis=0)
    return {"specificity": grid.tolist(), "sensitivity_low": lo.tolist(),
            "sensitivity_median": med.tolist(), "sensitivity_high": hi.tolist(),
            "n_boot": n_boot, "seed": seed, "conf_level": conf_level}
