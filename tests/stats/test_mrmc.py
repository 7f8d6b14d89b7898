"""Obuchowski-Rockette MRMC with DeLong covariance.

No R (MRMCaov / iMRMC) reference is available here, so the analysis is checked by
(1) identities with independent computations: the fixed-reader statistic equals the
DeLong test of the reader-averaged AUC difference built directly from the full
covariance matrix, and with one reader it is pROC's paired DeLong test; (2) its
behaviour on simulated PHANTOM reader studies (Roe-Metz-type model): p-values are
close to uniform under the null, and small under a large modality effect.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ultrasound_reader.errors import UserError
from ultrasound_reader.stats.delong import delong_auc, delong_paired_test, placements
from ultrasound_reader.stats.mrmc import or_mrmc, or_mrmc_frame


def simulate(rng, delta=0.0, readers=5, n_pos=50, n_neg=50, reader_by_modality=0.15):
    """Roe-Metz-type ratings: case, reader, modality and interaction effects."""
    d = np.r_[np.ones(n_pos), np.zeros(n_neg)]
    n = d.size
    sep = (1.5 + np.array([0.0, delta])[:, None] + rng.normal(0, 0.25, readers)[None, :]
           + rng.normal(0, reader_by_modality, (2, readers)))
    x = (d[None, None, :] * sep[:, :, None] + rng.normal(0, 0.7, n)
         + rng.normal(0, 0.3, (2, 1, n)) + rng.normal(0, 0.3, (1, readers, n)) + rng.normal(0, 0.5, (2, readers, n)))
    return d, x


def test_aucs_and_components(rng):
    d, x = simulate(rng)
    r = or_mrmc(d, x, ["pre-AI", "post-AI"])
    for i in range(2):
        for j in range(5):
            assert r.auc[i][j] == pytest.approx(delong_auc(d, x[i, j]).auc, abs=1e-14)
    c = r.components
    assert c.var == pytest.approx(np.mean([delong_auc(d, x[i, j]).variance for i in range(2) for j in range(5)]))
    assert c.var > c.cov1 > 0 and c.var > c.cov2 > 0
    assert r.difference == pytest.approx(np.mean(r.auc[1]) - np.mean(r.auc[0]))
    assert r.rrrc["ci_low"] < r.difference < r.rrrc["ci_high"]
    assert r.rrrc["df2"] >= (2 - 1) * (5 - 1)  # Hillis ddf is at least (t-1)(J-1)


def test_fixed_reader_statistic_is_the_direct_contrast_test(rng):
    d, x = simulate(rng, delta=0.2)
    r = or_mrmc(d, x)
    assert r.components.cov2 > r.components.cov3  # so no max(., 0) truncation applies
    s = placements(d.astype(np.int8), x.reshape(10, -1)).covariance()
    L = np.r_[-np.ones(5), np.ones(5)] / 5  # mean post minus mean pre
    z = (L @ np.ravel(r.auc)) / np.sqrt(L @ s @ L)
    assert r.frrc["chi2"] == pytest.approx(z ** 2, rel=1e-10)
    assert r.frrc["se_difference"] == pytest.approx(np.sqrt(L @ s @ L), rel=1e-10)


def test_one_reader_is_the_paired_delong_test(rng):
    d, x = simulate(rng, readers=1, delta=0.3)
    r = or_mrmc(d, x)
    t = delong_paired_test(d, x[1, 0], x[0, 0])
    assert r.rrrc is None and any("one reader" in n for n in r.notes)
    assert r.frrc["chi2"] == pytest.approx(t.statistic ** 2, rel=1e-10)
    assert r.frrc["p"] == pytest.approx(t.p, rel=1e-8)


def test_null_p_values_are_roughly_uniform():
    rng = np.random.default_rng(7)
    p = np.array([or_mrmc(*simulate(rng)).rrrc["p"] for _ in range(250)])
    assert 0.01 <= np.mean(p < 0.05) <= 0.10
    assert stats.kstest(p, "uniform").pvalue > 0.01


def test_large_effect_gives_small_p():
    rng = np.random.default_rng(8)
    p = [or_mrmc(*simulate(rng, delta=1.2)).rrrc["p"] for _ in range(20)]
    assert np.median(p) < 0.01


def test_long_table_interface_and_design_checks(rng):
    d, x = simulate(rng, readers=3, n_pos=20, n_neg=20)
    rows = [{"reader": f"R{j}", "modality": m, "case": c, "truth": d[c], "score": x[i, j, c]}
            for i, m in enumerate(["pre", "post"]) for j in range(3) for c in range(40)]
    df = pd.DataFrame(rows)
    r = or_mrmc_frame(df, modality_order=["pre", "post"])
    assert r.modalities == ["pre", "post"] and r.readers == ["R0", "R1", "R2"]
    assert np.ravel(r.auc) == pytest.approx(np.ravel(or_mrmc(d, x).auc), abs=1e-14)
    with pytest.raises(UserError, match="not fully crossed"):
        or_mrmc_frame(df.iloc[1:], modality_order=["pre", "post"])
    with pytest.raises(UserError, match="column 'nope' not found"):
        or_mrmc_frame(df, reader="nope")
