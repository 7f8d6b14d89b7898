"""``ultrasound-reader bench onnx``: ONNX Runtime vs torch eager, same bundle, same case, 2 threads.

Both analyses (forward passes, heads, Grad-CAM maps) run interleaved on in-memory
frames, so they see the same machine load; the figure is the ratio torch / ONNX.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from ultrasound_reader.ai.bench import THREADS, fll_case, soft_case


def _pair(folder: Path, case: Any, frames: dict[int, Any], repeats: int) -> dict[str, Any]:
    from ultrasound_reader.ai.analyzer import Analyzer
    from ultrasound_reader.ai.bundle import load_bundle
    from ultrasound_reader.ai.onnx_runtime import export_onnx, load_onnx_bundle

    export_onnx(folder)  # unsigned copy: the bench measures speed, not trust
    at = Analyzer(load_bundle(folder, require_signed=False), threads=THREADS)
    ao = Analyzer(load_onnx_bundle(folder, threads=THREADS, require_signed=False), threads=THREADS)
    source = lambda i, f: (frames[i], None)  # noqa: E731
    rt, ro = at.run(case, frame_source=source), ao.run(case, frame_source=source)  # warm-up
    tt, to = [], []
    for _ in range(repeats):
        for an, acc in ((at, tt), (ao, to)):
            t0 = time.perf_counter()
            an.run(case, frame_source=source)
            acc.append(time.perf_counter() - t0)
    t_s, o_s = statistics.median(tt), statistics.median(to)
    return {"torch_eager_s": round(t_s, 4), "onnxruntime_s": round(o_s, 4),
            "speedup_onnx_vs_torch": round(t_s / o_s, 2),
            "max_probability_difference": float(f"{max(abs(rt.probabilities[k] - ro.probabilities[k]) for k in rt.probabilities):.2e}"),
            "cams": len(ro.cams), "repeats": repeats}


def run(quick: bool = False) -> dict[str, Any]:
    import torch

    from ultrasound_reader.ai.bundle import make_random_bundle

    before = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    repeats = 3 if quick else 5
    out: dict[str, Any] = {"threads": THREADS, "quick": quick}
    try:
        with tempfile.TemporaryDirectory(prefix="ur-bench-onnx-") as tmp:
            case, frames = fll_case()
            out["fll_224_resnet18"] = _pair(make_random_bundle(Path(tmp) / "fll", "liver-fll", small=False),
                                            case, frames, repeats)
            v = "small-demo" if quick else "tiny"
            case, frames = soft_case()
            out[f"soft_tissue_470x280_convnext_{v}"] = _pair(
                make_random_bundle(Path(tmp) / "soft", "soft-tissue", small=False, variant=v), case, frames,
                repeats if quick else 2)
    finally:
        torch.set_num_threads(before)
    return out
