"""An uncaught exception in the GUI: a dialog and a redacted, rotating log file; the window stays."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal  # noqa: E402
from PySide6.QtWidgets import QPushButton  # noqa: E402

from ultrasound_reader.gui import crash  # noqa: E402

pytestmark = [pytest.mark.gui, pytest.mark.qt_no_exception_capture]

PATIENT_FILE = "/data/DOE^JOHN 1961/IM0001.dcm"


@pytest.fixture
def handler(qapp, tmp_path: Path):  # noqa: ANN001, ANN201 - pytest-qt fixture
    h = crash.install(qapp, tmp_path / "logs")
    yield h
    h.uninstall()


def _broken_slot() -> None:
    raise ZeroDivisionError(f"while reading {PATIENT_FILE}: division by zero")


def _wait_for_dialog(qtbot, h: crash.CrashHandler) -> None:  # noqa: ANN001
    qtbot.waitUntil(lambda: h.dialog is not None and h.dialog.isVisible(), timeout=5000)


def test_exception_in_a_slot_shows_a_dialog_and_logs_the_traceback(qtbot, handler):  # noqa: ANN001
    button = QPushButton("analyse")
    qtbot.addWidget(button)
    button.clicked.connect(_broken_slot)
    button.show()
    button.click()
    _wait_for_dialog(qtbot, handler)
    dialog = handler.dialog
    assert dialog.objectName() == "crashDialog"
    assert "ZeroDivisionError" in dialog.text() and str(handler.log_file) in dialog.informativeText()
    assert button.isVisible()  # the application keeps running
    text = handler.log_file.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in text and "in _broken_slot" in text
    assert "ZeroDivisionError: while reading <path>.dcm: division by zero" in text
    assert "DOE^JOHN" not in text and "DOE^JOHN" not in dialog.detailedText() + dialog.text()
    assert handler.log_file.parent == Path(dialog.informativeText().split(" was written to ")[1].split(";")[0]).parent


class _Failing(QRunnable):
    def run(self) -> None:
        raise RuntimeError("worker failed")


def test_exceptions_from_worker_threads_reach_the_gui_thread(qtbot, handler):  # noqa: ANN001
    QThreadPool.globalInstance().start(_Failing())
    _wait_for_dialog(qtbot, handler)
    assert "RuntimeError: worker failed" in handler.dialog.text()
    t = threading.Thread(target=lambda: 1 / 0, name="loader")
    t.start()
    t.join()
    qtbot.waitUntil(lambda: handler.pending == 1, timeout=5000)
    assert "1 more error(s) since" in handler.dialog.informativeText()
    text = handler.log_file.read_text(encoding="utf-8")
    assert "RuntimeError: worker failed" in text and "in thread loader" in text


def test_a_flood_of_errors_keeps_one_dialog(qtbot, handler):  # noqa: ANN001
    class Emitter(QObject):
        fire = Signal()

    e = Emitter()
    e.fire.connect(_broken_slot)
    for _ in range(25):
        e.fire.emit()
    qtbot.waitUntil(lambda: handler.n_reports == 25, timeout=5000)
    assert handler.pending == 24
    assert handler.log_file.read_text(encoding="utf-8").count("Traceback (most recent call last)") == 25


def test_log_rotates(handler):  # noqa: ANN001
    handler.handler.maxBytes = 2000
    logger = logging.getLogger("ultrasound_reader.test")
    for i in range(100):
        logger.warning("line %d of some length to fill the log %s", i, "x" * 40)
    files = sorted(p.name for p in handler.log_file.parent.iterdir())
    assert files == ["ultrasound-reader.log", *(f"ultrasound-reader.log.{i}" for i in range(1, crash.BACKUP_COUNT + 1))]
    assert all(p.stat().st_size <= 2000 for p in handler.log_file.parent.iterdir())


def test_default_log_folder_is_overridable(monkeypatch, tmp_path):  # noqa: ANN001
    monkeypatch.setenv(crash.LOG_DIR_ENV, str(tmp_path / "x"))
    assert crash.log_dir() == tmp_path / "x"
    monkeypatch.delenv(crash.LOG_DIR_ENV)
    assert crash.log_dir().name == "logs"
