"""Grad-CAM on screen: the heat-map layer over the image, the side-by-side view, ROI thumbnails.

The colours come from the AI layer's own overlay helper (``ai.gradcam.overlay_rgba``,
via :func:`~.cam_controls.cam_overlay`), so what the reader sees is what the
``analyze`` command writes. Maps are in image pixels (each CamMap in its ROI box)
and are drawn only on the frame they were computed on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import QGridLayout, QLabel, QSizePolicy, QToolButton, QVBoxLayout, QWidget

from ultrasound_reader.ai.gradcam import roi_mask
from ultrasound_reader.case import CamMap
from ultrasound_reader.gui import theme
from ultrasound_reader.gui.cam_controls import CamSettings, cam_overlay, select_cams
from ultrasound_reader.gui.image_view import Z_HEATMAP, Z_IMAGE

THUMB_PX = 72


@dataclass(frozen=True)
class Overlay:
    """An RGBA heat map covering image pixels [x0, x0 + w) x [y0, y0 + h): only the maps' region is coloured."""

    rgba: np.ndarray  # h x w x 4 uint8
    x0: int
    y0: int

    def value_at(self, x: int, y: int) -> np.ndarray:
        """The RGBA of image pixel (x, y); transparent outside the region."""
        h, w = self.rgba.shape[:2]
        if self.x0 <= x < self.x0 + w and self.y0 <= y < self.y0 + h:
            return self.rgba[y - self.y0, x - self.x0]
        return np.zeros(4, np.uint8)


def make_overlay(cams: Sequence[CamMap], height: int, width: int, settings: CamSettings,
                 image: int | None = None, frame: int | None = None,
                 outlines: Mapping[str, np.ndarray] | None = None) -> Overlay | None:
    """The overlay of the maps ``settings`` selects on this image and frame (None: nothing to draw).

    Only the union of their boxes is coloured (a few ROI boxes instead of the whole
    frame, so the opacity slider and frame changes stay instant), by the same helper
    and in the same colours as a whole-image overlay. With ``settings.shape == "roi"``
    and the ROIs' ``outlines`` (image (x, y) vertices by ROI id), each map shows only
    inside its ROI, fading out towards the outline (``ai.gradcam.soft_mask``); a map
    whose outline is not given keeps its box.
    """
    chosen = [c for c in select_cams(cams, settings.model, image, frame)] if settings.enabled else []
    if not chosen or settings.model is None:
        return None
    x0 = max(min(int(c.bbox[0]) for c in chosen), 0)
    y0 = max(min(int(c.bbox[1]) for c in chosen), 0)
    x1 = min(max(int(c.bbox[2]) for c in chosen), width)
    y1 = min(max(int(c.bbox[3]) for c in chosen), height)
    if x1 <= x0 or y1 <= y0:
        return None
    local = [replace(c, bbox=(int(c.bbox[0]) - x0, int(c.bbox[1]) - y0, int(c.bbox[2]) - x0, int(c.bbox[3]) - y0))
             for c in chosen]
    mask = roi_mask(chosen, outlines, y1 - y0, x1 - x0, (x0, y0)) if settings.shape == "roi" else None
    rgba = cam_overlay(local, y1 - y0, x1 - x0, settings, mask=mask)
    return None if rgba is None else Overlay(rgba, x0, y0)


class CamLayer(pg.ImageItem):
    """An RGBA heat map in image pixel coordinates (pixel centres at integers, like the frame)."""

    def __init__(self) -> None:
        super().__init__(axisOrder="row-major")
        self.setPos(-0.5, -0.5)
        self.setZValue(Z_HEATMAP)
        self.overlay: Overlay | None = None
        self.setVisible(False)

    def show_overlay(self, overlay: Overlay | None) -> None:
        """Show an overlay where it belongs on the image, or nothing (None)."""
        self.overlay = overlay
        if overlay is None:
            self.clear()
            self.setVisible(False)
            return
        self.setImage(overlay.rgba, autoLevels=False, levels=(0, 255))
        self.setPos(overlay.x0 - 0.5, overlay.y0 - 0.5)
        self.setVisible(True)


class CompareView(pg.GraphicsView):
    """The right half of the side-by-side view: the same frame with the heat map, following the left's zoom."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background=QColor(theme.IMAGE_BACKGROUND))
        self.setObjectName("camCompareView")
        self.view = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False, defaultPadding=0.0)
        self.view.setMouseEnabled(False, False)  # zoom and pan on the left; this side follows
        self.setCentralItem(self.view)
        self.frame_item = pg.ImageItem(axisOrder="row-major")
        self.frame_item.setPos(-0.5, -0.5)
        self.frame_item.setZValue(Z_IMAGE)
        self.view.addItem(self.frame_item)
        self.layer = CamLayer()
        self.view.addItem(self.layer)
        self.caption = QLabel("Grad-CAM", self)
        self.caption.setStyleSheet("color: #e6e6e6; background: rgba(0, 0, 0, 175); padding: 3px 6px; "
                                   "font-size: 11px; border-radius: 3px;")
        self.caption.move(8, 8)
        self._rect: QRectF | None = None

    def set_frame(self, display: np.ndarray | None) -> None:
        """The frame as the left view renders it (window/level applied)."""
        if display is None:
            self.frame_item.clear()
        else:
            self.frame_item.setImage(display, autoLevels=False, levels=(0, 255))

    def follow(self, rect: QRectF) -> None:
        """Show the image region ``rect`` (the left view's visible range)."""
        self._rect = QRectF(rect)
        self.view.setRange(rect, padding=0.0)

    def set_caption(self, text: str) -> None:
        self.caption.setText(text)
        self.caption.adjustSize()

    def resizeEvent(self, ev) -> None:  # noqa: ANN001, N802 - Qt API
        super().resizeEvent(ev)
        if getattr(self, "_rect", None) is not None:
            self.view.setRange(self._rect, padding=0.0)


def thumbnail_rgb(crop: np.ndarray, cams: Sequence[CamMap], settings: CamSettings,
                  outline: np.ndarray | None = None) -> np.ndarray:
    """The ROI crop (gray or RGB) with its maps blended in when the overlay is on; RGB uint8.

    ``outline``: the ROI's vertices in crop pixels, for the soft-edged ROI shape.
    """
    rgb = crop if crop.ndim == 3 else np.repeat(crop[:, :, None], 3, axis=2)
    if not settings.enabled or not cams:
        return np.ascontiguousarray(rgb[:, :, :3])
    from ultrasound_reader.ai.gradcam import blend, overlay_rgba, soft_mask

    h, w = crop.shape[:2]
    local = [replace(c, bbox=(0, 0, w, h)) for c in cams if c.heat.shape[:2] == (h, w)]
    mask = soft_mask(outline, h, w) if outline is not None and settings.shape == "roi" else None
    return blend(rgb, overlay_rgba(local, h, w, cmap=settings.cmap, opacity=settings.opacity, mask=mask))


def rgb_pixmap(rgb: np.ndarray, size: int = THUMB_PX) -> QPixmap:
    """A square pixmap of an RGB uint8 image scaled to fit, on black."""
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    image = QImage(rgb.data, w, h, rgb.strides[0], QImage.Format.Format_RGB888)
    scaled = image.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    canvas = QPixmap(size, size)
    canvas.fill(QColor("black"))
    from PySide6.QtGui import QPainter

    p = QPainter(canvas)
    p.drawImage((size - scaled.width()) // 2, (size - scaled.height()) // 2, scaled)
    p.end()
    return canvas


@dataclass(frozen=True)
class Tile:
    """One ROI thumbnail: which ROI, its caption, and the picture."""

    roi_id: str
    caption: str
    rgb: np.ndarray
    tooltip: str = ""


class CamThumbnails(QWidget):
    """A grid of ROI thumbnails (crop + Grad-CAM); a click asks to show that ROI."""

    roiClicked = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("camThumbnails")
        self.columns = 3
        outer = QVBoxLayout(self)
        outer.setContentsMargins(8, 0, 8, 6)
        outer.setSpacing(4)
        self.title = QLabel("ROI thumbnails", self)
        self.title.setStyleSheet(f"color: {theme.TEXT_DIM}; font-weight: bold;")
        outer.addWidget(self.title)
        self.grid = QGridLayout()
        self.grid.setSpacing(4)
        self.grid.setContentsMargins(0, 0, 0, 0)
        outer.addLayout(self.grid)
        self.empty = QLabel("Thumbnails of the analysed ROIs appear here.", self)
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet(f"color: {theme.TEXT_DIM};")
        outer.addWidget(self.empty)
        self.buttons: list[QToolButton] = []
        self.tiles: list[Tile] = []
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)

    def set_tiles(self, tiles: Iterable[Tile]) -> None:
        for b in self.buttons:
            self.grid.removeWidget(b)
            b.deleteLater()
        self.buttons = []
        self.tiles = list(tiles)
        for k, tile in enumerate(self.tiles):
            b = QToolButton(self)
            b.setObjectName(f"thumb_{tile.roi_id}")
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            b.setIcon(QIcon(rgb_pixmap(tile.rgb)))
            b.setIconSize(QSize(THUMB_PX, THUMB_PX))
            b.setText(tile.caption)
            b.setToolTip(tile.tooltip or tile.caption)
            b.setAutoRaise(True)
            b.clicked.connect(lambda _=False, rid=tile.roi_id: self.roiClicked.emit(rid))
            self.buttons.append(b)
        self._place()
        self.empty.setVisible(not self.tiles)

    def _place(self) -> None:
        """As many columns as the width holds."""
        if self.buttons:
            cell = max(b.sizeHint().width() for b in self.buttons) + self.grid.horizontalSpacing()
            self.columns = max(1, (self.width() - 16) // max(cell, 1))
        for k, b in enumerate(self.buttons):
            self.grid.addWidget(b, k // self.columns, k % self.columns)

    def resizeEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt API
        super().resizeEvent(event)
        if self.buttons and max(1, (self.width() - 16) // (max(b.sizeHint().width() for b in self.buttons)
                                                            + self.grid.horizontalSpacing())) != self.columns:
            self._place()
