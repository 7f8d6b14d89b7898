"""Model^LBC fusion: the factor selection and logistic fit recover a known generating model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ultrasound_reader.ai.fusion import fused_probability
from ultrasound_reader.case import ClinicalFactors
from ultrasound_reader.training.fusion import fit_lbc

TRUE = {"hypoechoic halo": math.log(18.4), "extrahepatic tumour history": math.log(16.2),
        "hepatitis history": math.log(11.7), "age >= 55": math.log(3.3), "male": math.log(2.3),
        "intratumoural vascularity": math.log(1.9)}
INTERCEPT, LB_COEF = -4.0, 0.8


def simulate(n: int, seed: int) -> tuple[np.ndarray, list[ClinicalFactors], np.ndarray]:
    rng = np.random.default_rng(seed)
    lb_logit = rng.normal(0.0, 1.5, n)
    f = []
    for i in range(n):
        f.append(ClinicalFactors(
            age=float(rng.integers(25, 85)), sex="M" if rng.random() < 0.55 else "F",
            hepatitis=int(rng.choice([0, 1, 2, 3], p=[0.6, 0.3, 0.05, 0.05])),
            tumour_history=bool(rng.random() < 0.2), halo=bool(rng.random() < 0.25),
            vascularity=bool(rng.random() < 0.5), satellite=bool(rng.random() < 0.3),  # no effect
            posterior_enhancement=bool(rng.random() < 0.4)))  # no effect
    x = {"hypoechoic halo": [float(c.halo) for c in f],
         "extrahepatic tumour history": [float(c.tumour_history) for c in f],
         "hepatitis history": [float(c.hepatitis >= 1) for c in f], "age >= 55": [float(c.age >= 55) for c in f],
         "male": [float(c.sex == "M") for c in f], "intratumoural vascularity": [float(c.vascularity) for c in f]}
    lp = INTERCEPT + LB_COEF * lb_logit + sum(TRUE[k] * np.asarray(v) for k, v in x.items())
    y = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int)
    return 1 / (1 + np.exp(-lb_logit)), f, y


def test_recovers_known_coefficients_and_encodes_like_the_analyzer() -> None:
    prob, factors, y = simulate(4000, seed=11)
    candidates = ["sex_male", "age_ge_55", "tumour_history", "hepatitis", "halo", "vascularity", "satellite",
                  "posterior_enhancement"]
    fit, nomogram = fit_lbc(prob, factors, y, candidates)
    assert set(fit.selected) == {"sex_male", "age_ge_55", "tumour_history", "hepatitis", "halo", "vascularity"}
    rows = {r["term"]: r for r in fit.final}
    assert rows["(Intercept)"]["coef"] == pytest.approx(INTERCEPT, abs=3 * rows["(Intercept)"]["se"])
    assert rows["LB score"]["coef"] == pytest.approx(LB_COEF, abs=3 * rows["LB score"]["se"])
    for name, beta in TRUE.items():
        assert rows[name]["coef"] == pytest.approx(beta, abs=3 * rows[name]["se"]), name
        assert rows[name]["or_ci_low"] < math.exp(beta) < rows[name]["or_ci_high"] or \
            abs(rows[name]["coef"] - beta) < 3 * rows[name]["se"]
    # The manifest spec, evaluated by the analysis pipeline's own encoder, reproduces the fit.
    lp = fit.spec["intercept"]
    for i in (0, 1, 2):
        p_spec, values, missing = fused_probability(fit.spec, factors[i], {"LB": float(prob[i])})
        assert not missing
        s = nomogram.score(values)
        assert s.probability == pytest.approx(p_spec, rel=1e-9)
    assert lp == pytest.approx(rows["(Intercept)"]["coef"])


def test_constant_factor_is_noted_not_fitted() -> None:
    prob, factors, y = simulate(400, seed=3)
    for f in factors:
        f.satellite = False
    fit, _ = fit_lbc(prob, factors, y, ["satellite", "halo"])
    assert any("satellite nodules" in n for n in fit.notes)
    assert "satellite" not in fit.selected
