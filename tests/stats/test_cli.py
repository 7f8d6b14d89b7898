"""The ``evaluate`` and ``nomogram`` sub-commands.

The main paths run as a user runs them (a subprocess of ``python -m
ultrasound_reader``); the remaining bad-input cases call the same ``cli.main`` in
process, because each subprocess pays ~2 s of scipy/pandas imports.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ultrasound_reader.cli import main
from ultrasound_reader.stats.logistic import fit_logistic
from ultrasound_reader.stats.nomogram import Nomogram


def cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ultrasound_reader", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def assert_png(path: Path) -> None:
    assert path.is_file()
    with Image.open(path) as im:
        assert im.format == "PNG" and im.width > 300 and im.height > 300
        a = np.asarray(im.convert("L"), dtype=float)
    assert a.std() > 10  # something was drawn


def test_evaluate_two_scores_by_column_json(asah_csv, ref):
    p = cli("evaluate", asah_csv, "--truth", "outcome", "--score", "s100b", "--score", "ndka",
            "--by", "male", "--boot", "200", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    for s in ("s100b", "ndka"):
        r = out["scores"][s]
        assert math.isclose(r["auc"], ref[s]["auc"], rel_tol=1e-9)
        assert r["auc_ci_delong"] == pytest.approx(ref[s]["ci_delong"], rel=1e-9)
        assert r["youden"]["threshold"] == pytest.approx(ref[s]["youden"]["threshold"], rel=1e-12)
        assert r["metrics_at_youden"]["tp"] == ref[s]["youden"]["tp"]
        assert r["calibration"] is None  # s100b and ndka are not probabilities
    (cmp,) = out["comparisons"]
    assert cmp["statistic"] == pytest.approx(ref["delong_paired_s100b_vs_ndka"]["z"], rel=1e-9)
    assert cmp["p"] == pytest.approx(ref["delong_paired_s100b_vs_ndka"]["p"], rel=1e-9)
    strata = out["strata"]["male"]["s100b"]
    assert [r["stratum"] for r in strata] == ["0", "1"]
    assert sum(r["n"] for r in strata) == 113


def test_evaluate_plots_and_text(asah, tmp_path):
    fit = fit_logistic(asah, "outcome", ["s100b", "age", "male", "wfns"])
    df = asah.assign(p_model=fit.predict_proba(asah), diameter=np.linspace(0.5, 8, len(asah)))
    df.loc[3, "p_model"] = np.nan
    csv = tmp_path / "pred.csv"
    df.to_csv(csv, index=False)
    p = cli("evaluate", csv, "--truth", "outcome", "--score", "p_model", "--score", "s100b",
            "--size-band", "diameter", "--boot", "100", "--plots", tmp_path / "plots")
    assert p.returncode == 0, p.stderr
    assert "Hosmer-Lemeshow" in p.stdout and "1 row(s) with missing outcome or p_model dropped" in p.stdout
    assert "strata by size band (diameter)" in p.stdout and "2.1-5.0 cm" in p.stdout
    for name in ("roc.png", "calibration.png", "decision_curve.png"):
        assert_png(tmp_path / "plots" / name)


def test_nomogram_fit_reproduces_rms_tables(asah_csv, ref, tmp_path):
    spec_path, png = tmp_path / "spec.json", tmp_path / "nomogram.png"
    p = cli("nomogram", "fit", asah_csv, "--outcome", "outcome", "--predictors", "s100b,age,male",
            "--json", "--plot", png, "--spec-out", spec_path)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    tables, rt = out["nomogram_tables"], ref["nomogram"]["tables"]
    for key, cols in rt.items():
        for col, values in cols.items():
            assert tables[key][col] == pytest.approx(values, rel=1e-6, abs=1e-12), (key, col)
    coef = {r["term"]: r["coef"] for r in out["model"]["coefficients"]}
    assert coef["s100b"] == pytest.approx(ref["nomogram"]["coef"]["s100b"], rel=1e-6)
    assert_png(png)
    nm = Nomogram.from_dict(json.loads(spec_path.read_text()))
    assert nm.tables()["lp_axis"] == tables["lp_axis"]


def test_nomogram_text_output(asah_csv, capsys):
    rc = main(["nomogram", "fit", str(asah_csv), "--outcome", "outcome", "--predictors", "s100b,ndka,age,wfns",
               "--screen", "0.05"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "selected s100b, age, wfns" in out and "Total Points" in out


@pytest.mark.parametrize("command", [
    ["evaluate", "{csv}", "--truth", "outcome", "--score", "nope"],
    ["nomogram", "fit", "{csv}", "--outcome", "outcome", "--predictors", "s100b,nope"],
])
def test_bad_column_exits_1_with_one_line(asah_csv, command):
    p = cli(*[a.format(csv=asah_csv) for a in command])
    assert p.returncode == 1
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "'nope' not found" in lines[0] and "Traceback" not in p.stderr
    assert p.stdout == ""


@pytest.mark.parametrize("args, message", [
    (["evaluate", "{missing}", "--truth", "outcome", "--score", "s100b"], "no such file"),
    (["evaluate", "{one_class}", "--truth", "outcome", "--score", "s100b"], "need both positives and negatives"),
    (["evaluate", "{csv}", "--truth", "outcome", "--score", "s100b", "--score", "s100b"], "listed twice"),
    (["nomogram", "fit", "{csv}", "--outcome", "age", "--predictors", "s100b"], "age: values must be 0/1"),
    (["nomogram", "fit", "{csv}", "--outcome", "outcome", "--predictors", "age", "--categorical", "male"],
     "--categorical: male not among --predictors"),
])
def test_bad_input_exits_1_with_one_line(asah, asah_csv, tmp_path, capsys, args, message):
    one_class = tmp_path / "one.csv"
    asah[asah.outcome == 0].to_csv(one_class, index=False)
    fill = {"csv": asah_csv, "missing": tmp_path / "absent.csv", "one_class": one_class}
    rc = main([a.format(**fill) for a in args])
    err = capsys.readouterr().err
    assert rc == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], err
