"""The 1x2 layout: a second viewport beside the main one, with linked zoom and pan.

Soft-tissue reading compares the grayscale and the colour-Doppler (CDFI) image of a
lesion side by side; any case can show two of its images (or, with one image, two
frames of it). View ▸ "Two Viewports (1x2)" (Ctrl+2) toggles it. The right viewport
shows the case image chosen in its own selector (by default the next one, so the
CDFI image beside the B-mode one), on its own frame (its own slider), with that
image's ROIs drawn read-only and its Grad-CAM map when one is shown on the left.
Zoom and pan are linked both ways in normalised image coordinates, so two images
of the same size stay pixel-aligned and images of different sizes show the same
part of the field.

The second image opens in a worker (header, then one frame), as the main one does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QRectF, Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from ultrasound_reader import case_rules
from ultrasound_reader.gui import overlay_text, theme
from ultrasound_reader.gui.cam_view import CamLayer, make_overlay
from ultrasound_reader.gui.image_view import Z_ROI, ImageView
from ultrasound_reader.gui.roi_items import kind_colour
from ultrasound_reader.gui.workers import Job, TaskRunner

if TYPE_CHECKING:
    from ultrasound_reader.dicom import Cine
    from ultrasound_reader.gui.session import ReadingSession
    from ultrasound_reader.gui.shell import Shell

SHORTCUT = "Ctrl+2"


def _open_job(job: Job, path: str, frame: int) -> tuple[Any, int, np.ndarray]:
    """Worker: open a case image lazily and decode the frame to show."""
    from ultrasound_reader.dicom import open_cine

    cine = open_cine(path)
    try:
        job.check()
        index = max(0, min(int(frame), cine.n_frames - 1))
        return cine, index, cine.frame(index)
    except BaseException:
        cine.close()
        raise


def _frame_job(job: Job, cine: Any, index: int) -> tuple[Any, int, np.ndarray]:
    job.check()
    return cine, index, cine.frame(index)


def map_rect(rect: QRectF, src: tuple[int, int], dst: tuple[int, int]) -> QRectF:
    """A view rectangle of an image of shape ``src`` (rows, columns) as the same field of a ``dst`` image."""
    sy, sx = dst[0] / max(src[0], 1), dst[1] / max(src[1], 1)
    # Pixel edges are at -0.5: scale about the image's corner, not about pixel 0's centre.
    return QRectF((rect.x() + 0.5) * sx - 0.5, (rect.y() + 0.5) * sy - 0.5, rect.width() * sx, rect.height() * sy)


class SecondViewport(QWidget):
    """The right-hand viewport: an image selector, the image view and its own frame slider."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("secondViewport")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        head = QHBoxLayout()
        head.setContentsMargins(4, 2, 4, 0)
        self.title = QLabel("Image", self)
        self.title.setStyleSheet(f"color: {theme.TEXT_DIM};")
        head.addWidget(self.title)
        self.chooser = QComboBox(self)
        self.chooser.setObjectName("secondImage")
        self.chooser.setToolTip("Which image of the case this viewport shows")
        head.addWidget(self.chooser, 1)
        layout.addLayout(head)
        self.view = ImageView(self)
        self.view.setObjectName("secondImageView")
        layout.addWidget(self.view, 1)
        foot = QHBoxLayout()
        foot.setContentsMargins(4, 0, 4, 2)
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setObjectName("secondFrameSlider")
        self.slider.setRange(0, 0)
        self.frame_label = QLabel("", self)
        self.frame_label.setMinimumWidth(110)
        foot.addWidget(self.slider, 1)
        foot.addWidget(self.frame_label)
        layout.addLayout(foot)


class DualViewController(QObject):
    """Owns the second viewport, its action, its image and the zoom/pan link.

    Gets the :class:`~.shell.Shell` (the action, the split beside the image, the main
    view) and the :class:`~.session.ReadingSession` (the case, the image and frame on
    screen, the analysis and how its Grad-CAM maps are drawn), never the window."""

    def __init__(self, shell: Shell, session: ReadingSession) -> None:
        super().__init__(session)
        self.shell = shell
        self.session = session
        self.doc = session.doc
        self.main = shell.view
        self.second = SecondViewport()
        self.second.hide()
        self.view = self.second.view
        shell.add_beside_image(self.second)
        self.runner = TaskRunner(max_threads=1, parent=self)
        self.cine: Cine | None = None
        self.image: int | None = None  # case image index shown
        self.frame: int | None = None
        self._syncing = False
        self._roi_items: list[Any] = []
        self.cam_layer = CamLayer()
        self.view.add_layer(self.cam_layer, self.cam_layer.zValue())

        self.action = shell.add_action(
            "dual_view", "Two &Viewports (1×2)", SHORTCUT, self.set_enabled, menu="view", before="panels",
            checkable=True, tip=f"A second image of the case beside this one, zoom and pan linked ({SHORTCUT})")

        self.second.chooser.activated.connect(lambda i: self.show_image(self.second.chooser.itemData(i)))
        self.second.slider.valueChanged.connect(self._on_slider)
        self.main.view.sigRangeChanged.connect(lambda *_: self._follow(self.main, self.view))
        self.view.view.sigRangeChanged.connect(lambda *_: self._follow(self.view, self.main))
        self.main.windowLevelChanged.connect(self.view.set_window_level)
        session.imageChanged.connect(lambda _image: self._on_primary_changed())
        session.caseChanged.connect(lambda _c: self._on_case_changed())
        session.roisChanged.connect(self._draw_rois)
        # Maps shown, hidden, restyled, computed or gone stale on the left: the same on the right.
        for signal in (session.frameChanged, session.camSettingsChanged, session.resultChanged, session.staleChanged):
            signal.connect(lambda *_: self._draw_cam())

    # -- on / off -------------------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        return self.action.isChecked()

    def set_enabled(self, on: bool) -> None:
        if self.action.isChecked() != on:
            self.action.setChecked(on)  # comes back here through toggled
            return
        if on:
            self.second.show()
            self.shell.split_beside_evenly()
            self._fill_chooser()
            if self.image is None or self.cine is None:
                self.show_image(self.default_image())
        else:
            self.second.hide()
        self._draw_cam()

    # -- which image ----------------------------------------------------------------------
    def default_image(self) -> int | None:
        """The next image of the case after the one on the left (the same one when the case has one)."""
        case, image = self.doc.case, self.session.image
        here = image.index if image is not None else None
        if case is None or not case.images:
            return None
        if here is None:
            return 0
        return (here + 1) % len(case.images)

    def _fill_chooser(self) -> None:
        chooser = self.second.chooser
        chooser.blockSignals(True)
        chooser.clear()
        case = self.doc.case
        for k, ref in enumerate(case.images if case is not None else []):
            role = f" ({ref.role})" if getattr(ref, "role", "") else ""
            chooser.addItem(f"{k + 1}: {Path(ref.file).name}{role}", k)
        if self.image is not None:
            chooser.setCurrentIndex(chooser.findData(self.image))
        chooser.blockSignals(False)

    def show_image(self, index: int | None, frame: int | None = None) -> int | None:
        """Show case image ``index`` (on ``frame``, default its ROI frame or 0); returns the request id."""
        case = self.doc.case
        if index is None or case is None or not 0 <= index < len(case.images):
            self._close()
            self.view.clear("No second image: open a case or images first")
            return None
        if frame is None:
            frames = sorted({r.frame for r in case.rois if r.image == index})
            frame = frames[0] if frames else int(getattr(case.images[index], "frame", 0) or 0)
        self.second.chooser.setCurrentIndex(self.second.chooser.findData(index))
        return self.runner.submit("open", _open_job, str(case.image_path(index)), frame,
                                  on_done=lambda r, i=index: self._on_opened(i, *r),
                                  on_error=lambda message, _u: self._on_failed(message),
                                  on_discard=lambda r: r[0].close())

    def _on_opened(self, index: int, cine: Any, frame: int, pixels: np.ndarray) -> None:
        self._close()
        self.cine, self.image = cine, index
        self.view.calibration = cine.calibration
        self.second.slider.blockSignals(True)
        self.second.slider.setRange(0, max(cine.n_frames - 1, 0))
        self.second.slider.setValue(frame)
        self.second.slider.blockSignals(False)
        self.view.set_window_level(self.main.window_level)
        self.view.set_overlay_text(tl=overlay_text.study_text(cine.metadata),
                                   br=overlay_text.image_text(cine.metadata, cine.calibration))
        self._show_frame(frame, pixels)
        self._follow(self.main, self.view)

    def _on_failed(self, message: str) -> None:
        self._close()
        self.view.clear(f"Cannot show this image:\n{message}")
        self.shell.report_error(message)

    def _close(self) -> None:
        if self.cine is not None:
            self.cine.close()
        self.cine, self.image, self.frame = None, None, None
        for item in self._roi_items:
            self.view.remove_layer(item)
        self._roi_items = []
        self.cam_layer.show_overlay(None)

    # -- its own frame --------------------------------------------------------------------
    def _on_slider(self, index: int) -> None:
        cine = self.cine
        if cine is None:
            return
        if cine.is_cached(index):
            self._show_frame(index, cine.frame(index))
        else:
            self.runner.submit("frame", _frame_job, cine, index,
                               on_done=lambda r: r[0] is self.cine and self._show_frame(r[1], r[2]))

    def _show_frame(self, index: int, pixels: np.ndarray) -> None:
        self.frame = index
        self.view.set_frame(pixels, index)
        n = self.cine.n_frames if self.cine is not None else 1
        self.second.frame_label.setText(f"Frame {index + 1} / {n}")
        self.view.set_corner_text("bl", f"Frame {index + 1}/{n}")
        self._draw_rois()
        self._draw_cam()

    # -- what is drawn on it ----------------------------------------------------------------
    def _draw_rois(self) -> None:
        for item in self._roi_items:
            self.view.remove_layer(item)
        self._roi_items = []
        case = self.doc.case
        if case is None or self.image is None or self.frame is None:
            return
        labels = case_rules.roi_labels(case)
        for roi in case.rois:
            if roi.image != self.image or roi.frame != self.frame:
                continue
            outline = roi.outline()
            closed = np.vstack([outline, outline[:1]])
            colour = kind_colour(roi.kind)
            curve = pg.PlotCurveItem(closed[:, 0], closed[:, 1], pen=pg.mkPen(colour, width=2))
            text = pg.TextItem(labels.get(roi.id, ""), color=colour, anchor=(0, 1), fill=pg.mkBrush(0, 0, 0, 150))
            text.setPos(float(outline[:, 0].min()), float(outline[:, 1].min()) - 2)
            for item, z in ((curve, Z_ROI), (text, Z_ROI + 1)):
                self.view.add_layer(item, z)
                self._roi_items.append(item)

    def _draw_cam(self) -> None:
        """The Grad-CAM map of this image and frame, when the left view shows maps (same settings)."""
        run, settings = self.session.run, self.session.cam_settings
        if (run is None or settings is None or self.session.maps_stale or self.image is None or self.frame is None
                or self.view.raw is None or not self.enabled):
            self.cam_layer.show_overlay(None)
            return
        case = self.doc.case
        outlines = {r.id: r.outline() for r in case.rois} if case is not None else None
        h, w = self.view.raw.shape[:2]
        self.cam_layer.show_overlay(make_overlay(run.result.cams, h, w, settings,
                                                 image=self.image, frame=self.frame, outlines=outlines))

    # -- keeping in step ------------------------------------------------------------------------
    def _follow(self, source: ImageView, target: ImageView) -> None:
        """Give ``target`` the field of view of ``source`` (both ways; one level deep)."""
        if self._syncing or not self.enabled or source.raw is None or target.raw is None:
            return
        self._syncing = True
        try:
            rect = map_rect(source.view.viewRect(), source.raw.shape[:2], target.raw.shape[:2])
            target.view.setRange(rect, padding=0.0)
            target._auto_fit = source._auto_fit
        finally:
            self._syncing = False

    def _on_primary_changed(self) -> None:
        if self.enabled:
            self._fill_chooser()

    def _on_case_changed(self) -> None:
        case = self.doc.case
        if not self.enabled:
            if self.cine is not None and (case is None or self.image is None or self.image >= len(case.images)):
                self._close()
            return
        self._fill_chooser()
        if case is None:
            self.show_image(None)
        elif self.image is None or self.image >= len(case.images):
            self.show_image(self.default_image())
        else:
            self._draw_rois()
