"""CSV tables given to ``evaluate`` and ``nomogram fit`` are untrusted input.

Refusals are one line on stderr, exit 1, naming the file, column and row; library
warnings (statsmodels' perfect separation) never reach the terminal; the text
tables keep their columns apart whatever the names and magnitudes.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ultrasound_reader.cli import main
from ultrasound_reader.stats import inputs

SEPARATED = "outcome,p\n" + "".join(f"{y},{y}\n" for y in (0, 0, 0, 1, 1, 1, 0, 1))


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    p = tmp_path / name
    (p.write_bytes if isinstance(content, bytes) else p.write_text)(content)
    return p


def _one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0]


@pytest.mark.parametrize("command", [
    ["evaluate", "{csv}", "--truth", "outcome", "--score", "score", "--boot", "0"],
    ["nomogram", "fit", "{csv}", "--outcome", "outcome", "--predictors", "score"],
])
def test_duplicated_header_is_refused_naming_the_column(tmp_path, capsys, command):
    csv = _write(tmp_path, "dup.csv", "outcome,score,age,score\n0,0.1,40,0.9\n1,0.8,50,0.2\n0,0.2,45,0.7\n"
                 "1,0.9,60,0.1\n0,0.3,52,0.5\n1,0.7,58,0.4\n")
    assert main([a.format(csv=csv) for a in command]) == 1
    line = _one_error_line(capsys)
    assert "dup.csv" in line and "'score' appears twice" in line and "columns 2 and 4" in line


@pytest.mark.parametrize("content, message", [
    (b"outcome,x\n0,0.1\n1,0.2\xe9\n", "not UTF-8 text (byte 0xe9 at offset"),
    (b"outcome,x\n0,0.1\x00\n1,0.2\n", "NUL bytes"),
    ("outcome,x\n0,0.1\n1,0.2\n0,abc\x1b[31m\n1,0.9\n", r"x: row 3: 'abc\x1b[31m' is not a number"),
    ("outcome,x\n0,0.1\n1,0.2\nmaybe,0.3\n1,0.9\n", "outcome: values must be 0/1 (or true/false, malignant/benign); "
     "got 'maybe' (first in row 3)"),
    ("outcome,x\n0,0.1\n1,inf\n0,0.3\n1,0.9\n", "x: 1 infinite value(s) (first in row 2)"),
    ("", "not a readable CSV table"),
])
def test_bad_table_content_is_one_clear_line(tmp_path, capsys, content, message):
    csv = _write(tmp_path, "bad.csv", content)
    assert main(["evaluate", str(csv), "--truth", "outcome", "--score", "x", "--boot", "0"]) == 1
    line = _one_error_line(capsys)
    assert message in line
    assert "\x1b" not in line  # control characters from the file are escaped


def test_non_numeric_predictor_names_row_and_column(tmp_path, capsys):
    csv = _write(tmp_path, "pred.csv", "outcome,age\n0,40\n1,50\n0,n/a years\n1,60\n0,45\n1,70\n")
    assert main(["nomogram", "fit", str(csv), "--outcome", "outcome", "--predictors", "age"]) == 1
    assert "age: row 3: 'n/a years' is not a number (or list age as categorical)" in _one_error_line(capsys)


def test_oversized_table_is_refused_before_reading(tmp_path, capsys, monkeypatch):
    csv = _write(tmp_path, "big.csv", "outcome,x\n" + "0,0.5\n1,0.6\n" * 50)
    monkeypatch.setattr(inputs, "MAX_TABLE_BYTES", 100)
    assert main(["evaluate", str(csv), "--truth", "outcome", "--score", "x", "--boot", "0"]) == 1
    assert "big.csv: 610 bytes is larger than the 100 bytes a table may have" in _one_error_line(capsys)


def test_utf16_and_bom_tables_are_read(tmp_path):
    text = "outcome,score\n0,0.1\n1,0.9\n"
    for name, data in [("u16.csv", text.encode("utf-16")), ("bom.csv", text.encode("utf-8-sig"))]:
        df = inputs.read_table(_write(tmp_path, name, data))
        assert list(df.columns) == ["outcome", "score"] and df["score"].tolist() == [0.1, 0.9]


def test_perfect_separation_is_a_statement_not_stderr_noise(tmp_path, capsys):
    csv = _write(tmp_path, "sep.csv", SEPARATED)
    run = ["evaluate", str(csv), "--truth", "outcome", "--score", "p", "--boot", "0"]
    # as a user runs it: Python's own warning printer is only there outside pytest
    p = subprocess.run([sys.executable, "-m", "ultrasound_reader", *run], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert re.search(r"calibration note: perfect separation: .* not finite estimates", p.stdout)
    assert main(run + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert any("perfect separation" in n for n in out["scores"]["p"]["calibration"]["notes"])
    assert out["warnings"] == []  # nothing else was raised


def test_nomogram_tables_keep_columns_apart(tmp_path, capsys):
    long_name = "lesion_size_in_millimetres"
    rows = [(0, 0.1, 30), (0, 0.2, 40), (0, 0.3, 35), (0, 0.35, 50), (1, 0.6, 60), (1, 0.7, 45), (1, 0.8, 70),
            (1, 0.9, 55), (0, 0.05, 41), (1, 0.95, 33)]
    csv = _write(tmp_path, "wide.csv", f"outcome,{long_name},age\n" + "".join(f"{a},{b},{c}\n" for a, b, c in rows))
    assert main(["nomogram", "fit", str(csv), "--outcome", "outcome", "--predictors", f"{long_name},age"]) == 0
    out = capsys.readouterr().out.splitlines()
    head = out.index(next(line for line in out if line.startswith("term")))
    table = out[head:head + 4]  # header, intercept and the two predictors
    for line in table:  # separated perfectly: coefficients and SEs are huge, yet every cell stands apart
        assert len(re.split(r" {2,}", line.strip())) == 6, line
    ends = {len(line) for line in table}
    assert len(ends) == 1  # the right-aligned last column ends in the same place on every line
    assert any(re.fullmatch(rf"\s*{long_name} {{2,}}Points", line) for line in out)
    total = out.index(next(line for line in out if "Total Points" in line and "Probability" in line))
    assert len(re.split(r" {2,}", out[total].strip())) == 2
