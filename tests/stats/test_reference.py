"""Every number in stats-ref/dev-asah-ref.json, reproduced from dev-asah.csv.

The R values were written with 15 significant digits and all are deterministic, so
each is compared at 1e-6 relative (what we reach is ~1e-12, see the report). The
structure of ``ours`` mirrors the reference file so that a walk over the reference
compares every numeric leaf and fails on any we do not produce.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from ultrasound_reader.stats.calibration import brier_score, calibration_intercept_slope, hosmer_lemeshow
from ultrasound_reader.stats.cutoff import binary_metrics, clopper_pearson, youden_cutoff
from ultrasound_reader.stats.decision_curve import net_benefit
from ultrasound_reader.stats.delong import delong_auc, delong_paired_test
from ultrasound_reader.stats.logistic import fit_logistic
from ultrasound_reader.stats.nomogram import Nomogram, datadist

RTOL = 1e-6
ATOL = 1e-12  # for reference values that are exactly 0 (nomogram origins)


def _score_block(df, col):
    d = delong_auc(df.outcome, df[col])
    op = youden_cutoff(df.outcome, df[col])
    m = binary_metrics(df.outcome, df[col], op.threshold, n_boot=0)
    return {
        "auc": d.auc, "ci_delong": [d.ci_low, d.ci_high],
        "youden": {"threshold": op.threshold, "sensitivity": op.sensitivity, "specificity": op.specificity,
                   "accuracy": m.accuracy.value, "ppv": m.ppv.value, "npv": m.npv.value,
                   "tp": m.tp, "tn": m.tn, "fp": m.fp, "fn": m.fn},
        "sens_ci_clopper": [m.sensitivity.ci_low, m.sensitivity.ci_high],
        "spec_ci_clopper": [m.specificity.ci_low, m.specificity.ci_high],
    }


def reference_values(asah):
    """Our numbers, in the reference file's layout."""
    glm = fit_logistic(asah, "outcome", ["s100b", "age", "male", "wfns"])
    lo, hi = glm.or_ci()
    terms = glm.terms
    p = glm.predict_proba(asah)
    hl = hosmer_lemeshow(asah.outcome, p)
    cal = calibration_intercept_slope(asah.outcome, p)
    thresholds = np.round(np.arange(1, 20) * 0.05, 2)
    nb = net_benefit(asah.outcome, p, thresholds)
    lrm = fit_logistic(asah, "outcome", ["s100b", "age", "male"])
    nomo = Nomogram.from_fit(lrm, datadist(asah, ["s100b", "age", "male"]))
    pt = delong_paired_test(asah.outcome, asah.s100b, asah.ndka)
    return {
        "n": len(asah), "events": int(asah.outcome.sum()),
        "s100b": _score_block(asah, "s100b"), "ndka": _score_block(asah, "ndka"),
        "delong_paired_s100b_vs_ndka": {"z": pt.statistic, "p": pt.p},
        "glm": {
            "coef": dict(zip(terms, glm.coef)), "or": dict(zip(terms, glm.odds_ratio)),
            "or_ci_wald_low": dict(zip(terms, lo)), "or_ci_wald_high": dict(zip(terms, hi)),
            "p": dict(zip(terms, glm.p)),
        },
        "glm_fitted_hosmer_lemeshow": {"statistic": hl.statistic, "df": hl.df, "p": hl.p},
        "glm_fitted_calibration": {"intercept_in_slope_model": cal.intercept, "slope": cal.slope},
        "glm_fitted_brier": brier_score(asah.outcome, p),
        "glm_fitted_net_benefit": {"thresholds": nb.thresholds, "model": nb.model, "treat_all": nb.treat_all},
        "nomogram": {
            "coef": {("Intercept" if k == "(Intercept)" else k): v for k, v in lrm.coefficients().items()},
            "tables": nomo.tables(),
        },
    }


@pytest.fixture(scope="module")
def ours(asah):
    return reference_values(asah)


def _walk(ref, ours, path=""):
    """Yield (path, r, o) for every numeric leaf of the reference."""
    if isinstance(ref, dict):
        for k, v in ref.items():
            if isinstance(v, str):
                continue  # descriptions: formula, source, grouping
            assert isinstance(ours, dict) and k in ours, f"we produce no value for {path}/{k}"
            yield from _walk(v, ours[k], f"{path}/{k}")
    elif isinstance(ref, list):
        assert len(ours) == len(ref), f"{path}: {len(ours)} values, R has {len(ref)}"
        for i, (r, o) in enumerate(zip(ref, ours)):
            yield from _walk(r, o, f"{path}[{i}]")
    else:
        yield path, float(ref), float(ours)


def test_every_reference_number(ref, ours):
    leaves = list(_walk(ref, ours))
    assert len(leaves) > 150  # the whole file, not a corner of it
    bad = [(p, r, o) for p, r, o in leaves if not math.isclose(o, r, rel_tol=RTOL, abs_tol=ATOL)]
    assert not bad, "differ from R: " + "; ".join(f"{p}: R {r!r} ours {o!r}" for p, r, o in bad[:10])


def test_integers_are_exact(ref, ours):
    for key in ("s100b", "ndka"):
        for c in ("tp", "tn", "fp", "fn"):
            assert ours[key]["youden"][c] == ref[key]["youden"][c]
    assert ours["glm_fitted_hosmer_lemeshow"]["df"] == ref["glm_fitted_hosmer_lemeshow"]["df"]


def test_pROC_documentation_value(ours):
    # pROC's own documentation: s100b AUC 0.7314, DeLong 95% CI 0.6301-0.8326
    s = ours["s100b"]
    assert round(s["auc"], 4) == 0.7314
    assert [round(x, 4) for x in s["ci_delong"]] == [0.6301, 0.8326]


def test_clopper_pearson_is_binom_test(ref):
    # binom.test(26, 41) and binom.test(58, 72): the reference's exact intervals
    assert clopper_pearson(26, 41) == pytest.approx(ref["s100b"]["sens_ci_clopper"], rel=1e-9)
    assert clopper_pearson(58, 72) == pytest.approx(ref["s100b"]["spec_ci_clopper"], rel=1e-9)
