"""Strata, per-reader metrics and McNemar."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ultrasound_reader.errors import UserError
from ultrasound_reader.stats.readers import mcnemar, paired_reader_comparison, per_reader_metrics
from ultrasound_reader.stats.strata import size_bands, stratified_results


def test_size_bands_follow_the_paper():
    assert size_bands([1.5, 2.0, 2.1, 7.0, float("nan"), 0.8]) == [
        "1.1-2.0 cm", "1.1-2.0 cm", "2.1-5.0 cm", ">5.0 cm", "(missing)", "<=1.0 cm"]
    with pytest.raises(UserError, match="not positive"):
        size_bands([0.0])


def test_strata_partition_and_one_class_stratum():
    truth = [1, 0, 1, 0, 1, 1, 0, 1]
    score = [0.9, 0.2, 0.7, 0.4, 0.8, 0.6, 0.3, 0.95]
    strata = ["a", "a", "a", "a", "b", "b", None, "b"]
    rows = stratified_results(truth, score, strata, cutoff=0.5)
    by = {r["stratum"]: r for r in rows}
    assert [r["stratum"] for r in rows] == ["a", "b", "(missing)"]
    assert sum(r["n"] for r in rows) == 8
    assert by["a"]["auc"]["auc"] == 1.0
    assert by["b"]["auc"] is None and any("one class" in n for n in by["b"]["notes"])
    assert by["b"]["metrics"]["sensitivity"]["value"] == 1.0
    assert np.isnan(by["b"]["metrics"]["specificity"]["value"])


def test_per_reader_metrics(rng):
    n = 60
    truth = rng.integers(0, 2, n)
    df = pd.concat([pd.DataFrame({"reader": r, "truth": truth,
                                  "call": np.where(rng.random(n) < acc, truth, 1 - truth)})
                    for r, acc in (("R1", 0.9), ("R2", 0.6))])
    m = per_reader_metrics(df, "reader", "truth", "call")
    assert set(m) == {"R1", "R2"}
    for r, grp in df.groupby("reader"):
        assert m[r].accuracy.value == pytest.approx((grp.truth == grp.call).mean())
    with pytest.raises(UserError, match="column 'nope' not found"):
        per_reader_metrics(df, "nope", "truth", "call")


def test_mcnemar_matches_statsmodels(rng):
    from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

    a = rng.random(200) < 0.7
    b = np.where(rng.random(200) < 0.8, a, ~a) | (rng.random(200) < 0.15)
    r = mcnemar(a, b)
    table = [[r.both, r.a_only], [r.b_only, r.neither]]
    chi = sm_mcnemar(table, exact=False, correction=True)
    ex = sm_mcnemar(table, exact=True)
    assert r.statistic == pytest.approx(chi.statistic) and r.p == pytest.approx(chi.pvalue)
    assert r.p_exact == pytest.approx(ex.pvalue)
    assert r.n == 200


def test_mcnemar_without_discordance():
    r = mcnemar([1, 0, 1], [1, 0, 1])
    assert r.p == 1.0 and r.p_exact == 1.0


def test_paired_reader_comparison_splits_by_class():
    truth = [1, 1, 1, 1, 0, 0, 0, 0]
    pre = [0, 0, 1, 1, 1, 0, 0, 0]
    post = [1, 1, 1, 1, 0, 0, 0, 1]
    c = paired_reader_comparison(truth, pre, post)
    assert (c["sensitivity"].a_only, c["sensitivity"].b_only) == (0, 2)
    assert (c["specificity"].a_only, c["specificity"].b_only) == (1, 1)
    assert c["accuracy"].n == 8
