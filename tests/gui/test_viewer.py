"""The viewer driven like a user would (pytest-qt, offscreen): open, play, step, W/L, zoom, measure."""

from __future__ import annotations

import math
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from ultrasound_reader.dicom import open_cine
from ultrasound_reader.gui.windowing import IDENTITY, PRESETS, apply_lut, build_lut

pytestmark = pytest.mark.gui


def _shown(window) -> np.ndarray:  # noqa: ANN001
    return np.asarray(window.image_view.image_item.image)


def _key(qtbot, window, key: Qt.Key) -> None:  # noqa: ANN001
    qtbot.keyClick(window, key)


def test_empty_window_says_how_to_open(window):
    assert window.image_view.placeholder.isVisible()
    assert "Open a DICOM file or folder" in window.image_view.placeholder.text()
    assert not window.actions["play"].isEnabled()


def test_open_cine_shows_first_frame_overlay_and_calibration(ui, qtbot, window, ybr_cine):
    ui.open_and_wait(qtbot, window, ybr_cine)
    with open_cine(ybr_cine) as reference:
        expected = reference.frame(0)
    assert np.array_equal(_shown(window), expected)  # identity W/L: pixels exactly as decoded
    assert window.n_frames == 30 and math.isclose(window.cine.fps, 1000 / 33.333)
    assert window.controls.label.text() == "Frame 1 / 30 · 0.000 s"
    assert not window.image_view.placeholder.isVisible()
    corners = window.image_view.overlay_text()
    everything = "\n".join(corners.values())
    assert "US · Multi-frame" in corners["tl"] and "SonoSite" in corners["tl"]
    assert "0.510 × 0.510 mm/px" in corners["br"] and "Frame 1/30" in corners["bl"]
    ds = pydicom.dcmread(ybr_cine, stop_before_pixels=True)
    for identifier in (str(ds.PatientName), str(ds.PatientID), str(ds.StudyDate)):
        assert identifier not in everything  # de-identified overlay
    assert ybr_cine.name in window.windowTitle()
    assert window.browser.has_thumbnail(str(ybr_cine))


def test_play_advances_at_the_file_rate_and_loops(ui, qtbot, window, ybr_cine):
    ui.open_and_wait(qtbot, window, ybr_cine)
    window.cine.prefetch(0, count=30)
    window.cine.wait_prefetch(10)
    painted: list[int] = []
    window.image_view.framePainted.connect(painted.append)
    start = time.perf_counter()
    _key(qtbot, window, Qt.Key.Key_Space)
    assert window.player.playing and window.actions["play"].text().endswith("Pause")
    qtbot.wait(600)
    frame, elapsed = window.player.current, time.perf_counter() - start
    _key(qtbot, window, Qt.Key.Key_Space)
    assert not window.player.playing
    expected = elapsed * window.cine.fps
    assert abs(frame - expected) <= 3, (frame, expected)  # the schedule follows wall time at 30 fps
    assert len(set(painted)) >= 5  # frames really reached the screen
    assert window.current_frame == frame and window.controls.slider.value() == frame
    assert "fps" in window.stats_label.text() and "dropped" in window.stats_label.text()

    # Loop: from the last frames, playback wraps to the start.
    window.show_frame(27)
    ui.wait_frame(qtbot, window, 27)
    _key(qtbot, window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.player.current < 27, timeout=3000)
    _key(qtbot, window, Qt.Key.Key_Space)


def test_cold_playback_decodes_off_the_gui_thread(ui, qtbot, window, ybr_cine):
    ui.open_and_wait(qtbot, window, ybr_cine)
    window.cine.cancel_prefetch()
    window.cine.wait_prefetch(5)
    window.cine.cache.clear()
    threads = _record_decode_threads(window.cine)
    window.toggle_play()
    qtbot.waitUntil(lambda: window.player.current >= 10, timeout=5000)
    window.toggle_play()
    assert len(threads) >= 10 and threading.main_thread().name not in threads
    assert window.player.preroll_ms >= 0


def test_speed_selector_doubles_the_rate(ui, qtbot, window, ybr_cine):
    ui.open_and_wait(qtbot, window, ybr_cine)
    window.controls.speed.setCurrentIndex(window.controls.speed.findData(2.0))
    assert window.player.speed == 2.0 and window.prefs.speed == 2.0
    window.cine.prefetch(0, count=30)
    window.cine.wait_prefetch(10)  # no pre-roll wait: the schedule starts at once
    start = time.perf_counter()
    window.toggle_play()
    qtbot.wait(300)
    frame, elapsed = window.player.current, time.perf_counter() - start
    window.toggle_play()
    assert abs(frame - elapsed * 60) <= 4, (frame, elapsed * 60)


def _record_decode_threads(cine) -> list[str]:  # noqa: ANN001
    """Wrap the cine's decoder to note which thread each decode runs on."""
    threads: list[str] = []
    decode = cine._decode

    def recording(data, index):  # noqa: ANN001, ANN202
        threads.append(threading.current_thread().name)
        return decode(data, index)

    cine._decode = recording
    return threads


def test_step_keys_and_slider(ui, qtbot, window, ybr_cine):
    ui.open_and_wait(qtbot, window, ybr_cine)
    window.cine.cancel_prefetch()
    window.cine.wait_prefetch(5)
    window.cine.cache.clear()  # cold: every step must decode, and never on the GUI thread
    threads = _record_decode_threads(window.cine)
    _key(qtbot, window, Qt.Key.Key_Right)
    ui.wait_frame(qtbot, window, 1)
    _key(qtbot, window, Qt.Key.Key_Right)
    ui.wait_frame(qtbot, window, 2)
    _key(qtbot, window, Qt.Key.Key_Left)
    ui.wait_frame(qtbot, window, 1)
    _key(qtbot, window, Qt.Key.Key_End)
    ui.wait_frame(qtbot, window, 29)
    assert window.controls.label.text().startswith("Frame 30 / 30")
    with open_cine(window.current_path) as reference:
        assert np.array_equal(_shown(window), reference.frame(29))
    _key(qtbot, window, Qt.Key.Key_Home)
    ui.wait_frame(qtbot, window, 0)
    window.actions["loop"].setChecked(True)
    _key(qtbot, window, Qt.Key.Key_Left)  # looping: before the first is the last
    ui.wait_frame(qtbot, window, 29)
    window.actions["loop"].setChecked(False)
    _key(qtbot, window, Qt.Key.Key_Home)
    ui.wait_frame(qtbot, window, 0)
    _key(qtbot, window, Qt.Key.Key_Left)
    qtbot.wait(50)
    assert window.image_view.frame_index == 0
    window.controls.slider.setValue(12)  # dragging the slider
    ui.wait_frame(qtbot, window, 12)
    assert "Frame 13/30" in window.image_view.overlay_text()["bl"]
    assert threads and threading.main_thread().name not in threads


def test_right_drag_changes_window_level_and_presets_apply(ui, qtbot, window, ybr_cine):
    ui.open_and_wait(qtbot, window, ybr_cine)
    view = window.image_view
    viewport = view.viewport()
    centre = QPointF(viewport.width() / 2, viewport.height() / 2)
    ui.mouse_drag(viewport, centre, centre + QPointF(-60, 40), Qt.MouseButton.RightButton)
    wl = view.window_level
    assert wl.window < IDENTITY.window - 40 and wl.level > IDENTITY.level + 25  # narrower and darker
    assert np.array_equal(_shown(window), apply_lut(view.raw, build_lut(wl)))
    assert window.wl_label.text() == wl.label()
    assert wl.label() in view.overlay_text()["bl"]

    window.preset_actions["High contrast"].trigger()
    assert view.window_level == PRESETS["High contrast"]
    _key(qtbot, window, Qt.Key.Key_I)
    assert np.array_equal(_shown(window), apply_lut(view.raw, build_lut(PRESETS["High contrast"], invert=True)))
    _key(qtbot, window, Qt.Key.Key_R)
    _key(qtbot, window, Qt.Key.Key_I)
    assert view.window_level == IDENTITY and np.array_equal(_shown(window), view.raw)


def test_zoom_keys_wheel_fit_and_one_to_one(ui, qtbot, window, ybr_cine):
    ui.open_and_wait(qtbot, window, ybr_cine)
    view = window.image_view
    fitted = view.zoom_factor()
    (x0, x1), (y0, y1) = view.view.viewRange()
    assert (x0 <= -0.5 + 1e-6 and x1 >= 319.5 - 1e-6) and (y0 <= -0.5 + 1e-6 and y1 >= 239.5 - 1e-6)
    assert math.isclose(x1 - x0, 320, rel_tol=1e-3) or math.isclose(y1 - y0, 240, rel_tol=1e-3)
    _key(qtbot, window, Qt.Key.Key_Plus)
    assert math.isclose(view.zoom_factor(), fitted * 1.25, rel_tol=0.02)
    _key(qtbot, window, Qt.Key.Key_Minus)
    _key(qtbot, window, Qt.Key.Key_Minus)
    assert math.isclose(view.zoom_factor(), fitted * 1.25 * 0.8 * 0.8, rel_tol=0.02)
    _key(qtbot, window, Qt.Key.Key_1)
    assert math.isclose(view.zoom_factor(), 1.0, rel_tol=0.02)
    viewport = view.viewport()
    ui.wheel(viewport, QPointF(viewport.width() / 2, viewport.height() / 2), 3)
    assert view.zoom_factor() > 1.2
    _key(qtbot, window, Qt.Key.Key_F)
    assert math.isclose(view.zoom_factor(), fitted, rel_tol=0.01)
    # Left-drag pans in the navigate tool.
    before = view.view.viewRect().center()
    centre = QPointF(viewport.width() / 2, viewport.height() / 2)
    ui.mouse_drag(viewport, centre, centre + QPointF(90, 0), Qt.MouseButton.LeftButton)
    after = view.view.viewRect().center()
    assert after.x() < before.x() - 10 and abs(after.y() - before.y()) < 1


def test_ruler_measures_physical_delta_in_mm(ui, qtbot, window, ybr_cine):
    ui.open_and_wait(qtbot, window, ybr_cine)
    ds = pydicom.dcmread(ybr_cine, stop_before_pixels=True)
    mm_per_px = float(ds.SequenceOfUltrasoundRegions[0].PhysicalDeltaX) * 10.0
    ruler = window.measurements.ruler
    _key(qtbot, window, Qt.Key.Key_M)
    assert window.image_view.tool is ruler
    view = window.image_view
    start, end = view.map_to_widget(100, 120), view.map_to_widget(250, 120)
    ui.mouse_drag(view.viewport(), start, end, Qt.MouseButton.LeftButton)
    assert len(ruler.measurements) == 1
    (x0, y0), (x1, y1) = ruler.measurements[0].endpoints()
    assert abs(x0 - 100) < 0.5 and abs(x1 - 250) < 0.5 and abs(y1 - y0) < 0.5
    d = ruler.measurements[0].distance()
    assert math.isclose(d.mm, math.hypot(x1 - x0, y1 - y0) * mm_per_px, rel_tol=1e-9)
    assert abs(d.mm - 150 * mm_per_px) < 0.5 * mm_per_px
    assert ruler.measurements[0].label.toPlainText() == f"{d.mm:.1f} mm"
    assert "mm" in window.statusBar().currentMessage()
    # A second file without calibration: the ruler states pixels, never mm.
    ui.open_and_wait(qtbot, window, ybr_cine.parent / ui.RGB_STILL)
    assert ruler.measurements == []  # cleared with the old image
    ui.mouse_drag(view.viewport(), view.map_to_widget(10, 10), view.map_to_widget(40, 50), Qt.MouseButton.LeftButton)
    label = ruler.measurements[0].label.toPlainText()
    assert label.endswith("px (uncalibrated)") and "mm" not in label
    _key(qtbot, window, Qt.Key.Key_N)
    assert window.image_view.tool is window.navigate_tool


def test_cursor_readout_value_and_mm(ui, qtbot, window, ybr_cine):
    ui.open_and_wait(qtbot, window, ybr_cine)
    view = window.image_view
    ui.mouse_move(view.viewport(), view.map_to_widget(150, 100))
    text = window.readout_label.text()
    r, g, b = (int(v) for v in view.raw[100, 150])
    assert text.startswith("x 150  y 100") and f"RGB {r},{g},{b}" in text
    assert f"{(150 - 84) * 0.5104970559477806:.1f}, {(100 - 31) * 0.5104970559477806:.1f} mm" in text
    ui.mouse_move(view.viewport(), view.map_to_widget(20, 10))  # left of the calibrated region
    assert "outside calibrated region" in window.readout_label.text()
    ui.open_and_wait(qtbot, window, ybr_cine.parent / ui.RGB_STILL)
    ui.mouse_move(view.viewport(), view.map_to_widget(20, 10))
    assert window.readout_label.text().endswith("uncalibrated")


def test_folder_with_a_broken_file_lists_the_reason_and_opens_the_rest(ui, qtbot, window, broken_folder):
    window.open_paths([broken_folder])
    assert window.progress.isVisible()  # loading runs in a worker, with a progress indicator
    ui.open_and_wait(qtbot, window, broken_folder)
    assert not window.progress.isVisible()
    problems = window.browser.problems()
    assert any(p.startswith("truncated.dcm: ") and "truncated" in p[15:] for p in problems), problems
    assert any(p.startswith("notes.txt: ") for p in problems)
    paths = sorted(Path(p).name for p in window.browser.paths())
    assert paths == ["examples_rgb_color.dcm", "examples_ybr_color.dcm"]
    assert "2 file(s) could not be opened" in window.error_label.text()
    assert not window.error_box.isVisible()  # a folder lists problems instead of a dialog per file
    qtbot.waitUntil(lambda: all(window.browser.has_thumbnail(p) for p in window.browser.paths()), timeout=10000)
    other = next(p for p in window.browser.paths() if p != window.current_path)
    item = window.browser._items[other]
    window.browser.tree.itemClicked.emit(item, 0)
    qtbot.waitUntil(lambda: window.current_path == other, timeout=10000)
    assert str(broken_folder.resolve()) in window.prefs.recent_files()


def test_drag_and_drop_opens_the_file(qtbot, window, ybr_cine):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(ybr_cine))])
    pos = QPoint(window.width() // 2, window.height() // 2)  # QDragEnterEvent takes a QPoint
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(pos), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, drop)
    qtbot.waitUntil(lambda: window.current_path == str(ybr_cine) and window.image_view.raw is not None, timeout=10000)
    text_only = QMimeData()
    text_only.setText("hello")
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, text_only, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert not enter.isAccepted()


def test_recent_files_persist_in_settings(ui, qtbot, make_window, settings_file, ybr_cine, tmp_path):
    first = make_window()
    ui.open_and_wait(qtbot, first, ybr_cine)
    assert first.prefs.recent_files()[0] == str(ybr_cine.resolve())
    first.close()
    assert settings_file.exists() and "examples_ybr_color.dcm" in settings_file.read_text()
    second = make_window(settings_file)
    second._fill_recent_menu()
    entries = [a.text() for a in second.recent_menu.actions()]
    assert str(ybr_cine.resolve()) in entries
    action = next(a for a in second.recent_menu.actions() if a.text() == str(ybr_cine.resolve()))
    action.trigger()
    qtbot.waitUntil(lambda: second.cine is not None, timeout=10000)
    gone = tmp_path / "gone.dcm"
    second.prefs.add_recent(gone)
    second.open_recent(str(gone.resolve()))
    assert "no longer exists" in second.last_error and str(gone.resolve()) not in second.prefs.recent_files()


def test_bad_file_shows_a_dialog_and_status_text_not_a_crash(ui, qtbot, window, tmp_path, ybr_cine):
    bad = tmp_path / "report.dcm"
    bad.write_bytes(b"this is not DICOM at all" * 10)
    with qtbot.waitSignal(window.errorShown, timeout=10000) as blocker:
        window.open_paths([bad])
    message = blocker.args[0]
    assert str(bad) in message and "\n" not in message
    assert window.error_box.isVisible() and window.error_box.text() == message
    assert window.error_label.text() and window.cine is None
    window.error_box.close()
    ui.open_and_wait(qtbot, window, ybr_cine)  # the window still works
    assert window.error_label.text() == ""


def test_overlay_toggle_is_a_saved_preference(ui, qtbot, make_window, settings_file, ybr_cine):
    window = make_window()
    ui.open_and_wait(qtbot, window, ybr_cine)
    assert window.image_view.overlay_text()
    _key(qtbot, window, Qt.Key.Key_O)
    assert window.image_view.overlay_text() == {}
    window.close()
    again = make_window(settings_file)
    assert not again.actions["overlay"].isChecked() and not again.image_view.overlay_visible


def test_a_newer_open_wins_over_a_slower_older_one(ui, qtbot, window, ybr_cine):
    still = ybr_cine.parent / ui.RGB_STILL
    window.open_paths([ybr_cine])
    window.open_paths([still])
    ui.open_and_wait(qtbot, window, still)
    qtbot.wait(100)
    assert window.current_path == str(still) and window.n_frames == 1


def test_cli_rejects_a_missing_path_with_one_line(tmp_path):
    p = subprocess.run([sys.executable, "-m", "ultrasound_reader", "gui", str(tmp_path / "missing.dcm")],
                       capture_output=True, text=True, timeout=60,
                       env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert p.returncode == 1
    assert p.stderr.strip().count("\n") == 0 and "missing.dcm: no such file or folder" in p.stderr


def test_no_arguments_opens_the_bundled_demo(tmp_path, dicom_samples):
    demo = tmp_path / "resources" / "demo-case"
    demo.mkdir(parents=True)
    (demo / "cine.dcm").write_bytes((dicom_samples / "examples_ybr_color.dcm").read_bytes())
    shot = tmp_path / "shot.png"
    env = {"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "ULTRASOUND_READER_RESOURCES": str(tmp_path / "resources")}
    p = subprocess.run([sys.executable, "-m", "ultrasound_reader", "gui", "--settings", str(tmp_path / "s.ini"),
                        "--screenshot", str(shot)], capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 0, p.stderr
    from PySide6.QtGui import QImage

    image = QImage(str(shot))
    assert image.width() > 600 and image.height() > 400
    assert "demo-case" in (tmp_path / "s.ini").read_text()  # the demo folder was opened (and remembered)


def test_reader_shortcuts(window):
    expected = {"open": "Ctrl+O", "play": "Space", "step_back": "Left", "step_forward": "Right",
                "first": "Home", "last": "End", "zoom_in": "+", "zoom_out": "-", "fit": "F",
                "one_to_one": "1", "invert": "I", "tool_ruler": "M", "tool_navigate": "N"}
    for key, sequence in expected.items():
        assert window.actions[key].shortcut().toString() == sequence, key


def test_panels_tools_and_layers_plug_in_without_changes(ui, qtbot, window, ybr_cine):
    """What the ROI/results/nomogram work will use: a dock, a mouse tool, an image layer."""
    import pyqtgraph as pg
    from PySide6.QtWidgets import QDockWidget, QLabel

    from ultrasound_reader.gui.image_view import Z_HEATMAP
    from ultrasound_reader.gui.tools import Tool

    dock = QDockWidget("Results", window)
    dock.setWidget(QLabel("results"))
    window.add_panel(dock)
    assert dock.toggleViewAction() in window.panels_menu.actions() and dock.objectName() == "Results"

    class Clicker(Tool):
        name, label = "clicker", "Clicker"

        def __init__(self) -> None:
            super().__init__()
            self.clicks: list[tuple[float, float]] = []

        def click(self, ev, pos):  # noqa: ANN001, ANN201
            self.clicks.append((pos.x(), pos.y()))
            return True

    clicker = Clicker()
    window.add_tool(clicker, "K")
    ui.open_and_wait(qtbot, window, ybr_cine)
    qtbot.keyClick(window, Qt.Key.Key_K)
    assert window.image_view.tool is clicker and not window.actions["tool_navigate"].isChecked()
    qtbot.mouseClick(window.image_view.viewport(), Qt.MouseButton.LeftButton,
                     pos=window.image_view.map_to_widget(60, 40).toPoint())
    qtbot.waitUntil(lambda: bool(clicker.clicks), timeout=3000)
    assert abs(clicker.clicks[0][0] - 60) < 0.5 and abs(clicker.clicks[0][1] - 40) < 0.5

    heat = pg.ImageItem(np.zeros((240, 320), np.float32), axisOrder="row-major")
    window.image_view.add_layer(heat, Z_HEATMAP)
    assert heat.zValue() > window.image_view.image_item.zValue()
    frames: list[int] = []
    window.frameChanged.connect(frames.append)
    window.show_frame(3)
    ui.wait_frame(qtbot, window, 3)
    assert frames[-1] == 3
