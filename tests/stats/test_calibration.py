"""Calibration, Hosmer-Lemeshow and decision curves beyond the R reference values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from ultrasound_reader.errors import UserError
from ultrasound_reader.stats.calibration import (
    brier_score, calibration_curve, calibration_intercept_slope, hosmer_lemeshow)
from ultrasound_reader.stats.decision_curve import net_benefit


def _calibrated(rng, n=3000, slope=1.0):
    lp = rng.normal(-0.5, 1.3, n)
    y = (rng.random(n) < stats.logistic.cdf(lp)).astype(int)
    return y, stats.logistic.cdf(lp / slope)


def test_well_calibrated_model(rng):
    y, p = _calibrated(rng)
    cal = calibration_intercept_slope(y, p)
    assert abs(cal.intercept) < 0.15 and abs(cal.slope - 1) < 0.1 and abs(cal.citl) < 0.15
    assert hosmer_lemeshow(y, p).p > 0.01


def test_overconfident_model_has_slope_below_one(rng):
    y, p = _calibrated(rng, slope=0.5)  # predictions twice as extreme on the logit scale
    cal = calibration_intercept_slope(y, p)
    assert cal.slope == pytest.approx(0.5, abs=0.07)
    assert hosmer_lemeshow(y, p).p < 1e-6


def test_hosmer_lemeshow_by_hand():
    y = np.array([0, 0, 1, 0, 1, 1, 0, 1, 1, 1, 0, 0])
    p = np.linspace(0.05, 0.95, 12)
    hl = hosmer_lemeshow(y, p, groups=3)
    stat = 0.0
    for g in np.array_split(np.arange(12), 3):  # distinct p: quartile-free thirds of 4
        o, e, n = y[g].sum(), p[g].sum(), g.size
        stat += (o - e) ** 2 / (e * (1 - e / n))
    assert [r["n"] for r in hl.groups] == [4, 4, 4]
    assert hl.statistic == pytest.approx(stat) and hl.df == 1


def test_hosmer_lemeshow_merges_tied_deciles():
    y = np.array([0, 1] * 20)
    p = np.repeat([0.2, 0.5, 0.8, 0.9], 10)
    hl = hosmer_lemeshow(y, p)
    assert sum(r["n"] for r in hl.groups) == 40 and hl.df == len(hl.groups) - 2


def test_brier_and_probability_range():
    assert brier_score([0, 1, 1], [0.0, 1.0, 0.5]) == pytest.approx(0.25 / 3)
    with pytest.raises(UserError, match="outside \\[0, 1\\]"):
        brier_score([0, 1], [0.2, 1.7])


def test_calibration_curve_bins(rng):
    y, p = _calibrated(rng, n=500)
    rows = calibration_curve(y, p, bins=5)
    assert sum(r["n"] for r in rows) == 500 and len(rows) == 5
    assert all(r["observed_low"] <= r["observed"] <= r["observed_high"] for r in rows)


def test_net_benefit_definitions():
    y = np.array([1, 1, 0, 0, 0])
    p = np.array([0.9, 0.4, 0.6, 0.1, 0.2])
    dc = net_benefit(y, p, [0.5])
    # treat p >= 0.5: TP = 1, FP = 1 -> 1/5 - 1/5 * 1
    assert dc.model == [pytest.approx(0.0)]
    assert dc.treat_all == [pytest.approx(0.4 - 0.6)] and dc.treat_none == [0.0]
    # nobody treated above the largest p: net benefit 0
    assert net_benefit(y, p, [0.95]).model == [0.0]
    with pytest.raises(UserError, match="strictly between 0 and 1"):
        net_benefit(y, p, [0.0, 0.5])
