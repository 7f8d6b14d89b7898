"""Progressive results in the window: each output shown as it is computed, then the final result.

The real Analyzer runs in the window's worker on a copied demo case with small random
bundles (tiny_models); a gate wrapped around ``job.partial`` holds the worker right after
it handed out its first partial, so the test sees (and screenshots) the mid-cascade state.
Set ``UR_WORKFLOW_SHOTS=/some/folder`` to keep the screenshot.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

pytestmark = pytest.mark.gui

REPO = Path(__file__).resolve().parents[2]
SOFT_CASE = REPO / "resources" / "demo" / "soft-tissue" / "soft-s136-0000"
LIVER_CASE = REPO / "resources" / "demo" / "liver" / "liver-s136-0000"
LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def soft_window(make_window, tiny_models: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # noqa: ANN001, ANN201
    monkeypatch.setenv("ULTRASOUND_READER_MODELS", str(tiny_models))
    window = make_window(tmp_path / "settings.ini")
    window.resize(1600, 1000)
    window.reading.analysis.threads = 1
    return window


def _open(qtbot, window, src: Path, tmp_path: Path, task: str) -> None:  # noqa: ANN001
    case_dir = tmp_path / src.name
    shutil.copytree(src, case_dir)
    window.open_paths([case_dir])
    r = window.reading
    qtbot.waitUntil(lambda: window.case_ctl.doc.case is not None and window.cine is not None
                    and not window.runner.busy, timeout=20000)
    qtbot.waitUntil(lambda: r.bundle is not None and r.bundle.task == task and not r.busy, timeout=60000)


def _gate_after_first_partial(r) -> tuple[threading.Event, threading.Event]:  # noqa: ANN001
    """Wrap the real worker: after its first partial is handed out, wait for ``resume``."""
    from ultrasound_reader.gui import analysis

    handed, resume = threading.Event(), threading.Event()

    def gated(job, *args):  # noqa: ANN001, ANN202
        send = job.partial

        def partial(payload: Any) -> None:
            send(payload)
            if not handed.is_set():
                handed.set()
                resume.wait(20)

        job.partial = partial
        return analysis.run_analysis(job, *args)

    r.analysis.work = gated
    return handed, resume


def test_soft_tissue_outputs_show_as_they_come_then_the_final_result(qtbot, soft_window, tmp_path: Path) -> None:  # noqa: ANN001
    window = soft_window
    _open(qtbot, window, SOFT_CASE, tmp_path, "soft-tissue")
    r = window.reading
    panel = r.results
    handed, resume = _gate_after_first_partial(r)
    partials: list[Any] = []
    r.session.partialResult.connect(partials.append)
    r.analyse()
    assert handed.wait(30)
    qtbot.waitUntil(lambda: panel.partial is not None, timeout=10000)
    text = panel.visible_text()
    assert "1 of 6 models — computing SM-1" in text
    assert panel.state == "running" and not panel.dimmed and panel.progress.isVisible()
    dlm1 = panel.rows["DLM-1"][2].text()
    assert dlm1 == f"{partials[0].partial.result.probabilities['DLM-1']:.3f}"
    assert panel.rows["SM-1"][2].text() == "computing…"
    assert [panel.rows[f"SM-{i}"][2].text() for i in range(2, 6)] == ["waiting"] * 4
    assert panel.decision.text() in ("Malignant", "Benign — subtype pending")
    assert r.run is None  # a partial is no result: the session holds none yet
    folder = os.environ.get("UR_WORKFLOW_SHOTS")
    if folder:
        window.grab().save(str(Path(folder) / "progressive_mid_cascade.png"))
    with qtbot.waitSignal(r.analysis.finished, timeout=30000) as sig:
        resume.set()
    final = sig.args[0].result
    assert panel.partial is None and panel.state == "result" and panel.result is final
    assert all(panel.rows[n][2].text() == f"{final.probabilities[n]:.3f}" for n in final.probabilities)
    assert "models — computing" not in panel.visible_text()
    # Partials came in cascade order (coalesced ones skipped), each with one output more.
    done = [p.partial.done for p in partials]
    assert done[0] == ("DLM-1",) and all(len(a) < len(b) for a, b in zip(done, done[1:]))
    assert sig.args[0].extra["first_partial_s"] is not None


def test_cancel_mid_cascade_leaves_no_result(qtbot, soft_window, tmp_path: Path) -> None:  # noqa: ANN001
    window = soft_window
    _open(qtbot, window, SOFT_CASE, tmp_path, "soft-tissue")
    r = window.reading
    handed, resume = _gate_after_first_partial(r)
    r.analyse()
    assert handed.wait(30)
    qtbot.waitUntil(lambda: r.results.partial is not None, timeout=10000)
    qtbot.mouseClick(r.cancel_button, LEFT)
    resume.set()
    qtbot.waitUntil(lambda: not r.analysis.runner.busy, timeout=20000)
    qtbot.wait(50)
    panel = r.results
    assert panel.state == "cancelled" and panel.partial is None and panel.result is None and r.run is None
    assert "DLM-1" not in panel.rows and "computing" not in panel.visible_text()


def test_a_partial_for_another_case_is_dropped(qtbot, soft_window, tmp_path: Path) -> None:  # noqa: ANN001
    """The Inputs check: what is on screen changes after the worker handed a partial out, before it is shown."""
    window = soft_window
    _open(qtbot, window, LIVER_CASE, tmp_path, "liver-fll")
    r = window.reading
    ctl = r.analysis
    real = ctl._on_partial
    switched: list[bool] = []

    def on_partial(rid: int, partial: Any) -> None:
        real(rid, partial)  # queued for the next event-loop turn
        if not switched:  # meanwhile no case (or another one) is on screen: its inputs no longer match
            ctl.current_inputs = lambda: None
            switched.append(True)

    ctl._on_partial = on_partial
    shown: list[Any] = []
    ctl.partial.connect(shown.append)
    with qtbot.waitSignal(ctl.cancelled, timeout=30000):  # the final result is dropped the same way
        r.analyse()
    qtbot.waitUntil(lambda: not ctl.runner.busy, timeout=20000)
    assert switched and shown == [] and ctl.partials_dropped >= 1
    assert r.results.partial is None and r.results.result is None and r.run is None


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="no onnxruntime")
def test_a_bundle_with_onnx_graphs_runs_on_onnx_runtime_progressively(qtbot, make_window, tiny_models: Path,  # noqa: ANN001
                                                                       monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path) -> None:
    from ultrasound_reader.ai.onnx_runtime import RUNTIME_ENV, export_onnx

    models = tmp_path / "models"
    shutil.copytree(tiny_models / "soft-tissue-demo", models / "soft-tissue-demo")
    export_onnx(models / "soft-tissue-demo")
    monkeypatch.setenv("ULTRASOUND_READER_MODELS", str(models))
    monkeypatch.delenv(RUNTIME_ENV, raising=False)
    window = make_window(tmp_path / "settings.ini")
    _open(qtbot, window, SOFT_CASE, tmp_path, "soft-tissue")
    r = window.reading
    assert type(r.bundle).__name__ == "OnnxBundle"
    partials: list[Any] = []
    r.session.partialResult.connect(partials.append)
    with qtbot.waitSignal(r.analysis.stallMeasured, timeout=30000) as sig:
        r.analyse()
    # DLM-1 first. Partials that queue up while the GUI thread is busy are coalesced, and the final
    # result drops any still queued: on a loaded machine none may show (the order of the ONNX
    # pipeline's partials is tested headless in tests/ai/test_progressive.py).
    assert not partials or (partials[0].partial.done[0] == "DLM-1" and len(partials[-1].partial.done) < 6)
    assert set(sig.args[0].result.probabilities) == {"DLM-1", "SM-1", "SM-2", "SM-3", "SM-4", "SM-5"}
    assert r.results.state == "result" and r.results.partial is None


@pytest.mark.slow
def test_progressive_bench_reports_ours_and_the_baseline_of_the_same_run() -> None:
    from ultrasound_reader.gui.analysis_bench import progressive

    out = progressive(quick=True)
    ours, base = out["ours"], out["baseline"]
    # The baseline shows nothing before the end; ours shows the first output before its cascade ends.
    assert base["first_output_shown_s"] == base["cascade_shown_s"]
    assert 0 < ours["first_output_shown_s"] < ours["cascade_shown_s"]
    assert out["first_output_ratio_vs_baseline"] == pytest.approx(
        ours["first_output_shown_s"] / base["first_output_shown_s"], rel=0.02)
    assert set(out["ours_meets_targets"]) == {"first_output", "cascade", "stall"}


def test_panel_fll_partials_wait_for_the_deciding_model_and_a_cancel_brings_back_the_last_result(
        qtbot, tiny_models: Path) -> None:  # noqa: ANN001
    """The panel alone, on real partials of the demo liver case: L, then LB; LBC decides."""
    from ultrasound_reader.ai import Analyzer, load_bundle
    from ultrasound_reader.case import Case
    from ultrasound_reader.gui.results_panel import ResultsPanel

    bundle = load_bundle(tiny_models / "liver-fll-demo")
    partials: list[Any] = []
    final = Analyzer(bundle, threads=1).run(Case.load(LIVER_CASE), partial=partials.append)
    assert [p.done for p in partials] == [("L",), ("L", "LB")] and final.decision_model == "LBC"
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.resize(420, 700)
    panel.show()
    panel.set_result(final, bundle.manifest)  # an earlier analysis on screen
    panel.set_stale(True)
    panel.set_running(0.1, "Model^L")
    panel.set_partial(partials[0], bundle.manifest)
    assert panel.decision.text() == "Decision pending"
    assert panel.decision_detail.text() == "Model^LBC decides once computed"
    assert panel.rows["L"][2].text() == f"{final.probabilities['L']:.3f}"
    assert (panel.rows["LB"][2].text(), panel.rows["LBC"][2].text()) == ("computing…", "waiting")
    assert "1 of 3 models — computing Model^LB…" in panel.status.text() and not panel.dimmed
    folder = os.environ.get("UR_WORKFLOW_SHOTS")
    if folder:
        qtbot.wait(50)  # widgets added to the layout show on the next event-loop turn
        panel.grab().save(str(Path(folder) / "progressive_fll_after_L.png"))
    panel.set_running(0.6, "Model^LB")  # progress keeps the count of models in the status line
    assert "1 of 3 models — computing Model^LB…" in panel.status.text()
    panel.set_partial(partials[1], bundle.manifest)
    assert panel.rows["LB"][2].text() == f"{final.probabilities['LB']:.3f}"
    assert panel.rows["LBC"][2].text() == "computing…" and "2 of 3 models" in panel.status.text()
    panel.set_cancelled()  # no new result: the earlier one comes back, still stale (greyed)
    assert panel.partial is None and panel.result is final and panel.stale and panel.dimmed
    assert panel.rows["LBC"][2].text() == f"{final.probabilities['LBC']:.3f}"
    assert "computing" not in panel.visible_text()


def test_a_result_made_stale_while_partials_show_comes_back_stale_after_a_cancel(qtbot, tiny_models: Path) -> None:  # noqa: ANN001
    """Factors edited during a run do not cancel it; if the run is then cancelled, the earlier result is stale."""
    from ultrasound_reader.ai import Analyzer, load_bundle
    from ultrasound_reader.case import Case
    from ultrasound_reader.gui.results_panel import ResultsPanel

    bundle = load_bundle(tiny_models / "liver-fll-demo")
    partials: list[Any] = []
    final = Analyzer(bundle, threads=1).run(Case.load(LIVER_CASE), partial=partials.append)
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.set_result(final, bundle.manifest)  # fresh
    assert not panel.stale and not panel.dimmed
    panel.set_running(0.1, "Model^L")
    panel.set_partial(partials[0], bundle.manifest)
    panel.set_stale(True)  # the factors changed while the run goes on
    panel.set_partial(partials[1], bundle.manifest)
    panel.set_cancelled()
    assert panel.result is final and panel.stale and panel.dimmed
