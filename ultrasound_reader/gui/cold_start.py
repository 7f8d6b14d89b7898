"""Cold start: the window's shell on screen first, the rest built right behind it.

``ultrasound-reader`` makes a :class:`~.main_window.MainWindow` with ``deferred=True``
(its title, size, menu bar and status line: Qt and light modules only), shows it, and
once that shell is painted (:func:`after_next_paint`) its first image is shown in it
(:class:`FramePreview`: the frame gui/first_frame.py decoded, on Linux in a child forked before
Qt was imported; :func:`show_first_frame`), and then the rest follows: :func:`import_then`
imports what ``build()`` needs (numpy, pyqtgraph, pydicom, then the panels and
controllers: about half a second) in four turns of the event loop, so the shell repaints
between them; then the window is built and, once it is painted, the demo or the paths given
are opened, their first frame decoded on the worker threads as before; the preview lies over
the image view (:func:`hand_over`) until the view paints that frame (or the opening fails).

The start-up probe (``ULTRASOUND_READER_STARTUP_PROBE=FILE``) is how ``ultrasound-reader
bench gui-startup`` times the real application path: the app appends
``window_shown T`` when the window is first painted and ``image_drawn T`` when a frame's
pixels are first painted, by the shell's preview or else the image view (``T``:
:func:`time.monotonic`, the clock the bench read at spawn), and ``max_stall_ms MS``, the
longest the event loop went without
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

from PySide6.QtCore import QEvent, QObject, QPoint, QRect, QRectF, QSocketNotifier, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QMainWindow, QStyle, QToolBar, QToolButton, QWidget

from ultrasound_reader.gui import theme
from ultrasound_reader.gui.first_frame import EarlyDecode, FirstFrame, decode_first

log = logging.getLogger(__name__)

PROBE_ENV = "ULTRASOUND_READER_STARTUP_PROBE"
# If the window is not painted (started minimised, say), go on anyway after this long.
BUILD_FALLBACK_MS = 250
STALL_TICK_MS = 5  # the probe's event-loop heartbeat
# The big libraries under BUILD_IMPORTS, each imported in a turn of its own (~0.05-0.2 s each
# here) so that no single turn holds the shell for all of them.
LIBRARIES = ("numpy", "pyqtgraph", "pydicom")
# How long the shell waits for the early first frame before building without it.
FIRST_FRAME_WAIT_MS = 1500
# Once the viewer has painted some other frame than the preview's, the preview goes after this
# long anyway; and at the latest this long after the hand-over (an opening cancelled, say).
PREVIEW_GRACE_MS = 300
PREVIEW_MAX_MS = 10000
FRAME_CONTROLS_MARGIN = 6  # gui/frame_controls.py: its layout's top + bottom margins


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


def _default_image_margins(window: QMainWindow) -> tuple[int, int, int, int]:
    """Where the built window's image view will sit, from the default layout (a first start):
    distances from the window's left, top, right and bottom edges."""
    from ultrasound_reader.gui.main_window import default_dock_widths

    left_w, right_w = default_dock_widths(window.width())
    separator = window.style().pixelMetric(QStyle.PixelMetric.PM_DockWidgetSeparatorExtent, None, window)
    probe_window = QMainWindow()  # a toolbar's and a frame-control button's height, as the viewer will have them
    toolbar = QToolBar(probe_window)
    toolbar.addAction("Open File")
    button = QToolButton(probe_window)
    button.setText("Step")
    button.setAutoRaise(True)
    toolbar_h, controls_h = toolbar.sizeHint().height(), button.sizeHint().height() + FRAME_CONTROLS_MARGIN
    probe_window.deleteLater()
    top = window.menuBar().height() + toolbar_h
    bottom = window.statusBar().height() + controls_h
    return left_w + separator, top, right_w + separator, bottom


class FramePreview(QWidget):
    """The first frame in the window's shell, drawn as the image view will draw it: scaled to fit
    and centred in the image's area, at the identity window/level (what the viewer opens with).

    The area is where the built window's image view will be: in the shell, its margins in the
    window as saved when the window last closed at this size, else the default layout's; once
    handed over (:func:`hand_over`), the whole widget, laid over the image view.
    """

    framePainted = Signal(int)  # the frame index, once its pixels are first painted

    def __init__(self, window: QMainWindow, message: str = "Starting\u2026") -> None:
        super().__init__(window)
        self.setObjectName("startingPlaceholder")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.window_ = window
        self.message = message
        self.frame: FirstFrame | None = None
        self.in_shell = True
        self._image: QImage | None = None
        self._painted = False
        self._margins: dict[tuple[int, int], tuple[int, int, int, int]] = {}

    def set_frame(self, frame: FirstFrame) -> None:
        fmt = QImage.Format.Format_RGB888 if frame.channels == 3 else QImage.Format.Format_Grayscale8
        self.frame = frame  # keeps the pixels the QImage reads alive
        self._image = QImage(frame.pixels, frame.width, frame.height, frame.width * frame.channels, fmt)
        self.update()

    @property
    def has_frame(self) -> bool:
        return self._image is not None

    def image_area(self) -> QRect:
        """The image view's rectangle, in this widget's coordinates."""
        if not self.in_shell:
            return self.rect()
        size = (self.window_.width(), self.window_.height())
        if size not in self._margins:
            prefs = getattr(self.window_, "prefs", None)
            saved = prefs.image_margins(size) if prefs is not None else None
            self._margins[size] = saved or _default_image_margins(self.window_)
        left, top, right, bottom = self._margins[size]
        corner = self.mapFrom(self.window_, QPoint(left, top))
        area = QRect(corner.x(), corner.y(), size[0] - left - right, size[1] - top - bottom)
        return area.intersected(self.rect()) if area.isValid() else self.rect()

    def target_rect(self) -> QRectF:
        """Where the frame's pixels go in :meth:`image_area` (the view's fit: whole image, aspect kept, centred)."""
        area = QRectF(self.image_area())
        if self._image is None or self._image.isNull():
            return QRectF()
        scale = min(area.width() / self._image.width(), area.height() / self._image.height())
        w, h = self._image.width() * scale, self._image.height() * scale
        return QRectF(area.center().x() - w / 2, area.center().y() - h / 2, w, h)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        area = self.image_area()
        painter.fillRect(area, QColor(theme.IMAGE_BACKGROUND))
        if self._image is None:
            painter.setPen(QColor("#9a9a9a"))
            painter.drawText(area, Qt.AlignmentFlag.AlignCenter, self.message)
            painter.end()
            return
        painter.drawImage(self.target_rect(), self._image)
        painter.end()
        if not self._painted and self.frame is not None:
            self._painted = True
            self.framePainted.emit(self.frame.index)


def show_first_frame(preview: FramePreview, early: EarlyDecode | None, paths: list[str],
                     then: Callable[[], None]) -> None:
    """Once the shell is painted: the first frame into ``preview`` (from the early child, or decoded
    here where there is none), painted; then ``then`` (the imports and the build). Without a frame
    (none known for ``paths``, a bad file, no answer in FIRST_FRAME_WAIT_MS) ``then`` runs all the same.

    Meanwhile the GUI process only waits: importing the build's libraries on a thread then was
    measured to delay the preview (a C extension's import holds the GIL for tens of ms), so the
    built viewer comes that wait (~0.1 s) later than without the early frame."""
    done: list[bool] = []

    def deliver(frame: FirstFrame | None) -> None:
        if done:
            return
        done.append(True)
        if frame is not None and not preview.window_.isHidden():
            preview.set_frame(frame)
            after_next_paint(preview, then)
        else:
            then()

    def decode_here() -> None:
        try:
            frame = decode_first(paths)
        except Exception:  # noqa: BLE001 - the viewer opens the file and reports what is wrong
            log.debug("cold start: no first frame for %s", paths, exc_info=True)
            frame = None
        deliver(frame)

    def start() -> None:
        if early is None:
            if paths:
                decode_here()
            else:
                deliver(None)
            return
        notifier = QSocketNotifier(early.fd, QSocketNotifier.Type.Read, preview)

        def readable() -> None:
            if early.read():
                notifier.setEnabled(False)
                notifier.deleteLater()
                deliver(early.result())

        def too_late() -> None:
            if not done:
                notifier.setEnabled(False)
                early.cancel()
                log.info("cold start: no first frame after %d ms; building without it", FIRST_FRAME_WAIT_MS)
                deliver(None)

        notifier.activated.connect(readable)
        QTimer.singleShot(FIRST_FRAME_WAIT_MS, preview, too_late)
        readable()  # it may be there already

    after_next_paint(preview.window_, start)


def hand_over(preview: FramePreview, image_view: QWidget) -> None:
    """The built window's image view takes the place of ``preview``: the preview lies over the view
    (same place, same fit) until the view paints the preview's frame, or some other frame
    (PREVIEW_GRACE_MS later), or an opening fails, and is then deleted."""
    if not preview.has_frame:
        preview.deleteLater()
        return
    viewport = image_view.viewport() if hasattr(image_view, "viewport") else image_view
    preview.in_shell = False
    # A child of the view itself, over its viewport: above the view's own labels too ("Open a file…").
    preview.setParent(image_view)
    preview.setGeometry(viewport.geometry() if viewport is not image_view else image_view.rect())
    preview.show()
    preview.raise_()

    class _Follow(QObject):
        def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
            if event.type() in (QEvent.Type.Resize, QEvent.Type.Move):
                preview.setGeometry(viewport.geometry() if viewport is not image_view else image_view.rect())
            return False

    follow = _Follow(preview)
    viewport.installEventFilter(follow)
    gone: list[bool] = []

    def remove() -> None:
        if not gone:
            gone.append(True)
            viewport.removeEventFilter(follow)
            preview.hide()
            preview.deleteLater()

    def painted(index: int) -> None:
        if gone:
            return
        if preview.frame is not None and index == preview.frame.index:
            remove()
        else:
            QTimer.singleShot(PREVIEW_GRACE_MS, preview, remove)

    image_view.framePainted.connect(painted)  # type: ignore[attr-defined]
    window = preview.window_
    if hasattr(window, "errorShown"):
        window.errorShown.connect(lambda _message: remove())  # type: ignore[attr-defined]
    QTimer.singleShot(PREVIEW_MAX_MS, preview, remove)
