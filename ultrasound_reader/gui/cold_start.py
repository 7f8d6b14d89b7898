"""Cold start: the window's shell on screen first, the rest built right behind it.

``ultrasound-reader`` makes a :class:`~.main_window.MainWindow` with ``deferred=True``
(its title, size, menu bar and status line: Qt and light modules only), shows it, and
once that shell is painted (:func:`after_next_paint`) the rest follows: :func:`import_then`
imports what ``build()`` needs (numpy, pyqtgraph, pydicom, then the panels and
controllers: about half a second) in four turns of the event loop, so the shell repaints
between them; then the window is built and, once it is painted, the demo or the paths given
are opened, their first frame decoded on the worker threads as before.

The start-up probe (``ULTRASOUND_READER_STARTUP_PROBE=FILE``) is how ``ultrasound-reader
bench gui-startup`` times the real application path: the app appends
``window_shown T`` when the window is first painted and ``image_drawn T`` when the
image view first paints a frame (``T``: :func:`time.monotonic`, the clock the bench
read at spawn), and ``max_stall_ms MS``, the longest the event loop went without
turning between the two (a 5 ms timer's largest gap), then exits 0 at once
(``os._exit``: the model bundle may still be importing torch in a worker, and shutting
that down is not start-up). Nothing here is used when it is not set.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QWidget

log = logging.getLogger(__name__)

PROBE_ENV = "ULTRASOUND_READER_STARTUP_PROBE"
# If the window is not painted (started minimised, say), go on anyway after this long.
BUILD_FALLBACK_MS = 250
STALL_TICK_MS = 5  # the probe's event-loop heartbeat
# The big libraries under BUILD_IMPORTS, each imported in a turn of its own (~0.05-0.2 s each
# here) so that no single turn holds the shell for all of them.
LIBRARIES = ("numpy", "pyqtgraph", "pydicom")


class _NextPaint(QObject):
    """Calls ``then`` (once, from the event loop) after ``widget`` is next painted."""

    def __init__(self, widget: QWidget, then: Callable[[], None]) -> None:
        super().__init__(widget)
        self._widget = widget
        self._then: Callable[[], None] | None = then
        widget.installEventFilter(self)
        QTimer.singleShot(BUILD_FALLBACK_MS, self, self._fire)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if obj is self._widget and event.type() == QEvent.Type.Paint and self._then is not None:
            # After this paint reaches the screen: the next turn of the event loop.
            QTimer.singleShot(0, self, self._fire)
        return False

    def _fire(self) -> None:
        then, self._then = self._then, None
        if then is not None:
            self._widget.removeEventFilter(self)
            self.deleteLater()
            then()


def after_next_paint(widget: QWidget, then: Callable[[], None]) -> None:
    """Run ``then`` once ``widget`` (shown) has next been painted, or after BUILD_FALLBACK_MS at the latest."""
    _NextPaint(widget, then)


def import_then(owner: QObject, steps: Iterable[str | Iterable[str]], then: Callable[[], None]) -> None:
    """Import each step (a module, or several together) in a turn of the event loop of its own
    (the shell repaints between them), then run ``then``.

    On the GUI thread, not a worker: imports on a second thread ran some 10-15 % slower here
    (and held the GIL against the GUI thread all the same). Few steps, not a module each: on a
    loaded machine every turn of the loop can cost a scheduler slice (measured: some 0.2 s over
    ~25 turns). A module that fails to import is left to ``then``, whose own import of it
    raises where the crash handler reports it.
    """
    todo = [(step,) if isinstance(step, str) else tuple(step) for step in steps]

    def step() -> None:
        if not todo:
            then()
            return
        for name in todo.pop(0):
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - reported by then()'s own import
                log.debug("cold start: import of %s failed", name, exc_info=True)
        QTimer.singleShot(0, owner, step)

    QTimer.singleShot(0, owner, step)


class StartupProbe(QObject):
    """Writes when the window and the first image were painted, then exits (see the module doc)."""

    def __init__(self, window: QWidget, path: Path) -> None:
        super().__init__(window)
        self.window = window
        self.path = path
        self._window_done = False
        self._image_done = False
        self.max_stall_s = 0.0
        self._last_tick = 0.0
        self._ticker = QTimer(self)
        self._ticker.setTimerType(Qt.TimerType.PreciseTimer)
        self._ticker.setInterval(STALL_TICK_MS)
        self._ticker.timeout.connect(self._tick)
        window.installEventFilter(self)

    def _write(self, what: str) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(f"{what} {time.monotonic():.6f}\n")

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if obj is self.window and event.type() == QEvent.Type.Paint and not self._window_done:
            self._window_done = True
            self._write("window_shown")
            self.window.removeEventFilter(self)
            self._last_tick = time.monotonic()
            self._ticker.start()
        return False

    def _tick(self) -> None:
        now = time.monotonic()
        self.max_stall_s = max(self.max_stall_s, now - self._last_tick - STALL_TICK_MS / 1000)
        self._last_tick = now

    def watch_image(self, frame_painted: object) -> None:
        """Connect to the image view's ``framePainted`` signal (after the window is built)."""
        frame_painted.connect(self._on_frame_painted)  # type: ignore[attr-defined]

    def _on_frame_painted(self, _index: int) -> None:
        if self._image_done:
            return
        self._image_done = True
        self._write("image_drawn")
        self._tick()
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(f"max_stall_ms {self.max_stall_s * 1000:.1f}\n")
        QTimer.singleShot(0, self._finish)

    def _finish(self) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def startup_probe(window: QWidget) -> StartupProbe | None:
    """The probe when ``ULTRASOUND_READER_STARTUP_PROBE`` names a file, else None."""
    path = os.environ.get(PROBE_ENV)
    return StartupProbe(window, Path(path)) if path else None
