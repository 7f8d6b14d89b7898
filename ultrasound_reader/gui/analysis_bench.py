"""Benchmark: how long the reading window's event loop stalls while an analysis runs.

On the demo liver case (resources/demo/liver/liver-s136-0000: 4 lesion ROIs, one
background ROI, factors filled) in a 1600x1000 offscreen window, with the demo liver
bundle when it is there (else a small random bundle of the same task), it measures
from Analyse until shortly after the result is on screen:

* ``longest_stall_ms``: the longest gap in a 5 ms event-loop timer beyond its tick,
  per analysis (the first one, which warms caches and paints the result widgets for
  the first time, is reported apart) — the issue's target is <= 50 ms;
* the baselines, measured in the same run: ``idle_longest_stall_ms``, the same meter
  on the idle window for as long as an analysis takes (timer jitter and the machine's
  own noise), and ``blocking_analysis_ms``, the same analysis run on the GUI thread
  (the stall a window without a worker would have); ``stall_pct_of_blocking`` relates
  the two.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

CASE = Path("demo") / "liver" / "liver-s136-0000"


def _loop_until(condition: Any, timeout_s: float = 120.0) -> None:
    """Run the event loop (idle-waiting, as the app does) until ``condition()`` holds."""
    from PySide6.QtCore import QEventLoop, Qt, QTimer

    loop = QEventLoop()
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    deadline = time.perf_counter() + timeout_s
    timer.timeout.connect(lambda: (condition() or time.perf_counter() > deadline) and loop.quit())
    timer.start(2)
    if not condition():
        loop.exec()
    timer.stop()
    if not condition():
        raise TimeoutError("analysis benchmark: timed out")


def run(quick: bool = False) -> dict[str, Any]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEventLoop, QSettings, QTimer

    from ultrasound_reader.case import Case
    from ultrasound_reader.gui.app import application
    from ultrasound_reader.gui.bundles import default_bundle
    from ultrasound_reader.gui.main_window import MainWindow
    from ultrasound_reader.gui.stall import StallMeter
    from ultrasound_reader.paths import resources_dir

    case_dir = resources_dir() / CASE
    if not (case_dir / "case.json").is_file():
        return {"skipped": f"no demo case at {case_dir}"}
    repeats = 3 if quick else 10
    app = application()
    with tempfile.TemporaryDirectory(prefix="analysis-bench-") as tmp:
        saved_env = os.environ.get("ULTRASOUND_READER_MODELS")
        info = default_bundle("liver-fll")
        if info is None:  # no demo bundle: a small random one of the same task
            from ultrasound_reader.ai import make_random_bundle

            make_random_bundle(Path(tmp) / "models" / "liver-fll-demo", "liver-fll", small=True, seed=1)
            os.environ["ULTRASOUND_READER_MODELS"] = str(Path(tmp) / "models")
        window = MainWindow(QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat))
        window.case_ctl.ask_unsaved = lambda _m: "discard"
        window.resize(1600, 1000)
        window.show()
        r = window.reading
        try:
            window.open_paths([case_dir])
            _loop_until(lambda: r.bundle is not None and not r.busy and window.cine is not None
                        and not window.runner.busy)
            r.cam.toggle.setChecked(True)  # the overlay and thumbnails are part of showing a result
            runs = []
            for _ in range(repeats + 1):
                done: list[Any] = []
                r.analysis.stallMeasured.connect(done.append)
                r.analyse()
                _loop_until(lambda: bool(done))
                r.analysis.stallMeasured.disconnect(done.append)
                runs.append(done[0])
            first, rest = runs[0], runs[1:]
            seconds = statistics.median(x.seconds for x in rest)

            meter = StallMeter()
            meter.start()
            loop = QEventLoop()
            QTimer.singleShot(int(1000 * (seconds + 0.15)), loop.quit)
            loop.exec()
            idle = meter.stop()

            from ultrasound_reader.ai import Analyzer

            case = Case.load(case_dir)
            blocking = []
            for _ in range(min(repeats, 3)):
                t0 = time.perf_counter()
                Analyzer(r.bundle, threads=r.analysis.threads).run(case)
                blocking.append((time.perf_counter() - t0) * 1000.0)
            blocking_ms = statistics.median(blocking)
            longest = [round(x.longest_stall_ms, 1) for x in rest]
            return {
                "bundle": f"{r.bundle.name} {r.bundle.version}",
                "case": str(CASE),
                "analyses": len(rest),
                "torch_threads": r.analysis.threads,
                "analysis_s_median": round(seconds, 3),
                "longest_stall_ms": longest,
                "longest_stall_ms_median": round(statistics.median(longest), 1),
                "longest_stall_ms_max": max(longest),
                "first_analysis_longest_stall_ms": round(first.longest_stall_ms, 1),
                "stall_p99_ms_median": round(statistics.median(x.stall_p99_ms for x in rest), 1),
                "target_ms": 50.0,
                "idle_longest_stall_ms": round(idle, 1),
                "blocking_analysis_ms": round(blocking_ms, 1),
                "stall_pct_of_blocking": round(100.0 * statistics.median(longest) / blocking_ms, 1),
            }
        finally:
            window.close()
            if saved_env is None:
                os.environ.pop("ULTRASOUND_READER_MODELS", None)
            else:
                os.environ["ULTRASOUND_READER_MODELS"] = saved_env
