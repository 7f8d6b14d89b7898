"""Benchmark: imageops (numpy) vs the OpenCV calls they replace, same inputs, same run.

The typical calls of the reading path: AI input crops (300x300 RGB -> 224 AREA, 150x150
-> 224 LINEAR), a Grad-CAM map to its ROI box (7x7 float32 -> 300x300 LINEAR), a cine
thumbnail (600x800 RGB -> 128x96 AREA), the windowing LUT on a 600x800 RGB frame, plus
RGB -> gray, an edge-replicating pad and a colour map. Each figure is the median wall
time in ms, ours and OpenCV's (its default threads; the two timed alternately), their ratio (ours / cv2, lower is
better) and whether the outputs are identical. OpenCV is imported only here, at run
time, so a build without it still lists the other suites.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ultrasound_reader import imageops


def _median_ms(ours: Callable[[], Any], theirs: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """Median ms of each, timed alternately so that both see the same machine load."""
    ours(), theirs()
    t_ours, t_theirs = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        ours()
        t1 = time.perf_counter()
        theirs()
        t2 = time.perf_counter()
        t_ours.append(t1 - t0)
        t_theirs.append(t2 - t1)
    return float(np.median(t_ours)) * 1000.0, float(np.median(t_theirs)) * 1000.0


def run(quick: bool = False) -> dict:
    import cv2

    rng = np.random.default_rng(0)
    repeats = 21 if quick else 101
    crop300 = rng.integers(0, 256, (300, 300, 3), dtype=np.uint8)
    crop150 = rng.integers(0, 256, (150, 150, 3), dtype=np.uint8)
    heat = rng.random((7, 7)).astype(np.float32)
    frame = rng.integers(0, 256, (600, 800, 3), dtype=np.uint8)
    lut = rng.integers(0, 256, 256, dtype=np.uint8)
    u8map = rng.integers(0, 256, (300, 300), dtype=np.uint8)
    cases: dict[str, tuple[Callable[[], np.ndarray], Callable[[], np.ndarray]]] = {
        "area_300x300x3_to_224": (lambda: imageops.resize(crop300, (224, 224), "area"),
                                  lambda: cv2.resize(crop300, (224, 224), interpolation=cv2.INTER_AREA)),
        "linear_150x150x3_to_224": (lambda: imageops.resize(crop150, (224, 224), "linear"),
                                    lambda: cv2.resize(crop150, (224, 224), interpolation=cv2.INTER_LINEAR)),
        "linear_7x7_f32_to_300": (lambda: imageops.resize(heat, (300, 300), "linear"),
                                  lambda: cv2.resize(heat, (300, 300), interpolation=cv2.INTER_LINEAR)),
        "thumbnail_600x800x3_to_128": (lambda: imageops.resize(frame, (128, 96), "area"),
                                       lambda: cv2.resize(frame, (128, 96), interpolation=cv2.INTER_AREA)),
        "lut_600x800x3": (lambda: imageops.apply_lut(frame, lut), lambda: cv2.LUT(frame, lut)),
        "rgb_to_gray_600x800": (lambda: imageops.rgb_to_gray(frame),
                                lambda: cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)),
        "pad_edge_300x300x3_by_40": (lambda: imageops.pad(crop300, 40, 40, 40, 40, mode="edge"),
                                     lambda: cv2.copyMakeBorder(crop300, 40, 40, 40, 40, cv2.BORDER_REPLICATE)),
        "colormap_jet_300x300": (lambda: imageops.colormap(u8map, "jet"),
                                 lambda: cv2.applyColorMap(u8map, cv2.COLORMAP_JET)[:, :, ::-1]),
    }
    out: dict[str, Any] = {"cv2_threads": cv2.getNumThreads()}
    for name, (ours, theirs) in cases.items():
        t_ours, t_cv = _median_ms(ours, theirs, repeats)
        out[name] = {"ours_ms": round(t_ours, 3), "cv2_ms": round(t_cv, 3),
                     "ratio_ours_over_cv2": round(t_ours / t_cv, 2),
                     "identical": bool(np.array_equal(ours(), theirs()))}
    return out
