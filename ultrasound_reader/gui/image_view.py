"""The image view: one frame in a pyqtgraph ViewBox, with layers for what is drawn on it.

Coordinates are image pixels with x right, y down and pixel centres at integers
(the ImageItem sits at (-0.5, -0.5)), the same convention as case.py's ROIs, so
anything added later (ROIs, Grad-CAM heatmaps) lives in the same space as the
pixels. Items stack by z value: the frame at :data:`Z_IMAGE`, heatmaps at
:data:`Z_HEATMAP`, ROIs at :data:`Z_ROI`, measurements at :data:`Z_MEASURE`; add
them with :meth:`ImageView.add_layer`.

Mouse: the left button belongs to the active :class:`~.tools.Tool` (the navigate
tool pans), the middle button always pans, the right button drags window/level,
the wheel zooms about the cursor.
"""

from __future__ import annotations

import math
import weakref
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGraphicsItem, QLabel, QWidget

from ultrasound_reader.dicom.calibration import Calibration
from ultrasound_reader.gui import theme
from ultrasound_reader.gui.overlay_place import Occupancy, ViewMap, occupancy, place_labels
from ultrasound_reader.gui.viewer_activity import ACTIVITY
from ultrasound_reader.gui.windowing import IDENTITY, WindowLevel, apply_lut, display_lut, drag

if TYPE_CHECKING:
    from ultrasound_reader.gui.tools import Tool

Z_IMAGE = 0
Z_HEATMAP = 10
Z_ROI = 20
Z_MEASURE = 30

MIN_ZOOM, MAX_ZOOM = 0.05, 40.0  # screen pixels per image pixel


class FrameImageItem(pg.ImageItem):
    """An ImageItem that reports each newly shown frame once it is actually painted.

    ``serial`` counts frames handed to the view (a re-render after a window/level
    change is not a new frame); benchmarks and tests measure "drawn" with it.
    """

    def __init__(self) -> None:
        super().__init__(axisOrder="row-major")
        self.frame_index: int | None = None
        self.serial = 0
        self._painted_serial = 0
        self.on_painted: list = []  # callables(frame_index)
        self.paint_count = 0

    def paint(self, painter, *args) -> None:  # noqa: ANN001 - Qt signature
        super().paint(painter, *args)
        if self.image is not None and self.serial != self._painted_serial:
            self._painted_serial = self.serial
            self.paint_count += 1
            for callback in self.on_painted:
                callback(self.frame_index)


class ReadingViewBox(pg.ViewBox):
    """A ViewBox with the reading-station mouse bindings (see the module docstring)."""

    windowLevelDragged = Signal(float, float)  # dx, dy in screen pixels

    def __init__(self) -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False, defaultPadding=0.0)
        self.setMouseMode(pg.ViewBox.PanMode)
        self.tool: Tool | None = None
        self.setLimits(minXRange=2, minYRange=2)

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: ANN001 - pyqtgraph signature
        button = ev.button()
        if button == Qt.MouseButton.RightButton:
            ev.accept()
            delta = ev.screenPos() - ev.lastScreenPos()
            self.windowLevelDragged.emit(delta.x(), delta.y())
            return
        if button == Qt.MouseButton.LeftButton and self.tool is not None:
            if self.tool.drag(ev, self.mapSceneToView(ev.scenePos())):
                ev.accept()
                return
        if button in (Qt.MouseButton.LeftButton, Qt.MouseButton.MiddleButton):
            super().mouseDragEvent(ev, axis)  # PanMode: both buttons pan
        else:
            ev.ignore()

    def mouseClickEvent(self, ev) -> None:  # noqa: ANN001
        if ev.button() == Qt.MouseButton.LeftButton and self.tool is not None:
            if self.tool.click(ev, self.mapSceneToView(ev.scenePos())):
                ev.accept()
                return
        ev.ignore()


class ImageView(pg.GraphicsView):
    """Shows one frame; owns zoom, pan, window/level, inversion, corner text and layers."""

    cursorMoved = Signal(float, float)  # image coordinates; NaN, NaN when the cursor leaves
    windowLevelChanged = Signal(object)  # WindowLevel
    framePainted = Signal(int)  # frame index, once per newly painted frame
    zoomChanged = Signal(float)  # screen pixels per image pixel

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background=QColor(theme.IMAGE_BACKGROUND))
        self.setAcceptDrops(False)  # the main window takes drops
        self.view = ReadingViewBox()
        self.setCentralItem(self.view)
        self.image_item = FrameImageItem()
        self.image_item.setPos(-0.5, -0.5)  # pixel centres at integer coordinates
        self.image_item.setZValue(Z_IMAGE)
        self.image_item.on_painted.append(self.framePainted.emit)
        self.view.addItem(self.image_item)

        self.raw: np.ndarray | None = None  # the frame as decoded (readout uses it)
        self.frame_index: int | None = None
        self.calibration: Calibration | None = None
        self._wl = IDENTITY
        self._invert = False
        self._lut: np.ndarray | None = None
        self._auto_fit = True  # refit on resize until the user zooms or pans
        self.tool: Tool | None = None
        self.occupancy: Occupancy | None = None  # what the frame carries: the corner text avoids it
        self._occupancy_source: weakref.ref | None = None  # the frame it was computed from

        self.view.windowLevelDragged.connect(self._on_wl_drag)
        self.view.sigRangeChangedManually.connect(self._on_manual_range)
        self.view.sigRangeChanged.connect(lambda *_: self.zoomChanged.emit(self.zoom_factor()))
        self.view.sigRangeChanged.connect(lambda *_: self._layout_corners())
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)

        self._corners = {name: self._make_corner(name) for name in ("tl", "tr", "bl", "br")}
        self._overlay_visible = True
        self.placeholder = QLabel(self)
        self.placeholder.setObjectName("placeholder")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.placeholder.setStyleSheet(f"color: {theme.TEXT_DIM}; font-size: 15px; background: transparent;")
        self.placeholder.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.set_placeholder("Open a DICOM file or folder\n\nFile ▸ Open (Ctrl+O), or drop files here")

    # -- frames -------------------------------------------------------------------------
    def set_frame(self, frame: np.ndarray, index: int = 0) -> None:
        """Show ``frame`` (uint8 HxW or HxWx3) through the current window/level."""
        ACTIVITY.touch()  # background model loading waits while frames are being shown
        first = self.raw is None or self.raw.shape[:2] != frame.shape[:2]
        self.raw = frame
        self.frame_index = index
        self.image_item.frame_index = index
        self.image_item.serial += 1
        self.image_item.setImage(apply_lut(frame, self._lut), autoLevels=False)
        self.placeholder.hide()
        source = self._occupancy_source() if self._occupancy_source is not None else None
        if first or self.occupancy is None or (index == 0 and source is not frame):
            # Once per cine (its first frame; a loop back to the same cached frame is no new cine):
            # burned-in text rarely moves. ~10 ms for 640x480 RGB.
            regions = [(r.x0, r.y0, r.x1, r.y1) for r in self.calibration.regions] if self.calibration else []
            self.occupancy = occupancy(frame, regions)
            self._occupancy_source = weakref.ref(frame)
            if not first:
                self._layout_corners()
        if first:
            self._auto_fit = True
            self.fit()

    def clear(self, placeholder: str | None = None) -> None:
        self.raw = None
        self.frame_index = None
        self.occupancy = None
        self.image_item.clear()
        self.image_item.frame_index = None
        self.calibration = None
        for label in self._corners.values():
            label.setText("")
            label.hide()
        if placeholder:
            self.set_placeholder(placeholder)

    def set_placeholder(self, text: str) -> None:
        self.placeholder.setText(text)
        self.placeholder.show()
        self._place_overlays()

    @property
    def image_shape(self) -> tuple[int, int] | None:
        return None if self.raw is None else self.raw.shape[:2]

    # -- window / level -------------------------------------------------------------------
    @property
    def window_level(self) -> WindowLevel:
        return self._wl

    @property
    def inverted(self) -> bool:
        return self._invert

    def set_window_level(self, wl: WindowLevel) -> None:
        if wl == self._wl:
            return
        self._wl = wl
        self._rerender()
        self.windowLevelChanged.emit(wl)

    def set_inverted(self, invert: bool) -> None:
        if invert == self._invert:
            return
        self._invert = bool(invert)
        self._rerender()
        self.windowLevelChanged.emit(self._wl)

    def _rerender(self) -> None:
        self._lut = display_lut(self._wl, self._invert)
        if self.raw is not None:
            self.image_item.setImage(apply_lut(self.raw, self._lut), autoLevels=False)

    def _on_wl_drag(self, dx: float, dy: float) -> None:
        if self.raw is not None:
            self.set_window_level(drag(self._wl, dx, dy))

    # -- zoom and pan ---------------------------------------------------------------------
    def image_rect(self) -> QRectF | None:
        shape = self.image_shape
        if shape is None:
            return None
        h, w = shape
        return QRectF(-0.5, -0.5, w, h)

    def fit(self) -> None:
        """Show the whole image as large as the view allows."""
        rect = self.image_rect()
        if rect is not None:
            self.view.setRange(rect, padding=0.0)
            self._auto_fit = True

    def zoom_factor(self) -> float:
        """Screen (device) pixels per image pixel."""
        (x0, x1), _ = self.view.viewRange()
        width = self.view.width()
        if width <= 0 or x1 <= x0:
            return 1.0
        return width * self.devicePixelRatioF() / (x1 - x0)

    def set_zoom(self, factor: float, center: QPointF | None = None) -> None:
        """Zoom to ``factor`` device pixels per image pixel about ``center`` (default: view centre)."""
        factor = min(max(factor, MIN_ZOOM), MAX_ZOOM)
        if center is None:
            center = self.view.viewRect().center()
        scale = self.devicePixelRatioF() * factor
        half_w = self.view.width() / scale / 2
        half_h = self.view.height() / scale / 2
        self.view.setRange(xRange=(center.x() - half_w, center.x() + half_w),
                           yRange=(center.y() - half_h, center.y() + half_h), padding=0.0)
        self._auto_fit = False

    def zoom_by(self, step: float) -> None:
        self.set_zoom(self.zoom_factor() * step)

    def one_to_one(self) -> None:
        """One image pixel per screen pixel, centred where the view is centred."""
        self.set_zoom(1.0)

    def _on_manual_range(self, *_: object) -> None:
        self._auto_fit = False

    def resizeEvent(self, ev) -> None:  # noqa: ANN001
        super().resizeEvent(ev)
        if not hasattr(self, "_corners"):  # pyqtgraph resizes during construction
            return
        if self._auto_fit:
            self.fit()
        self._place_overlays()

    # -- cursor ---------------------------------------------------------------------------
    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        if self.raw is None or not self.view.sceneBoundingRect().contains(scene_pos):
            self.cursorMoved.emit(math.nan, math.nan)
            return
        p = self.view.mapSceneToView(scene_pos)
        self.cursorMoved.emit(p.x(), p.y())

    def leaveEvent(self, ev) -> None:  # noqa: ANN001
        super().leaveEvent(ev)
        self.cursorMoved.emit(math.nan, math.nan)

    # -- tools and layers -----------------------------------------------------------------
    def set_tool(self, tool: Tool | None) -> None:
        if self.tool is not None:
            self.tool.deactivate()
        self.tool = tool
        self.view.tool = tool
        if tool is not None:
            tool.activate(self)
            self.setCursor(tool.cursor)
        else:
            self.unsetCursor()

    def add_layer(self, item: QGraphicsItem, z: float) -> None:
        """Draw ``item`` (in image coordinates) above the frame at depth ``z``."""
        item.setZValue(z)
        self.view.addItem(item)

    def remove_layer(self, item: QGraphicsItem) -> None:
        self.view.removeItem(item)

    def map_to_widget(self, x: float, y: float) -> QPointF:
        """Widget coordinates of image point (x, y) (tests and tools use it)."""
        scene = self.view.mapViewToScene(QPointF(x, y))
        return QPointF(self.mapFromScene(scene))

    # -- corner text ----------------------------------------------------------------------
    def _make_corner(self, name: str) -> QLabel:
        label = QLabel(self)
        label.setObjectName(f"overlay_{name}")
        label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        label.setTextFormat(Qt.TextFormat.PlainText)
        align = Qt.AlignmentFlag.AlignRight if name.endswith("r") else Qt.AlignmentFlag.AlignLeft
        label.setAlignment(align | (Qt.AlignmentFlag.AlignBottom if name.startswith("b") else Qt.AlignmentFlag.AlignTop))
        label.setStyleSheet(
            "color: #e6e6e6; background: rgba(0, 0, 0, 175); padding: 3px 6px; "
            "font-family: monospace; font-size: 11px; border-radius: 3px;"
        )
        label.hide()
        return label

    def set_overlay_text(self, tl: str = "", tr: str = "", bl: str = "", br: str = "") -> None:
        for name, text in zip(("tl", "tr", "bl", "br"), (tl, tr, bl, br)):
            self.set_corner_text(name, text)

    def set_corner_text(self, corner: str, text: str) -> None:
        """Set one corner's text: ``tl``, ``tr``, ``bl`` or ``br``."""
        label = self._corners[corner]
        visible = label.isVisible()
        size = label.size()
        if label.text() != text:
            label.setText(text)
            label.adjustSize()
        label.setVisible(bool(text) and self._overlay_visible)
        if label.size() != size or label.isVisible() != visible:
            self._layout_corners()

    def overlay_text(self) -> dict[str, str]:
        """The text of each visible corner (tests read it)."""
        return {name: label.text() for name, label in self._corners.items() if label.isVisible()}

    def set_overlay_visible(self, visible: bool) -> None:
        self._overlay_visible = bool(visible)
        for label in self._corners.values():
            label.setVisible(self._overlay_visible and bool(label.text()))
        self._place_overlays()

    @property
    def overlay_visible(self) -> bool:
        return self._overlay_visible

    def _place_overlays(self) -> None:
        for label in self._corners.values():
            label.adjustSize()
        self._layout_corners()
        self.placeholder.setGeometry(0, 0, self.width(), self.height())

    def view_map(self) -> ViewMap | None:
        """Widget pixel = scale * image coordinate + offset, for the current zoom and pan."""
        if self.raw is None:
            return None
        h, w = self.raw.shape[:2]
        span_x, span_y = float(max(w, 2)), float(max(h, 2))  # far apart: widget points are whole pixels
        a, b = self.map_to_widget(0.0, 0.0), self.map_to_widget(span_x, span_y)
        sx, sy = (b.x() - a.x()) / span_x, (b.y() - a.y()) / span_y
        if not (abs(sx) > 1e-9 and abs(sy) > 1e-9):
            return None
        return ViewMap(sx, a.x(), sy, a.y())

    def _layout_corners(self) -> None:
        """Each visible corner text where it covers neither burned-in text nor image data (overlay_place.py).

        In a narrow view (e.g. side by side) the labels never overlap each other either.
        """
        if not hasattr(self, "_corners"):
            return
        shown = {name: label for name, label in self._corners.items() if label.isVisible()}
        if not shown:
            return
        sizes = {name: (float(label.width()), float(label.height())) for name, label in shown.items()}
        spots = place_labels(sizes, (float(self.width()), float(self.height())), self.view_map(), self.occupancy)
        for name, (x, y) in spots.items():
            shown[name].move(int(round(x)), int(round(y)))
