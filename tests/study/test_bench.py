"""The study benchmark runs and reports both modes, measured in the same run (no speed targets here)."""

from __future__ import annotations

import pytest

from ultrasound_reader.study import bench


def test_study_bench_reports_full_and_off_commit_latency():
    r = bench.run(quick=True)
    assert r["answers_per_mode"] == 60
    for mode in ("full", "off"):
        assert 0 < r[f"{mode}_p50_ms"] <= r[f"{mode}_p99_ms"]
    # The ratios are of the unrounded times; the ms figures are rounded to 1 microsecond.
    assert r["p50_ratio_full_over_off"] == pytest.approx(r["full_p50_ms"] / r["off_p50_ms"], rel=0.02)
    assert r["p99_ratio_full_over_off"] == pytest.approx(r["full_p99_ms"] / r["off_p99_ms"], rel=0.02)
