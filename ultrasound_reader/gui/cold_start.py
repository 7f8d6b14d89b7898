"""Cold start: the window's shell on screen first, the rest built right behind it.

``ultrasound-reader`` makes a :class:`~.main_window.MainWindow` with ``deferred=True``
(its title, size, menu bar and status line: Qt and light modules only), shows it, and
once that shell is painted :func:`after_first_paint` runs the rest: ``build()``
(numpy, pyqtgraph, pydicom, the panels and controllers) and opening the demo or the
paths given, whose first frame is decoded on the worker threads as before.

The start-up probe (``ULTRASOUND_READER_STARTUP_PROBE=FILE``) is how ``ultrasound-reader
bench gui-startup`` times the real application path: the app appends
``window_shown T`` when the window is first painted and ``image_drawn T`` when the
image view first paints a frame (``T``: :func:`time.monotonic`, the clock the bench
read at spawn), then exits 0 at once (``os._exit``: the model bundle may still be
importing torch in a worker, and shutting that down is not start-up). Nothing here is
used when it is not set.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QWidget

PROBE_ENV = "ULTRASOUND_READER_STARTUP_PROBE"
# If the window is never painted (started minimised, say), build it anyway after this long.
BUILD_FALLBACK_MS = 250


class _FirstPaint(QObject):
    """Calls ``then`` (once, from the event loop) after ``widget`` is first painted."""

    def __init__(self, widget: QWidget, then: Callable[[], None]) -> None:
        super().__init__(widget)
        self._widget = widget
        self._then: Callable[[], None] | None = then
        widget.installEventFilter(self)
        QTimer.singleShot(BUILD_FALLBACK_MS, self._fire)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if obj is self._widget and event.type() == QEvent.Type.Paint and self._then is not None:
            # After this paint reaches the screen: the next turn of the event loop.
            QTimer.singleShot(0, self._fire)
        return False

    def _fire(self) -> None:
        then, self._then = self._then, None
        if then is not None:
            self._widget.removeEventFilter(self)
            then()


def after_first_paint(widget: QWidget, then: Callable[[], None]) -> None:
    """Run ``then`` once ``widget`` (shown) has been painted, or after BUILD_FALLBACK_MS at the latest."""
    _FirstPaint(widget, then)


class StartupProbe(QObject):
    """Writes when the window and the first image were painted, then exits (see the module doc)."""

    def __init__(self, window: QWidget, path: Path) -> None:
        super().__init__(window)
        self.window = window
        self.path = path
        self._window_done = False
        self._image_done = False
        window.installEventFilter(self)

    def _write(self, what: str) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(f"{what} {time.monotonic():.6f}\n")

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if obj is self.window and event.type() == QEvent.Type.Paint and not self._window_done:
            self._window_done = True
            self._write("window_shown")
            self.window.removeEventFilter(self)
        return False

    def watch_image(self, frame_painted: object) -> None:
        """Connect to the image view's ``framePainted`` signal (after the window is built)."""
        frame_painted.connect(self._on_frame_painted)  # type: ignore[attr-defined]

    def _on_frame_painted(self, _index: int) -> None:
        if self._image_done:
            return
        self._image_done = True
        self._write("image_drawn")
        QTimer.singleShot(0, self._finish)

    def _finish(self) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def startup_probe(window: QWidget) -> StartupProbe | None:
    """The probe when ``ULTRASOUND_READER_STARTUP_PROBE`` names a file, else None."""
    path = os.environ.get(PROBE_ENV)
    return StartupProbe(window, Path(path)) if path else None
