"""Reader-study helpers: per-reader 2x2 metrics and paired McNemar comparisons.

McNemar's test is R's ``mcnemar.test`` (continuity-corrected chi-square, 1 df) with
the exact binomial p-value beside it, which is the one to read when there are few
discordant pairs (b + c < 25, say).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ultrasound_reader.errors import UserError
from ultrasound_reader.stats.cutoff import BinaryMetrics, binary_metrics
from ultrasound_reader.stats.inputs import as_score, as_truth


def per_reader_metrics(data: pd.DataFrame, reader: str, truth: str, prediction: str,
                       cutoff: float | None = None, conf_level: float = 0.95,
                       n_boot: int = 0) -> dict[str, BinaryMetrics]:
    """Accuracy, sensitivity, specificity, PPV, NPV (Clopper-Pearson CIs) of each reader.

    ``prediction`` holds 0/1 calls, or scores with ``cutoff``.
    """
    for c in (reader, truth, prediction):
        if c not in data.columns:
            raise UserError(f"column '{c}' not found (columns: {', '.join(map(str, data.columns))})")
    out = {}
    for r, grp in data.groupby(reader, sort=True):
        out[str(r)] = binary_metrics(grp[truth].to_numpy(), grp[prediction].to_numpy(), cutoff,
                                     conf_level, n_boot=n_boot, require_both_classes=False)
    return out


@dataclass(frozen=True)
class McNemar:
    """Paired 0/1 outcomes a and b: b = a only, c = b only."""

    n: int
    both: int
    a_only: int
    b_only: int
    neither: int
    statistic: float  # continuity-corrected chi-square (R mcnemar.test default)
    p: float
    p_exact: float  # two-sided exact binomial on the discordant pairs

    def to_dict(self) -> dict:
        return asdict(self)


def mcnemar(a: object, b: object) -> McNemar:
    """McNemar's test of paired binary outcomes (e.g. correct pre-AI vs correct post-AI)."""
    x = as_score(a, "a")
    y = as_score(b, "b")
    if x.shape != y.shape:
        raise UserError(f"McNemar: {x.size} and {y.size} paired values")
    ok = ~np.isnan(x) & ~np.isnan(y)
    x, y = x[ok].astype(bool), y[ok].astype(bool)
    both, a_only = int(np.sum(x & y)), int(np.sum(x & ~y))
    b_only, neither = int(np.sum(~x & y)), int(np.sum(~x & ~y))
    disc = a_only + b_only
    if disc == 0:
        stat, p, pe = float("nan"), 1.0, 1.0
    else:
        stat = (abs(a_only - b_only) - 1) ** 2 / disc
        p = float(stats.chi2.sf(stat, 1))
        pe = float(stats.binomtest(a_only, disc, 0.5).pvalue)
    return McNemar(int(ok.sum()), both, a_only, b_only, neither, float(stat), p, pe)


def paired_reader_comparison(truth: object, pred_a: object, pred_b: object) -> dict[str, McNemar]:
    """McNemar for accuracy (all cases), sensitivity (positives) and specificity (negatives)."""
    t = as_truth(truth)
    a = as_score(pred_a, "prediction a")
    b = as_score(pred_b, "prediction b")
    for name, v in (("prediction a", a), ("prediction b", b)):
        if not np.isin(v[~np.isnan(v)], (0.0, 1.0)).all():
            raise UserError(f"{name}: values must be 0/1 calls")
    ok = ~np.isnan(t) & ~np.isnan(a) & ~np.isnan(b)
    t, a, b = t[ok].astype(bool), a[ok].astype(bool), b[ok].astype(bool)
    return {
        "accuracy": mcnemar(a == t, b == t),
        "sensitivity": mcnemar(a[t], b[t]),
        "specificity": mcnemar(~a[~t], ~b[~t]),
    }
