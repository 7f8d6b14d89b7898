"""stats layer: the papers' statistics, checked against R (pROC 1.18, rms 6.5).

numpy / scipy / statsmodels only; no Qt, no torch. Conventions everywhere: truth 1 =
positive (malignant), a higher score = more likely positive; rows with a missing
truth or score are dropped and counted (``n_missing``); a truth column with one
class only is a :class:`~ultrasound_reader.errors.UserError`.

Contracts other layers rely on (names are stable; importable from this package):

ROC / DeLong (``roc``, ``delong``)
    ``roc_auc(truth, score) -> float``
    ``delong_auc(truth, score, conf_level=0.95) -> DelongAuc`` (auc, variance, se,
    ci_low, ci_high) = pROC ``ci.auc(method="delong")``
    ``delong_paired_test(truth, s1, s2)`` / ``delong_unpaired_test(t1, s1, t2, s2)``
    -> ``DelongTest`` (difference, se, statistic, p, CI) = pROC ``roc.test``
    ``bootstrap_auc_ci(truth, score, n_boot=2000, seed=0)`` stratified percentile CI
    ``roc_curve(truth, score) -> RocCurve`` (pROC midpoint thresholds)
Cut-off (``cutoff``)
    ``youden_cutoff(truth, score) -> OperatingPoint`` (threshold = pROC midpoint,
    sensitivity, specificity, youden_index)
    ``binary_metrics(truth, score_or_pred, cutoff=None) -> BinaryMetrics``: tp/fn/tn/fp
    and accuracy, sensitivity, specificity, ppv, npv (Clopper-Pearson), f1 (bootstrap),
    each an ``Estimate(value, ci_low, ci_high, method)``; positive when score >= cutoff
    ``clopper_pearson(x, n)``
Logistic regression (``logistic``)
    ``fit_logistic(df, outcome, predictors, categorical=()) -> LogisticFit`` (coef,
    se, p, odds_ratio, or_ci(), table(), predict_proba(), separation flag); matches
    R ``glm`` to ~1e-13 including its SEs
    ``screen_and_fit(df, outcome, candidates, p_threshold=0.05) -> ScreeningResult``
Nomogram (``nomogram``)
    ``datadist(df, columns, categorical=())`` -> ranges as rms::datadist gives them
    ``Nomogram.from_fit(fit, ranges)``, ``.score(values) -> NomogramScore`` (points
    per predictor, total_points, linear_predictor, probability), ``.tables()``,
    ``.to_dict()`` / ``Nomogram.from_dict()`` (self-sufficient JSON spec with every
    axis's tick values and point positions, for bundle manifests and the GUI)
Calibration and decision curves (``calibration``, ``decision_curve``)
    ``calibration_curve``, ``calibration_intercept_slope``, ``hosmer_lemeshow``,
    ``brier_score``, ``net_benefit(truth, prob, thresholds) -> DecisionCurve``
Strata and readers (``strata``, ``readers``, ``mrmc``)
    ``stratified_results(truth, score, strata, cutoff)``, ``size_bands(diameters_cm)``
    ``per_reader_metrics(df, reader, truth, prediction)``, ``mcnemar(a, b)``,
    ``paired_reader_comparison(truth, pred_pre, pred_post)``
    ``or_mrmc(truth, scores[modality, reader, case])`` /
    ``or_mrmc_frame(df, reader=, modality=, case=, truth=, score=)`` -> ``MrmcResult``
    (Obuchowski-Rockette with DeLong covariance, Hillis ddf; RRRC and FRRC)
Whole evaluation and plots (``evaluate``, ``plots``)
    ``evaluate_scores(df, truth, scores, by=())`` -> the ``evaluate`` command's dict;
    ``plot_roc``, ``plot_calibration``, ``plot_decision_curve``, ``plot_nomogram``
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "roc_auc": "roc", "roc_curve": "roc", "bootstrap_auc_ci": "roc", "RocCurve": "roc",
    "delong_auc": "delong", "delong_paired_test": "delong", "delong_unpaired_test": "delong",
    "DelongAuc": "delong", "DelongTest": "delong", "placements": "delong",
    "youden_cutoff": "cutoff", "binary_metrics": "cutoff", "clopper_pearson": "cutoff",
    "OperatingPoint": "cutoff", "BinaryMetrics": "cutoff", "Estimate": "cutoff",
    "fit_logistic": "logistic", "screen_and_fit": "logistic", "LogisticFit": "logistic",
    "Nomogram": "nomogram", "NomogramScore": "nomogram", "datadist": "nomogram",
    "calibration_curve": "calibration", "calibration_intercept_slope": "calibration",
    "hosmer_lemeshow": "calibration", "brier_score": "calibration",
    "net_benefit": "decision_curve", "DecisionCurve": "decision_curve",
    "stratified_results": "strata", "size_bands": "strata",
    "per_reader_metrics": "readers", "mcnemar": "readers", "paired_reader_comparison": "readers",
    "or_mrmc": "mrmc", "or_mrmc_frame": "mrmc", "MrmcResult": "mrmc",
    "evaluate_scores": "evaluate", "read_table": "inputs",
    "plot_roc": "plots", "plot_calibration": "plots", "plot_decision_curve": "plots",
    "plot_nomogram": "plots",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    # Lazy: importing the package stays cheap (statsmodels and matplotlib load on use).
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ultrasound_reader.stats' has no attribute {name!r}")
    return getattr(importlib.import_module(f"ultrasound_reader.stats.{module}"), name)
