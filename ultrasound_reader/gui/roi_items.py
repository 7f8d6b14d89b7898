"""ROI outlines on the image: pyqtgraph ROI items that show a :class:`~ultrasound_reader.case.Roi`.

An item mirrors one ROI of the case; it never owns the geometry. The user drags
it (move), its handles (resize, vertex edit), and when the gesture ends the
controller reads :meth:`RoiItemBase.points` and pushes an undo command; the
command changes the Case and the item is set back from the model with
:meth:`RoiItemBase.set_points`. Handles show only on the selected ROI, so a case
with several traced outlines stays readable.

Rectangles and ellipses are axis-aligned boxes (the model stores two corners; no
rotation). Polygons and freehand outlines are vertex lists; dragging a vertex
moves it, double-clicking the outline of the selected ROI inserts one, and a
vertex's right-click menu removes it (a polygon keeps at least 3).
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from pyqtgraph import Point
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPolygonF

from ultrasound_reader.case import Roi
from ultrasound_reader.gui.image_view import Z_ROI

KIND_COLOURS = {"lesion": "#ff6f61", "background": "#3fd0b0", "mass": "#c792ea"}
PEN_WIDTH = 2
SELECTED_WIDTH = 3
HANDLE_SPACING = 14.0  # screen px between the vertex handles of a dense outline

Points = list[tuple[float, float]]


def kind_colour(kind: str) -> QColor:
    return QColor(KIND_COLOURS.get(kind, "#ffffff"))


def _pens(kind: str, selected: bool) -> tuple[object, object]:
    colour = kind_colour(kind)
    width = SELECTED_WIDTH if selected else PEN_WIDTH
    return pg.mkPen(colour, width=width), pg.mkPen(colour.lighter(140), width=width)


class RoiItemBase(pg.ROI):
    """What the controller needs from any ROI item."""

    sigVertexEdited = Signal(object)  # self: a vertex was inserted or removed (no drag involved)

    def __init__(self, roi: Roi, **kwargs: object) -> None:
        self.roi_id = roi.id
        self.kind = roi.kind
        self.shape_name = roi.shape
        self.frame = roi.frame
        self.selected = False
        pen, hover = _pens(roi.kind, False)
        super().__init__(pen=pen, hoverPen=hover, handlePen=pg.mkPen(kind_colour(roi.kind).lighter(130)),
                         handleHoverPen=pg.mkPen("#ffffff"), rotatable=False, resizable=False,
                         **kwargs)  # type: ignore[arg-type]
        self.setZValue(Z_ROI)
        self.setAcceptedMouseButtons(Qt.MouseButton.LeftButton)  # clicks select

    def points(self) -> Points:
        raise NotImplementedError

    def set_points(self, points: Points) -> None:
        raise NotImplementedError

    def set_highlight(self, selected: bool) -> None:
        self.selected = selected
        pen, hover = _pens(self.kind, selected)
        self.pen, self.hoverPen = pen, hover
        self.currentPen = hover if self.mouseHovering else pen
        self.setSelected(selected)
        self.update()

    def _margin(self) -> float:
        # Cosmetic pens are drawn in screen pixels: leave that much room, in item units.
        try:
            px = self.pixelLength(Point(1, 0))
        except Exception:  # no view yet
            px = None
        return 4.0 * (px if px and math.isfinite(px) else 1.0)


class BoxRoiItem(RoiItemBase):
    """Rectangle or ellipse: position = top-left corner, size = extent; 8 scale handles."""

    def __init__(self, roi: Roi) -> None:
        (x0, y0), (x1, y1) = roi.points[:2]
        super().__init__(roi, pos=(x0, y0), size=(x1 - x0, y1 - y0))
        corners = [((0, 0), (1, 1)), ((1, 0), (0, 1)), ((0, 1), (1, 0)), ((1, 1), (0, 0)),
                   ((0.5, 0), (0.5, 1)), ((0.5, 1), (0.5, 0)), ((0, 0.5), (1, 0.5)), ((1, 0.5), (0, 0.5))]
        for pos, centre in corners:
            self.addScaleHandle(pos, centre)
        self.setSelected(False)  # handles hidden until selected

    def points(self) -> Points:
        p, s = self.pos(), self.size()
        return [(float(p.x()), float(p.y())), (float(p.x() + s.x()), float(p.y() + s.y()))]

    def set_points(self, points: Points) -> None:
        (x0, y0), (x1, y1) = points[:2]
        self.setPos((x0, y0), update=False)
        self.setSize((x1 - x0, y1 - y0), update=False)
        self.stateChanged(finish=False)  # handles follow; no "finished" signal: this is not a user edit

    def boundingRect(self) -> QRectF:
        m = self._margin()
        return QRectF(0, 0, self.state["size"][0], self.state["size"][1]).normalized().adjusted(-m, -m, m, m)

    def viewTransformChanged(self) -> None:
        super().viewTransformChanged()
        self.prepareGeometryChange()  # the pen margin is in screen pixels

    def _outline(self) -> QPainterPath:
        path = QPainterPath()
        r = QRectF(0, 0, self.state["size"][0], self.state["size"][1]).normalized()
        if self.shape_name == "ellipse":
            path.addEllipse(r)
        else:
            path.addRect(r)
        return path

    def shape(self) -> QPainterPath:
        return self._outline()

    def paint(self, p: QPainter, *args: object) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setPen(self.currentPen)
        p.drawPath(self._outline())


class PolyRoiItem(RoiItemBase):
    """Polygon or freehand outline: vertices in item coordinates, the item's position is the move offset."""

    def __init__(self, roi: Roi) -> None:
        self._local: list[Point] = [Point(x, y) for x, y in roi.points]
        self._path: QPainterPath | None = None
        self._handle_vertex: list[int] = []  # vertex index of each handle
        super().__init__(roi, pos=(0, 0), size=(1, 1))
        self.handleSize = 4

    # -- geometry ---------------------------------------------------------------------------
    def points(self) -> Points:
        o = self.pos()
        return [(float(o.x() + p.x()), float(o.y() + p.y())) for p in self._local]

    def set_points(self, points: Points) -> None:
        self.setPos((0, 0), update=False)
        self._local = [Point(x, y) for x, y in points]
        if self.handles:
            self._remove_handles()
            self._add_handles()
        self._changed()
        self.stateChanged(finish=False)

    def _changed(self) -> None:
        self._path = None
        self.prepareGeometryChange()
        self.update()

    def _outline(self) -> QPainterPath:
        if self._path is None:
            path = QPainterPath()
            path.addPolygon(QPolygonF([QPointF(p.x(), p.y()) for p in self._local]))
            path.closeSubpath()
            self._path = path
        return self._path

    def shape(self) -> QPainterPath:
        return self._outline()

    def boundingRect(self) -> QRectF:
        m = self._margin()
        return self._outline().boundingRect().adjusted(-m, -m, m, m)

    def paint(self, p: QPainter, *args: object) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setPen(self.currentPen)
        p.drawPath(self._outline())

    # -- vertex handles (only while selected) ----------------------------------------------------
    def setSelected(self, s: bool) -> None:
        if not s and self.handles:
            self._remove_handles()
        super().setSelected(s)
        if s and not self.handles:
            self._add_handles()

    def _spaced_vertices(self) -> list[int]:
        """Vertices at least HANDLE_SPACING screen px apart (all of them when zoomed in enough).

        A traced outline has a vertex every pixel or two: a handle on each would hide
        the outline itself, and cost a graphics item each. The others stay in the
        outline; zooming in gives them handles.
        """
        out: list[int] = []
        last = None
        for i, p in enumerate(self._local):
            d = self.mapToDevice(QPointF(p.x(), p.y()))
            if d is None:  # not on screen yet
                return list(range(len(self._local)))
            if last is None or math.hypot(d.x() - last.x(), d.y() - last.y()) >= HANDLE_SPACING:
                out.append(i)
                last = d
        return out

    def _add_handles(self) -> None:
        self._handle_vertex = self._spaced_vertices()
        # Each added handle would report a finished region change: quiet, this is no edit.
        self.blockSignals(True)
        try:
            for i in self._handle_vertex:
                h = self.addFreeHandle(self._local[i])
                h.setDeletable(True)
                h.sigRemoveRequested.connect(self._on_remove_requested)
        finally:
            self.blockSignals(False)

    def _remove_handles(self) -> None:
        self.blockSignals(True)
        try:
            while self.handles:
                h = self.handles[-1]["item"]
                h.sigRemoveRequested.disconnect(self._on_remove_requested)
                self.removeHandle(h)
        finally:
            self.blockSignals(False)
        self._handle_vertex = []

    def viewTransformChanged(self) -> None:
        super().viewTransformChanged()
        self.prepareGeometryChange()  # the pen margin is in screen pixels
        if self.selected and self.handles and not any(h["item"].isMoving for h in self.handles):
            if self._spaced_vertices() != self._handle_vertex:
                self._remove_handles()
                self._add_handles()

    def movePoint(self, handle, pos, modifiers=None, finish=True, coords="parent") -> None:  # noqa: ANN001
        super().movePoint(handle, pos, modifiers, finish=finish, coords=coords)
        i = self.indexOfHandle(handle)
        self._local[self._handle_vertex[i]] = Point(self.handles[i]["pos"])
        self._changed()

    def checkRemoveHandle(self, handle) -> bool:  # noqa: ANN001
        return len(self._local) > 3

    def _on_remove_requested(self, handle) -> None:  # noqa: ANN001
        if len(self._local) <= 3:
            return
        i = self._handle_vertex[self.indexOfHandle(handle)]
        # Leave the handle's menu before the handle goes away.
        QTimer.singleShot(0, lambda: self._remove_vertex(i))

    def _remove_vertex(self, i: int) -> None:
        if 0 <= i < len(self._local) and len(self._local) > 3:
            del self._local[i]
            if self.handles:
                self._remove_handles()
                self._add_handles()
            self._changed()
            self.sigVertexEdited.emit(self)

    def insert_vertex(self, local: QPointF) -> int:
        """Insert a vertex at ``local`` (item coordinates) into the nearest edge; its index."""
        q = Point(local)
        best, best_d = 0, math.inf
        n = len(self._local)
        for k in range(n):
            a, b = self._local[k], self._local[(k + 1) % n]
            ab = b - a
            t = 0.0 if ab.length() == 0 else max(0.0, min(1.0, ((q - a).x() * ab.x() + (q - a).y() * ab.y()) / ab.length() ** 2))
            d = (a + ab * t - q).length()
            if d < best_d:
                best, best_d = k, d
        self._local.insert(best + 1, q)
        if self.handles:
            self._remove_handles()
            self._add_handles()
        self._changed()
        self.sigVertexEdited.emit(self)
        return best + 1

    def mouseClickEvent(self, ev) -> None:  # noqa: ANN001
        if ev.button() == Qt.MouseButton.LeftButton and ev.double() and self.selected:
            ev.accept()
            self.insert_vertex(ev.pos())
            return
        super().mouseClickEvent(ev)


def make_item(roi: Roi) -> RoiItemBase:
    return BoxRoiItem(roi) if roi.shape in ("rectangle", "ellipse") else PolyRoiItem(roi)


class RoiLabel(pg.TextItem):
    """The short name (L1, B1, M1) above an ROI's top-left corner; never takes the mouse."""

    def __init__(self, kind: str) -> None:
        super().__init__("", color=kind_colour(kind), anchor=(0, 1), fill=pg.mkBrush(0, 0, 0, 140))
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setAcceptHoverEvents(False)
        self.setZValue(Z_ROI + 1)

    def place(self, text: str, points: Points) -> None:
        self.setText(text)
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        self.setPos(min(xs), min(ys))
