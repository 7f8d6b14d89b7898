"""DeLong's AUC variance, confidence interval and tests, as R's pROC computes them.

The structural components ("placements") come from mid-ranks, the O(n log n)
algorithm of Sun & Xu (2014, IEEE Signal Process. Lett. 21:1389), instead of the
m x n comparison matrix; :func:`placements_naive` keeps the O(n^2) definition for the
benchmark and the tests. Formulas follow pROC 1.18 (``delong.R``): variances use
``m - 1`` / ``n - 1`` denominators, the CI is the normal interval around the AUC
clipped to [0, 1], the paired test is a Z test, the unpaired one a t test with
Welch-type degrees of freedom.

Conventions: truth 1 = positive ("case"), higher score = more likely positive
(pROC ``direction = "<"``); ties count one half.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from ultrasound_reader.stats.inputs import complete_cases


@dataclass(frozen=True)
class Placements:
    """DeLong's structural components of one or more scores on the same cases.

    ``v10[k, i]``: fraction of negatives that positive ``i`` beats under score ``k``;
    ``v01[k, j]``: fraction of positives that beat negative ``j``.
    """

    auc: np.ndarray  # (k,)
    v10: np.ndarray  # (k, m) over positives
    v01: np.ndarray  # (k, n) over negatives

    def covariance(self) -> np.ndarray:
        """DeLong covariance matrix of the k AUCs (pROC's ``S = SX/m + SY/n``)."""
        m, n = self.v10.shape[1], self.v01.shape[1]
        if m < 2 or n < 2:
            return np.full((self.auc.size, self.auc.size), np.nan)
        s10 = np.atleast_2d(np.cov(self.v10, ddof=1))
        s01 = np.atleast_2d(np.cov(self.v01, ddof=1))
        return s10 / m + s01 / n


def placements(truth: np.ndarray, scores: np.ndarray) -> Placements:
    """Fast placements from mid-ranks (Sun & Xu 2014).

    ``truth``: 0/1 of length N with both classes; ``scores``: (N,) or (k, N), no NaN.
    """
    t = np.asarray(truth).astype(bool)
    s = np.atleast_2d(np.asarray(scores, dtype=float))
    x, y = s[:, t], s[:, ~t]  # positives, negatives
    m, n = x.shape[1], y.shape[1]
    tx = stats.rankdata(x, axis=1)
    ty = stats.rankdata(y, axis=1)
    tz = stats.rankdata(np.concatenate([x, y], axis=1), axis=1)
    v10 = (tz[:, :m] - tx) / n
    v01 = 1.0 - (tz[:, m:] - ty) / m
    auc = v10.mean(axis=1)
    return Placements(auc, v10, v01)


def placements_naive(truth: np.ndarray, score: np.ndarray, chunk: int = 2048) -> Placements:
    """The O(m*n) definition: psi(x, y) = 1 if x > y, 1/2 if equal, else 0.

    Kept as the reference the fast algorithm is checked and benchmarked against;
    chunked so n = 10 000 fits in memory.
    """
    t = np.asarray(truth).astype(bool)
    s = np.asarray(score, dtype=float)
    x, y = s[t], s[~t]
    v10 = np.empty(x.size)
    v01 = np.zeros(y.size)
    for a in range(0, x.size, chunk):
        xs = x[a:a + chunk, None]
        psi = (xs > y[None, :]) + 0.5 * (xs == y[None, :])
        v10[a:a + chunk] = psi.mean(axis=1)
        v01 += psi.sum(axis=0)
    v01 /= x.size
    return Placements(np.array([v10.mean()]), v10[None, :], v01[None, :])


@dataclass(frozen=True)
class DelongAuc:
    """AUC with DeLong variance and CI (pROC ``ci.auc(method = "delong")``)."""

    auc: float
    variance: float
    se: float
    ci_low: float
    ci_high: float
    conf_level: float
    n_pos: int
    n_neg: int
    n_missing: int = 0

    @property
    def ci(self) -> tuple[float, float]:
        return (self.ci_low, self.ci_high)

    def to_dict(self) -> dict:
        return asdict(self)


def delong_auc(truth: object, score: object, conf_level: float = 0.95) -> DelongAuc:
    """AUC, DeLong variance/SE and normal CI clipped to [0, 1], like pROC.

    Rows with a missing truth or score are dropped and counted; with a single
    positive or negative the variance is undefined (NaN), as in pROC.
    """
    c = complete_cases(truth, score)
    p = placements(c.truth, c.scores[0])
    var = float(p.covariance()[0, 0])
    auc = float(p.auc[0])
    se = float(np.sqrt(var)) if np.isfinite(var) else float("nan")
    z = stats.norm.ppf(1 - (1 - conf_level) / 2)
    lo, hi = (auc - z * se, auc + z * se) if np.isfinite(se) else (float("nan"), float("nan"))
    return DelongAuc(auc, var, se, float(max(lo, 0.0)) if np.isfinite(lo) else lo,
                     float(min(hi, 1.0)) if np.isfinite(hi) else hi,
                     conf_level, c.n_pos, c.n_neg, c.n_missing)


@dataclass(frozen=True)
class DelongTest:
    """Comparison of two AUCs: difference, its SE and CI, statistic, two-sided p."""

    auc1: float
    auc2: float
    difference: float
    se: float
    statistic: float
    p: float
    ci_low: float
    ci_high: float
    paired: bool
    df: float | None = None  # degrees of freedom of the unpaired t test
    correlation: float | None = None  # between the two AUCs (paired only)
    n: int = 0
    n_missing: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def delong_paired_test(truth: object, score1: object, score2: object,
                       conf_level: float = 0.95) -> DelongTest:
    """pROC ``roc.test(method = "delong", paired = TRUE)``: two scores on the same cases.

    Rows missing either score are dropped from both (as pROC's ``na.rm``).
    """
    c = complete_cases(truth, score1, score2, score_names=["score1", "score2"])
    p = placements(c.truth, np.vstack(c.scores))
    s = p.covariance()
    d = float(p.auc[0] - p.auc[1])
    var = float(s[0, 0] + s[1, 1] - 2 * s[0, 1])
    se = float(np.sqrt(max(var, 0.0)))
    if se == 0.0:
        zstat = 0.0 if d == 0 else float(np.sign(d) * np.inf)  # pROC's special case for d == 0
    else:
        zstat = d / se
    pval = float(2 * stats.norm.sf(abs(zstat)))
    zc = stats.norm.ppf(1 - (1 - conf_level) / 2)
    corr = float(s[0, 1] / np.sqrt(s[0, 0] * s[1, 1])) if s[0, 0] > 0 and s[1, 1] > 0 else None
    return DelongTest(float(p.auc[0]), float(p.auc[1]), d, se, zstat, pval,
                      float(d - zc * se), float(d + zc * se),
                      True, None, corr, int(c.truth.size), c.n_missing)


def delong_unpaired_test(truth1: object, score1: object, truth2: object, score2: object,
                         conf_level: float = 0.95) -> DelongTest:
    """pROC ``roc.test(method = "delong", paired = FALSE)``: AUCs from different cases.

    Statistic D = difference / sqrt(S1 + S2) with Welch-type df
    ``(S1 + S2)^2 / (S1^2/(N1 - 1) + S2^2/(N2 - 1))``, p from Student's t.
    """
    a = delong_auc(truth1, score1, conf_level)
    b = delong_auc(truth2, score2, conf_level)
    s1, s2 = a.variance, b.variance
    d = a.auc - b.auc
    se = float(np.sqrt(s1 + s2))
    n1, n2 = a.n_pos + a.n_neg, b.n_pos + b.n_neg
    df = float((s1 + s2) ** 2 / (s1 ** 2 / (n1 - 1) + s2 ** 2 / (n2 - 1))) if se > 0 else float("nan")
    stat = d / se if se > 0 else (0.0 if d == 0 else float(np.sign(d) * np.inf))
    pval = float(2 * stats.t.sf(abs(stat), df)) if np.isfinite(df) else (1.0 if d == 0 else 0.0)
    tc = stats.t.ppf(1 - (1 - conf_level) / 2, df) if np.isfinite(df) else 0.0
    return DelongTest(a.auc, b.auc, d, se, float(stat), pval,
                      float(d - tc * se), float(d + tc * se), False, df, None,
                      n1 + n2, a.n_missing + b.n_missing)
