"""The case in the reading window: open/save case.json, draw and edit ROIs, the ROI list and frame strip.

:class:`CaseController` gets a narrow :class:`~.shell.Shell` (tools, a dock, actions
by menu key, image layers, status, errors) and the
:class:`~.session.ReadingSession`, whose :class:`~.case_document.CaseDocument` it edits. It is a translator: gestures become
rule checks (:mod:`ultrasound_reader.case_rules`) and undo commands; model changes
become items on the image, rows in the list and ticks on the strip.

* Opening a case folder (or a ``*.json`` case file) reads it in a worker, lists its
  images in the series browser and opens the first image carrying ROIs at its first
  ROI frame. Opening plain image files starts a new, unsaved case over them
  (task from the ROI dock, liver by default), saved with Save As beside the images.
* ROIs of the image on screen are drawn on the frame they belong to; each item is
  the model's picture and is reset from it after every command.
* Dialogs go through replaceable callables (:attr:`ask_unsaved`, :attr:`ask_save_path`,
  :attr:`ask_frame`) so that tests answer them without a modal loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

from ultrasound_reader import case_rules
from ultrasound_reader.case import Case, Roi
from ultrasound_reader.dicom import open_cine
from ultrasound_reader.dicom.calibration import Calibration
from ultrasound_reader.dicom.sr import case_beside_sr, is_sr_file
from ultrasound_reader.errors import UserError
from ultrasound_reader.gui.roi_items import RoiItemBase, RoiLabel, make_item
from ultrasound_reader.gui.roi_panel import FrameStrip, RoiPanel, RoiRow
from ultrasound_reader.gui.roi_tools import EllipseTool, FreehandTool, PolygonTool, RectangleTool, RoiTool
from ultrasound_reader.gui.session import ImageOnScreen, ReadingSession, Series, SeriesImage

if TYPE_CHECKING:
    from ultrasound_reader.gui.shell import Shell

log = logging.getLogger(__name__)

THUMB = 96
TOOL_KEYS = {"roi_rectangle": "B", "roi_ellipse": "E", "roi_polygon": "P", "roi_freehand": "D"}


@dataclass(frozen=True)
class ImageInfo:
    """What the controller knows of one case image without keeping it open."""

    n_frames: int
    width: int
    height: int
    calibration: Calibration | None
    thumbnail: np.ndarray | None = None


def _load_case(job: object, path: str) -> tuple[Case, list[ImageInfo]]:
    """Worker: read case.json (or a DICOM SR this program wrote, its images beside it) and each
    image's header (frames, size, calibration, thumbnail)."""
    if Path(path).suffix.lower() != ".json" and not Path(path).is_dir() and is_sr_file(path):
        case = case_beside_sr(path)
    else:
        case = Case.load(path)
    case.root = (case.root or Path(path).parent).resolve()
    infos = []
    for i, ref in enumerate(case.images):
        job.check()  # type: ignore[attr-defined]
        job.progress(i, len(case.images), f"Reading {Path(ref.file).name}")  # type: ignore[attr-defined]
        image = case.image_path(i)
        if not image.is_file():
            raise UserError(f"{path}: image {i + 1} ({ref.file}) does not exist")
        with open_cine(image) as cine:
            infos.append(ImageInfo(cine.n_frames, cine.columns, cine.rows, cine.calibration,
                                   cine.thumbnail(THUMB, index=0)))
    return case, infos


def _same_file(a: str | Path, b: str | Path) -> bool:
    return Path(a).resolve() == Path(b).resolve()


class CaseController(QObject):
    def __init__(self, shell: Shell, session: ReadingSession) -> None:
        super().__init__(session)
        self.shell = shell
        self.session = session
        self.doc = session.doc
        self.kind = "lesion"
        self.infos: dict[int, ImageInfo] = {}
        self.items: dict[str, tuple[RoiItemBase, RoiLabel]] = {}
        self.selected_id: str | None = None
        self.clipboard: Roi | None = None
        self.last_message = ""
        self._pending_new = False
        self._pending_jump: tuple[int, str | None] | None = None
        self._guessed_roles: set[int] = set()
        self._syncing = False
        self._draw_frame: int | None = None
        # Dialogs, replaceable (tests answer them directly).
        self.ask_unsaved: Callable[[str], str] = self._ask_unsaved_dialog
        self.ask_save_path: Callable[[str], str | None] = self._ask_save_path_dialog
        self.ask_frame: Callable[[int, int], int | None] = self._ask_frame_dialog

        self.tools: dict[str, RoiTool] = {}
        for cls in (RectangleTool, EllipseTool, PolygonTool, FreehandTool):
            tool = cls(self._on_drawn, lambda: self.kind, self._on_draw_start, parent=self)
            self.tools[tool.name] = tool
            shell.add_tool(tool, TOOL_KEYS[tool.name])
        self.actions: dict[str, QAction] = {}
        self._build_actions()
        self.panel = RoiPanel(shell.dialog_parent())
        shell.add_panel(self.panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.strip: FrameStrip = shell.add_under_slider(lambda slider: FrameStrip(slider))  # type: ignore[assignment]
        self._wire()
        self._on_case_changed(None)
        self._refresh()

    # ===================================================================== the session's
    @property
    def image_index(self) -> int | None:
        image = self.session.image
        return image.index if image is not None else None

    @property
    def default_task(self) -> str:
        return self.session.default_task

    @property
    def n_frames(self) -> int:
        return self.session.image.n_frames if self.session.image is not None else 0

    # ===================================================================== construction
    def _build_actions(self) -> None:
        sh = self.shell
        for key, text, keys, slot, tip in (
                ("save", "&Save Case", "Ctrl+S", self.save, "Save the case (case.json beside its images)"),
                ("save_as", "Save Case &As…", "Ctrl+Shift+S", self.save_as, "Save the case to another case.json")):
            self.actions[key] = sh.add_action(key, text, keys, lambda _=False, f=slot: f(), menu="file", before="close",
                                              toolbar="tool_navigate" if key == "save" else False, tip=tip)
        sh.add_separator("file", before="close")
        stack = self.doc.undo_stack
        undo = stack.createUndoAction(self, "&Undo")
        undo.setShortcuts([QKeySequence("Ctrl+Z")])
        redo = stack.createRedoAction(self, "&Redo")
        redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        for key, action in (("undo", undo), ("redo", redo)):
            self.actions[key] = sh.register_action(key, action, menu="edit")
        sh.add_separator("edit")
        for key, text, keys, slot, tip in (
                ("copy_roi", "&Copy ROI", "Ctrl+C", self.copy_selected, "Copy the selected ROI (paste it on another frame)"),
                ("paste_roi", "&Paste ROI", "Ctrl+V", self.paste, "Paste the copied ROI on the frame on screen"),
                ("copy_roi_to_frame", "Copy ROI to &Frame…", "Ctrl+Shift+C", self.copy_to_frame,
                 "Copy the selected ROI to another frame of its image"),
                ("delete_roi", "&Delete ROI", ["Del", "Backspace"], self.delete_selected, "Delete the selected ROI (Del)")):
            self.actions[key] = sh.add_action(key, text, keys, lambda _=False, f=slot: f(), menu="edit", tip=tip)
        self.edit_menu = sh.menu("edit")

    def _wire(self) -> None:
        s = self.session
        s.imageChanged.connect(self._on_image_changed)
        s.frameChanged.connect(self._on_frame_changed)
        self.shell.view.scene().sigMouseClicked.connect(self._on_scene_click)
        s.roisChanged.connect(self._refresh)
        s.caseChanged.connect(self._on_case_changed)
        s.roiRequested.connect(self.go_to_roi)
        s.error.connect(lambda message: setattr(self, "last_message", message))  # e.g. a task the ROIs refuse
        self.panel.taskChosen.connect(self.set_task)
        self.panel.kindChosen.connect(self.set_kind)
        self.panel.roleChosen.connect(self.set_role)
        self.panel.roiActivated.connect(self.go_to_roi)
        self.panel.deleteRequested.connect(self.delete_selected)
        self.panel.copyRequested.connect(self.copy_to_frame)
        self.strip.frameClicked.connect(self._on_strip_clicked)

    # ===================================================================== dialogs (replaceable)
    def _ask_unsaved_dialog(self, message: str) -> str:
        box = QMessageBox(QMessageBox.Icon.Question, "Unsaved case", message,
                          QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                          | QMessageBox.StandardButton.Cancel, self.shell.dialog_parent())
        box.setDefaultButton(QMessageBox.StandardButton.Save)
        answer = box.exec()
        return {QMessageBox.StandardButton.Save: "save",
                QMessageBox.StandardButton.Discard: "discard"}.get(QMessageBox.StandardButton(answer), "cancel")

    def _ask_save_path_dialog(self, default: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(self.shell.dialog_parent(), "Save case", default, "Case file (*.json)")
        return path or None

    def _ask_frame_dialog(self, current: int, n_frames: int) -> int | None:
        value, ok = QInputDialog.getInt(self.shell.dialog_parent(), "Copy ROI to frame", f"Frame (1-{n_frames}):",
                                        current + 1, 1, max(n_frames, 1))
        return value - 1 if ok else None

    # ===================================================================== messages
    def tell(self, message: str) -> None:
        """A rule or file problem: the viewer's error line and non-modal box."""
        self.last_message = message
        self.shell.report_error(message)

    def _note(self, message: str, ms: int = 6000) -> None:
        self.shell.status(message, ms)

    # ===================================================================== opening and saving
    def may_leave_case(self) -> bool:
        """Ask about unsaved changes; False when the user wants to stay."""
        if not self.doc.dirty:
            return True
        assert self.doc.case is not None
        answer = self.ask_unsaved(f"Case {self.doc.case.case_id} has unsaved changes. Save them before leaving?")
        if answer == "save":
            return self.save()
        return answer == "discard"

    def prepare_plain_open(self) -> None:
        """Plain image files are being opened: the first one that loads starts a new case."""
        self._pending_new = True
        self._pending_jump = None

    def cancel_plain_open(self) -> None:
        """The plain open failed: the case on screen stays as it is."""
        self._pending_new = False

    def open_case(self, path: str | Path) -> int:
        """Open a case folder or case.json (in a worker); its first ROI image follows."""
        self._pending_new = False
        self._note(f"Opening case {path}…", 0)
        return self.shell.submit("open", _load_case, str(path),
                                    on_done=lambda r, p=Path(path): self._on_case_loaded(p, *r),
                                    on_error=lambda message, _user: self._open_failed(message))

    def _on_case_loaded(self, path: Path, case: Case, infos: list[ImageInfo]) -> None:
        if not case.images:
            self._open_failed(f"{path}: the case lists no images")
            return
        self.session.set_image_index(None)  # the image on screen is not one of the new case's yet
        self.infos = dict(enumerate(infos))
        self._guessed_roles = set(range(len(infos)))  # a saved case's roles are the reader's
        # A case read from an SR is a new document: Save asks where (never over the SR).
        self.doc.set_case(case, None if is_sr_file(path) else path)
        self.session.memory["case/task"] = case.task
        images = [SeriesImage(str(case.image_path(i)),
                              f"{case_rules.ROLE_LABELS[ref.role]} · {Path(ref.file).name}\n"
                              f"{info.n_frames} frame{'s' if info.n_frames != 1 else ''}"
                              + ("" if info.calibration else " · uncalibrated"), str(case.image_path(i)))
                  for i, (ref, info) in enumerate(zip(case.images, infos))]
        self.session.set_series([Series(f"Case {case.case_id}", case_rules.TASK_LABELS[case.task], "Images", images,
                                        {image.path: info.thumbnail for image, info in zip(images, infos)
                                         if info.thumbnail is not None})])
        recent = path.parent if path.name == case_rules.CASE_FILE else path
        self.shell.prefs.add_recent(recent)
        self.shell.prefs.last_dir = str(recent.parent)
        problems = case_rules.check_images(case, {i: info.n_frames for i, info in self.infos.items()})
        index, frame = case_rules.opening_view(case)
        self._pending_jump = (frame, None)
        self.shell.open_image(str(case.image_path(index)))
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            self.tell(problems[0] + more)
        else:
            self._note(f"Case {case.case_id}: {len(case.rois)} ROI(s) on {len(case.images)} image(s)", 8000)

    def _open_failed(self, message: str) -> None:
        self.last_message = message
        self.shell.open_failed(message)

    def save(self) -> bool:
        """Save to the case's own case.json, or ask where (a new case). True when written."""
        if self.doc.case is None:
            return False
        if self.doc.path is None:
            return self.save_as()
        return self._write(self.doc.path)

    def save_as(self, path: str | Path | None = None) -> bool:
        if self.doc.case is None:
            return False
        if path is None:
            if self.doc.path is not None:
                default = self.doc.path
            elif self.doc.case.images:
                default = self.doc.case.image_path(0).parent / case_rules.CASE_FILE
            else:
                default = Path(self.shell.prefs.last_dir or ".") / case_rules.CASE_FILE
            answer = self.ask_save_path(str(default))
            if not answer:
                return False
            path = answer
        return self._write(Path(path))

    def _write(self, path: Path) -> bool:
        try:
            written = self.doc.save(path)
        except (OSError, UserError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.tell(f"{path}: cannot save the case ({reason})")
            return False
        self.shell.prefs.add_recent(written.parent if written.name == case_rules.CASE_FILE else written)
        self._note(f"Saved {written}", 8000)
        return True

    def close_case(self) -> None:
        self._pending_new = False
        self._pending_jump = None
        self.session.set_image_index(None)
        self.infos = {}
        self.clipboard = None
        self.doc.set_case(None)

    # ===================================================================== the image on screen
    def _index_of(self, path: str) -> int | None:
        case = self.doc.case
        if case is None:
            return None
        for i in range(len(case.images)):
            if _same_file(case.image_path(i), path):
                return i
        return None

    def _on_image_changed(self, image: ImageOnScreen | None) -> None:
        for tool in self.tools.values():
            tool.cancel()  # a half-drawn outline belongs to the image that has gone
        if image is None:
            self._refresh()
            return
        path = image.path
        if self._pending_new or self.doc.case is None:
            self._pending_new = False
            listed = self.session.series_paths()
            paths = listed if path in listed else [path]
            self.infos = {}
            self._guessed_roles = set()
            self.doc.set_case(case_rules.new_case(paths, self.default_task))
        index = self._index_of(path)
        if index is None:  # a file outside the case was opened into it: it joins the case
            assert self.doc.case is not None
            self.doc.case.images.append(case_rules.new_case([path]).images[0])
            index = len(self.doc.case.images) - 1
            self.doc.mark_changed()
        self.session.set_image_index(index)
        calibration = image.calibration
        cine = image.cine
        self.infos[index] = ImageInfo(cine.n_frames, cine.columns, cine.rows, calibration)
        if index not in self._guessed_roles:
            self._guessed_roles.add(index)
            assert self.doc.case is not None
            role = case_rules.guess_role(calibration)
            ref = self.doc.case.images[index]
            if ref.role != role:  # part of making the new case, not an edit: no undo step
                self.doc.case.images[index] = replace(ref, role=role)
        self._refresh()
        self._on_case_changed(self.doc.case)
        QTimer.singleShot(0, self._apply_jump)

    def _apply_jump(self) -> None:
        if self._pending_jump is None or self.session.image is None:
            return
        frame, roi_id = self._pending_jump
        self._pending_jump = None
        if 0 <= frame < self.n_frames and frame != self.session.frame:
            self.shell.show_frame(frame)
        if roi_id is not None:
            self.select(roi_id)

    @property
    def frame_on_screen(self) -> int | None:
        return self.shell.view.frame_index

    def _on_frame_changed(self, index: int) -> None:
        polygon = self.tools["roi_polygon"]
        if isinstance(polygon, PolygonTool) and polygon.drawing and index != self._draw_frame:
            polygon.cancel()  # its vertices were placed on another frame
        for item, label in self.items.values():
            visible = item.frame == index
            item.setVisible(visible)
            label.setVisible(visible)
        if self.selected_id is not None and self.selected_id in self.items:
            item = self.items[self.selected_id][0]
            if item.frame != index and item.frame != self.session.frame:
                self.select(None)  # never leave an invisible ROI selected: Del would delete it unseen
        self.strip.update()

    def _on_strip_clicked(self, frame: int) -> None:
        self.shell.pause()
        self.shell.show_frame(frame)

    # ===================================================================== drawing
    def _on_draw_start(self) -> None:
        self.shell.pause()
        self._draw_frame = self.frame_on_screen
        self.select(None)

    def _on_drawn(self, shape: str, points: list[tuple[float, float]]) -> None:
        self.add_roi(shape, points)

    def add_roi(self, shape: str, points: list[tuple[float, float]], kind: str | None = None,
                frame: int | None = None) -> Roi | None:
        """Add an ROI on the image on screen (frame on screen by default); None, with a message, if refused."""
        case, index = self.doc.case, self.image_index
        frame = self.frame_on_screen if frame is None else frame
        if case is None or index is None or frame is None:
            return None
        info = self.infos.get(index)
        if info is not None:
            points = case_rules.clip_points(points, info.width, info.height)
        if shape in ("rectangle", "ellipse") and len(points) >= 2:
            points = case_rules.box_points(points[0], points[-1])
        need = 2 if shape in ("rectangle", "ellipse") else 3
        if len(points) < need:
            self.tell(f"a {shape} ROI needs at least {need} points: draw it again")
            return None
        try:
            roi = Roi(kind=kind or self.kind, shape=shape, points=points, image=index, frame=frame)  # type: ignore[arg-type]
            case_rules.check_geometry(roi, info.width if info else None, info.height if info else None)
            self.doc.add_roi(roi)
        except UserError as exc:
            self.tell(str(exc))
            return None
        self.select(roi.id)
        self._note(f"{case_rules.KIND_LABELS[roi.kind].capitalize()} ROI added on frame {frame + 1}")
        return roi

    # ===================================================================== items on the image
    def _refresh(self) -> None:
        self._sync_items()
        case = self.doc.case
        if self.selected_id is not None and (case is None or not any(r.id == self.selected_id for r in case.rois)):
            self.selected_id = None
        self._update_panel()
        self._update_strip()
        self._update_enabled()

    def _sync_items(self) -> None:
        case, index = self.doc.case, self.image_index
        wanted = {r.id: r for r in case.rois if r.image == index} if case is not None and index is not None else {}
        labels = case_rules.roi_labels(case) if case is not None else {}
        view = self.shell.view
        self._syncing = True
        try:
            for rid in list(self.items):
                item, label = self.items[rid]
                r = wanted.get(rid)
                if r is None or (r.shape, r.kind, r.frame) != (item.shape_name, item.kind, item.frame):
                    view.remove_layer(item)
                    view.remove_layer(label)
                    del self.items[rid]
            for rid, r in wanted.items():
                if rid in self.items:
                    item, label = self.items[rid]
                    if not case_rules.same_points(item.points(), r.points, tol=0.0):
                        item.set_points(r.points)
                else:
                    item = make_item(r)
                    label = RoiLabel(r.kind)
                    self._connect_item(item)
                    view.add_layer(item, item.zValue())
                    view.add_layer(label, label.zValue())
                    self.items[rid] = (item, label)
                    item.set_highlight(rid == self.selected_id)
                label.place(labels.get(rid, ""), r.points)
                visible = r.frame == self.frame_on_screen
                item.setVisible(visible)
                label.setVisible(visible)
        finally:
            self._syncing = False

    def _connect_item(self, item: RoiItemBase) -> None:
        item.sigClicked.connect(lambda it, _ev: self.select(it.roi_id))
        item.sigRegionChangeStarted.connect(lambda it: self.select(it.roi_id))
        item.sigRegionChanged.connect(self._on_item_moving)
        item.sigRegionChangeFinished.connect(self._on_item_edited)
        item.sigVertexEdited.connect(self._on_item_edited)

    def _on_item_moving(self, item: RoiItemBase) -> None:
        pair = self.items.get(item.roi_id)
        if pair is not None and not self._syncing:
            pair[1].setPos(*np.min(np.asarray(item.points()), axis=0))

    def _on_item_edited(self, item: RoiItemBase) -> None:
        if self._syncing or self.doc.case is None or item.roi_id not in self.items:
            return
        roi = self.doc.roi(item.roi_id)
        new = item.points()
        if roi.shape in ("rectangle", "ellipse"):
            new = case_rules.box_points(new[0], new[1])
        if case_rules.same_points(roi.points, new):
            return
        info = self.infos.get(roi.image)
        try:
            trial = replace(roi, points=new)
            case_rules.check_geometry(trial, info.width if info else None, info.height if info else None)
            self.doc.set_points(roi.id, new, self._edit_text(roi.points, new, roi.shape))
        except UserError as exc:
            self._syncing = True
            try:
                item.set_points(roi.points)  # back to what the model holds
            finally:
                self._syncing = False
            self.tell(str(exc))

    @staticmethod
    def _edit_text(old: list[tuple[float, float]], new: list[tuple[float, float]], shape: str) -> str:
        if len(old) == len(new):
            d = np.asarray(new) - np.asarray(old)
            if np.allclose(d, d[0], atol=1e-6):
                return "Move ROI"
        return "Resize ROI" if shape in ("rectangle", "ellipse") else "Edit ROI vertices"

    def _on_scene_click(self, ev: object) -> None:
        if not ev.isAccepted() and ev.button() == Qt.MouseButton.LeftButton:  # type: ignore[attr-defined]
            self.select(None)  # a click on the bare image lets go of the selection

    # ===================================================================== selection and edits
    def select(self, roi_id: str | None) -> None:
        if roi_id is not None and roi_id not in {r.id for r in (self.doc.case.rois if self.doc.case else [])}:
            roi_id = None
        self.selected_id = roi_id
        for rid, (item, _label) in self.items.items():
            if item.selected != (rid == roi_id):
                item.set_highlight(rid == roi_id)
        self.panel.select(roi_id)
        self._update_enabled()

    def go_to_roi(self, roi_id: str) -> None:
        """Show the ROI's image and frame and select it (the ROI list does this)."""
        roi = self.doc.roi(roi_id)
        self.shell.pause()
        if roi.image != self.image_index:
            assert self.doc.case is not None
            self._pending_jump = (roi.frame, roi_id)
            self.shell.open_image(str(self.doc.case.image_path(roi.image)))
            return
        if roi.frame != self.session.frame:
            self.shell.show_frame(roi.frame)
        self.select(roi_id)

    def delete_selected(self) -> None:
        if self.selected_id is None or self.doc.case is None:
            return
        rid = self.selected_id
        self.select(None)
        self.doc.remove_roi(rid)
        self._note("ROI deleted (Ctrl+Z brings it back)")

    def copy_selected(self) -> None:
        if self.selected_id is None:
            return
        roi = self.doc.roi(self.selected_id)
        self.clipboard = replace(roi, points=list(roi.points))
        self._note("ROI copied: go to another frame and paste it (Ctrl+V)")
        self._update_enabled()

    def paste(self) -> Roi | None:
        """The copied ROI on the frame on screen (rules checked); None if refused."""
        if self.clipboard is None or self.doc.case is None:
            return None
        clip = self.clipboard
        return self.add_roi(clip.shape, list(clip.points), kind=clip.kind)

    def copy_to_frame(self, roi_id: str | None = None, frame: int | None = None) -> Roi | None:
        """Copy an ROI (the selected one by default) to ``frame`` of its image (asked when not given)."""
        roi_id = roi_id or self.selected_id
        case = self.doc.case
        if roi_id is None or case is None:
            return None
        roi = self.doc.roi(roi_id)
        info = self.infos.get(roi.image)
        n_frames = info.n_frames if info else None
        if frame is None:
            frame = self.ask_frame(roi.frame, n_frames or 1)
            if frame is None:
                return None
        try:
            copy = case_rules.copy_roi(case, roi_id, frame, n_frames=n_frames)
            self.doc.add_roi(copy)
        except UserError as exc:
            self.tell(str(exc))
            return None
        self._note(f"ROI copied to frame {frame + 1}")
        self.go_to_roi(copy.id)
        return copy

    # ===================================================================== task, kind, role
    def set_task(self, task: str) -> bool:
        """The case's task (the ROI dock). False, said, if refused."""
        return self.session.set_task(task)

    def set_kind(self, kind: str) -> None:
        task = self.doc.case.task if self.doc.case is not None else self.default_task
        if kind in case_rules.kinds_for(task):
            self.kind = kind
            self.panel.set_kind(kind)

    def set_role(self, role: str) -> bool:
        if self.doc.case is None or self.image_index is None:
            return False
        try:
            self.doc.set_role(self.image_index, role)
        except UserError as exc:
            self.tell(str(exc))
            self.panel.set_role(self.doc.case.images[self.image_index].role)
            return False
        return True

    def _on_case_changed(self, case: Case | None) -> None:
        task = case.task if case is not None else self.default_task
        kinds = case_rules.kinds_for(task)
        if self.kind not in kinds:
            self.kind = kinds[0]
        self.panel.set_task(task, kinds, self.kind)
        self.panel.set_enabled(case is not None)
        self.panel.task.setEnabled(True)  # a task can be chosen before any image is open
        index = self.image_index
        self.panel.set_role(case.images[index].role if case is not None and index is not None
                            and index < len(case.images) else None)

    # ===================================================================== views of the model
    def calibrations(self) -> dict[int, Calibration | None]:
        return {i: info.calibration for i, info in self.infos.items()}

    def _update_panel(self) -> None:
        case = self.doc.case
        if case is None:
            self.panel.set_rows([], None)
            self.panel.size_label.setText("")
            self.panel.status_label.setText("Open images or a case to draw ROIs")
            return
        labels = case_rules.roi_labels(case)
        rows = []
        order = {k: i for i, k in enumerate(("lesion", "background", "mass"))}
        for roi in sorted(case.rois, key=lambda r: (order[r.kind], r.image, r.frame)):
            info = self.infos.get(roi.image)
            size = case_rules.roi_size(roi, info.calibration if info else None)
            frame = str(roi.frame + 1)
            if len({r.image for r in case.rois}) > 1:  # say which image only when it varies
                frame += f" · {case_rules.ROLE_LABELS[case.images[roi.image].role]}"
                if sum(ref.role == case.images[roi.image].role for ref in case.images) > 1:
                    frame += f" {roi.image + 1}"
            rows.append(RoiRow(roi.id, labels[roi.id], roi.kind, frame, roi.shape,
                               size.diameter_text(), size.area_text(), size.diameter_mm is not None))
        self.panel.set_rows(rows, self.selected_id)
        self.panel.set_summary(case_rules.lesion_size(case, self.calibrations()).text(), case_rules.readiness(case))
        if self.image_index is not None and self.image_index < len(case.images):
            self.panel.set_role(case.images[self.image_index].role)

    def _update_strip(self) -> None:
        case, index = self.doc.case, self.image_index
        if case is None or index is None:
            self.strip.set_marks(0, {})
            return
        self.strip.set_marks(self.n_frames, case_rules.roi_frames(case, index))

    def _update_enabled(self) -> None:
        has_case = self.doc.case is not None
        selected = self.selected_id is not None
        self.actions["save"].setEnabled(has_case)
        self.actions["save_as"].setEnabled(has_case)
        for key in ("copy_roi", "copy_roi_to_frame", "delete_roi"):
            self.actions[key].setEnabled(selected)
        self.actions["paste_roi"].setEnabled(self.clipboard is not None and self.image_index is not None)
