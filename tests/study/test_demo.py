"""``study demo``: a ready study whose simulated readers are labelled as such everywhere."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest

from ultrasound_reader.cli import main
from ultrasound_reader.study.analysis import analyze, format_report
from ultrasound_reader.study.demo import make_demo
from ultrasound_reader.study.export import export


def _check_demo(out, n_cases, tmp_path, capsys):
    db = str(out / "study.db")
    con = sqlite3.connect(db)
    assert con.execute("SELECT simulated, name FROM study").fetchone()[0] == 1
    assert "SIMULATED" in con.execute("SELECT name FROM study").fetchone()[0]
    readers = con.execute("SELECT code, simulated FROM reader").fetchall()
    assert len(readers) == 4 and all(s == 1 and c.startswith("SIM-") for c, s in readers)
    assert con.execute("SELECT count(*) FROM answer").fetchone()[0] == 4 * n_cases * 2
    assert con.execute("SELECT count(*) FROM audit WHERE outcome = 'refused'").fetchone()[0] == 0
    con.close()
    export(db, "long", tmp_path / "long.csv")
    assert pd.read_csv(tmp_path / "long.csv")["reader_simulated"].all()
    r = analyze(db, plots=tmp_path / "plots")
    assert any("SIMULATED" in n for n in r["notes"]) and r["mrmc"]["available"]
    assert len(r["experience_groups"]["groups"]) == 4  # one simulated reader per FLL experience group
    text = format_report(r)
    assert text.count("[SIMULATED]") == 4 and "NOTE: SIMULATED readers" in text
    assert sum(sum(t.values()) for t in r["concern"]["per_reader"].values()) == 4 * n_cases
    assert main(["study", "status", "--db", db]) == 0
    assert capsys.readouterr().out.count("[SIMULATED reader]") == 4
    assert (out / "README.txt").read_text().count("SIMULATED") >= 1


def test_demo_with_a_small_bundle(tmp_path, soft_bundle, capsys):
    make_demo(tmp_path / "demo", n_cases=8, bundle=soft_bundle)
    _check_demo(tmp_path / "demo", 8, tmp_path, capsys)
    assert main(["study", "demo", "--out", str(tmp_path / "demo")]) == 1
    assert "already holds a demo study" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_cli_with_the_bundled_model(tmp_path, capsys):
    assert main(["study", "demo", "--out", str(tmp_path / "demo")]) == 0
    assert "SIMULATED demo study" in capsys.readouterr().out
    _check_demo(tmp_path / "demo", 20, tmp_path, capsys)
