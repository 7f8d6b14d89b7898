"""Validation metrics of a run, all computed by :mod:`ultrasound_reader.stats`.

Per cohort (training, internal, external) and per output (L, LB, LBC; DLM-1, SM-k):
AUC with DeLong 95 % CI; at the Youden cut-off chosen on the training cohort,
accuracy, sensitivity, specificity, PPV and NPV with exact CIs; calibration (binned
curve, intercept and slope, Hosmer-Lemeshow, Brier); decision curve; and the same
2x2 metrics within strata (lesion size band, LB type). Undefined statistics (a
cohort or stratum with one class) are reported as such, never as numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ultrasound_reader.errors import UserError


def _clean(x: Any) -> Any:
    """JSON-safe: NaN/inf become None, numpy scalars Python numbers."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def youden(truth: Sequence[int], prob: Sequence[float]) -> dict[str, Any]:
    """The manifest threshold entry: Youden cut-off on the given (training) cohort."""
    from ultrasound_reader.stats.cutoff import youden_cutoff

    op = youden_cutoff(np.asarray(truth), np.asarray(prob))
    return {"value": float(min(max(op.threshold, 0.0), 1.0)), "method": "youden", "cohort": "training",
            "operating_point": {"sensitivity": op.sensitivity, "specificity": op.specificity,
                                "youden": op.youden_index, "n": int(len(truth))}}


def _two_by_two(truth: np.ndarray, prob: np.ndarray, cutoff: float) -> dict[str, Any]:
    from ultrasound_reader.stats.cutoff import binary_metrics

    bm = binary_metrics(truth, prob, cutoff, n_boot=200)
    out: dict[str, Any] = {"tp": bm.tp, "fn": bm.fn, "tn": bm.tn, "fp": bm.fp}
    for k in ("accuracy", "sensitivity", "specificity", "ppv", "npv"):
        e = getattr(bm, k)
        out[k] = {"value": e.value, "ci_low": e.ci_low, "ci_high": e.ci_high}
    if bm.notes:
        out["notes"] = bm.notes
    return out


def _auc(truth: np.ndarray, prob: np.ndarray) -> dict[str, Any]:
    from ultrasound_reader.stats.delong import delong_auc

    a = delong_auc(truth, prob)
    return {"value": a.auc, "ci_low": a.ci_low, "ci_high": a.ci_high, "method": "DeLong"}


def _calibration(truth: np.ndarray, prob: np.ndarray) -> dict[str, Any]:
    from ultrasound_reader.stats import calibration as cal

    out: dict[str, Any] = {"brier": cal.brier_score(truth, prob)}
    try:
        fit = cal.calibration_intercept_slope(truth, prob)
        out |= {"intercept": fit.intercept, "slope": fit.slope, "citl": fit.citl}
    except UserError as exc:
        out["slope_note"] = str(exc)
    try:
        hl = cal.hosmer_lemeshow(truth, prob)
        out["hosmer_lemeshow"] = {"statistic": hl.statistic, "df": hl.df, "p": hl.p}
    except UserError as exc:
        out["hosmer_lemeshow"] = {"note": str(exc)}
    out["curve"] = cal.calibration_curve(truth, prob, bins=10)
    return out


def score_metrics(truth: Sequence[int], prob: Sequence[float], cutoff: float,
                  strata: dict[str, Sequence[str | None]] | None = None) -> dict[str, Any]:
    """Everything the paper reports for one output on one cohort."""
    y = np.asarray(truth, dtype=float)
    p = np.asarray(prob, dtype=float)
    n_pos = int(y.sum())
    out: dict[str, Any] = {"n": int(y.size), "malignant": n_pos, "benign": int(y.size - n_pos), "cutoff": cutoff}
    if y.size == 0:
        return out
    both = 0 < n_pos < y.size
    out["auc"] = _auc(y, p) if both else {"value": None, "note": "one class only: AUC undefined"}
    if both:
        out |= _two_by_two(y, p, cutoff)
        out["calibration"] = _calibration(y, p)
    else:
        pred = p >= cutoff
        out["accuracy"] = {"value": float(np.mean(pred == y.astype(bool)))}
    for name, keys in (strata or {}).items():
        table: dict[str, Any] = {}
        keys = np.asarray([k if k is not None else "unknown" for k in keys], dtype=object)
        for level in sorted(set(keys.tolist())):
            sel = keys == level
            ys, ps = y[sel], p[sel]
            row: dict[str, Any] = {"n": int(sel.sum()), "malignant": int(ys.sum())}
            pred = ps >= cutoff
            row["accuracy"] = float(np.mean(pred == ys.astype(bool)))
            if ys.sum() > 0:
                row["sensitivity"] = float(np.mean(pred[ys == 1]))
            if (ys == 0).any():
                row["specificity"] = float(np.mean(~pred[ys == 0]))
            if 0 < ys.sum() < ys.size:
                row["auc"] = _auc(ys, ps)
            table[str(level)] = row
        out.setdefault("strata", {})[name] = table
    return _clean(out)


def decision_curve(truth: Sequence[int], prob: Sequence[float]) -> dict[str, Any]:
    from ultrasound_reader.stats.decision_curve import net_benefit

    return _clean(net_benefit(np.asarray(truth), np.asarray(prob)).to_dict())
