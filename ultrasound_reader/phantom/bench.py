"""Phantom benchmark: how fast cases are made, against writing their files alone.

The baseline, measured in the same run on the same frames, is what any generator
must pay anyway: JPEG-encoding the screens and writing the DICOM files. The
figure of merit is the projected time for 100 liver cases on 2 workers (the issue
asks "well under a minute"), from CPU seconds per case, so a busy shared machine
does not inflate it.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from ultrasound_reader.phantom import labels
from ultrasound_reader.phantom.generate import Options, make_liver, make_soft_tissue
from ultrasound_reader.phantom.writer import Header, Region, write_us


def _cpu(fn) -> tuple[float, float]:
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def run(quick: bool = False) -> dict:
    import cv2

    cv2.setNumThreads(1)  # per-worker cost, as in the process pool
    labels.liver_intercept()
    labels.soft_intercept()
    n = 3 if quick else 12
    opts = Options(frames=24)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        liver = [_cpu(lambda i=i: make_liver(0, i, out, opts)) for i in range(n)]
        soft = [_cpu(lambda i=i: make_soft_tissue(0, i, out, opts)) for i in range(n)]
        # baseline: the same number of 640x480 screens encoded and written, nothing rendered
        from ultrasound_reader.dicom import open_cine

        with open_cine(out / "liver-s0-0000" / "bmode.dcm") as cine:
            frames = [np.array(cine.frame(i)) for i in range(cine.n_frames)]
        header = Header("bench", "PHANTOM^BENCH", "PH-BENCH", "O", 50, "20200101", "120000", "PHB", "bench",
                        "bench", 1, "LIVER", "PHANTOM", "PHANTOM", "bench", "C5-1")
        region = [Region((0, 0, 639, 479), 1, 0.3, (320.0, 40.0))]
        base = [_cpu(lambda: (write_us(out / "b.dcm", frames, header, region, frame_time_ms=50.0),
                              write_us(out / "c.dcm", frames[:1], header, region))) for _ in range(n)]
    cpu_liver = float(np.median([c for _, c in liver]))
    cpu_soft = float(np.median([c for _, c in soft]))
    cpu_base = float(np.median([c for _, c in base]))
    return {
        "cases_timed": n,
        "liver_case_cpu_s": round(cpu_liver, 3),
        "liver_case_wall_s": round(float(np.median([w for w, _ in liver])), 3),
        "soft_tissue_case_cpu_s": round(cpu_soft, 3),
        "baseline_write_only_cpu_s": round(cpu_base, 3),
        "liver_vs_write_only": round(cpu_liver / cpu_base, 2),
        "projected_100_liver_cases_2_workers_s": round(100 * cpu_liver / 2, 1),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick=False), indent=2))
