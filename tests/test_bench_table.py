"""``bench startup`` and ``bench --markdown``: the README's benchmark table comes from a real run."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ultrasound_reader import bench_table
from ultrasound_reader.errors import UserError

REPO = Path(__file__).resolve().parents[1]
ROW = re.compile(r"^\| ([\w-]+) \| (.+?) \| ([\d.e+-]+) (s|ms) \| ([\d.e+-]+) (s|ms) \((.+)\) \| ([\d.e+-]+)× \|$")


def _rows(table: str) -> list[tuple[str, str, float, float, float]]:
    out = []
    for line in table.splitlines():
        m = ROW.match(line)
        if m:
            out.append((m.group(1), m.group(2), float(m.group(3)), float(m.group(5)), float(m.group(8))))
    return out


def test_table_rows_are_ours_over_the_baseline_and_missing_figures_are_said():
    results = {
        "stats": {"fast_delong_s": 0.002, "naive_on2_s": 0.1},
        "study": {"full_p50_ms": 3.0, "off_p50_ms": 0.5},  # no p99 keys: that row is left out
        "pacs": {"skipped": "Orthanc is not installed"},
        "dicom": {"something_else": 1.0},
    }
    when = dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.timezone.utc)
    table = bench_table.markdown(results, {"viewer": "failed: RuntimeError: no display"},
                                 "ultrasound-reader bench --markdown", when=when)
    assert table.startswith("Measured 2026-01-02 03:04 UTC with `ultrasound-reader bench --markdown` on ")
    rows = _rows(table)
    assert [(r[0], r[2], r[3], r[4]) for r in rows] == [("stats", 0.002, 0.1, 0.02), ("study", 3.0, 0.5, 6.0)]
    assert "p99" not in table
    assert "- `viewer` not in the table: failed: RuntimeError: no display" in table
    assert "- `pacs` not in the table: skipped: Orthanc is not installed" in table
    assert "- `dicom` not in the table: reported none of the figures" in table


def test_replace_block_keeps_the_rest_and_refuses_a_file_without_markers(tmp_path):
    doc = tmp_path / "README.md"
    doc.write_text(f"intro\n{bench_table.START}\nold table\n{bench_table.END}\noutro\n")
    bench_table.replace_block(doc, "| new |\n")
    assert doc.read_text() == f"intro\n{bench_table.START}\n| new |\n{bench_table.END}\noutro\n"
    doc.write_text("no markers here\n")
    with pytest.raises(UserError, match="README.md: needs exactly one"):
        bench_table.replace_block(doc, "| new |\n")


def test_bench_startup_writes_the_table_into_a_readme(tmp_path):
    doc = tmp_path / "README.md"
    doc.write_text(f"# x\n{bench_table.START}\n{bench_table.END}\n")
    p = subprocess.run([sys.executable, "-m", "ultrasound_reader", "bench", "startup", "--quick",
                        "--markdown", str(doc)], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                       env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert p.returncode == 0, p.stderr[-2000:]
    rows = {r[1]: r for r in _rows(doc.read_text())}
    inspect = rows["`inspect` on the demo cine (process start to exit)"]
    eager = rows["`inspect`, every sub-command imported (the CLI before lazy imports)"]
    assert inspect[3] == eager[3] > 0  # one baseline, measured in the same run
    assert inspect[4] == pytest.approx(inspect[2] / inspect[3], rel=0.01)
    assert eager[2] > inspect[2]  # importing every sub-command costs (phantom pulls scipy, ...)
    # a missing file is a user error: one line, exit 1
    p = subprocess.run([sys.executable, "-m", "ultrasound_reader", "bench", "stats", "--quick",
                        "--markdown", str(tmp_path / "missing.md")], capture_output=True, text=True,
                       timeout=300, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1 and "missing.md" in p.stderr


def test_readme_carries_a_generated_table():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split(bench_table.START, 1)[1].split(bench_table.END, 1)[0]
    assert re.search(r"Measured \d{4}-\d\d-\d\d \d\d:\d\d UTC with `ultrasound-reader bench .*--markdown", block)
    suites = {r[0] for r in _rows(block)}
    assert {"startup", "gui-startup", "dicom", "stats", "viewer", "ai"} <= suites


def test_imageops_rows_say_whether_the_port_matched_opencv():
    results = {"imageops": {"area_300x300x3_to_224": {"ours_ms": 2.0, "cv2_ms": 0.5, "identical": True},
                            "lut_600x800x3": {"ours_ms": 0.4, "cv2_ms": 0.4, "identical": False}}}
    rows = _rows(bench_table.markdown(results, {}, "bench imageops"))
    assert [(r[0], r[4]) for r in rows] == [("imageops", 4.0), ("imageops", 1.0)]
    assert "output identical" in rows[0][1] and "OUTPUT DIFFERS" in rows[1][1]
