"""``ultrasound-reader phantom``: exit codes, JSON, one-line errors, parallel = serial."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ultrasound_reader.cli import main


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ultrasound_reader", "phantom", *args],
                          capture_output=True, text=True, timeout=300)


def test_json_summary_and_parallel_equals_serial(tmp_path: Path):
    p = _run("--task", "liver", "--cases", "2", "--seed", "9", "--out", str(tmp_path / "par"),
             "--frames", "4", "--workers", "2", "--json")
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert summary["cases"] == 2 and summary["task"] == "liver" and summary["seed"] == 9
    assert summary["case_ids"] == ["liver-s9-0000", "liver-s9-0001"]
    assert sum(summary["centres"].values()) == 2
    assert Path(summary["truth"]).is_file()
    s = _run("--task", "liver", "--cases", "1", "--first", "1", "--seed", "9", "--out", str(tmp_path / "ser"),
             "--frames", "4", "--workers", "1")
    assert s.returncode == 0 and "1 liver phantom case(s)" in s.stdout
    for name in ("bmode.dcm", "cdfi.dcm", "case.json"):
        a = (tmp_path / "par" / "liver-s9-0001" / name).read_bytes()
        b = (tmp_path / "ser" / "liver-s9-0001" / name).read_bytes()
        assert a == b, name


@pytest.mark.parametrize("args, needle", [
    (["--task", "kidney", "--cases", "1", "--out", "X"], "--task"),
    (["--cases", "1", "--out", "X"], "--task"),
    (["--task", "liver", "--cases", "0", "--out", "X"], "--cases"),
    (["--task", "liver", "--cases", "two", "--out", "X"], "--cases"),
    (["--task", "liver", "--cases", "1"], "--out"),
    (["--task", "liver", "--cases", "1", "--out", "X", "--seed", "-1"], "--seed"),
    (["--task", "liver", "--cases", "1", "--out", "X", "--frames", "1000"], "--frames"),
    (["--task", "liver", "--cases", "1", "--out", "X", "--compression", "lzw"], "--compression"),
    (["--task", "liver", "--cases", "1", "--out", "X", "--quality", "5"], "--quality"),
    (["--task", "liver", "--cases", "1", "--out", "X", "--workers", "0"], "--workers"),
])
def test_bad_arguments_exit_1_with_one_line(tmp_path: Path, capsys, args, needle):
    args = [str(tmp_path / "out") if a == "X" else a for a in args]
    assert main(["phantom", *args]) == 1
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_unwritable_output_is_a_user_error(tmp_path: Path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["phantom", "--task", "soft-tissue", "--cases", "1", "--out", str(blocker / "sub")]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and str(blocker) in err
