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
from ultrasound_reader.gui.measure import Area, Distance, distance, ellipse_area

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
    """One ruler line on the image with its live length label; its ends can be dragged.

    ``image``/``frame`` say where it was drawn and ``case_id`` which ``case.Measurement``
    it shows (both set by :mod:`~.measurements`, which saves calipers in the case).
    """

    kind = "distance"
    changed = Signal(object)  # Distance (Area for an ellipse)
    edited = Signal(object)  # self, once a drag of a handle or of the whole caliper ends
    removeRequested = Signal(object)  # self

    def __init__(self, view: ImageView, p0: QPointF, p1: QPointF) -> None:
        super().__init__()
        self.view = view
        self.image: int | None = None
        self.frame: int | None = None
        self.case_id: str | None = None
        self.roi = self._make_item(p0, p1)
        self.label = pg.TextItem("", color=theme.ACCENT, anchor=(0, 1), fill=pg.mkBrush(0, 0, 0, 150))
        view.add_layer(self.roi, Z_MEASURE)
        view.add_layer(self.label, Z_MEASURE + 1)
        self.roi.sigRegionChanged.connect(self._update)
        self.roi.sigRegionChangeFinished.connect(lambda *_: self.edited.emit(self))
        self.roi.sigRemoveRequested.connect(lambda *_: self.removeRequested.emit(self))
        self._update()

    def _make_item(self, p0: QPointF, p1: QPointF) -> pg.ROI:
        pen = pg.mkPen(QColor(theme.ACCENT), width=2)
        return pg.LineSegmentROI([(p0.x(), p0.y()), (p1.x(), p1.y())], pen=pen,
                                 hoverPen=pg.mkPen("#ffd08a", width=2),
                                 handlePen=pg.mkPen(QColor(theme.ACCENT)), removable=True)

    def endpoints(self) -> tuple[tuple[float, float], tuple[float, float]]:
        p0, p1 = (self.roi.mapToParent(h.pos()) for h in self.roi.getHandles())
        return (p0.x(), p0.y()), (p1.x(), p1.y())

    def set_end(self, pos: QPointF) -> None:
        self.roi.movePoint(self.roi.getHandles()[1], pos, finish=False)

    def distance(self) -> Distance:
        p0, p1 = self.endpoints()
        return distance(p0, p1, self.view.calibration)

    def value(self) -> Distance | Area:
        return self.distance()

    def size_px(self) -> float:
        return self.distance().px

    def set_visible(self, visible: bool) -> None:
        self.roi.setVisible(visible)
        self.label.setVisible(visible)

    def _label_anchor(self) -> tuple[float, float]:
        p0, p1 = self.endpoints()
        return p1 if p1[0] >= p0[0] else p0  # past the end further right: never hides the line

    def _update(self, *_: object) -> None:
        v = self.value()
        self.label.setText(v.label())
        x, y = self._label_anchor()
        self.label.setPos(x + 4, y - 2)
        self.changed.emit(v)

    def remove(self) -> None:
        self.view.remove_layer(self.roi)
        self.view.remove_layer(self.label)


class _EllipseItem(pg.EllipseROI):
    """An axis-aligned ellipse caliper: resized by its two corner handles, moved by dragging it."""

    def __init__(self, pos: tuple[float, float], size: tuple[float, float], **kwargs: object) -> None:
        super().__init__(pos, size, **kwargs)
        for h in list(self.getHandles()):
            self.removeHandle(h)
        self.addScaleHandle([1, 1], [0, 0])
        self.addScaleHandle([0, 0], [1, 1])


class EllipseMeasurement(Measurement):
    """An ellipse caliper with its live area and axes label."""

    kind = "ellipse"

    def _make_item(self, p0: QPointF, p1: QPointF) -> pg.ROI:
        pen = pg.mkPen(QColor(theme.ACCENT), width=2)
        self._anchor = (p0.x(), p0.y())
        x0, y0 = min(p0.x(), p1.x()), min(p0.y(), p1.y())
        return _EllipseItem((x0, y0), (max(abs(p1.x() - p0.x()), 1e-3), max(abs(p1.y() - p0.y()), 1e-3)),
                            pen=pen, hoverPen=pg.mkPen("#ffd08a", width=2),
                            handlePen=pg.mkPen(QColor(theme.ACCENT)), removable=True)

    def endpoints(self) -> tuple[tuple[float, float], tuple[float, float]]:
        pos, size = self.roi.pos(), self.roi.size()
        return (pos.x(), pos.y()), (pos.x() + size.x(), pos.y() + size.y())

    def set_end(self, pos: QPointF) -> None:
        ax, ay = self._anchor
        x0, y0 = min(ax, pos.x()), min(ay, pos.y())
        self.roi.setPos((x0, y0), update=False, finish=False)
        self.roi.setSize((max(abs(pos.x() - ax), 1e-3), max(abs(pos.y() - ay), 1e-3)), finish=False)

    def area(self) -> Area:
        p0, p1 = self.endpoints()
        return ellipse_area(p0, p1, self.view.calibration)

    def value(self) -> Distance | Area:
        return self.area()

    def size_px(self) -> float:
        return min(self.area().axes_px)

    def _label_anchor(self) -> tuple[float, float]:
        (x0, y0), (x1, y1) = self.endpoints()
        return x1, y0


class RulerTool(Tool):
    """Left-drag draws a distance line; mm where calibrated, px and 'uncalibrated' otherwise."""

    name = "ruler"
    label = "Ruler"
    cursor = Qt.CursorShape.CrossCursor
    item_class: type[Measurement] = Measurement
    measured = Signal(object)  # Distance of the line being drawn or edited (Area for the area tool)
    drawn = Signal(object)  # Measurement: the reader finished drawing it
    userRemoved = Signal(object)  # Measurement: the reader removed it (not a clear())

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
                if m.size_px() < MIN_LENGTH_PX:
                    self.remove(m)
                else:
                    self.drawn.emit(m)
        return True

    def _add(self, p0: QPointF, p1: QPointF) -> Measurement:
        assert self.view is not None
        m = self.item_class(self.view, p0, p1)
        m.changed.connect(self.measured.emit)
        m.removeRequested.connect(self._user_remove)
        self.measurements.append(m)
        return m

    def _user_remove(self, m: Measurement) -> None:
        if m in self.measurements:
            self.remove(m)
            self.userRemoved.emit(m)

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


class AreaTool(RulerTool):
    """Left-drag draws an ellipse caliper: area (mm²) and axes (mm) where calibrated, px otherwise."""

    name = "area"
    label = "Area"
    item_class = EllipseMeasurement
