"""Benchmark: lazy cine opening and per-frame decoding vs pydicom's whole-file decode.

Makes a 640×480 colour cine (120 frames; 30 with ``quick``) twice in a temp folder:
YBR_FULL_422 JPEG baseline (libjpeg-turbo 4:2:2 encoding, as scanners write) and the same
uncompressed RGB. For each it measures, in the same run:

* ``naive_whole_file_ms``: ``pydicom.dcmread(path).pixel_array`` (the baseline);
* ``open_to_first_frame_ms``: ``open_cine`` + ``frame(0)``, median of fresh opens,
  and its percentage of the baseline (target <= 5 %, aim ~1 %);
* ``stepping_fps``: frames per second decoding every frame in order, cold cache
  (target >= 200), and ``prefetch_fps`` for the background prefetcher filling the cache;
* ``rss_growth_mib`` while stepping through all frames with a ``cache_budget_mib``
  cache, next to ``all_frames_mib`` (what decoding everything would hold);
* ``max_abs_diff_vs_pydicom``: our frames against pydicom's pixel_array (colour check).
"""

from __future__ import annotations

import gc
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROWS, COLUMNS = 480, 640
CACHE_BUDGET_MIB = 32.0


def _rss_mib() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # not Linux: peak RSS is the best the stdlib offers
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0


def make_inputs(folder: Path, n_frames: int) -> dict[str, Path]:
    from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit

    from ultrasound_reader.dicom.synth import speckle_frames, write_dicom

    frames = speckle_frames(n_frames, ROWS, COLUMNS, color=True, seed=1)
    common = dict(frame_time_ms=1000.0 / 30, series_description="PHANTOM bench cine",
                  regions=[dict(x0=0, y0=0, x1=COLUMNS - 1, y1=ROWS - 1, data_type=1, delta_x=0.01, delta_y=0.01)])
    return {
        "jpeg_ybr422": write_dicom(folder / "jpeg.dcm", frames, transfer_syntax=JPEGBaseline8Bit, **common),
        "uncompressed_rgb": write_dicom(folder / "native.dcm", frames, transfer_syntax=ExplicitVRLittleEndian,
                                        **common),
    }


def _measure(path: Path, repeats: int) -> dict[str, Any]:
    import pydicom

    from ultrasound_reader.dicom import open_cine

    out: dict[str, Any] = {}
    # Memory first, before the naive decode leaves a big heap behind.
    gc.collect()
    with open_cine(path, cache_mib=CACHE_BUDGET_MIB) as cine:
        n = cine.n_frames
        frame_mib = cine.frame_nbytes / 2**20
        before = _rss_mib()
        for i in range(n):
            cine.frame(i)
        out["rss_growth_mib"] = round(_rss_mib() - before, 1)
        out["cache_budget_mib"] = CACHE_BUDGET_MIB
        out["cache_held_mib"] = round(cine.cache.nbytes / 2**20, 1)
        out["all_frames_mib"] = round(n * frame_mib, 1)
    out["frames"] = n

    firsts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        with open_cine(path) as cine:
            cine.frame(0)
            firsts.append(_ms(t0))
    out["open_to_first_frame_ms"] = round(statistics.median(firsts), 2)

    steps = []
    for _ in range(max(1, repeats // 2)):
        with open_cine(path, cache_mib=512) as cine:
            t0 = time.perf_counter()
            for i in range(n):
                cine.frame(i)
            steps.append(n / (_ms(t0) / 1000))
    out["stepping_fps"] = round(statistics.median(steps), 1)

    with open_cine(path, cache_mib=512) as cine:
        t0 = time.perf_counter()
        cine.prefetch(0, n, wrap=False)
        cine.wait_prefetch(timeout=120)
        out["prefetch_fps"] = round(n / (_ms(t0) / 1000), 1)
        ours = np.stack([cine.frame(i) for i in range(n)])

    gc.collect()
    t0 = time.perf_counter()
    ref = pydicom.dcmread(path).pixel_array
    out["naive_whole_file_ms"] = round(_ms(t0), 1)
    out["naive_ms_per_frame"] = round(out["naive_whole_file_ms"] / n, 2)
    out["max_abs_diff_vs_pydicom"] = int(np.abs(ours.astype(np.int16) - ref.astype(np.int16)).max())
    del ref, ours
    out["first_frame_pct_of_naive"] = round(100.0 * out["open_to_first_frame_ms"] / out["naive_whole_file_ms"], 2)
    out["stepping_speedup_vs_naive"] = round(out["stepping_fps"] * out["naive_ms_per_frame"] / 1000, 2)
    return out


def run(quick: bool = False) -> dict[str, Any]:
    n_frames = 30 if quick else 120
    repeats = 5 if quick else 9
    result: dict[str, Any] = {"frame_size": f"{COLUMNS}x{ROWS} RGB", "targets":
                              "first frame <= 5% of naive (aim ~1%), stepping >= 200 fps, "
                              "RSS growth <= cache budget"}
    with tempfile.TemporaryDirectory(prefix="ur-bench-dicom-") as tmp:
        paths = make_inputs(Path(tmp), n_frames)
        # Warm up imports and codecs (Pillow, pydicom plugins) so they are not billed to "open".
        from ultrasound_reader.dicom import open_cine

        for p in paths.values():
            with open_cine(p, cache_mib=0) as c:
                c.frame(0)
        for name, path in paths.items():
            result[name] = _measure(path, repeats)
    return result


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
