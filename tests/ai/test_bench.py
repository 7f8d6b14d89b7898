"""The ai benchmark runs and its fast path agrees with the naive baseline (slow: minutes)."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_bench_quick_runs_and_agrees() -> None:
    from ultrasound_reader.ai.bench import run

    out = run(quick=True)
    for key in ("fll_224_resnet18", "soft_tissue_470x280_convnext_small-demo"):
        r = out[key]
        assert r["cams"] == r["naive_maps"] > 0
        assert r["max_probability_difference_vs_naive"] < 1e-4
        assert r["gflops"] > 0 and r["naive_one_by_one_autograd_cam_s"] > 0
    assert out["fll_224_resnet18"]["cams"] == 16 and out["fll_224_resnet18"]["gflops"] == pytest.approx(43.5, abs=0.1)
