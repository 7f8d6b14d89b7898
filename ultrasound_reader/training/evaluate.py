"""Validation metrics of a run, all computed by :mod:`ultrasound_reader.stats`.

Per cohort (training, internal, external) and per output (L, LB, LBC; DLM-1, SM-k):
AUC with DeLong 95 % CI; at the Youden cut-off chosen on the training cohort,
accuracy, sensitivity, specificity, PPV and NPV with exact CIs; calibration (binned
curve, intercept and slope, Hosmer-Lemeshow, Brier); decision curve; and the same
2x2 metrics within strata (lesion size band, LB type) at the overall cut-off.
Undefined statistics (a cohort or stratum with one class) are reported as such,
never as numbers. The PNGs (ROC with operating point, calibration, decision curve)
are drawn by :mod:`ultrasound_reader.stats.plots`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ultrasound_reader.errors import UserError
from ultrasound_reader.stats.jsonutil import jsonable


def youden(truth: Sequence[int], prob: Sequence[float], cohort: str = "training") -> dict[str, Any]:
    """The manifest threshold entry: Youden cut-off on the given (training) cohort."""
    from ultrasound_reader.stats.cutoff import youden_cutoff

    op = youden_cutoff(np.asarray(truth), np.asarray(prob))
    return {"value": float(min(max(op.threshold, 0.0), 1.0)), "method": "youden", "cohort": cohort,
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


def calibration_bins(n: int) -> int:
    """Quantile bins of the calibration curve: 10 as usual, fewer for small cohorts (~15 lesions a bin)."""
    return int(np.clip(n // 15, 3, 10))


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
    out["curve"] = cal.calibration_curve(truth, prob, bins=calibration_bins(len(truth)))
    return out


def score_metrics(truth: Sequence[int], prob: Sequence[float], cutoff: float,
                  strata: dict[str, Sequence[str | None]] | None = None) -> dict[str, Any]:
    """Everything the paper reports for one output on one cohort."""
    # statsmodels warns at every separated fit (it forces its own filter, so only recording
    # silences it); the stats layer already states separation in its notes.
    with warnings.catch_warnings(record=True):
        return _score_metrics(truth, prob, cutoff, strata)


def _score_metrics(truth: Sequence[int], prob: Sequence[float], cutoff: float,
                   strata: dict[str, Sequence[str | None]] | None) -> dict[str, Any]:
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
    if strata:
        from ultrasound_reader.stats.strata import stratified_results

        out["strata"] = {name: stratified_results(y, p, list(keys), cutoff) for name, keys in strata.items()}
    return jsonable(out)


def decision_curve(truth: Sequence[int], prob: Sequence[float]) -> dict[str, Any]:
    from ultrasound_reader.stats.decision_curve import net_benefit

    return jsonable(net_benefit(np.asarray(truth), np.asarray(prob)).to_dict())


def plots(folder, cohort: str, truth: Sequence[int], probs: dict[str, Sequence[float]],
          cutoffs: dict[str, float]) -> list[str]:
    """ROC, calibration and decision-curve PNGs of every output on one cohort; returns file names."""
    from pathlib import Path

    from ultrasound_reader.stats import plots as sp
    from ultrasound_reader.stats.calibration import calibration_curve
    from ultrasound_reader.stats.cutoff import binary_metrics
    from ultrasound_reader.stats.decision_curve import net_benefit
    from ultrasound_reader.stats.delong import delong_auc
    from ultrasound_reader.stats.roc import roc_curve

    folder = Path(folder)
    y = np.asarray(truth, dtype=float)
    if y.size == 0 or not 0 < y.sum() < y.size:
        return []
    roc, cal, dca = {}, {}, {}
    for name, p in probs.items():
        p = np.asarray(p, dtype=float)
        keep = ~np.isnan(p)
        yk, pk = y[keep], p[keep]
        if not 0 < yk.sum() < yk.size:
            continue
        a = delong_auc(yk, pk)
        bm = binary_metrics(yk, pk, cutoffs[name], n_boot=0) if name in cutoffs else None
        roc[name] = {"roc": roc_curve(yk, pk).to_dict(), "auc": a.auc,
                     "ci": (a.ci_low, a.ci_high) if math.isfinite(a.ci_low) else None}
        if bm is not None:
            roc[name]["operating_point"] = {"sensitivity": bm.sensitivity.value, "specificity": bm.specificity.value}
        cal[name] = calibration_curve(yk, pk, bins=calibration_bins(len(yk)))
        dca[name] = net_benefit(yk, pk).to_dict()
    if not roc:
        return []
    files = [f"roc-{cohort}.png", f"calibration-{cohort}.png", f"decision-curve-{cohort}.png"]
    sp.plot_roc(roc, folder / files[0], title=f"ROC, {cohort} cohort")
    sp.plot_calibration(cal, folder / files[1], title=f"Calibration, {cohort} cohort")
    sp.plot_decision_curve(dca, folder / files[2], title=f"Decision curve, {cohort} cohort")
    return files
