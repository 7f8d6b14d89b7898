"""Fixtures for the viewer tests: a themed main window with throw-away settings, and input helpers.

Every window gets an ini file under tmp_path, and QSettings' default locations are
pointed at a temporary folder too, so no test ever reads or writes the user's settings.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest


from PySide6.QtCore import QEvent, QPoint, QPointF, QSettings, Qt  # noqa: E402
from PySide6.QtGui import QMouseEvent, QWheelEvent  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

YBR_CINE = "examples_ybr_color.dcm"  # 30 frames, 30 fps, calibrated (0.0510497 cm/px)
RGB_STILL = "examples_rgb_color.dcm"  # one frame, no calibration


@pytest.fixture(scope="session", autouse=True)
def _isolated_qsettings(tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = str(tmp_path_factory.mktemp("qsettings"))
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
            QSettings.setPath(fmt, scope, folder)


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    return tmp_path / "viewer-settings.ini"


@pytest.fixture
def make_window(qtbot, qapp, settings_file: Path):  # noqa: ANN001, ANN201 - pytest-qt fixtures
    from ultrasound_reader.gui import theme
    from ultrasound_reader.gui.main_window import MainWindow

    theme.apply(qapp)
    windows = []

    def make(settings_path: Path | None = None) -> MainWindow:
        settings = QSettings(str(settings_path or settings_file), QSettings.Format.IniFormat)
        window = MainWindow(settings)
        # A test that leaves a case edited must not block teardown on the unsaved-changes dialog.
        window.case_ctl.ask_unsaved = lambda _message: "discard"
        qtbot.addWidget(window)
        window.resize(1100, 760)
        window.show()
        qtbot.waitExposed(window)
        windows.append(window)
        return window

    yield make
    for w in windows:
        w.close()


@pytest.fixture
def window(make_window):  # noqa: ANN001, ANN201
    return make_window()


@pytest.fixture
def ybr_cine(dicom_samples: Path) -> Path:
    return dicom_samples / YBR_CINE


def open_and_wait(qtbot, window, *paths: Path, timeout: int = 15000) -> None:  # noqa: ANN001
    """Open paths and wait until a cine is loaded and its first frame painted."""
    window.open_paths([str(p) for p in paths])
    target = str(paths[0]) if len(paths) == 1 and Path(paths[0]).is_file() else None

    def loaded() -> bool:
        if window.cine is None or window.runner.busy:
            return False
        if target is not None and window.current_path != target:
            return False
        return window.image_view.image_item.paint_count > 0

    qtbot.waitUntil(loaded, timeout=timeout)


def wait_frame(qtbot, window, index: int, timeout: int = 5000) -> None:  # noqa: ANN001
    qtbot.waitUntil(lambda: window.image_view.frame_index == index, timeout=timeout)


def _send_mouse(widget: QWidget, kind: QEvent.Type, pos: QPointF, button: Qt.MouseButton,
                buttons: Qt.MouseButton) -> None:
    global_pos = QPointF(widget.mapToGlobal(pos.toPoint()))
    event = QMouseEvent(kind, pos, global_pos, button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def mouse_drag(widget: QWidget, start: QPointF, end: QPointF, button: Qt.MouseButton, steps: int = 8) -> None:
    """Press at start, move in steps, release at end.

    pyqtgraph ignores move events closer than 10 ms apart (its mouseRateLimit), so
    the steps are paced like a real hand.
    """
    _send_mouse(widget, QEvent.Type.MouseMove, start, Qt.MouseButton.NoButton, Qt.MouseButton.NoButton)
    _send_mouse(widget, QEvent.Type.MouseButtonPress, start, button, button)
    for k in range(1, steps + 1):
        time.sleep(0.012)
        p = start + (end - start) * (k / steps)
        _send_mouse(widget, QEvent.Type.MouseMove, p, Qt.MouseButton.NoButton, button)
        QApplication.processEvents()
    _send_mouse(widget, QEvent.Type.MouseButtonRelease, end, button, Qt.MouseButton.NoButton)
    QApplication.processEvents()


def mouse_move(widget: QWidget, pos: QPointF) -> None:
    time.sleep(0.012)
    _send_mouse(widget, QEvent.Type.MouseMove, pos, Qt.MouseButton.NoButton, Qt.MouseButton.NoButton)
    QApplication.processEvents()


def wheel(widget: QWidget, pos: QPointF, clicks: int) -> None:
    event = QWheelEvent(pos, QPointF(widget.mapToGlobal(pos.toPoint())), QPoint(0, 0), QPoint(0, 120 * clicks),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)
    QApplication.processEvents()


def copy_sample(dicom_samples: Path, name: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / name
    shutil.copyfile(dicom_samples / name, out)
    out.chmod(0o644)
    return out


@pytest.fixture
def ui() -> SimpleNamespace:
    """The input and waiting helpers above, as a fixture (tests need no import path)."""
    return SimpleNamespace(open_and_wait=open_and_wait, wait_frame=wait_frame, mouse_drag=mouse_drag,
                           mouse_move=mouse_move, wheel=wheel, YBR_CINE=YBR_CINE, RGB_STILL=RGB_STILL)


@pytest.fixture
def broken_folder(tmp_path: Path, dicom_samples: Path) -> Iterator[Path]:
    """Two good files, a truncated copy of the cine, and a text file that is not DICOM."""
    folder = tmp_path / "exam"
    copy_sample(dicom_samples, YBR_CINE, folder)
    copy_sample(dicom_samples, RGB_STILL, folder / "sub")
    data = (dicom_samples / YBR_CINE).read_bytes()
    (folder / "truncated.dcm").write_bytes(data[: len(data) // 3])
    (folder / "notes.txt").write_text("not an image\n")
    yield folder


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder with a small random bundle per task, named like the demo bundles."""
    import torch

    from ultrasound_reader.ai import make_random_bundle

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("models")
    make_random_bundle(root / "liver-fll-demo", "liver-fll", small=True, seed=11)
    # A DLM-1 cut-off above the random model's output, so the cascade goes on to the subtypes.
    make_random_bundle(root / "soft-tissue-demo", "soft-tissue", small=True, seed=12,
                       manifest_overrides={"thresholds": {"DLM-1": {"value": 0.9, "method": "fixed"}}})
    return root
