"""The stats benchmark runs and its two DeLong computations agree (timings are not asserted)."""

from ultrasound_reader.stats import bench


def test_bench_quick():
    r = bench.run(quick=True)
    assert r["n"] == 10_000
    assert r["max_abs_difference"] < 1e-12
    assert r["fast_delong_s"] > 0 and r["naive_on2_s"] > 0 and r["speedup_naive_over_fast"] > 0
