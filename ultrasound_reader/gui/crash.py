"""An uncaught exception in the GUI: a dialog and a log file, not a vanished window.

:func:`install` (called once by ``gui/cli.py`` after the QApplication is made)
replaces ``sys.excepthook`` and ``threading.excepthook``. PySide6 reports an
exception raised in a slot, a virtual method or a worker's ``run`` through
``sys.excepthook``, from whatever thread raised it; the hook writes the report
to a rotating log and hands it to the GUI thread through a queued signal, which
shows one dialog (later reports while it is open are counted in it, so an
exception in a paint event cannot flood the screen). The application keeps
running.

The log lives in the user's data folder (``QStandardPaths.AppDataLocation``/logs,
or ``ULTRASOUND_READER_LOG_DIR``): ``ultrasound-reader.log``, rotated at 1 MB with
three old files kept. No patient identifiers: a report has the exception type,
the code locations and the message with every file path outside the program
replaced by ``<path>`` plus its extension (patient names often name folders and
files); local variables are never written.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import platform
import re
import sys
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QObject, QStandardPaths, Qt, Signal
from PySide6.QtWidgets import QApplication, QMessageBox

from ultrasound_reader import __version__

LOG_DIR_ENV = "ULTRASOUND_READER_LOG_DIR"
LOG_NAME = "ultrasound-reader.log"
MAX_LOG_BYTES = 1_000_000
BACKUP_COUNT = 3

log = logging.getLogger("ultrasound_reader.crash")

_CODE_ROOTS = tuple(str(p.resolve()) + os.sep for p in {
    Path(__file__).resolve().parents[1],  # the ultrasound_reader package
    Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix),
    *(Path(p) for p in sys.path if p and "site-packages" in p),
} if len(p.resolve().parts) >= 2)
# An absolute POSIX or Windows path; it runs on over a space when the next word still
# has a separator ("/data/John Doe/im1.dcm"), so a name with a space is not half-kept.
_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,8}")
_CH = r"[^\s'\"<>()\[\]{};]"
_PATH = re.compile(rf"(?<![\w.])(?:[A-Za-z]:\\|/){_CH}*(?:\s+(?![/\\]){_CH}*[/\\]{_CH}*)*")


def log_dir() -> Path:
    """Where the crash log goes: ``ULTRASOUND_READER_LOG_DIR``, else the app's data folder."""
    env = os.environ.get(LOG_DIR_ENV)
    if env:
        return Path(env)
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or Path.home() / ".local" / "share" / "ultrasound-reader") / "logs"


def redact(text: str) -> str:
    """``text`` with file paths outside the program replaced by ``<path>.ext``."""

    def one(m: re.Match[str]) -> str:
        path = m.group(0)
        tail = path[len(path.rstrip(".:,")):]
        path = path[: len(path) - len(tail)]
        if path.startswith(_CODE_ROOTS) or path.endswith((".py", ".pyc", ".so")):
            return path + tail  # code, as in a traceback's "File ..." lines
        suffix = Path(path.rstrip("/\\")).suffix
        return "<path>" + (suffix if _SUFFIX.fullmatch(suffix) else "") + tail

    return _PATH.sub(one, text)


def format_report(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None,
                  thread: str | None = None) -> str:
    """The redacted report: what, where (code locations), which versions."""
    from PySide6 import __version__ as pyside_version

    lines = [f"ultrasound-reader {__version__}, Python {platform.python_version()}, PySide6 {pyside_version}, "
             f"{platform.system()} {platform.release()}"]
    if thread:
        lines.append(f"in thread {thread}")
    lines += traceback.format_exception(exc_type, exc, tb)
    return redact("".join(line if line.endswith("\n") else line + "\n" for line in lines)).rstrip()


def summary(exc_type: type[BaseException], exc: BaseException) -> str:
    """One line for the dialog: the exception and where our code raised it."""
    text = " ".join(str(exc).split())
    text = redact(text[:300] + ("..." if len(text) > 300 else ""))
    return f"{exc_type.__name__}: {text}" if text else exc_type.__name__


class _Bridge(QObject):
    """Carries a report from any thread to the GUI thread."""

    report = Signal(str, str)  # summary, details


@dataclass
class CrashHandler:
    """What :func:`install` set up; ``uninstall`` puts the previous hooks back."""

    log_file: Path
    handler: logging.Handler
    bridge: _Bridge
    previous_hook: object
    previous_thread_hook: object
    dialog: QMessageBox | None = None
    pending: int = 0
    n_reports: int = 0

    def handle(self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None,
               thread: str | None = None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            QApplication.quit()
            return
        try:
            details = format_report(exc_type, exc, tb, thread)
            log.error("uncaught exception\n%s", details)
            self.handler.flush()
            self.bridge.report.emit(summary(exc_type, exc), details)
        except Exception:  # the hook itself must never raise
            traceback.print_exception(exc_type, exc, tb)

    def _show(self, short: str, details: str) -> None:
        self.n_reports += 1
        if self.dialog is not None and self.dialog.isVisible():
            self.pending += 1
            self.dialog.setInformativeText(self._informative() + f"\n\n{self.pending} more error(s) since.")
            return
        self.pending = 0
        box = QMessageBox(QMessageBox.Icon.Critical, "Ultrasound Reader — unexpected error",
                          f"Something went wrong inside Ultrasound Reader:\n{short}",
                          QMessageBox.StandardButton.Ok, QApplication.activeWindow())
        box.setObjectName("crashDialog")
        box.setInformativeText(self._informative())
        box.setDetailedText(details)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        self.dialog = box
        box.open()  # window-modal, returns at once: the event loop keeps running

    def _informative(self) -> str:
        return (f"The window stays open; save your work if you can. The report (without patient "
                f"identifiers) was written to {self.log_file}; please attach it to a bug report.")

    def uninstall(self) -> None:
        sys.excepthook = self.previous_hook  # type: ignore[assignment]
        threading.excepthook = self.previous_thread_hook  # type: ignore[assignment]
        logging.getLogger("ultrasound_reader").removeHandler(self.handler)
        self.handler.close()
        if self.dialog is not None:
            self.dialog.close()
            self.dialog.deleteLater()
        global _installed
        if _installed is self:
            _installed = None


_installed: CrashHandler | None = None


def install(app: QApplication, folder: Path | None = None) -> CrashHandler:
    """Route uncaught exceptions to the log and a dialog (idempotent)."""
    global _installed
    if _installed is not None:
        return _installed
    target = Path(folder) if folder is not None else log_dir()
    log_file = target / LOG_NAME
    handler = _RotatingLog(log_file, maxBytes=MAX_LOG_BYTES, backupCount=BACKUP_COUNT,
                                                   encoding="utf-8", delay=True)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(_RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    package_log = logging.getLogger("ultrasound_reader")
    package_log.addHandler(handler)
    if package_log.getEffectiveLevel() > logging.WARNING:
        package_log.setLevel(logging.WARNING)
    bridge = _Bridge(app)
    crash = CrashHandler(log_file, handler, bridge, sys.excepthook, threading.excepthook)
    bridge.report.connect(crash._show, Qt.ConnectionType.QueuedConnection)
    sys.excepthook = crash.handle
    threading.excepthook = lambda a: crash.handle(a.exc_type, a.exc_value or a.exc_type(), a.exc_traceback,
                                                  a.thread.name if a.thread else None)
    _installed = crash
    return crash


class _RotatingLog(logging.handlers.RotatingFileHandler):
    """Creates its folder with the first record, so a session without errors leaves nothing behind."""

    def _open(self):  # noqa: ANN202 - logging's own signature
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()


class _RedactingFormatter(logging.Formatter):
    """Every record written to the crash log loses its file paths (see :func:`redact`)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))
