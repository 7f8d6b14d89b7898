"""The reading workflow in the main window, end to end (pytest-qt, offscreen).

Real parts: the demo phantom cases (copied, their ROIs and factors removed where the
test draws and fills them), real random-weight model bundles (small, made once per
session) found through ULTRASOUND_READER_MODELS exactly as the demo bundles are, and
the real Analyzer in the window's worker thread. Where a test must catch an analysis
at a given moment (cancel mid-run, switch case before the result comes), it wraps
the real worker function with a gate; the analysis itself still runs for real.

Set ``UR_WORKFLOW_SHOTS=/some/folder`` to keep screenshots of the states.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from ultrasound_reader.case import Case, ClinicalFactors

pytestmark = pytest.mark.gui

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "resources" / "demo"
LEFT = Qt.MouseButton.LeftButton
CTRL = Qt.KeyboardModifier.ControlModifier
CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
# The lesion and a liver-background patch of demo case liver-s136-0000 (image pixels).
LESION_BOX = ((255, 206), (338, 278))
BACKGROUND_BOX = ((362, 137), (397, 172))
LESION_FRAMES = (2, 7, 12, 17)


# ----------------------------------------------------------------------------- fixtures
def _copy_case(src: Path, dest: Path, strip: bool) -> Path:
    out = dest / src.name
    shutil.copytree(src, out)
    if strip:  # the reader draws and fills these in the test
        data = json.loads((out / "case.json").read_text())
        data["rois"], data["factors"] = [], {}
        (out / "case.json").write_text(json.dumps(data))
    return out


@pytest.fixture
def reading_window(make_window, tiny_models: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # noqa: ANN001, ANN201
    monkeypatch.setenv("ULTRASOUND_READER_MODELS", str(tiny_models))
    window = make_window(tmp_path / "reading-settings.ini")
    window.resize(1600, 1000)
    window.reading.analysis.threads = 1
    return window


def _open_case(qtbot, window, path: Path, task: str = "liver-fll") -> None:  # noqa: ANN001
    window.open_paths([path])
    r = window.reading
    qtbot.waitUntil(lambda: window.case_ctl.doc.case is not None and window.case_ctl.image_index is not None
                    and window.cine is not None and not window.runner.busy
                    and window.image_view.frame_index is not None, timeout=20000)
    qtbot.waitUntil(lambda: r.bundle is not None and r.bundle.task == task and not r.busy, timeout=60000)


def _goto(qtbot, window, frame: int) -> None:  # noqa: ANN001
    window.show_frame(frame)
    qtbot.waitUntil(lambda: window.image_view.frame_index == frame, timeout=5000)


def _draw(ui, qtbot, window, tool_key: Qt.Key, box) -> None:  # noqa: ANN001
    qtbot.keyClick(window, tool_key)
    view = window.image_view
    (x0, y0), (x1, y1) = box
    ui.mouse_drag(view.viewport(), view.map_to_widget(x0, y0), view.map_to_widget(x1, y1), LEFT)


def _analyse_and_wait(qtbot, window, timeout: int = 30000):  # noqa: ANN001, ANN202
    r = window.reading
    with qtbot.waitSignal(r.analysis.stallMeasured, timeout=timeout) as sig:
        qtbot.keyClick(window, Qt.Key.Key_Return, CTRL)
    return sig.args[0]


def _shot(window, name: str) -> None:  # noqa: ANN001
    folder = os.environ.get("UR_WORKFLOW_SHOTS")
    if folder:
        window.grab().save(str(Path(folder) / name))


def _independent(window, case: Case):  # noqa: ANN001, ANN202
    """The same analysis run directly through the AI layer (what the window must show)."""
    from ultrasound_reader.ai import Analyzer

    copy = Case.from_dict(case.to_dict(), root=case.root)
    return Analyzer(window.reading.bundle, cam=False).run(copy)


# ----------------------------------------------------------------------------- start-up
def test_starting_the_main_window_does_not_import_torch(tmp_path: Path) -> None:
    code = (
        "import sys, time\n"
        "from PySide6.QtCore import QSettings\n"
        "from ultrasound_reader.gui.app import application\n"
        "from ultrasound_reader.gui.main_window import MainWindow\n"
        "app = application()\n"
        f"w = MainWindow(QSettings({str(tmp_path / 's.ini')!r}, QSettings.Format.IniFormat))\n"
        "w.show()\n"
        "end = time.time() + 1.0\n"
        "while time.time() < end:\n"
        "    app.processEvents(); time.sleep(0.01)\n"
        "print('torch' in sys.modules, 'ultrasound_reader.ai.analyzer' in sys.modules, 'pandas' in sys.modules)\n"
        "w.close()\n")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path),
               ULTRASOUND_READER_MODELS=str(tmp_path / "no-models"))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 0, p.stderr
    # Neither torch nor the AI pipelines nor the statistics stack (the nomogram's) at start-up.
    assert p.stdout.split() == ["False", "False", "False"]


def test_demo_start_opens_the_liver_case_and_analyses_it(qtbot, reading_window) -> None:  # noqa: ANN001
    from ultrasound_reader.gui.app import demo_paths

    window = reading_window
    paths = demo_paths()
    assert paths == [DEMO / "liver" / "liver-s136-0000"]
    r = window.reading
    with qtbot.waitSignal(r.analysis.stallMeasured, timeout=60000):
        r.show_demo()
        window.open_paths(paths)
    assert r.bundle.name == "random-liver-fll-small" and window.case_ctl.doc.case.case_id == "liver-s136-0000"
    assert r.results.state == "result" and set(r.run.result.probabilities) == {"L", "LB", "LBC"}
    assert r.cam.settings().enabled and r.layer.isVisible()  # the frame on screen carries a lesion ROI


def test_stall_meter_sees_a_blocked_event_loop(qtbot) -> None:  # noqa: ANN001
    import time

    from PySide6.QtCore import QTimer

    from ultrasound_reader.gui.stall import StallMeter

    meter = StallMeter()
    meter.start()
    qtbot.wait(60)
    calm = meter.longest_ms
    QTimer.singleShot(10, lambda: time.sleep(0.12))  # a slot that blocks the loop for 120 ms
    qtbot.wait(200)
    longest = meter.stop()
    assert longest >= 100 > calm and len(meter.gaps_ms) > 10
    assert meter.percentile_ms(50) < 50


# ----------------------------------------------------------------------------- the liver workflow
def test_liver_workflow_draw_fill_analyse_nomogram_undo(ui, qtbot, reading_window, tmp_path: Path) -> None:  # noqa: ANN001
    window = reading_window
    case_dir = _copy_case(DEMO / "liver" / "liver-s136-0000", tmp_path, strip=True)
    _open_case(qtbot, window, case_dir)
    r, ctl = window.reading, window.case_ctl
    form, doc = r.form, ctl.doc
    assert r.model_label.text() == "Model: random-liver-fll-small 0.0.0 · ⚠ unsigned (no model.sig)"
    # The LBC fusion's factors are marked; sex and age came from the DICOM header (M, 053Y).
    assert set(form.required) >= {"halo", "tumour_history", "hepatitis", "age", "sex", "vascularity"}
    assert doc.case.factors.sex == "M" and doc.case.factors.age == 53
    assert "Prefilled from DICOM" in form.prefill_note.text()

    # Missing ROIs: a clear message, no result.
    r.analyse()
    qtbot.waitUntil(lambda: r.results.state == "error", timeout=20000)
    assert "Cannot analyse" in r.results.status.text() and "no lesion ROI" in r.results.status.text()
    assert r.run is None and r.results.result is None

    # Draw 4 lesion ellipses and a background rectangle with the mouse.
    for frame in LESION_FRAMES:
        _goto(qtbot, window, frame)
        _draw(ui, qtbot, window, Qt.Key.Key_E, LESION_BOX)
    ctl.panel.kind.setCurrentIndex(ctl.panel.kind.findData("background"))
    ctl.panel.kind.activated.emit(ctl.panel.kind.currentIndex())
    _goto(qtbot, window, LESION_FRAMES[0])
    _draw(ui, qtbot, window, Qt.Key.Key_B, BACKGROUND_BOX)
    case = doc.case
    assert r.results.state == "empty"  # the "no lesion ROI" message left with its reason
    assert [(x.kind, x.shape, x.frame) for x in case.rois] == [
        *(("lesion", "ellipse", f) for f in LESION_FRAMES), ("background", "rectangle", LESION_FRAMES[0])]
    assert ctl.panel.status_label.text() == "ROIs complete for analysis"

    # Fill the form as the reader would; each edit reaches the case.
    form.widgets["hepatitis"].setCurrentIndex(form.widgets["hepatitis"].findData(1))
    for name, value in (("tumour_history", False), ("halo", True), ("vascularity", False)):
        form.widgets[name].setCurrentIndex(form.widgets[name].findData(value))
    assert (case.factors.hepatitis, case.factors.tumour_history, case.factors.halo, case.factors.vascularity) == (
        1, False, True, False)
    assert doc.dirty and form.missing_required() == []

    run = _analyse_and_wait(qtbot, window)
    result = run.result
    assert r.results.state == "result" and not r.results.stale and r.run is run
    expected = _independent(window, case)
    text = r.results.visible_text()
    for name, title in (("L", "Model^L"), ("LB", "Model^LB"), ("LBC", "Model^LBC")):
        assert result.probabilities[name] == pytest.approx(expected.probabilities[name], abs=1e-6)
        assert f"{title}  {result.probabilities[name]:.3f}" in text
    assert result.case_id == case.case_id and result.request_id == str(r.analysis.last_run.result.request_id)
    assert "L1 | lesion | 1·3" in text  # the table names ROIs as the ROI list does, frames from 1
    assert run.ticks > 0 and run.longest_stall_ms >= 0.0
    assert "longest UI stall" in r.status_label.text()
    print(f"\nlongest event-loop stall during the analysis: {run.longest_stall_ms:.1f} ms "
          f"(p99 {run.stall_p99_ms:.1f} ms, {run.ticks} ticks, {run.seconds:.2f} s)")
    _shot(window, "workflow_liver_results.png")

    # The nomogram: image score from this analysis, factors live from the form.
    from ultrasound_reader.ai.fusion import fused_probability

    nomo = r.nomogram
    assert nomo.score is not None
    assert nomo.score.probability == pytest.approx(result.probabilities["LBC"], abs=1e-6)
    with qtbot.waitSignal(nomo.scoreChanged, timeout=2000):
        form.widgets["halo"].setCurrentIndex(form.widgets["halo"].findData(False))
    without_halo = fused_probability(r.bundle.fusion, case.factors, result.probabilities)[0]
    assert nomo.score.probability == pytest.approx(without_halo, abs=1e-6)
    assert without_halo < result.probabilities["LBC"] - 0.05
    assert f"Probability {without_halo:.3f}" == nomo.prob_label.text()
    assert r.results.stale and "Clinical factors changed" in r.results.status.text()
    form.widgets["halo"].setCurrentIndex(form.widgets["halo"].findData(True))
    assert not r.results.stale  # back to the analysed factors

    # Undo an ROI edit: the results go stale and the heat map leaves; redo brings them back.
    r.cam.toggle.setChecked(True)
    assert r.layer.isVisible()
    qtbot.keyClick(window, Qt.Key.Key_Z, CTRL)
    assert len(case.rois) == 4
    assert r.results.stale and "ROIs changed" in r.results.status.text()
    assert not r.layer.isVisible() and not r.thumbs.isEnabled()
    qtbot.keyClick(window, Qt.Key.Key_Z, CTRL_SHIFT)
    assert len(case.rois) == 5 and not r.results.stale and r.layer.isVisible()


def test_cam_overlay_opacity_frames_thumbnails_and_side_by_side(qtbot, reading_window, tmp_path: Path) -> None:  # noqa: ANN001
    window = reading_window
    case_dir = _copy_case(DEMO / "liver" / "liver-s136-0001", tmp_path, strip=False)
    _open_case(qtbot, window, case_dir)
    r, doc = window.reading, window.case_ctl.doc
    run = _analyse_and_wait(qtbot, window)
    lesion = doc.case.rois_of("lesion")[0]
    _goto(qtbot, window, lesion.frame)

    assert not r.layer.isVisible()  # off until asked
    qtbot.keyClick(window, Qt.Key.Key_G)
    assert r.cam.toggle.isChecked() and r.act_cam.isChecked() and r.layer.isVisible()
    cam = next(c for c in run.result.cams if c.roi_id == lesion.id and c.model == r.cam.settings().model)
    x0, y0, x1, y1 = cam.bbox
    overlay = r.layer.overlay
    inside = np.array([overlay.value_at(x, y) for y in range(y0, y1, 3) for x in range(x0, x1, 3)])
    assert inside[:, 3].max() > 0 and inside[:, :3].max() > 0  # coloured, visible pixels in the ROI box
    assert overlay.value_at(x1 + 40, y1 + 40)[3] == 0  # nothing outside the maps
    # What the image item draws is the overlay, at its place in image pixels.
    assert np.array_equal(r.layer.image, overlay.rgba)
    assert (r.layer.pos().x(), r.layer.pos().y()) == (overlay.x0 - 0.5, overlay.y0 - 0.5)
    alpha_half = overlay.rgba[..., 3].astype(int).sum()
    r.cam.opacity.setValue(100)
    alpha_full = r.layer.overlay.rgba[..., 3].astype(int).sum()
    assert alpha_full > 1.8 * alpha_half
    r.cam.opacity.setValue(0)
    assert r.layer.overlay.rgba[..., 3].max() == 0
    r.cam.opacity.setValue(60)

    # Only on the frame the map was computed on.
    other = next(f for f in range(window.n_frames) if f not in {c.frame for c in run.result.cams})
    _goto(qtbot, window, other)
    assert not r.layer.isVisible()
    _goto(qtbot, window, lesion.frame)
    assert r.layer.isVisible()

    # Colour map with its legend.
    r.cam.cmap.setCurrentText("viridis")
    assert r.cam.legend.cmap == "viridis" and r.cam.legend.active

    # One thumbnail per analysed ROI; a click shows its frame.
    assert [t.roi_id for t in r.thumbs.tiles] == [row["roi_id"] for row in run.result.per_image]
    target = doc.case.rois_of("lesion")[2]
    qtbot.mouseClick(r.thumbs.buttons[[t.roi_id for t in r.thumbs.tiles].index(target.id)], LEFT)
    qtbot.waitUntil(lambda: window.image_view.frame_index == target.frame, timeout=5000)
    assert window.case_ctl.selected_id == target.id

    # Side by side: image on the left, image + heat map on the right, following its zoom.
    qtbot.keyClick(window, Qt.Key.Key_G, Qt.KeyboardModifier.ShiftModifier)
    assert r.compare.isVisible() and not r.layer.isVisible() and r.compare.layer.isVisible()
    assert np.array_equal(r.compare.frame_item.image, window.image_view.image_item.image)
    window.image_view.zoom_by(2.0)
    a, b = window.image_view.view.viewRect(), r.compare.view.viewRect()
    assert abs(a.center().x() - b.center().x()) < 2 and abs(a.center().y() - b.center().y()) < 2
    _shot(window, "workflow_side_by_side.png")
    qtbot.keyClick(window, Qt.Key.Key_G, Qt.KeyboardModifier.ShiftModifier)
    assert not r.compare.isVisible() and r.layer.isVisible()


def test_cancel_a_running_analysis(qtbot, reading_window, tmp_path: Path) -> None:  # noqa: ANN001
    from ultrasound_reader.gui import analysis

    window = reading_window
    _open_case(qtbot, window, _copy_case(DEMO / "liver" / "liver-s136-0002", tmp_path, strip=False))
    r = window.reading
    at_model, resume = threading.Event(), threading.Event()

    def gated(job, *args):  # noqa: ANN001, ANN202 - the real analysis, held at its Model^L step
        progress = job.progress

        def report(done: int, total: int, message: str) -> None:
            progress(done, total, message)
            if message == "Model^L":
                at_model.set()
                resume.wait(20)

        job.progress = report
        return analysis.run_analysis(job, *args)

    r.analysis.work = gated
    qtbot.mouseClick(r.analyse_button, LEFT)
    assert at_model.wait(20)
    qtbot.waitUntil(lambda: r.results.state == "running", timeout=5000)
    assert r.cancel_button.isEnabled() and not r.analyse_button.isEnabled()
    qtbot.mouseClick(r.cancel_button, LEFT)
    resume.set()
    assert r.results.state == "cancelled" and "Analysis cancelled" in r.results.status.text()
    qtbot.waitUntil(lambda: not r.analysis.runner.busy, timeout=20000)
    qtbot.wait(50)
    assert r.run is None and r.results.result is None and r.cam.model.count() == 0 and not r.layer.isVisible()
    assert r.analyse_button.isEnabled() and not r.cancel_button.isEnabled()

    # A factor changed while it runs: the result still lands (its images are the case's), marked stale.
    at_model.clear()
    resume.clear()
    r.analyse()
    assert at_model.wait(20)
    form = r.form
    form.widgets["halo"].setCurrentIndex(form.widgets["halo"].findData(not window.case_ctl.doc.case.factors.halo))
    with qtbot.waitSignal(r.analysis.finished, timeout=20000):
        resume.set()
    assert r.results.state == "result" and r.results.stale and "Clinical factors changed" in r.results.status.text()
    assert r.run.inputs.factors != window.case_ctl.doc.case.factors

    # Editing an ROI while an analysis runs stops it too.
    at_model.clear()
    resume.clear()
    r.analysis.work = gated
    r.analyse()
    assert at_model.wait(20)
    roi = window.case_ctl.doc.case.rois_of("background")[0]
    window.case_ctl.doc.set_points(roi.id, [(p[0] + 4, p[1]) for p in roi.points], "Move ROI")
    resume.set()
    assert r.results.state == "cancelled" and "ROIs changed" in r.results.status.text()
    qtbot.waitUntil(lambda: not r.analysis.runner.busy, timeout=20000)
    assert r.results.stale  # the earlier result stays, greyed: its ROIs are not the case's any more


def test_switching_case_mid_analysis_never_shows_the_late_result(qtbot, reading_window, tmp_path: Path) -> None:  # noqa: ANN001
    from ultrasound_reader.gui import analysis

    window = reading_window
    first = _copy_case(DEMO / "liver" / "liver-s136-0000", tmp_path, strip=False)
    second = _copy_case(DEMO / "liver" / "liver-s136-0001", tmp_path, strip=False)
    _open_case(qtbot, window, first)
    r = window.reading
    computed, release = threading.Event(), threading.Event()
    late = []

    def late_result(job, *args):  # noqa: ANN001, ANN202 - real result, handed back only after the switch
        out = analysis.run_analysis(job, *args)
        late.append(out[0])
        computed.set()
        release.wait(20)
        return out

    r.analysis.work = late_result
    r.analyse()
    assert computed.wait(30)
    window.open_paths([second])  # while the first case's result waits to be handed back
    qtbot.waitUntil(lambda: window.case_ctl.doc.case is not None
                    and window.case_ctl.doc.case.case_id == "liver-s136-0001" and window.cine is not None
                    and not window.runner.busy, timeout=20000)
    assert r.results.state == "empty" and not r.analysis.running
    release.set()
    qtbot.waitUntil(lambda: not r.analysis.runner.busy, timeout=20000)
    qtbot.wait(100)
    assert late and late[0].case_id == "liver-s136-0000"
    assert r.run is None and r.results.result is None and r.results.state == "empty"
    assert r.cam.model.count() == 0 and not r.layer.isVisible() and r.thumbs.tiles == []
    assert r.analysis.runner.stale_dropped + r.analysis.dropped >= 1
    # The new case analyses normally afterwards.
    r.analysis.work = analysis.run_analysis
    run = _analyse_and_wait(qtbot, window)
    assert run.result.case_id == "liver-s136-0001" and r.results.result is run.result


# ----------------------------------------------------------------------------- soft tissue
def test_soft_tissue_workflow(ui, qtbot, reading_window, tmp_path: Path) -> None:  # noqa: ANN001
    window = reading_window
    case_dir = _copy_case(DEMO / "soft-tissue" / "soft-s136-0000", tmp_path, strip=True)
    original = Case.load(DEMO / "soft-tissue" / "soft-s136-0000")
    _open_case(qtbot, window, case_dir, task="soft-tissue")
    r, ctl = window.reading, window.case_ctl
    assert r.form.task == "soft-tissue" and r.form.required == [] and r.bundle.task == "soft-tissue"
    assert r.model_label.text() == "Model: random-soft-tissue-small 0.0.0 · ⚠ unsigned (no model.sig)"
    assert ctl.kind == "mass" and ctl.image_index == 0

    def box(roi):  # noqa: ANN001, ANN202
        x0, y0, x1, y1 = roi.bbox()
        return (x0, y0), (x1, y1)

    # One mass on the grayscale image, then pick the CDFI image in the series browser and one there.
    _draw(ui, qtbot, window, Qt.Key.Key_E, box(original.rois[0]))
    cdfi = str(ctl.doc.case.image_path(1))
    window.browser.imageActivated.emit(cdfi)
    qtbot.waitUntil(lambda: ctl.image_index == 1 and window.image_view.frame_index is not None
                    and not window.runner.busy, timeout=10000)
    _draw(ui, qtbot, window, Qt.Key.Key_E, box(original.rois[1]))
    case = ctl.doc.case
    assert [(x.kind, case.images[x.image].role) for x in case.rois] == [("mass", "bmode"), ("mass", "cdfi")]
    r.form.set_field("site", "trunk")
    r.form.set_field("depth_mm", 4)
    assert case.factors.site == "trunk" and case.factors.depth_mm == 4

    run = _analyse_and_wait(qtbot, window)
    result = run.result
    expected = _independent(window, case)
    assert result.probabilities == pytest.approx(expected.probabilities, abs=1e-6)
    lines = r.results.visible_text().splitlines()
    dlm = next(i for i, line in enumerate(lines) if line.startswith("DLM-1  "))
    subs = sorted((n for n in result.probabilities if n.startswith("SM-")), key=lambda n: -result.probabilities[n])
    shown = [i for n in subs for i, line in enumerate(lines)
             if i > dlm and line.startswith(f"{n} ") and line.endswith(f"{result.probabilities[n]:.3f}")]
    assert len(shown) == 5 and shown == sorted(shown)  # DLM-1 first, then SM-1..SM-5 ranked by score
    assert result.decision == "benign" and result.subtype is not None
    assert r.cam.model.count() == 6 and r.cam.model.itemData(0) == "DLM-1"
    r.cam.toggle.setChecked(True)
    assert r.layer.isVisible()  # the CDFI image is on screen: its mass ROI has maps
    assert len(r.thumbs.tiles) == 2
    _shot(window, "workflow_soft_tissue.png")


# ----------------------------------------------------------------------------- bundles
def test_no_bundle_for_the_task_says_so(qtbot, make_window, monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    monkeypatch.setenv("ULTRASOUND_READER_MODELS", str(tmp_path / "empty"))
    window = make_window(tmp_path / "s.ini")
    window.open_paths([_copy_case(DEMO / "liver" / "liver-s136-0000", tmp_path, strip=False)])
    r = window.reading
    qtbot.waitUntil(lambda: window.case_ctl.doc.case is not None and not window.runner.busy, timeout=20000)
    assert r.bundle is None and not r.busy
    assert r.model_label.text() == "No model bundle for task liver-fll — analysis unavailable"
    r.analyse()
    assert r.results.state == "error"
    assert "no model bundle for task liver-fll" in r.results.status.text()


def test_open_model_bundle_sets_the_mode(qtbot, reading_window, tiny_models: Path, tmp_path: Path) -> None:  # noqa: ANN001
    window = reading_window
    _open_case(qtbot, window, _copy_case(DEMO / "liver" / "liver-s136-0000", tmp_path, strip=True))
    r = window.reading
    r.ask_bundle_dir = lambda _start: str(tiny_models / "soft-tissue-demo")
    window.actions["open_bundle"].trigger()
    qtbot.waitUntil(lambda: r.bundle is not None and r.bundle.task == "soft-tissue" and not r.busy, timeout=30000)
    # The bundle's task is the case's now: soft-tissue ROIs and form.
    assert window.case_ctl.doc.case.task == "soft-tissue" and window.case_ctl.kind == "mass"
    assert r.form.task == "soft-tissue" and r.nomogram.nomogram is None
    assert window.prefs.qsettings.value("bundle/soft-tissue") == str(tiny_models / "soft-tissue-demo")
    # Not a bundle: one clear line.
    r.ask_bundle_dir = lambda _start: str(tmp_path)
    window.actions["open_bundle"].trigger()
    assert "not a model bundle" in window.last_error and r.bundle.task == "soft-tissue"


def test_invalid_factor_blocks_the_analysis_with_its_field_named(qtbot, reading_window, tmp_path: Path) -> None:  # noqa: ANN001
    window = reading_window
    _open_case(qtbot, window, _copy_case(DEMO / "liver" / "liver-s136-0000", tmp_path, strip=False))
    r = window.reading
    r.form.widgets["age"].setText("130")
    assert r.analyse() is None
    assert r.results.state == "error" and "age" in r.results.status.text() and not r.analysis.running
    assert window.case_ctl.doc.case.factors.age is None  # an invalid entry is not recorded
    r.form.widgets["age"].setText("61")
    assert r.results.state == "empty"  # the refusal went with its reason
    assert window.case_ctl.doc.case.factors == ClinicalFactors(**{**Case.load(
        DEMO / "liver" / "liver-s136-0000").factors.__dict__, "age": 61})


# ----------------------------------------------------------------------------- the walk-through items
def _docks(window):  # noqa: ANN001, ANN202
    from PySide6.QtWidgets import QDockWidget

    return [d for d in window.findChildren(QDockWidget) if d.isVisible() and not d.isFloating()]


@pytest.mark.parametrize("size", [(1024, 700), (1280, 800)])
def test_layout_fits_small_windows_and_resets(qtbot, reading_window, tmp_path: Path, size) -> None:  # noqa: ANN001
    from PySide6.QtWidgets import QToolButton

    from ultrasound_reader.gui.main_window import MIN_CENTRAL_WIDTH, MIN_PANEL_WIDTH

    window = reading_window
    window.resize(*size)
    _open_case(qtbot, window, _copy_case(DEMO / "liver" / "liver-s136-0000", tmp_path, strip=False))
    window.reset_layout()
    qtbot.wait(50)
    assert window.minimumSizeHint().width() <= 1024 and window.width() == size[0]
    assert window.layout_problems() == []
    assert all(d.width() >= MIN_PANEL_WIDTH for d in _docks(window))
    assert window.centralWidget().width() >= MIN_CENTRAL_WIDTH
    assert {d.objectName() for d in _docks(window)} >= {"seriesBrowser", "roiPanel", "camDock", "resultsDock",
                                                         "nomogramDock"}
    # A toolbar wider than the window ends in a visible overflow button with the rest.
    overflow = window.toolbar.findChild(QToolButton, "toolbarOverflow")
    hidden = [a for a in window.toolbar.actions() if not a.isSeparator() and window.toolbar.widgetForAction(a)
              is not None and not window.toolbar.widgetForAction(a).isVisible()]
    assert overflow is not None and overflow.text() == "»"
    assert overflow.isVisible() == bool(hidden)
    if size[0] == 1024:
        assert hidden  # at 1024 px the analysis buttons are behind »
    _shot(window, f"layout_{size[0]}.png")


def test_saved_layout_is_versioned_checked_and_reset(qtbot, make_window, tiny_models, monkeypatch, tmp_path) -> None:  # noqa: ANN001
    from PySide6.QtCore import QSettings, Qt

    from ultrasound_reader.gui.main_window import LAYOUT_VERSION

    monkeypatch.setenv("ULTRASOUND_READER_MODELS", str(tiny_models))
    ini = tmp_path / "layout.ini"
    window = make_window(ini)
    qtbot.wait(50)
    assert window.actions["reset_layout"] in window.menus["view"].actions()
    cam = window.reading.cam_dock
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, cam)  # the reader moves a panel
    window.close()
    settings = QSettings(str(ini), QSettings.Format.IniFormat)
    assert settings.value("window/state") is not None
    again = make_window(ini)
    qtbot.wait(50)
    assert again.dockWidgetArea(again.reading.cam_dock) == Qt.DockWidgetArea.RightDockWidgetArea  # restored
    again.actions["reset_layout"].trigger()
    assert again.dockWidgetArea(again.reading.cam_dock) == Qt.DockWidgetArea.LeftDockWidgetArea
    # A layout saved by another version is not restored.
    old = again.saveState(LAYOUT_VERSION - 1)
    assert not again.restoreState(old, LAYOUT_VERSION)
    # A crushed layout is found and replaced by the default one.
    dock, below = again.reading.results_dock, again.reading.nomogram_dock
    for d in (dock, below):  # as an older version without minimum widths would have let it happen
        d.setMinimumWidth(20)
    again.resizeDocks([dock], [30], Qt.Orientation.Horizontal)
    qtbot.waitUntil(lambda: dock.width() < 100, timeout=2000)
    assert any("Results" in p for p in again.layout_problems())
    again._check_restored_layout()
    qtbot.waitUntil(lambda: again.layout_problems() == [], timeout=2000)
    assert dock.minimumWidth() >= 220 and below.minimumWidth() >= 220


def test_failed_open_keeps_the_previous_case_and_says_so(qtbot, reading_window, tmp_path: Path) -> None:  # noqa: ANN001
    window = reading_window
    _open_case(qtbot, window, _copy_case(DEMO / "liver" / "liver-s136-0000", tmp_path, strip=False))
    qtbot.wait(100)  # the jump to the first ROI frame
    _goto(qtbot, window, 5)
    before = (window.cine, window.current_path, window.case_ctl.doc.case, window.windowTitle(),
              window.browser.paths(), window.reading.form.factors(), window.image_view.frame_index)
    bad = tmp_path / "notes.dcm"
    bad.write_text("not an image\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    broken_case = tmp_path / "broken-case"
    broken_case.mkdir()
    (broken_case / "case.json").write_text("{ not json")
    for target in (bad, empty, broken_case):
        with qtbot.waitSignal(window.errorShown, timeout=10000) as shown:
            window.open_paths([target])
        qtbot.waitUntil(lambda: not window.runner.busy, timeout=10000)
        assert "still showing case liver-s136-0000" in shown.args[0]
        after = (window.cine, window.current_path, window.case_ctl.doc.case, window.windowTitle(),
                 window.browser.paths(), window.reading.form.factors(), window.image_view.frame_index)
        assert after == before
        assert window.browser.tree.currentItem().data(0, Qt.ItemDataRole.UserRole) == window.current_path


def test_every_result_view_follows_staleness(qtbot, reading_window, tmp_path: Path) -> None:  # noqa: ANN001
    window = reading_window
    _open_case(qtbot, window, _copy_case(DEMO / "liver" / "liver-s136-0000", tmp_path, strip=False))
    r, doc = window.reading, window.case_ctl.doc
    _analyse_and_wait(qtbot, window)
    notes = (r.nomogram_note, r.cam_note, r.curves_note)
    assert not any(n.isVisible() for n in notes) and not r.nomogram_dimmed and not r.results.dimmed
    roi = doc.case.rois_of("background")[0]
    doc.set_points(roi.id, [(x + 5, y) for x, y in roi.points], "Move ROI")
    assert r.results.stale and r.results.dimmed and r.nomogram_dimmed
    assert all(n.isVisible() and n.text().startswith("ROIs changed since this analysis") for n in notes)
    assert "ROIs changed" in r.results.status.text()
    doc.undo_stack.undo()
    assert not any(n.isVisible() for n in notes) and not r.nomogram_dimmed and not r.results.stale
    form = r.form
    form.widgets["halo"].setCurrentIndex(form.widgets["halo"].findData(not doc.case.factors.halo))
    # Only the factors: the nomogram is the live what-if (not greyed) and says so; the results are greyed.
    assert r.results.stale and r.results.dimmed and not r.nomogram_dimmed
    assert r.nomogram_note.isVisible() and "what-if" in r.nomogram_note.text()
    assert r.results.status.text().startswith("Clinical factors changed since this analysis")
    # The greyed table keeps its header clear: no opacity effect over the table or above it.
    w = r.results.table
    while w is not None:
        assert w.graphicsEffect() is None, w.objectName()
        w = w.parentWidget()
    _shot(window, "stale_factors.png")


def test_left_panel_shows_fields_rows_and_names(qtbot, reading_window, tmp_path: Path) -> None:  # noqa: ANN001
    from ultrasound_reader.gui.series_browser import wrap_label

    window = reading_window
    window.resize(1280, 800)
    _open_case(qtbot, window, _copy_case(DEMO / "liver" / "liver-s136-0000", tmp_path, strip=False))
    window.reset_layout()
    ctl, r = window.case_ctl, window.reading
    ctl.panel.raise_()
    qtbot.wait(50)
    table = ctl.panel.table
    assert table.rowCount() == 5 and table.viewport().height() >= 4 * table.rowHeight(0)
    r.factors_dock.raise_()
    qtbot.waitUntil(lambda: r.form.isVisible(), timeout=2000)
    area = r.form.parentWidget().parentWidget()
    assert r.form.width() <= area.viewport().width()  # nothing hidden to the right
    for name in r.form.visible_fields():
        label = r.form.labels[name]
        assert label.width() >= label.sizeHint().width(), name  # no label cut
        r.form.widgets[name].setFocus()
        qtbot.wait(5)
        assert area.horizontalScrollBar().value() == 0, name  # focusing a field keeps the labels in view
    # Long, similar file names stay apart: wrapped whole, never elided in the middle.
    a, b = wrap_label("gdcm-US-ALOKA-16.dcm"), wrap_label("gdcm-US-ALOKA-16-big-endian-sample.dcm")
    assert a != b and "".join(b.split("\n")) == "gdcm-US-ALOKA-16-big-endian-sample.dcm"
    assert window.browser.tree.textElideMode() == Qt.TextElideMode.ElideRight


def test_arrow_keys_in_the_series_browser_load_the_image(qtbot, reading_window, tmp_path: Path) -> None:  # noqa: ANN001
    window = reading_window
    _open_case(qtbot, window, _copy_case(DEMO / "soft-tissue" / "soft-s136-0000", tmp_path, strip=False),
               task="soft-tissue")
    tree = window.browser.tree
    first, cdfi = (str(window.case_ctl.doc.case.image_path(i)) for i in (0, 1))
    assert window.current_path == first
    tree.setFocus()
    qtbot.keyClick(tree, Qt.Key.Key_Down)
    qtbot.waitUntil(lambda: window.current_path == cdfi and not window.runner.busy, timeout=10000)
    assert tree.currentItem().data(0, Qt.ItemDataRole.UserRole) == cdfi == window.current_path
    assert window.case_ctl.image_index == 1
    qtbot.keyClick(tree, Qt.Key.Key_Up)
    qtbot.waitUntil(lambda: window.current_path == first and not window.runner.busy, timeout=10000)
    assert tree.currentItem().data(0, Qt.ItemDataRole.UserRole) == first


def test_ampersand_titles_shortcuts_sheet_model_card_and_plain_words(qtbot, reading_window, tmp_path: Path) -> None:  # noqa: ANN001
    from PySide6.QtWidgets import QTabBar, QTextBrowser

    from ultrasound_reader.gui.shell import plain_title

    window = reading_window
    _open_case(qtbot, window, _copy_case(DEMO / "liver" / "liver-s136-0000", tmp_path, strip=False))
    r = window.reading
    # "&" shown literally: the dock's title, its View ▸ Panels entry and its tab all read "Calibration & ...".
    assert plain_title(r.curves_dock.windowTitle()) == "Calibration & decision curves"
    assert plain_title(r.curves_dock.toggleViewAction().text()) == "Calibration & decision curves"
    tabs = [plain_title(bar.tabText(i)) for bar in window.findChildren(QTabBar) for i in range(bar.count())]
    assert "Calibration & decision curves" in tabs
    # F5 is what the Analysis menu shows for Analyse.
    assert window.actions["analyse"] in window.menus["analysis"].actions()
    assert window.actions["analyse"].shortcut().toString() == "F5"
    # The shortcuts sheet (F1) is made from the actions: every shortcut is on it.
    assert window.actions["shortcuts"].shortcut().toString() == "F1"
    rows = window.shortcut_rows()
    listed = {keys for _menu, _text, keys in rows}
    for key, action in window.actions.items():
        if action.shortcuts():
            assert any(action.shortcuts()[0].toString() in k.split(", ") for k in listed), key
    assert ("Analysis", "Analyse", "F5, Ctrl+Return, Ctrl+Enter") in rows
    assert ("Playback", "First frame", "Home") in rows
    qtbot.keyClick(window, Qt.Key.Key_F1)
    sheet = window.findChild(type(window.show_shortcuts()), "shortcutsDialog")
    assert "Keyboard shortcuts" in sheet.findChild(QTextBrowser).toPlainText()
    sheet.close()
    # Help ▸ Model Card shows the bundle's MODEL_CARD.md.
    card_action = window.actions["model_card"]
    assert card_action in window.menus["help"].actions() and card_action.isEnabled()
    dialog = window.show_model_card()
    shown = dialog.findChild(QTextBrowser).toPlainText()
    first_line = (r.bundle_info.path / "MODEL_CARD.md").read_text().splitlines()[0].lstrip("# ").strip()
    assert first_line and first_line in shown
    dialog.close()
    # Outputs in plain words beside the paper's notation.
    _analyse_and_wait(qtbot, window)
    text = r.results.visible_text()
    assert "Model^LBC  " in text and "image + background + clinical factors" in text


def test_demo_status_shows_as_soon_as_a_demo_bundle_is_loaded(qtbot, reading_window, tmp_path: Path) -> None:  # noqa: ANN001
    from ultrasound_reader.gui.results_panel import DEMO_TEXT

    window = reading_window
    r = window.reading
    assert not r.results.banner.isVisible()  # no bundle yet
    _open_case(qtbot, window, _copy_case(DEMO / "liver" / "liver-s136-0000", tmp_path, strip=False))
    assert r.bundle.manifest["training_data"]["synthetic"] and r.run is None
    assert r.results.banner.isVisible() and r.results.banner.text() == DEMO_TEXT
    _analyse_and_wait(qtbot, window)
    assert r.results.banner.isVisible() and r.results.banner.text() == DEMO_TEXT


def test_controllers_get_the_shell_and_the_session_not_the_window(qtbot, window) -> None:  # noqa: ANN001
    from PySide6.QtGui import QAction

    from ultrasound_reader.gui.main_window import MainWindow
    from ultrasound_reader.gui.session import ReadingSession

    parts = [window.case_ctl, window.reading, window.reading.cams, window.measurements, window.dual_view]
    for part in parts:
        held = [k for k, v in vars(part).items() if isinstance(v, MainWindow)]
        assert held == [], (type(part).__name__, held)
        assert part.session is window.session and isinstance(part.session, ReadingSession)
        assert part.shell is window.shell
        assert not hasattr(part, "w")
    # Menus are found by key, not by their titles: a renamed menu still takes the actions meant for it.
    window.menus["file"].setTitle("&Datei")
    action = window.shell.add_action("probe", "Probe", None, menu="file", before="close")
    assert action in window.menus["file"].actions() and window.actions["probe"] is action
    assert isinstance(action, QAction) and action.parent() is window


def test_an_exported_sr_opens_back_as_its_case(qtbot, reading_window, tmp_path: Path) -> None:  # noqa: ANN001
    """File ▸ Open on an SR this program wrote: the ROIs and factors come back on their images."""
    from ultrasound_reader.export import Export

    window = reading_window
    folder = _copy_case(DEMO / "liver" / "liver-s136-0000", tmp_path, strip=False)
    _open_case(qtbot, window, folder)
    _analyse_and_wait(qtbot, window)
    session = window.session
    qtbot.waitUntil(lambda: session.run is not None and session.run.result is not None, timeout=30000)
    case = session.doc.case
    sr = Export(case, session.run.result, session.bundle, deid=False).sr(folder / "report-sr.dcm")
    (folder / "case.json").unlink()  # only the report and its images are left
    window.case_ctl.doc.undo_stack.setClean()
    window.open_paths([sr])
    qtbot.waitUntil(lambda: window.case_ctl.doc.case is not case and window.case_ctl.doc.case is not None
                    and not window.runner.busy, timeout=20000)
    back = window.case_ctl.doc.case
    assert window.case_ctl.doc.path is None  # a new document: Save never writes over the SR
    assert back.task == case.task
    assert sorted((r.kind, r.frame) for r in back.rois) == sorted((r.kind, r.frame) for r in case.rois)
    for a, b in zip(sorted(case.rois, key=lambda r: (r.kind, r.frame)), sorted(back.rois, key=lambda r: (r.kind, r.frame))):
        assert np.allclose(np.asarray(a.points, float), np.asarray(b.points, float), atol=1e-3)
    assert back.factors.age == case.factors.age and back.factors.halo == case.factors.halo
