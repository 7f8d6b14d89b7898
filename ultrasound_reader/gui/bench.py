"""Benchmark: the viewer, offscreen, against pydicom's whole-file decode in the same run.

On a 640×480 colour cine (120 frames; 30 with ``quick``), once YBR_FULL_422 JPEG
baseline and once uncompressed RGB (the dicom benchmark's inputs), it measures:

* ``naive_whole_file_ms``: ``pydicom.dcmread(path).pixel_array`` (the baseline);
* ``open_to_first_frame_drawn_ms``: from ``open_paths`` to the first frame painted
  by the image view (header read and first decode in the worker, then drawn), the
  median of fresh opens, and its percentage of the baseline;
* ``stepping_drawn_fps``: frames shown and painted per second when stepping
  through every frame (decoded in the worker or by the prefetcher, never on the
  GUI thread);
* ``playback``: at the file's rate (30 fps) and at 2× speed (60 fps, the display
  cap), frames painted per second, dropped display slots, and the schedule's
  slot count; playback starts on a cold cache right after opening, so it first
  pre-rolls (waits until 0.25 s of frames are decoded, ``preroll_ms``);
* ``rss_growth_mib`` during playback next to the cache budget;
* ``flags``: one line per playback that dropped display slots or grew memory past
  the cache budget (empty when all is well), so a regression is said, not just
  numbered (the cause in issue 14: the model bundle loading alongside playback,
  now made to step aside, see :mod:`~ultrasound_reader.gui.viewer_activity`);
* ``analysis``: the longest event-loop stall while the reading window analyses the
  demo liver case, against the idle loop and a GUI-thread analysis
  (:mod:`~ultrasound_reader.gui.analysis_bench`).
"""

from __future__ import annotations

import gc
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def _rss_mib() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _spin_until(app: Any, condition: Any, timeout_s: float = 30.0) -> None:
    """Run the real event loop (idle-waiting, as the app does) until ``condition()`` holds.

    A busy processEvents() loop would hold the GIL against the worker threads and
    measure itself; a 1 ms precise timer checks the condition instead.
    """
    from PySide6.QtCore import QEventLoop, Qt, QTimer

    if condition():
        return
    loop = QEventLoop()
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    deadline = time.perf_counter() + timeout_s

    def check() -> None:
        if condition() or time.perf_counter() > deadline:
            loop.quit()

    timer.timeout.connect(check)
    timer.start(1)
    loop.exec()
    timer.stop()
    if not condition():
        raise TimeoutError("viewer benchmark: timed out waiting for the viewer")


def _run_event_loop(seconds: float) -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def _open_first_frame(app: Any, window: Any, path: Path) -> float:
    item = window.image_view.image_item
    window.close_all()
    _spin_until(app, lambda: not window.runner.busy)
    before = item.paint_count
    t0 = time.perf_counter()
    window.open_paths([path])
    _spin_until(app, lambda: item.paint_count > before and window.current_path == str(path))
    return (time.perf_counter() - t0) * 1000.0


def _stepping(app: Any, window: Any) -> float:
    """Open fresh (cold cache), then show every frame in turn, waiting for each to be painted."""
    item = window.image_view.image_item
    n = window.n_frames
    t0 = time.perf_counter()
    for i in range(1, n):
        before = item.paint_count
        window.step(1)
        _spin_until(app, lambda: item.paint_count > before and window.image_view.frame_index == i)
    return (n - 1) / (time.perf_counter() - t0)


def playback_flags(run: dict[str, Any], budget_mib: float) -> list[str]:
    """What is wrong with one playback run: dropped display slots, memory past the cache budget."""
    flags = []
    if run["dropped"] > 0:
        why = f", {run['dropped_not_decoded']} not decoded in time" if run["dropped_not_decoded"] else ""
        flags.append(f"dropped {run['dropped']} of {run['display_slots']} display slots{why}")
    if run["rss_growth_mib"] > budget_mib:
        flags.append(f"memory grew {run['rss_growth_mib']:.0f} MiB during playback, "
                     f"over the {budget_mib:.0f} MiB cache budget")
    return flags


def _playback(app: Any, window: Any, path: Path, speed: float, seconds: float) -> dict[str, Any]:
    from ultrasound_reader.gui.viewer_activity import ACTIVITY

    _open_first_frame(app, window, path)  # a fresh cine: cold cache
    waits0 = ACTIVITY.waits
    window.controls.set_speed(speed)
    window.player.set_speed(speed)
    painted: list[int] = []
    window.image_view.framePainted.connect(painted.append)
    rss0 = _rss_mib()
    t0 = time.perf_counter()
    window.toggle_play()
    _run_event_loop(seconds)
    window.toggle_play()
    elapsed = time.perf_counter() - t0
    window.image_view.framePainted.disconnect(painted.append)
    clock = window.player.clock
    stats = clock.stats
    preroll_s = window.player.preroll_ms / 1000.0
    return {
        "target_fps": round(min(clock.frame_rate, clock.max_display_fps), 1),
        "preroll_ms": round(window.player.preroll_ms, 1),
        "drawn_fps": round(len(painted) / (elapsed - preroll_s), 1),
        "display_slots": stats.shown + stats.dropped,
        "shown": stats.shown,
        "dropped": stats.dropped,
        "dropped_not_decoded": stats.not_ready,
        "seconds": round(elapsed, 2),
        "rss_growth_mib": round(_rss_mib() - rss0, 1),
        # times background loading (the model bundle) stepped aside for the frames shown
        "background_waits": ACTIVITY.waits - waits0,
    }


def run(quick: bool = False) -> dict[str, Any]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import pydicom
    from PySide6.QtCore import QSettings

    from ultrasound_reader.dicom.bench import make_inputs
    from ultrasound_reader.dicom.cache import DEFAULT_CACHE_MIB
    from ultrasound_reader.gui.app import application
    from ultrasound_reader.gui.main_window import MainWindow

    n_frames = 30 if quick else 120
    repeats = 3 if quick else 5
    play_s = 1.5 if quick else 4.0
    results: dict[str, Any] = {
        "frames": n_frames, "size": "640x480 RGB", "platform": os.environ.get("QT_QPA_PLATFORM", ""),
        "cache_budget_mib": DEFAULT_CACHE_MIB,
    }
    flags: list[str] = []
    results["flags"] = flags  # empty when every playback kept its rate within the memory budget
    app = application()
    with tempfile.TemporaryDirectory(prefix="viewer-bench-") as tmp:
        inputs = make_inputs(Path(tmp), n_frames)
        window = MainWindow(QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat))
        window.resize(1280, 820)
        window.show()
        try:
            for name, path in inputs.items():
                gc.collect()
                naive = []
                for _ in range(1 if quick else 2):
                    t0 = time.perf_counter()
                    pixels = pydicom.dcmread(path).pixel_array
                    naive.append((time.perf_counter() - t0) * 1000.0)
                    del pixels
                gc.collect()
                naive_ms = statistics.median(naive)
                first = statistics.median(_open_first_frame(app, window, path) for _ in range(repeats))
                stepping = _stepping(app, window)
                out: dict[str, Any] = {
                    "naive_whole_file_ms": round(naive_ms, 1),
                    "open_to_first_frame_drawn_ms": round(first, 2),
                    "first_frame_pct_of_naive": round(100.0 * first / naive_ms, 2),
                    "stepping_drawn_fps": round(stepping, 1),
                    "playback": {
                        "1x_30fps": _playback(app, window, path, 1.0, play_s),
                        "2x_60fps": _playback(app, window, path, 2.0, play_s),
                    },
                }
                results[name] = out
                for label, run_ in out["playback"].items():
                    run_["flags"] = playback_flags(run_, DEFAULT_CACHE_MIB)
                    flags.extend(f"{name} {label}: {flag}" for flag in run_["flags"])
        finally:
            window.close()
    # The reading workflow: event-loop stalls while an analysis runs (analysis_bench.py).
    from ultrasound_reader.gui import analysis_bench

    results["analysis"] = analysis_bench.run(quick)
    return results
