"""Benchmark: fast DeLong (Sun & Xu 2014, mid-ranks, O(n log n)) vs the O(n^2) placements.

Both compute the same structural components of n = 10 000 PHANTOM scores (tied
values included) in the same run; the figures are the median wall times, their
ratio, and the largest difference between the two results (must be ~1e-16).
"""

from __future__ import annotations

import time

import numpy as np

from ultrasound_reader.stats.delong import placements, placements_naive


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def run(quick: bool = False) -> dict:
    n = 10_000
    rng = np.random.default_rng(0)
    truth = (rng.random(n) < 0.4).astype(np.int8)
    # rounded to 3 decimals so about a third of the scores are tied, as real scores often are
    score = np.round(rng.normal(truth * 1.0, 1.0), 3)
    repeats_fast, repeats_naive = (3, 1) if quick else (7, 3)
    fast = placements(truth, score)
    naive = placements_naive(truth, score)
    max_diff = float(max(np.abs(fast.v10 - naive.v10).max(), np.abs(fast.v01 - naive.v01).max()))
    t_fast = _median_time(lambda: placements(truth, score).covariance(), repeats_fast)
    t_naive = _median_time(lambda: placements_naive(truth, score).covariance(), repeats_naive)
    return {
        "n": n,
        "n_pos": int(truth.sum()),
        "auc": float(fast.auc[0]),
        "fast_delong_s": round(t_fast, 5),
        "naive_on2_s": round(t_naive, 4),
        "speedup_naive_over_fast": round(t_naive / t_fast, 1),
        "max_abs_difference": max_diff,
    }
