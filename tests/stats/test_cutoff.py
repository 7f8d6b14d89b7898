"""Youden cut-off and 2x2 metrics with exact and bootstrap CIs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from ultrasound_reader.errors import UserError
from ultrasound_reader.stats.cutoff import binary_metrics, clopper_pearson, youden_cutoff


def test_clopper_pearson_edges_and_symmetry():
    assert clopper_pearson(0, 10)[0] == 0.0
    assert clopper_pearson(10, 10)[1] == 1.0
    # exact: P(X >= 0 | upper) ... the upper limit for x = 0 solves (1 - p)^n = alpha/2
    assert clopper_pearson(0, 10)[1] == pytest.approx(1 - 0.025 ** (1 / 10), rel=1e-12)
    lo, hi = clopper_pearson(5, 10)
    assert lo == pytest.approx(1 - hi, rel=1e-12)
    # the defining tail probabilities
    assert stats.binom.sf(4, 10, lo) == pytest.approx(0.025, rel=1e-9)
    assert stats.binom.cdf(5, 10, hi) == pytest.approx(0.025, rel=1e-9)
    assert all(math.isnan(v) for v in clopper_pearson(0, 0))


def test_youden_ties_choose_lowest_threshold_and_list_others():
    # thresholds 1.5 and 3.5 both give sens + spec = 1.5
    truth = [0, 1, 0, 1]
    score = [1, 2, 3, 4]
    op = youden_cutoff(truth, score)
    assert op.threshold == 1.5
    assert op.tied_thresholds == (3.5,)
    assert op.sensitivity + op.specificity == pytest.approx(1.5)


def test_youden_constant_score_is_refused():
    with pytest.raises(UserError, match="all values are equal"):
        youden_cutoff([0, 1, 0, 1], [2.0, 2.0, 2.0, 2.0])


def test_metrics_from_predictions_and_counts():
    truth = [1, 1, 1, 0, 0, 0, 0, 1]
    pred = [1, 0, 1, 0, 0, 1, 0, 1]
    m = binary_metrics(truth, pred, n_boot=200)
    assert (m.tp, m.fn, m.tn, m.fp) == (3, 1, 3, 1)
    assert m.sensitivity.value == 0.75 and m.specificity.value == 0.75
    assert m.ppv.value == 0.75 and m.npv.value == 0.75 and m.accuracy.value == 0.75
    assert m.f1.value == pytest.approx(0.75)
    assert m.f1.ci_low <= m.f1.value <= m.f1.ci_high
    assert (m.sensitivity.ci_low, m.sensitivity.ci_high) == clopper_pearson(3, 4)
    assert any("only 8 cases" in n for n in m.notes)


def test_cutoff_is_inclusive():
    m = binary_metrics([0, 1], [0.5, 0.5], cutoff=0.5, n_boot=0)
    assert (m.tp, m.fp) == (1, 1)


def test_predictions_must_be_binary_without_cutoff():
    with pytest.raises(UserError, match="prediction: values must be 0/1"):
        binary_metrics([0, 1, 1], [0.2, 0.7, 1.0])


def test_no_positive_calls_leaves_ppv_undefined():
    m = binary_metrics([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], cutoff=0.9, n_boot=50)
    assert math.isnan(m.ppv.value)
    assert any("PPV undefined" in n for n in m.notes)


def test_f1_bootstrap_is_seeded(asah):
    a = binary_metrics(asah.outcome, asah.s100b, 0.205, n_boot=300, seed=1)
    b = binary_metrics(asah.outcome, asah.s100b, 0.205, n_boot=300, seed=1)
    c = binary_metrics(asah.outcome, asah.s100b, 0.205, n_boot=300, seed=2)
    assert a.f1 == b.f1 and a.f1 != c.f1
    assert np.isfinite([a.f1.ci_low, a.f1.ci_high]).all()
