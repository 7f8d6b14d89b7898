"""DeLong AUC, variance, CI and tests: fast placements vs the O(n^2) definition, edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ultrasound_reader.errors import UserError
from ultrasound_reader.stats.delong import (
    delong_auc, delong_paired_test, delong_unpaired_test, placements, placements_naive)
from ultrasound_reader.stats.roc import bootstrap_auc_ci, roc_auc, roc_curve


def _tied_data(rng, n=300):
    truth = (rng.random(n) < 0.35).astype(int)
    score = np.round(rng.normal(truth * 0.8, 1.0), 1)  # heavy ties
    return truth, score


def test_fast_placements_equal_the_definition(rng):
    truth, score = _tied_data(rng)
    fast, naive = placements(truth, score), placements_naive(truth, score, chunk=37)
    assert np.abs(fast.v10 - naive.v10).max() < 1e-13
    assert np.abs(fast.v01 - naive.v01).max() < 1e-13
    assert fast.auc[0] == pytest.approx(naive.auc[0], abs=1e-14)


def test_auc_counts_ties_as_half():
    truth = [0, 0, 1, 1]
    score = [1.0, 2.0, 2.0, 3.0]
    # pairs (pos, neg): (2,1)=1 (2,2)=.5 (3,1)=1 (3,2)=1 -> 3.5/4
    assert roc_auc(truth, score) == 0.875
    assert delong_auc(truth, score).auc == 0.875


def test_variance_matches_hand_formula(rng):
    truth, score = _tied_data(rng, 80)
    p = placements_naive(truth, score)
    m, n = p.v10.shape[1], p.v01.shape[1]
    var = np.var(p.v10, ddof=1) / m + np.var(p.v01, ddof=1) / n
    d = delong_auc(truth, score)
    assert d.variance == pytest.approx(var, rel=1e-12)
    assert d.ci_low == pytest.approx(d.auc - 1.959963984540054 * math.sqrt(var), rel=1e-12)


def test_reversed_score_gives_one_minus_auc(rng):
    truth, score = _tied_data(rng)
    assert roc_auc(truth, -score) == pytest.approx(1 - roc_auc(truth, score), abs=1e-14)


def test_perfect_separation_is_stated_not_a_crash():
    d = delong_auc([0, 0, 0, 1, 1, 1], [0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    assert d.auc == 1.0 and d.variance == 0.0 and d.ci == (1.0, 1.0)


def test_single_positive_has_undefined_variance():
    d = delong_auc([0, 0, 0, 1], [0.1, 0.2, 0.3, 0.7])
    assert d.auc == 1.0 and math.isnan(d.variance) and math.isnan(d.ci_low)


def test_all_one_class_is_a_clear_user_error():
    with pytest.raises(UserError, match=r"truth: all 4 complete case\(s\) are negative"):
        delong_auc([0, 0, 0, 0], [0.1, 0.2, 0.3, 0.4])


def test_missing_values_are_dropped_and_counted():
    truth = [0, 1, 0, 1, None, 1, 0, 1]
    score = [0.1, 0.9, float("nan"), 0.8, 0.5, 0.7, 0.2, 0.3]
    d = delong_auc(truth, score)
    assert d.n_missing == 2 and d.n_pos + d.n_neg == 6
    assert d.auc == roc_auc([0, 1, 1, 1, 0, 1], [0.1, 0.9, 0.8, 0.7, 0.2, 0.3])


def test_small_n_works():
    d = delong_auc([0, 1, 0, 1, 1], [0.2, 0.6, 0.4, 0.3, 0.9])
    assert 0 <= d.ci_low <= d.auc <= d.ci_high <= 1


def test_bad_truth_values_are_refused():
    with pytest.raises(UserError, match="truth: values must be 0/1"):
        delong_auc([0, 2, 1], [0.1, 0.2, 0.3])


def test_paired_test_of_a_score_with_itself_is_null(rng):
    truth, score = _tied_data(rng)
    t = delong_paired_test(truth, score, score)
    assert t.statistic == 0.0 and t.p == 1.0


def test_paired_test_contrast_of_covariance(rng):
    truth, s1 = _tied_data(rng)
    s2 = s1 + rng.normal(0, 1.0, s1.size)
    t = delong_paired_test(truth, s1, s2)
    a, b = delong_auc(truth, s1), delong_auc(truth, s2)
    assert t.auc1 == a.auc and t.auc2 == b.auc
    # correlated scores: the paired SE is below the unpaired sqrt(var1 + var2)
    assert t.se < math.sqrt(a.variance + b.variance)
    assert t.p == pytest.approx(2 * (1 - __import__("scipy").stats.norm.cdf(abs(t.statistic))), rel=1e-9)


def test_unpaired_test_welch_df(rng):
    t1, s1 = _tied_data(rng, 120)
    t2, s2 = _tied_data(rng, 90)
    s2 = s2 * 0.5
    u = delong_unpaired_test(t1, s1, t2, s2)
    a, b = delong_auc(t1, s1), delong_auc(t2, s2)
    v1, v2 = a.variance, b.variance
    assert u.statistic == pytest.approx((a.auc - b.auc) / math.sqrt(v1 + v2), rel=1e-12)
    assert u.df == pytest.approx((v1 + v2) ** 2 / (v1 ** 2 / 119 + v2 ** 2 / 89), rel=1e-12)
    assert 0 < u.p < 1 and not u.paired


def test_roc_curve_midpoint_thresholds():
    c = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert c.thresholds[0] == -np.inf and c.thresholds[-1] == np.inf
    assert c.thresholds[1:-1] == pytest.approx([0.225, 0.375, 0.6])
    assert c.sensitivity.tolist() == [1.0, 1.0, 0.5, 0.5, 0.0]
    assert c.specificity.tolist() == [0.0, 0.5, 0.5, 1.0, 1.0]


def test_bootstrap_ci_brackets_auc_and_is_reproducible(asah):
    a = bootstrap_auc_ci(asah.outcome, asah.s100b, n_boot=300, seed=3)
    b = bootstrap_auc_ci(asah.outcome, asah.s100b, n_boot=300, seed=3)
    assert a == b
    assert a.ci_low < a.estimate < a.ci_high
    # agrees with the DeLong interval to Monte-Carlo precision
    d = delong_auc(asah.outcome, asah.s100b)
    assert abs(a.ci_low - d.ci_low) < 0.03 and abs(a.ci_high - d.ci_high) < 0.03
