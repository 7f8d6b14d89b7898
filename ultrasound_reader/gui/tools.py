"""Mouse tools for the image view: navigate (pan) and the distance ruler.

A tool receives the left button's drags and clicks in image coordinates and says
whether it used them; what it leaves unused falls through to panning. Later tools
(ROI rectangle, ellipse, polygon, freehand) implement the same small interface and
join the same exclusive action group in the main window.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, Qt, Signal
from PySide6.QtGui import QColor

from ultrasound_reader.gui import theme
from ultrasound_reader.gui.image_view import Z_MEASURE
from ultrasound_reader.gui.measure import Distance, distance

if TYPE_CHECKING:
    from ultrasound_reader.gui.image_view import ImageView

MIN_LENGTH_PX = 1.0  # a click without a drag is not a measurement


class Tool(QObject):
    """Base tool: uses nothing, so the view pans."""

    name = "navigate"
    label = "Navigate"
    cursor = Qt.CursorShape.OpenHandCursor

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.view: ImageView | None = None

    def activate(self, view: ImageView) -> None:
        self.view = view

    def deactivate(self) -> None:
        pass

    def drag(self, ev, pos: QPointF) -> bool:  # noqa: ANN001 - pyqtgraph drag event
        """Handle a left-button drag event at image point ``pos``; True when used."""
        return False

    def click(self, ev, pos: QPointF) -> bool:  # noqa: ANN001
        return False


class NavigateTool(Tool):
    """Left-drag pans (the view does it); wheel zooms; right-drag is window/level."""


class Measurement(QObject):
    """One ruler line on the image with its live length label; its ends can be dragged."""

    changed = Signal(object)  # Distance
    removeRequested = Signal(object)  # self

    def __init__(self, view: ImageView, p0: QPointF, p1: QPointF) -> None:
        super().__init__()
        self.view = view
        pen = pg.mkPen(QColor(theme.ACCENT), width=2)
        self.roi = pg.LineSegmentROI([(p0.x(), p0.y()), (p1.x(), p1.y())], pen=pen,
                                     hoverPen=pg.mkPen("#ffd08a", width=2),
                                     handlePen=pg.mkPen(QColor(theme.ACCENT)), removable=True)
        self.label = pg.TextItem("", color=theme.ACCENT, anchor=(0, 1), fill=pg.mkBrush(0, 0, 0, 150))
        view.add_layer(self.roi, Z_MEASURE)
        view.add_layer(self.label, Z_MEASURE + 1)
        self.roi.sigRegionChanged.connect(self._update)
        self.roi.sigRemoveRequested.connect(lambda *_: self.removeRequested.emit(self))
        self._update()

    def endpoints(self) -> tuple[tuple[float, float], tuple[float, float]]:
        p0, p1 = (self.roi.mapToParent(h.pos()) for h in self.roi.getHandles())
        return (p0.x(), p0.y()), (p1.x(), p1.y())

    def set_end(self, pos: QPointF) -> None:
        self.roi.movePoint(self.roi.getHandles()[1], pos, finish=False)

    def distance(self) -> Distance:
        p0, p1 = self.endpoints()
        return distance(p0, p1, self.view.calibration)

    def _update(self, *_: object) -> None:
        d = self.distance()
        p0, p1 = self.endpoints()
        self.label.setText(d.label())
        # The label sits past the end that is further right, so it never hides the line.
        end = p1 if p1[0] >= p0[0] else p0
        self.label.setPos(end[0] + 4, end[1] - 2)
        self.changed.emit(d)

    def remove(self) -> None:
        self.view.remove_layer(self.roi)
        self.view.remove_layer(self.label)


class RulerTool(Tool):
    """Left-drag draws a distance line; mm where calibrated, px and 'uncalibrated' otherwise."""

    name = "ruler"
    label = "Ruler"
    cursor = Qt.CursorShape.CrossCursor
    measured = Signal(object)  # Distance of the line being drawn or edited

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.measurements: list[Measurement] = []
        self._drawing: Measurement | None = None

    def drag(self, ev, pos: QPointF) -> bool:  # noqa: ANN001
        view = self.view
        if view is None or view.raw is None:
            return False
        if ev.isStart():
            start = view.view.mapSceneToView(ev.buttonDownScenePos(Qt.MouseButton.LeftButton))
            self._drawing = self._add(start, pos)
        elif self._drawing is not None:
            self._drawing.set_end(pos)
            if ev.isFinish():
                m, self._drawing = self._drawing, None
                if m.distance().px < MIN_LENGTH_PX:
                    self.remove(m)
        return True

    def _add(self, p0: QPointF, p1: QPointF) -> Measurement:
        assert self.view is not None
        m = Measurement(self.view, p0, p1)
        m.changed.connect(self.measured.emit)
        m.removeRequested.connect(self.remove)
        self.measurements.append(m)
        return m

    def add(self, p0: tuple[float, float], p1: tuple[float, float]) -> Measurement:
        """Add a measurement between two image points (scripts and tests)."""
        m = self._add(QPointF(*p0), QPointF(*p1))
        m._update()
        return m

    def remove(self, m: Measurement) -> None:
        if m in self.measurements:
            self.measurements.remove(m)
            m.remove()

    def clear(self) -> None:
        for m in list(self.measurements):
            self.remove(m)

    def refresh(self) -> None:
        """Recompute labels (after the calibration changed)."""
        for m in self.measurements:
            m._update()
