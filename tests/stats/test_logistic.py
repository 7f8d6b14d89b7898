"""Logistic regression: R-compatible fit, categorical coding, screening, separation, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ultrasound_reader.errors import UserError
from ultrasound_reader.stats.logistic import fit_logistic, screen_and_fit


def test_agrees_with_statsmodels_converged_fit(asah):
    import statsmodels.api as sm

    f = fit_logistic(asah, "outcome", ["s100b", "age", "male", "wfns"])
    X = sm.add_constant(asah[["s100b", "age", "male", "wfns"]].to_numpy(float))
    ref = sm.Logit(asah.outcome.to_numpy(float), X).fit(disp=0, method="newton", tol=1e-14)
    # the coefficients are R's last IRLS iterate: equal to the exact MLE to ~1e-7;
    # the SEs are R's (weights of the previous iterate), within 1e-3 of the MLE's
    assert np.allclose(f.coef, ref.params, rtol=1e-6)
    assert np.allclose(f.se, ref.bse, rtol=1e-3)
    assert f.converged and not f.separation and not f.warnings


def test_prediction_reproduces_fitted_linear_predictor(asah):
    f = fit_logistic(asah, "outcome", ["s100b", "age"])
    assert np.allclose(f.predict_lp(asah), f.linear_predictor, rtol=0, atol=1e-12)
    p = f.predict_proba({"s100b": [0.1], "age": [40]})
    assert p[0] == pytest.approx(1 / (1 + np.exp(-(f.coef[0] + 0.1 * f.coef[1] + 40 * f.coef[2]))))


def test_categorical_is_treatment_coded(asah):
    f = fit_logistic(asah, "outcome", ["wfns"], categorical=["wfns"])
    assert f.terms == ["(Intercept)", "wfns=2", "wfns=3", "wfns=4", "wfns=5"]
    # a saturated one-factor model: intercept = logit of the reference level's event rate
    rate = asah.outcome[asah.wfns == 1].mean()
    assert f.coef[0] == pytest.approx(np.log(rate / (1 - rate)), rel=1e-6)
    with pytest.raises(UserError, match="wfns: level"):
        f.predict_proba({"wfns": [7]})


def test_missing_rows_are_counted(asah):
    df = asah.copy()
    df.loc[:4, "age"] = np.nan
    df.loc[7, "outcome"] = np.nan
    f = fit_logistic(df, "outcome", ["s100b", "age"])
    assert f.n_missing == 6 and f.n == len(asah) - 6


def test_perfect_separation_is_flagged_not_a_crash():
    x = np.arange(12.0)
    df = pd.DataFrame({"y": (x > 5.5).astype(int), "x": x})
    f = fit_logistic(df, "y", ["x"])
    assert f.separation
    assert any("separation" in w for w in f.warnings)
    assert f.to_dict()["separation"] is True


def test_collinear_and_bad_columns_are_user_errors(asah):
    df = asah.assign(age2=asah.age * 2)
    with pytest.raises(UserError, match="collinear"):
        fit_logistic(df, "outcome", ["age", "age2"])
    with pytest.raises(UserError, match="column\\(s\\) 'nope' not found"):
        fit_logistic(asah, "outcome", ["nope"])
    with pytest.raises(UserError, match="outcome: all 3 complete"):
        fit_logistic(asah.head(3).assign(outcome=0), "outcome", ["age"])


def test_screening_keeps_univariable_p_below_threshold(asah):
    cands = ["s100b", "ndka", "age", "male", "wfns"]
    res = screen_and_fit(asah, "outcome", cands)
    expected = [c for c in cands if fit_logistic(asah, "outcome", [c]).p[1] < 0.05]
    assert res.selected == expected and set(expected) == {"s100b", "age", "wfns"}
    assert res.multivariable is not None and res.multivariable.predictors == expected
    assert set(res.to_dict()["univariable"]) == set(cands)
