"""Grad-CAM overlay controls: show or hide, opacity, colour map (with its legend), which output.

The heat maps are the analysis's :class:`~ultrasound_reader.case.CamMap` objects; the
RGBA overlay is made by the AI layer's own helper (``ai.gradcam.overlay_rgba``) so the
GUI, the ``analyze`` command's CAM files and the tests colour maps identically. That
module imports torch, so it is imported on first use only (never at start-up): by then
an analysis has run and torch is loaded anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from ultrasound_reader.case import CamMap
from ultrasound_reader.gui import theme

# The colour maps ai.gradcam.colorize knows (a test keeps this list equal to its table).
COLORMAPS: tuple[str, ...] = ("jet", "turbo", "inferno", "viridis", "hot", "magma")
OUTPUT_NAMES = {"L": "Model^L", "LB": "Model^LB", "LB-type": "LB type (background)", "DLM-1": "DLM-1"}
# How a map is laid over the image: inside the ROI outline with a soft edge (the reading
# view), or as computed, over the whole ROI box (to inspect the raw map).
SHAPES: dict[str, str] = {"roi": "ROI outline, soft edge", "box": "Whole box (as computed)"}


@dataclass(frozen=True)
class CamSettings:
    """What the controls ask for; ``model`` is the CamMap.model to show (None: none available)."""

    enabled: bool = False
    opacity: float = 0.5
    cmap: str = "jet"
    model: str | None = None
    side_by_side: bool = False
    shape: str = "roi"  # a key of SHAPES


def select_cams(cams: Iterable[CamMap], model: str | None, image: int | None = None,
                frame: int | None = None) -> list[CamMap]:
    """The maps of one output on one frame of one image (None: any)."""
    return [c for c in cams if (model is None or c.model == model) and (image is None or c.image == image)
            and (frame is None or c.frame == frame)]


def cam_overlay(cams: Iterable[CamMap], height: int, width: int, settings: CamSettings,
                image: int | None = None, frame: int | None = None, mask: np.ndarray | None = None) -> np.ndarray | None:
    """RGBA (H x W x 4 uint8) overlay of the selected maps, or None when disabled or nothing to show."""
    if not settings.enabled or settings.model is None:
        return None
    chosen = select_cams(cams, settings.model, image, frame)
    if not chosen:
        return None
    from ultrasound_reader.ai.gradcam import overlay_rgba

    return overlay_rgba(chosen, height, width, cmap=settings.cmap, opacity=settings.opacity, mask=mask)


def colormap_ramp(cmap: str, length: int = 256) -> np.ndarray:
    """1 x length x 3 uint8 RGB: the colour map from 0 (left) to 1 (right), as the overlay colours it."""
    from ultrasound_reader.ai.gradcam import colorize

    return colorize(np.linspace(0.0, 1.0, length, dtype=np.float32)[None, :], cmap)


class ColorLegend(QWidget):
    """A horizontal colour bar, "low" to "high" attention; painted once the maps exist."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cmap = "jet"
        self.active = False
        self._image: QImage | None = None
        self._ramp: np.ndarray | None = None
        self.setMinimumHeight(30)

    def set_colormap(self, cmap: str, active: bool) -> None:
        if cmap != self.cmap or (active and self._image is None):
            self._image = None
        self.cmap, self.active = cmap, active
        if active and self._image is None:
            # Only with maps on screen: the ramp comes from ai.gradcam (which imports torch).
            self._ramp = np.ascontiguousarray(colormap_ramp(cmap))
            h, w = self._ramp.shape[:2]
            self._image = QImage(self._ramp.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(180, 30)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        bar = self.rect().adjusted(2, 2, -2, -16)
        p.setPen(theme.BORDER)
        if self.active and self._image is not None and self.isEnabled():
            p.drawImage(bar, self._image)
        else:
            p.fillRect(bar, theme.BASE)
        p.drawRect(bar)
        p.setPen(theme.TEXT_DIM)
        text_row = self.rect().adjusted(2, self.height() - 15, -2, 0)
        p.drawText(text_row, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), "0 low")
        p.drawText(text_row, int(Qt.AlignmentFlag.AlignCenter), "attention")
        p.drawText(text_row, int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), "high 1")
        p.end()


class CamControls(QWidget):
    """Toggle, opacity, colour map with legend, output choice and side-by-side; emits ``settingsChanged``."""

    settingsChanged = Signal(object)  # CamSettings

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("camControls")
        # The Fusion check box is nearly invisible on the dark palette: draw the box plainly.
        self.setStyleSheet(f"""
            QCheckBox::indicator {{ width: 12px; height: 12px; border: 1px solid #6b7480; border-radius: 2px;
                                   background: {theme.BASE}; }}
            QCheckBox::indicator:checked {{ background: {theme.ACCENT}; border-color: {theme.ACCENT}; }}
            QCheckBox::indicator:disabled {{ border-color: {theme.BORDER}; }}
            QCheckBox:disabled {{ color: #60666e; }}""")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(8, 6, 8, 6)
        outer.setSpacing(4)
        self.toggle = QCheckBox("Show &Grad-CAM overlay", self)
        self.toggle.setObjectName("camToggle")
        self.toggle.setToolTip("Heat map of the image regions that drove the chosen output")
        outer.addWidget(self.toggle)
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        form.setHorizontalSpacing(8)
        self.model = QComboBox(self)
        self.model.setObjectName("camModel")
        form.addRow(self._buddy("O&utput", self.model), self.model)
        opacity_row = QWidget(self)
        h = QHBoxLayout(opacity_row)
        h.setContentsMargins(0, 0, 0, 0)
        self.opacity = QSlider(Qt.Orientation.Horizontal, opacity_row)
        self.opacity.setObjectName("camOpacity")
        self.opacity.setRange(0, 100)
        self.opacity.setValue(50)
        self.opacity.setPageStep(10)
        self.opacity_label = QLabel("50 %", opacity_row)
        self.opacity_label.setMinimumWidth(40)
        h.addWidget(self.opacity, 1)
        h.addWidget(self.opacity_label)
        form.addRow(self._buddy("O&pacity", self.opacity), opacity_row)
        self.cmap = QComboBox(self)
        self.cmap.setObjectName("camColormap")
        self.cmap.addItems(COLORMAPS)
        form.addRow(self._buddy("Colour &map", self.cmap), self.cmap)
        self.shape = QComboBox(self)
        self.shape.setObjectName("camShape")
        for key, text in SHAPES.items():
            self.shape.addItem(text, key)
        self.shape.setToolTip("Show the map inside the ROI outline with a feathered edge, or the whole box "
                              "the network saw (for inspection)")
        form.addRow(self._buddy("&Shape", self.shape), self.shape)
        outer.addLayout(form)
        self.legend = ColorLegend(self)
        outer.addWidget(self.legend)
        self.side_by_side = QCheckBox("Side by side (image | &overlay)", self)
        self.side_by_side.setObjectName("camSideBySide")
        outer.addWidget(self.side_by_side)
        self.note = QLabel("", self)
        self.note.setWordWrap(True)
        self.note.setStyleSheet(f"color: {theme.TEXT_DIM};")
        outer.addWidget(self.note)
        outer.addStretch(1)

        self.toggle.toggled.connect(self._changed)
        self.model.currentIndexChanged.connect(self._changed)
        self.opacity.valueChanged.connect(self._changed)
        self.cmap.currentIndexChanged.connect(self._changed)
        self.shape.currentIndexChanged.connect(self._changed)
        self.side_by_side.toggled.connect(self._changed)
        self.set_models([])

    def _buddy(self, text: str, w: QWidget) -> QLabel:
        label = QLabel(text, self)
        label.setBuddy(w)
        return label

    def set_models(self, models: Sequence[str]) -> None:
        """The outputs that have maps (e.g. ``sorted({c.model for c in result.cams})``); [] disables."""
        current = self.model.currentData()
        self.model.blockSignals(True)
        self.model.clear()
        for m in models:
            self.model.addItem(OUTPUT_NAMES.get(m, m), m)
        idx = self.model.findData(current)
        self.model.setCurrentIndex(idx if idx >= 0 else (0 if models else -1))
        self.model.blockSignals(False)
        has = bool(models)
        for w in (self.toggle, self.model, self.opacity, self.cmap, self.shape, self.side_by_side, self.legend):
            w.setEnabled(has)
        self.note.setText("" if has else "No Grad-CAM maps yet: run an analysis.")
        self.note.setVisible(not has)
        self._changed()

    def set_cams(self, cams: Iterable[CamMap]) -> None:
        """Offer the outputs of these maps, in the order they first appear."""
        self.set_models(list(dict.fromkeys(c.model for c in cams)))

    def settings(self) -> CamSettings:
        return CamSettings(enabled=self.toggle.isChecked() and self.model.count() > 0,
                           opacity=self.opacity.value() / 100.0, cmap=self.cmap.currentText() or "jet",
                           model=self.model.currentData(), side_by_side=self.side_by_side.isChecked(),
                           shape=self.shape.currentData() or "roi")

    def overlay(self, cams: Iterable[CamMap], height: int, width: int, image: int | None = None,
                frame: int | None = None) -> np.ndarray | None:
        """The RGBA overlay of the current settings (None: nothing to draw)."""
        return cam_overlay(cams, height, width, self.settings(), image, frame)

    def _changed(self, *_: object) -> None:
        s = self.settings()
        self.opacity_label.setText(f"{self.opacity.value()} %")
        self.legend.set_colormap(s.cmap, s.enabled)
        self.settingsChanged.emit(s)
