"""Calibration of predicted probabilities: binned curve, intercept/slope, Hosmer-Lemeshow, Brier.

* Hosmer-Lemeshow: 10 groups cut at the deciles of the predicted probabilities (R
  ``quantile`` type 7, ``cut(..., include.lowest = TRUE)``: right-closed intervals,
  the first also closed on the left); statistic sum (O - E)^2 / (E (1 - E / n_g)),
  chi-square with groups - 2 df. When deciles coincide (R's ``cut`` would stop with
  "breaks are not unique"), the duplicate breaks are merged and df uses the groups
  that remain.
* Calibration slope and intercept: ``glm(y ~ qlogis(p), binomial)``; the
  calibration-in-the-large intercept ``glm(y ~ 1, offset = qlogis(p))`` is given too.
* Brier score: mean (p - y)^2.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ultrasound_reader.errors import UserError
from ultrasound_reader.stats.cutoff import clopper_pearson
from ultrasound_reader.stats.inputs import complete_cases

# Probabilities are clipped this far from 0 and 1 before qlogis (a model that
# outputs exactly 0 or 1 would otherwise have an infinite logit).
_LOGIT_EPS = 1e-12


def check_probabilities(p: np.ndarray, name: str = "score") -> None:
    if p.size and (np.nanmin(p) < 0 or np.nanmax(p) > 1):
        raise UserError(f"{name}: values outside [0, 1]; calibration needs predicted probabilities")


def brier_score(truth: object, prob: object) -> float:
    c = complete_cases(truth, prob, need_both_classes=False)
    check_probabilities(c.scores[0])
    return float(np.mean((c.scores[0] - c.truth) ** 2))


@dataclass(frozen=True)
class HosmerLemeshow:
    statistic: float
    df: int
    p: float
    groups: list[dict]  # per group: n, observed, expected, mean_predicted, low, high

    def to_dict(self) -> dict:
        return asdict(self)


def hosmer_lemeshow(truth: object, prob: object, groups: int = 10) -> HosmerLemeshow:
    c = complete_cases(truth, prob, need_both_classes=False)
    y, p = c.truth.astype(float), c.scores[0]
    check_probabilities(p)
    breaks = np.unique(np.quantile(p, np.linspace(0, 1, groups + 1)))
    if breaks.size < 3:
        raise UserError("Hosmer-Lemeshow: fewer than 2 distinct groups of predicted probability")
    # right-closed bins, first bin also includes its lower edge (cut include.lowest)
    g = np.clip(np.searchsorted(breaks, p, side="left"), 1, breaks.size - 1) - 1
    rows, stat = [], 0.0
    for k in range(breaks.size - 1):
        sel = g == k
        n = int(sel.sum())
        if n == 0:
            continue
        o, e = float(y[sel].sum()), float(p[sel].sum())
        stat += (o - e) ** 2 / (e * (1 - e / n)) if 0 < e < n else 0.0
        rows.append({"n": n, "observed": o, "expected": e, "mean_predicted": e / n,
                     "low": float(breaks[k]), "high": float(breaks[k + 1])})
    df = len(rows) - 2
    return HosmerLemeshow(float(stat), df, float(stats.chi2.sf(stat, df)) if df > 0 else float("nan"), rows)


@dataclass(frozen=True)
class CalibrationFit:
    intercept: float  # in the slope model y ~ qlogis(p)
    slope: float
    intercept_se: float
    slope_se: float
    citl: float  # calibration-in-the-large: intercept of y ~ offset(qlogis(p))
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def calibration_intercept_slope(truth: object, prob: object) -> CalibrationFit:
    from ultrasound_reader.stats.logistic import binomial_glm, fit_logistic

    c = complete_cases(truth, prob)
    p = c.scores[0]
    check_probabilities(p)
    notes = []
    if np.any((p <= 0) | (p >= 1)):
        notes.append(f"probabilities of exactly 0 or 1 clipped to [{_LOGIT_EPS}, 1 - {_LOGIT_EPS}] for the logit")
    lp = stats.logistic.ppf(np.clip(p, _LOGIT_EPS, 1 - _LOGIT_EPS))
    fit = fit_logistic(pd.DataFrame({"y": c.truth, "lp": lp}), "y", ["lp"])
    off, off_separation = binomial_glm(c.truth.astype(float), np.ones((p.size, 1)), offset=lp)
    if fit.separation or off_separation:
        notes.append("perfect separation: the probabilities separate the outcomes (numerically) completely, "
                     "so the calibration intercept and slope are not finite estimates")
    notes += [w for w in fit.warnings if "separation" not in w]
    return CalibrationFit(float(fit.coef[0]), float(fit.coef[1]), float(fit.se[0]), float(fit.se[1]),
                          float(off.params[0]), notes)


def calibration_curve(truth: object, prob: object, bins: int = 10, strategy: str = "quantile",
                      conf_level: float = 0.95) -> list[dict]:
    """Observed event rate (with Clopper-Pearson CI) against mean predicted, per bin."""
    c = complete_cases(truth, prob, need_both_classes=False)
    y, p = c.truth, c.scores[0]
    check_probabilities(p)
    if strategy == "quantile":
        edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1)))
    elif strategy == "uniform":
        edges = np.linspace(0, 1, bins + 1)
    else:
        raise ValueError(f"unknown strategy {strategy!r}")
    if edges.size < 2:
        edges = np.array([p.min(), p.max()])
    g = np.clip(np.searchsorted(edges, p, side="left"), 1, max(edges.size - 1, 1)) - 1
    rows = []
    for k in range(max(edges.size - 1, 1)):
        sel = g == k
        n = int(sel.sum())
        if n == 0:
            continue
        events = int(y[sel].sum())
        lo, hi = clopper_pearson(events, n, conf_level)
        rows.append({"n": n, "events": events, "mean_predicted": float(p[sel].mean()),
                     "observed": events / n, "observed_low": lo, "observed_high": hi})
    return rows
