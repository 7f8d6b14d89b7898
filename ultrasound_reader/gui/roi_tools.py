"""ROI drawing tools: rectangle, ellipse (drag a box), polygon (click vertices), freehand (drag a trace).

They join the main window's exclusive tool group like the ruler does. A tool only
shows a dashed preview while the gesture lasts; when it ends, it hands the shape
and points (image pixels) to ``on_drawn``, which checks the reading rules and
pushes the undo command. The polygon closes on a double-click, on a click back on
its first vertex, or on Enter; Backspace takes back the last vertex and Esc
abandons it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPointF, Qt
from PySide6.QtGui import QColor, QKeyEvent, QPainterPath, QPolygonF
from PySide6.QtWidgets import QGraphicsPathItem

from ultrasound_reader import case_rules
from ultrasound_reader.gui.image_view import Z_ROI
from ultrasound_reader.gui.roi_items import kind_colour
from ultrasound_reader.gui.tools import Tool

if TYPE_CHECKING:
    from ultrasound_reader.gui.image_view import ImageView

Drawn = Callable[[str, list[tuple[float, float]]], None]  # (shape, points)
CLOSE_RADIUS_SCREEN_PX = 7.0  # a click this close to the first vertex closes the polygon


class _Preview(QGraphicsPathItem):
    """Dashed outline of the ROI being drawn (cosmetic pen: the same on screen at any zoom)."""

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(Z_ROI + 5)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)

    def set_colour(self, colour: QColor) -> None:
        pen = pg.mkPen(colour, width=1.5, style=Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        self.setPen(pen)

    def set_polygon(self, points: list[QPointF], closed: bool) -> None:
        path = QPainterPath()
        if points:
            path.addPolygon(QPolygonF(points))
            if closed:
                path.closeSubpath()
        self.setPath(path)


class RoiTool(Tool):
    """Base of the drawing tools: preview handling and the hand-over of a finished shape."""

    cursor = Qt.CursorShape.CrossCursor
    shape = ""

    def __init__(self, on_drawn: Drawn, kind: Callable[[], str], on_start: Callable[[], None] | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.on_drawn = on_drawn
        self.kind = kind
        self.on_start = on_start
        self.preview: _Preview | None = None

    def activate(self, view: ImageView) -> None:
        super().activate(view)

    def deactivate(self) -> None:
        self.cancel()

    def _show_preview(self, points: list[QPointF], closed: bool) -> None:
        assert self.view is not None
        if self.preview is None:
            self.preview = _Preview()
            self.view.add_layer(self.preview, Z_ROI + 5)
        self.preview.set_colour(kind_colour(self.kind()))
        self.preview.set_polygon(points, closed)

    def cancel(self) -> None:
        if self.preview is not None and self.view is not None:
            self.view.remove_layer(self.preview)
        self.preview = None

    def _ready(self) -> bool:
        return self.view is not None and self.view.raw is not None

    def _finish(self, points: list[tuple[float, float]]) -> None:
        self.cancel()
        self.on_drawn(self.shape, points)


class BoxTool(RoiTool):
    """Drag from one corner to the other."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._start: QPointF | None = None

    def drag(self, ev, pos: QPointF) -> bool:  # noqa: ANN001
        if not self._ready():
            return False
        assert self.view is not None
        if ev.isStart():
            self._start = self.view.view.mapSceneToView(ev.buttonDownScenePos(Qt.MouseButton.LeftButton))
            if self.on_start:
                self.on_start()
        if self._start is None:
            return True
        self._show_box(self._start, pos)
        if ev.isFinish():
            start, self._start = self._start, None
            self._finish(case_rules.box_points((start.x(), start.y()), (pos.x(), pos.y())))
        return True

    def _show_box(self, a: QPointF, b: QPointF) -> None:
        (x0, y0), (x1, y1) = case_rules.box_points((a.x(), a.y()), (b.x(), b.y()))
        if self.shape == "ellipse":
            assert self.view is not None
            if self.preview is None:
                self._show_preview([], False)
            assert self.preview is not None
            path = QPainterPath()
            path.addEllipse(x0, y0, x1 - x0, y1 - y0)
            self.preview.set_colour(kind_colour(self.kind()))
            self.preview.setPath(path)
        else:
            self._show_preview([QPointF(x0, y0), QPointF(x1, y0), QPointF(x1, y1), QPointF(x0, y1)], True)

    def cancel(self) -> None:
        self._start = None
        super().cancel()


class RectangleTool(BoxTool):
    name, label, shape = "roi_rectangle", "Rectangle", "rectangle"


class EllipseTool(BoxTool):
    name, label, shape = "roi_ellipse", "Ellipse", "ellipse"


class FreehandTool(RoiTool):
    """Drag along the outline; the trace closes itself and is thinned to within half a pixel."""

    name, label, shape = "roi_freehand", "Freehand", "freehand"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._trace: list[QPointF] = []

    def drag(self, ev, pos: QPointF) -> bool:  # noqa: ANN001
        if not self._ready():
            return False
        assert self.view is not None
        if ev.isStart():
            self._trace = [self.view.view.mapSceneToView(ev.buttonDownScenePos(Qt.MouseButton.LeftButton))]
            if self.on_start:
                self.on_start()
        if not self._trace:
            return True
        self._trace.append(QPointF(pos))
        self._show_preview(self._trace, False)
        if ev.isFinish():
            trace, self._trace = self._trace, []
            self._finish(case_rules.simplify_freehand([(p.x(), p.y()) for p in trace]))
        return True

    def cancel(self) -> None:
        self._trace = []
        super().cancel()


class PolygonTool(RoiTool):
    """Click the vertices; double-click, click the first vertex again, or press Enter to close."""

    name, label, shape = "roi_polygon", "Polygon", "polygon"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.vertices: list[QPointF] = []
        self._cursor: QPointF | None = None

    def activate(self, view: ImageView) -> None:
        super().activate(view)
        view.scene().sigMouseMoved.connect(self._on_mouse_moved)
        view.installEventFilter(self)

    def deactivate(self) -> None:
        super().deactivate()
        if self.view is not None:
            try:
                self.view.scene().sigMouseMoved.disconnect(self._on_mouse_moved)
            except (RuntimeError, TypeError):
                pass
            self.view.removeEventFilter(self)

    def click(self, ev, pos: QPointF) -> bool:  # noqa: ANN001
        if not self._ready():
            return False
        assert self.view is not None
        self.view.setFocus(Qt.FocusReason.MouseFocusReason)  # Enter / Esc / Backspace reach the tool
        if ev.double():
            self.close_polygon()
            return True
        if len(self.vertices) >= 3 and self._near_first(pos):
            self.close_polygon()
            return True
        if not self.vertices and self.on_start:
            self.on_start()
        self.vertices.append(QPointF(pos))
        self._update_preview()
        return True

    def _near_first(self, pos: QPointF) -> bool:
        assert self.view is not None
        zoom = max(self.view.zoom_factor() / max(self.view.devicePixelRatioF(), 1e-6), 1e-6)
        first = self.vertices[0]
        return case_rules.outline_close([(first.x(), first.y())], (pos.x(), pos.y()), CLOSE_RADIUS_SCREEN_PX / zoom)

    def close_polygon(self) -> bool:
        """Finish the polygon being drawn; False (and nothing drawn) with fewer than 3 vertices."""
        points = [(p.x(), p.y()) for p in self.vertices]
        # A double-click repeats the last click's vertex: one vertex, not two.
        deduped: list[tuple[float, float]] = []
        for p in points:
            if not deduped or abs(p[0] - deduped[-1][0]) > 1e-9 or abs(p[1] - deduped[-1][1]) > 1e-9:
                deduped.append(p)
        if len(deduped) < 3:
            return False
        self.vertices = []
        self._finish(deduped)
        return True

    def remove_last(self) -> None:
        if self.vertices:
            self.vertices.pop()
            self._update_preview()
            if not self.vertices:
                super().cancel()

    def cancel(self) -> None:
        self.vertices = []
        super().cancel()

    @property
    def drawing(self) -> bool:
        return bool(self.vertices)

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        if self.vertices and self.view is not None:
            self._cursor = self.view.view.mapSceneToView(scene_pos)
            self._update_preview()

    def _update_preview(self) -> None:
        if not self.vertices:
            return
        pts = list(self.vertices) + ([self._cursor] if self._cursor is not None else [])
        self._show_preview(pts, False)
        assert self.preview is not None and self.view is not None
        # Small rings on the vertices placed so far (3 screen px, whatever the zoom).
        r = 3.0 * self.view.devicePixelRatioF() / max(self.view.zoom_factor(), 1e-6)
        path = self.preview.path()
        for p in self.vertices:
            path.addEllipse(p, r, r)
        self.preview.setPath(path)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if not self.vertices or event.type() not in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress):
            return False
        assert isinstance(event, QKeyEvent)
        key = event.key()
        if key not in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Escape, Qt.Key.Key_Backspace):
            return False
        if event.type() == QEvent.Type.ShortcutOverride:
            event.accept()  # these keys belong to the polygon while it is drawn, not to window shortcuts
            return True
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.close_polygon()
        elif key == Qt.Key.Key_Escape:
            self.cancel()
        else:
            self.remove_last()
        return True
