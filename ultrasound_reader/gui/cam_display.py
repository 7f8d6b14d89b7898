"""Grad-CAM of the result on screen: the layer over the image, the side-by-side view, the ROI thumbnails.

:class:`CamDisplay` follows the :class:`~.cam_controls.CamControls` (toggle, opacity,
colour map, output, side by side; mirrored by two window actions) and what the
window shows (image, frame, window/level, zoom). Maps are drawn only on the image
and frame they were computed on, and not at all while the ROIs differ from the
analysed ones (``set_stale``): a heat map over an ROI that has moved would mislead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject
from PySide6.QtGui import QAction

from ultrasound_reader.gui.cam_controls import CamControls, CamSettings, select_cams
from ultrasound_reader.gui.cam_view import CamLayer, CamThumbnails, CompareView, Overlay, Tile, make_overlay, thumbnail_rgb
from ultrasound_reader.gui.results_panel import fmt_prob, model_title

if TYPE_CHECKING:
    from ultrasound_reader.gui.analysis import AnalysisRun
    from ultrasound_reader.gui.session import ReadingSession
    from ultrasound_reader.gui.shell import Shell


class CamDisplay(QObject):
    def __init__(self, shell: Shell, session: ReadingSession, controls: CamControls, thumbs: CamThumbnails,
                 overlay_action: QAction, side_action: QAction, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.shell, self.session, self.view = shell, session, shell.view
        self.controls, self.thumbs = controls, thumbs
        self.overlay_action, self.side_action = overlay_action, side_action
        self.run: AnalysisRun | None = None
        self.labels: dict[str, str] = {}
        self.stale = False
        self._holding = False
        self.layer = CamLayer()
        self.view.add_layer(self.layer, self.layer.zValue())
        self.compare = CompareView()
        self.compare.hide()
        shell.add_beside_image(self.compare)
        session.frameChanged.connect(lambda _i: self.refresh())
        session.imageChanged.connect(lambda _c: self.refresh())
        self.view.windowLevelChanged.connect(lambda _wl: self._compare_frame())
        self.view.view.sigRangeChanged.connect(lambda *_: self._follow_range())
        controls.settingsChanged.connect(self._on_settings)
        session.set_cam_settings(controls.settings())  # the other views of the image draw maps the same way

    # -- what to show ----------------------------------------------------------------------
    def show_run(self, run: AnalysisRun | None, labels: Mapping[str, str]) -> None:
        """The maps of a delivered analysis (None: none); ``labels`` names the ROIs (L1, B1, ...)."""
        self.run, self.labels, self.stale = run, dict(labels), False
        self._holding = True  # set_cams re-emits the settings: one refresh at the end
        try:
            self.controls.set_cams(run.result.cams if run is not None else [])
        finally:
            self._holding = False
        self.refresh()
        self.refresh_thumbs()

    def set_stale(self, stale: bool) -> None:
        """The ROIs no longer match the analysed ones: maps off, thumbnails greyed (until they match again)."""
        if stale != self.stale:
            self.stale = stale
            self.refresh()
            self.refresh_thumbs()

    def overlay_now(self) -> Overlay | None:
        """The overlay for the image and frame on screen under the current settings (None: none)."""
        image = self.session.image
        run, view, index = self.run, self.view, image.index if image is not None else None
        if run is None or self.stale or view.raw is None or index is None:
            return None
        h, w = view.raw.shape[:2]
        case = self.session.case  # ROIs as analysed: a changed ROI makes the maps stale (not shown)
        outlines = {r.id: r.outline() for r in case.rois} if case is not None else None
        return make_overlay(run.result.cams, h, w, self.controls.settings(), image=index, frame=view.frame_index,
                            outlines=outlines)

    # -- keeping it current ------------------------------------------------------------------
    def _on_settings(self, settings: CamSettings) -> None:
        self.session.set_cam_settings(settings)
        for action, on in ((self.overlay_action, self.controls.toggle.isChecked()),
                           (self.side_action, settings.side_by_side)):
            if action.isChecked() != on:
                action.blockSignals(True)
                action.setChecked(on)
                action.blockSignals(False)
        self.refresh()
        self.refresh_thumbs()

    def refresh(self) -> None:
        if self._holding:
            return
        settings = self.controls.settings()
        overlay = self.overlay_now()
        side = settings.side_by_side and self.view.raw is not None
        self.layer.show_overlay(None if side else overlay)
        if side:
            self.compare.layer.show_overlay(overlay)
            output = model_title(settings.model) if settings.model else ""
            self.compare.set_caption(f"Grad-CAM {output}" if overlay is not None else
                                     "Grad-CAM: no map on this frame" if self.run is not None and not self.stale
                                     else "Grad-CAM: analyse first")
            if not self.compare.isVisible():
                self.compare.show()
                self.shell.split_beside_evenly()
            self._compare_frame()
        elif self.compare.isVisible():
            self.compare.hide()
            self.compare.layer.show_overlay(None)

    def _compare_frame(self) -> None:
        if self.compare.isVisible():
            self.compare.set_frame(self.view.image_item.image)
            self._follow_range()

    def _follow_range(self) -> None:
        if self.compare.isVisible():
            self.compare.follow(self.view.view.viewRect())

    def refresh_thumbs(self) -> None:
        if self._holding:
            return
        run = self.run
        if run is None:
            self.thumbs.set_tiles([])
            return
        settings = self.controls.settings()
        tiles = []
        for row in run.result.per_image:
            tile = self._tile(run, row, settings)
            if tile is not None:
                tiles.append(tile)
        self.thumbs.set_tiles(tiles)
        self.thumbs.setEnabled(not self.stale)

    def _tile(self, run: AnalysisRun, row: Mapping[str, Any], settings: CamSettings) -> Tile | None:
        rid = str(row.get("roi_id", ""))
        mine = [c for c in run.result.cams if c.roi_id == rid]
        if not mine:
            return None
        first = mine[0]
        crop = run.crops.get((first.image, first.frame, tuple(int(v) for v in first.bbox)))
        if crop is None:
            return None
        chosen = select_cams(mine, settings.model)
        name = self.labels.get(rid, rid[:6])
        image, frame = int(row.get("image", 0)) + 1, int(row.get("frame", 0)) + 1
        caption = f"{name} · fr {frame}"
        score = row.get(settings.model or "")
        if isinstance(score, float):
            caption += f"\n{settings.model} {fmt_prob(score)}"
        elif row.get("lb_type"):
            caption += f"\n{row['lb_type']}"
        tip = (f"{name}: {row.get('kind', '')} ROI, image {image}, frame {frame}"
               + ("" if chosen or not settings.enabled else f" (no {settings.model} map for this ROI)")
               + (" — ROIs changed since the analysis" if self.stale else ""))
        case = self.session.case
        roi = next((r for r in case.rois if r.id == rid), None) if case is not None else None
        outline = None if roi is None else roi.outline() - np.asarray(first.bbox[:2], float)
        return Tile(rid, caption, thumbnail_rgb(crop, chosen, settings, outline), tip)
