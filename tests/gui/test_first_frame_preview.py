"""The first frame in the window's shell (gui/cold_start.py FramePreview): drawn where and as the
viewer draws it, handed over to the built viewer, gone once the viewer paints or the opening fails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import QRect, QRectF, QSettings
from PySide6.QtGui import QImage

from ultrasound_reader.gui.app import DEMO_CASE
from ultrasound_reader.paths import resources_dir

DEMO = resources_dir() / DEMO_CASE
BMODE = DEMO / "bmode.dcm"


def _alive(widget) -> bool:  # noqa: ANN001
    import shiboken6

    return shiboken6.isValid(widget) and widget.isVisible()


def _view_image_rect(view) -> QRectF:  # noqa: ANN001
    """Where the image view draws the frame's pixels, in its viewport's coordinates."""
    return view.viewportTransform().mapRect(view.image_item.sceneBoundingRect())


def _mean_abs_diff(a: QImage, b: QImage, rect: QRect) -> float:
    total, n = 0, 0
    for y in range(rect.top(), rect.bottom(), 7):
        for x in range(rect.left(), rect.right(), 7):
            pa, pb = a.pixelColor(x, y), b.pixelColor(x, y)
            total += abs(pa.red() - pb.red()) + abs(pa.green() - pb.green()) + abs(pa.blue() - pb.blue())
            n += 3
    return total / n


def test_the_preview_draws_the_frame_where_and_as_the_viewer_does_then_gives_way(ui, qtbot, window):
    from ultrasound_reader.gui.cold_start import FramePreview, hand_over
    from ultrasound_reader.gui.first_frame import decode_first

    ui.open_and_wait(qtbot, window, BMODE)  # the viewer shows frame 0, fitted
    window.actions["overlay"].setChecked(False)  # no corner text: pixels only, as in the preview
    frame = decode_first([str(BMODE)])
    assert frame is not None and frame.index == 0
    view = window.image_view
    qtbot.wait(50)
    viewer_shot = view.viewport().grab().toImage()
    preview = FramePreview(window)
    preview.set_frame(frame)
    painted = []
    preview.framePainted.connect(painted.append)
    hand_over(preview, view)
    qtbot.waitUntil(lambda: painted == [0])
    assert preview.geometry() == view.viewport().geometry() and preview.parent() is view
    target, drawn = preview.target_rect(), _view_image_rect(view)
    for a, b in ((target.left(), drawn.left()), (target.top(), drawn.top()),
                 (target.right(), drawn.right()), (target.bottom(), drawn.bottom())):
        assert abs(a - b) <= 1.0, (target, drawn)
    preview_shot = preview.grab().toImage()
    inner = target.toRect().adjusted(20, 20, -20, -20)
    assert _mean_abs_diff(viewer_shot, preview_shot, inner) < 6  # the same pixels, the same window/level
    assert _mean_abs_diff(preview_shot, QImage(preview_shot.size(), preview_shot.format()), inner) > 10  # not blank
    # The viewer paints that frame again (a new frame handed to it): the preview goes.
    view.set_frame(window.image_view.raw, 0)
    qtbot.waitUntil(lambda: not _alive(preview))


def test_the_preview_goes_when_the_opening_fails(ui, qtbot, window, tmp_path):
    from ultrasound_reader.gui.cold_start import FramePreview, hand_over
    from ultrasound_reader.gui.first_frame import decode_first

    preview = FramePreview(window)
    preview.set_frame(decode_first([str(BMODE)]))
    hand_over(preview, window.image_view)
    assert _alive(preview)
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"not DICOM " * 50)
    with qtbot.waitSignal(window.errorShown, timeout=10000):
        window.open_paths([bad])
    qtbot.waitUntil(lambda: not _alive(preview))
    window.error_box.close()


def test_in_the_shell_the_frame_sits_where_the_built_viewer_will_be(qtbot, qapp, tmp_path):
    from ultrasound_reader.gui import theme
    from ultrasound_reader.gui.cold_start import FramePreview
    from ultrasound_reader.gui.first_frame import decode_first
    from ultrasound_reader.gui.main_window import MainWindow

    theme.apply(qapp)
    ini = str(tmp_path / "s.ini")

    def shell() -> tuple[MainWindow, FramePreview]:
        window = MainWindow(QSettings(ini, QSettings.Format.IniFormat), deferred=True)
        qtbot.addWidget(window)
        preview = FramePreview(window)
        window.setCentralWidget(preview)
        window.resize(1600, 1000)  # wide enough for the default layout's own column widths
        window.show()
        qtbot.waitExposed(window)
        preview.set_frame(decode_first([str(BMODE)]))
        return window, preview

    def in_window(widget, rect: QRect) -> QRect:  # noqa: ANN001
        return QRect(widget.mapTo(widget.window(), rect.topLeft()), rect.size())

    window, preview = shell()
    predicted = in_window(preview, preview.image_area())
    window.takeCentralWidget()
    preview.deleteLater()
    window.build()
    window.case_ctl.ask_unsaved = lambda _m: "discard"
    qtbot.waitUntil(lambda: window.dock("resultsDock") is not None and window.dock("resultsDock").isVisible())
    qtbot.wait(100)
    view = window.image_view
    actual = in_window(view, view.rect())
    for a, b in ((predicted.left(), actual.left()), (predicted.top(), actual.top()),
                 (predicted.right(), actual.right()), (predicted.bottom(), actual.bottom())):
        assert abs(a - b) <= 8, (predicted, actual)  # the default layout's estimate (first start)
    window.close()
    # Closed, the window remembers where the image was: the next shell at this size uses exactly that.
    window, preview = shell()
    assert in_window(preview, preview.image_area()) == actual
    window.close()


def test_a_bad_case_still_opens_the_window_with_its_message_and_no_traceback(tmp_path):
    case = tmp_path / "case"
    case.mkdir()
    (case / "case.json").write_text("{ not json")
    shot = tmp_path / "shot.png"
    p = subprocess.run([sys.executable, "-m", "ultrasound_reader", "gui", str(case), "--settings",
                        str(tmp_path / "s.ini"), "--screenshot", str(shot)],
                       capture_output=True, text=True, timeout=120,
                       env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                            "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    assert QImage(str(shot)).width() > 600


def test_without_the_early_child_the_shell_decodes_the_frame_itself_then_builds(qtbot, qapp, tmp_path):
    """Where there is no fork (or it failed): decoded in the GUI process once the shell is painted;
    a bad file gives no frame, and the build follows all the same."""
    from ultrasound_reader.gui import theme
    from ultrasound_reader.gui.cold_start import FramePreview, show_first_frame
    from ultrasound_reader.gui.main_window import MainWindow

    theme.apply(qapp)
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"not DICOM " * 50)
    for paths, expect_frame in (([str(DEMO)], True), ([str(bad)], False), ([], False)):
        window = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat), deferred=True)
        qtbot.addWidget(window)
        preview = FramePreview(window)
        window.setCentralWidget(preview)
        painted, built = [], []
        preview.framePainted.connect(painted.append)
        show_first_frame(preview, None, paths, lambda b=built: b.append(True))
        window.show()
        qtbot.waitUntil(lambda b=built: bool(b), timeout=20000)
        assert preview.has_frame == expect_frame
        if expect_frame:
            assert painted == [preview.frame.index]  # painted before the build was asked for
        window.close()
