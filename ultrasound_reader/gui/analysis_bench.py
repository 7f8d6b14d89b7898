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

``progressive`` (:func:`progressive`): progressive results with the paper's soft-tissue
network, ConvNeXt-T at 470x280 (6 models x 2 images; random weights, ONNX graphs
exported from them) on the demo soft-tissue case: from Analyse to the first output
on screen, to the whole cascade on screen, and the longest stall, for each runtime
(torch eager, ONNX Runtime) and thread count, beside the baseline measured in the
same run: today's behaviour, torch with the window's thread count, everything shown
at the end. ``ours`` is what the window does by default (runtime_for_bundle,
ANALYSIS_THREADS); the ratios are ours / baseline.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

CASE = Path("demo") / "liver" / "liver-s136-0000"
SOFT_CASE = Path("demo") / "soft-tissue" / "soft-s136-0000"
FIRST_TARGET_S = 0.5
CASCADE_TARGET_S = 2.0
STALL_TARGET_MS = 50.0


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


def _restore_models_env(saved: str | None) -> None:
    """Put ``$ULTRASOUND_READER_MODELS`` back as it was before the bench pointed it at its own bundles."""
    if saved is None:
        os.environ.pop("ULTRASOUND_READER_MODELS", None)
    else:
        os.environ["ULTRASOUND_READER_MODELS"] = saved


def _window_on(case_dir: Path, settings: Path) -> Any:
    """A shown 1600x1000 window with ``case_dir`` open, its bundle loaded and the Grad-CAM
    overlay on (the overlay and thumbnails are part of showing a result)."""
    from PySide6.QtCore import QSettings

    from ultrasound_reader.gui.main_window import MainWindow

    window = MainWindow(QSettings(str(settings), QSettings.Format.IniFormat))
    window.case_ctl.ask_unsaved = lambda _m: "discard"
    window.resize(1600, 1000)
    window.show()
    r = window.reading
    try:
        window.open_paths([case_dir])
        _loop_until(lambda: r.bundle is not None and not r.busy and window.cine is not None
                    and not window.runner.busy)
        r.cam.toggle.setChecked(True)
    except BaseException:
        window.close()
        raise
    return window


def run(quick: bool = False) -> dict[str, Any]:
    """The stalls on the demo liver case, and ``progressive`` (see the module docstring)."""
    out = stalls(quick)
    out["progressive"] = progressive(quick)
    return out


def stalls(quick: bool = False) -> dict[str, Any]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEventLoop, QTimer

    from ultrasound_reader.case import Case
    from ultrasound_reader.gui.app import application
    from ultrasound_reader.gui.bundles import default_bundle
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
        window = _window_on(case_dir, Path(tmp) / "settings.ini")
        r = window.reading
        try:
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
            _restore_models_env(saved_env)


def _timed_analysis(window: Any) -> dict[str, float]:
    """One analysis from Analyse: seconds to the first output shown, to the final result shown, longest stall."""
    r = window.reading
    t0 = time.perf_counter()
    marks: dict[str, float] = {}
    measured: list[Any] = []

    def on_partial(_p: Any) -> None:  # connected after the panel's slot: the partial is on screen
        marks.setdefault("first_s", time.perf_counter() - t0)

    def on_finished(_run: Any) -> None:
        marks["final_s"] = time.perf_counter() - t0
        marks.setdefault("first_s", marks["final_s"])  # nothing shown before the end (the baseline)

    r.session.partialResult.connect(on_partial)
    r.analysis.finished.connect(on_finished)
    r.analysis.stallMeasured.connect(measured.append)
    try:
        r.analyse()
        _loop_until(lambda: bool(measured))
    finally:
        r.session.partialResult.disconnect(on_partial)
        r.analysis.finished.disconnect(on_finished)
        r.analysis.stallMeasured.disconnect(measured.append)
    return {"first_s": marks["first_s"], "final_s": marks["final_s"], "stall_ms": measured[0].longest_stall_ms}


def progressive(quick: bool = False) -> dict[str, Any]:
    """Progressive results vs everything at the end, ConvNeXt-T at 470x280 (``--quick``: ours and the baseline only)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from ultrasound_reader.ai.bundle import load_bundle, make_random_bundle
    from ultrasound_reader.ai.onnx_runtime import export_onnx, load_onnx_bundle, runtime_for_bundle
    from ultrasound_reader.gui.analysis import ANALYSIS_THREADS
    from ultrasound_reader.gui.app import application
    from ultrasound_reader.paths import resources_dir

    case_dir = resources_dir() / SOFT_CASE
    if not (case_dir / "case.json").is_file():
        return {"skipped": f"no demo case at {case_dir}"}
    try:
        import onnxruntime  # noqa: F401
        have_ort = True
    except ImportError:
        have_ort = False
    variant = "tiny"  # the paper's network even in --quick, which runs only the baseline and ours, once each
    repeats = 1 if quick else 3
    app = application()
    saved_env = os.environ.get("ULTRASOUND_READER_MODELS")
    with tempfile.TemporaryDirectory(prefix="progressive-bench-") as tmp:
        folder = make_random_bundle(Path(tmp) / "models" / "soft-tissue-bench", "soft-tissue", small=False,
                                    variant=variant, seed=3)
        if have_ort:
            export_onnx(folder)  # unsigned copy: the bench measures speed, not trust
        os.environ["ULTRASOUND_READER_MODELS"] = str(Path(tmp) / "models")
        window = _window_on(case_dir, Path(tmp) / "settings.ini")
        r = window.reading
        try:
            default_runtime = runtime_for_bundle(folder)
            # What the window loaded itself (bundles.load_bundle_job) is ours.
            loaded: dict[tuple[str, int], Any] = {(default_runtime, ANALYSIS_THREADS): r.bundle}

            def bundle(runtime: str, threads: int) -> Any:
                if (runtime, threads) not in loaded:
                    loaded[(runtime, threads)] = load_bundle(folder, require_signed=False) if runtime == "torch" \
                        else load_onnx_bundle(folder, threads=threads, require_signed=False)
                return loaded[(runtime, threads)]

            # (name, runtime, threads, progressive); the baseline is today's window: torch, everything at the end.
            # Ours first: its first analysis is the window's first (first-time costs on the GUI thread included).
            configs = [("ours", default_runtime, ANALYSIS_THREADS, True),
                       ("baseline", "torch", ANALYSIS_THREADS, False)]
            if not quick:
                configs += [(f"{rt}_{n}_thread{'s' if n > 1 else ''}_progressive", rt, n, True)
                            for rt in ("torch", *(["onnx"] if have_ort else [])) for n in (1, 2)]
            info = r.session.bundle_info
            samples: dict[str, list[dict[str, float]]] = {name: [] for name, *_ in configs}
            first_analysis: dict[str, float] = {}
            for i in range(repeats + 1):  # interleaved, so every configuration sees the same load
                for name, runtime, threads, prog in configs:
                    r.session._set_bundle(bundle(runtime, threads), info)
                    r.analysis.threads, r.analysis.progressive = threads, prog
                    one = _timed_analysis(window)
                    if i == 0:  # warm-up: first analysis on this bundle (kernels built per shape)
                        first_analysis.setdefault(name, one["stall_ms"])
                    else:
                        samples[name].append(one)
            med = {name: {k: statistics.median(x[k] for x in runs) for k in ("first_s", "final_s", "stall_ms")}
                   for name, runs in samples.items()}
            out: dict[str, Any] = {
                "network": f"convnext_{variant}, 470x280, 6 models x 2 images (grayscale + CDFI)",
                "case": str(SOFT_CASE),
                "window_threads": ANALYSIS_THREADS,
                "ours_runtime": default_runtime,
                "repeats": repeats,
            }
            for name, m in med.items():
                out[name] = {"first_output_shown_s": round(m["first_s"], 3), "cascade_shown_s": round(m["final_s"], 3),
                             "longest_stall_ms": round(m["stall_ms"], 1),
                             "first_analysis_longest_stall_ms": round(first_analysis[name], 1)}
            ours, base = med["ours"], med["baseline"]
            out["first_output_ratio_vs_baseline"] = round(ours["first_s"] / base["first_s"], 3)
            out["cascade_ratio_vs_baseline"] = round(ours["final_s"] / base["final_s"], 3)
            out["stall_ratio_vs_baseline"] = round(ours["stall_ms"] / max(base["stall_ms"], 1e-3), 3)
            out["targets"] = {"first_output_s": FIRST_TARGET_S, "cascade_s": CASCADE_TARGET_S,
                              "stall_ms": STALL_TARGET_MS}
            out["ours_meets_targets"] = {
                "first_output": ours["first_s"] <= FIRST_TARGET_S, "cascade": ours["final_s"] <= CASCADE_TARGET_S,
                "stall": max(ours["stall_ms"], first_analysis["ours"]) <= STALL_TARGET_MS}
            return out
        finally:
            window.close()
            _restore_models_env(saved_env)


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(progressive(quick="--quick" in sys.argv), indent=2))
