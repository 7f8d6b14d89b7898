"""rms-style nomogram: R's pretty(), datadist ranges, scoring and the JSON spec."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ultrasound_reader.errors import UserError
from ultrasound_reader.stats.logistic import fit_logistic
from ultrasound_reader.stats.nomogram import Nomogram, datadist
from ultrasound_reader.stats.rfuncs import approx, pretty


@pytest.mark.parametrize("x, n, expected", [
    ([1, 10], 5, [0, 2, 4, 6, 8, 10]),
    ([0, 1], 5, [0, 0.2, 0.4, 0.6, 0.8, 1]),
    ([0, 100], 5, [0, 20, 40, 60, 80, 100]),
    ([0.03, 2.07], 10, np.arange(12) * 0.2),  # s100b in the R reference
    ([18, 81], 10, np.arange(15, 86, 5)),  # age in the R reference
    ([-2.81, 8.14], 10, np.arange(-3, 10)),  # the reference's lp axis
    ([0, 134.6], 10, np.arange(0, 141, 10)),
    ([5, 5], 5, None),  # zero range: pretty still returns a short, covering sequence
])
def test_pretty_matches_r(x, n, expected):
    got = pretty(x, n)
    if expected is None:
        assert got.min() <= 5 <= got.max() and got.size >= 2
    else:
        assert got == pytest.approx(np.asarray(expected, float), abs=1e-12)


def test_approx_is_linear_and_na_outside():
    y = approx([0, 1, 2], [0, 10, 20], [0.5, 2.5, -1])
    assert y[0] == 5 and np.isnan(y[1]) and np.isnan(y[2])


@pytest.fixture(scope="module")
def nomo(asah):
    fit = fit_logistic(asah, "outcome", ["s100b", "age", "male"])
    return fit, Nomogram.from_fit(fit, datadist(asah, ["s100b", "age", "male"]))


def test_datadist_kinds(asah):
    dd = datadist(asah, ["s100b", "male", "wfns"], categorical=["wfns"])
    assert dd["s100b"].kind == "continuous" and dd["s100b"].low == 0.03 and dd["s100b"].high == 2.07
    assert dd["male"].kind == "discrete" and dd["male"].values == (0.0, 1.0)
    assert dd["wfns"].kind == "categorical" and dd["wfns"].values == (1, 2, 3, 4, 5)


def test_widest_predictor_spans_0_to_100(nomo):
    _, nm = nomo
    spans = {ax.name: max(ax.points) - min(ax.points) for ax in nm.predictors}
    assert max(spans.values()) == pytest.approx(100.0)
    assert min(min(ax.points) for ax in nm.predictors) == 0.0


def test_score_equals_model_prediction(nomo, asah):
    fit, nm = nomo
    for i in (0, 17, 60, 112):
        row = asah.iloc[i]
        s = nm.score({"s100b": row.s100b, "age": row.age, "male": row.male})
        assert s.linear_predictor == pytest.approx(fit.linear_predictor[i], abs=1e-10)
        assert s.probability == pytest.approx(fit.predict_proba(asah.iloc[[i]])[0], abs=1e-12)
        assert s.total_points == pytest.approx(sum(s.points.values()))


def test_spec_round_trip_scores_identically(nomo):
    _, nm = nomo
    spec = json.loads(json.dumps(nm.to_dict(), allow_nan=False))
    again = Nomogram.from_dict(spec)
    v = {"s100b": 0.42, "age": 63, "male": 0}
    assert again.score(v) == nm.score(v)
    assert again.tables() == nm.tables()
    # self-sufficient for drawing: every axis has ticks and their point positions
    for p in spec["predictors"]:
        assert len(p["values"]) == len(p["points"]) == len(p["labels"]) > 1
    for key, ticks in (("lp_axis", "linear_predictor"), ("probability_axis", "probability")):
        assert len(spec[key][ticks]) == len(spec[key]["points"]) > 3


def test_score_flags_out_of_range_and_refuses_missing(nomo):
    _, nm = nomo
    assert nm.score({"s100b": 3.0, "age": 50, "male": 1}).out_of_range == ["s100b"]
    with pytest.raises(UserError, match="age: value missing"):
        nm.score({"s100b": 0.3, "male": 1})
    with pytest.raises(UserError, match="male: value 'yes' is not a number"):
        nm.score({"s100b": 0.3, "age": 50, "male": "yes"})


def test_categorical_predictor_axis(asah):
    fit = fit_logistic(asah, "outcome", ["age", "wfns"], categorical=["wfns"])
    nm = Nomogram.from_fit(fit, data=asah)
    ax = next(a for a in nm.predictors if a.name == "wfns")
    assert ax.kind == "categorical" and ax.labels == ["1", "2", "3", "4", "5"]
    s = nm.score({"age": 50, "wfns": 4})
    lp = fit.predict_lp({"age": [50], "wfns": [4]})[0]
    assert s.linear_predictor == pytest.approx(lp, abs=1e-10)
    with pytest.raises(UserError, match="wfns: unknown level"):
        nm.score({"age": 50, "wfns": 9})


def test_bad_spec_is_a_user_error():
    with pytest.raises(UserError, match="not a nomogram spec"):
        Nomogram.from_dict({"predictors": []})
    with pytest.raises(UserError, match="malformed nomogram spec"):
        Nomogram.from_dict({"format": "ultrasound-reader.nomogram", "version": 1})
