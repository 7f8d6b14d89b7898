"""The label model: prevalence, and the published odds ratios recovered from draws."""

from __future__ import annotations

import math

import numpy as np
import statsmodels.api as sm

from ultrasound_reader.phantom import labels as L


def _fit(y: np.ndarray, design: dict[str, np.ndarray], names: list[str]):
    x = sm.add_constant(np.column_stack([design[k] for k in names]))
    return sm.Logit(y.astype(float), x).fit(disp=0)


def test_liver_odds_ratios_recovered_within_sampling_error():
    f = L.sample_liver(np.random.default_rng(2020), 20_000)
    names = list(L.LIVER_OR)
    fit = _fit(f["malignant"], L.liver_design(f), names)
    beta, se = fit.params[1:], fit.bse[1:]
    z = (beta - np.log([L.LIVER_OR[k] for k in names])) / se
    # 13 coefficients: each within 3.3 standard errors (two-sided 0.1 %), and jointly
    # the squared z-scores look like a chi-square with 13 degrees of freedom
    assert np.all(np.abs(z) < 3.3), dict(zip(names, np.round(z, 2)))
    assert float((z**2).sum()) < 34.5  # chi2(13) 99.9 % quantile
    # the published six in particular
    for k in L.LIVER_PUBLISHED_OR:
        i = names.index(k)
        lo, hi = math.exp(beta[i] - 1.96 * se[i]), math.exp(beta[i] + 1.96 * se[i])
        assert lo < L.LIVER_OR[k] * 1.5 and hi > L.LIVER_OR[k] / 1.5


def test_liver_empirical_log_odds_of_halo_match_or_direction():
    # crude (unadjusted) odds ratios point the right way and are large for the strong factors
    f = L.sample_liver(np.random.default_rng(7), 20_000)
    y = f["malignant"]
    for key, col in (("halo", f["halo"]), ("tumour_history", f["tumour_history"]),
                     ("hepatitis", f["hepatitis"] > 0)):
        a, b = (y & col).sum(), (~y & col).sum()
        c, d = (y & ~col).sum(), (~y & ~col).sum()
        crude = (a * d) / (b * c)
        assert crude > 4, (key, crude)


def test_liver_prevalence_and_intercept():
    b0 = L.liver_intercept()
    assert -5 < b0 < 2
    f = L.sample_liver(np.random.default_rng(11), 20_000)
    p = f["malignant"].mean()
    se = math.sqrt(0.8 * 0.2 / 20_000)
    assert abs(p - L.LIVER_TARGET_MALIGNANT) < 4 * se
    assert abs(f["p_malignant"].mean() - 0.8) < 0.01
    # factor frequencies are the documented ones
    assert abs((f["sex"] == "M").mean() - L.P_MALE) < 0.015
    assert abs((f["age"] >= 55).mean() - L.p_age55()) < 0.015
    assert abs((f["hepatitis"] > 0).mean() - L.P_HEPATITIS) < 0.015
    assert abs(f["halo"].mean() - L.P_HALO) < 0.015
    assert f["size_cm"].min() >= 1.0 and f["size_cm"].max() <= 8.0


def test_liver_diagnoses_follow_label_and_factors():
    f = L.sample_liver(np.random.default_rng(3), 20_000)
    mal = f["malignant"]
    assert set(f["subtype"][mal]) <= set(L.LIVER_MALIGNANT_TYPES)
    assert set(f["subtype"][~mal]) <= set(L.LIVER_BENIGN_TYPES)
    assert set(f["lb_type"]) == {"normal", "steatosis", "fibrosis"}
    hcc = f["subtype"] == "HCC"
    assert (f["lb_type"][hcc] == "fibrosis").mean() > (f["lb_type"][~hcc] == "fibrosis").mean() + 0.2
    # metastases come with a tumour history far more often than other malignancies
    met = f["subtype"] == "metastasis"
    assert f["tumour_history"][met].mean() > 0.6 > f["tumour_history"][mal & ~met].mean()
    assert (f["afp"][hcc] > 200).mean() > 0.3 > (f["afp"][~hcc] > 200).mean()


def test_soft_tissue_model():
    f = L.sample_soft_tissue(np.random.default_rng(5), 20_000)
    assert abs(f["malignant"].mean() - L.SOFT_TARGET_MALIGNANT) < 0.015
    names = list(L.SOFT_OR)
    fit = _fit(f["malignant"], L.soft_design(f), names)
    z = (fit.params[1:] - np.log([L.SOFT_OR[k] for k in names])) / fit.bse[1:]
    assert np.all(np.abs(z) < 3.3)
    benign = ~f["malignant"]
    assert set(f["subtype"][benign]) == set(L.SOFT_BENIGN_P)
    assert set(f["subtype"][~benign]) == {"sarcoma"}
    # schwannomas are deep more often, epidermal cysts almost never
    deep = f["deep"]
    assert f["deep"][f["subtype"] == "schwannoma"].mean() > 0.5
    assert f["deep"][f["subtype"] == "epidermal_cyst"].mean() < 0.1
    assert set(f["centre"]) == {"C1", "C2", "C3", "C4"}
    assert set(f["cohort"][f["centre"] == "C4"]) == {"external"}
    assert deep.any()


def test_single_draws_are_seeded():
    a = L.draw_liver(np.random.default_rng(1))
    b = L.draw_liver(np.random.default_rng(1))
    c = L.draw_liver(np.random.default_rng(2))
    assert a == b and a != c
    assert a.factors.age is not None and a.factors.sex in ("M", "F")
