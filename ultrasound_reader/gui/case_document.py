"""The open case as a document: the Case model, its file, its undo stack and change signals.

Every ROI edit is a QUndoCommand that changes the :class:`~ultrasound_reader.case.Case`
and says so through :attr:`CaseDocument.roisChanged`; views redraw from the model,
never the other way round, so undo and redo restore exactly the stored points.
The reading rules (how many ROIs, where) are checked before a command is pushed,
in :mod:`ultrasound_reader.case_rules`.

Dirty means: the undo stack is away from its clean index, or something outside it
(the clinical-factors form) said the case changed. Saving marks the stack clean.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from ultrasound_reader import case_rules
from ultrasound_reader.case import Case, ClinicalFactors, Roi


class CaseDocument(QObject):
    caseChanged = Signal(object)  # Case | None: another case, or the same case's task/images/factors changed
    roisChanged = Signal()  # any ROI added, removed or edited
    dirtyChanged = Signal(bool)
    pathChanged = Signal(object)  # Path | None

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.case: Case | None = None
        self.path: Path | None = None  # the case.json it was read from / saved to; None: never saved
        self.undo_stack = QUndoStack(self)
        self._extra_dirty = False
        self._was_dirty = False
        # Counts set_case calls: another case (or the same file reopened) is another generation,
        # which a late analysis result compares against (saving keeps the generation).
        self.generation = 0
        self.undo_stack.cleanChanged.connect(self._on_clean_changed)  # a method: disconnected when we go

    def _on_clean_changed(self, _clean: bool) -> None:
        self._emit_dirty()

    # -- state ------------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return self.case is not None and (not self.undo_stack.isClean() or self._extra_dirty)

    def _emit_dirty(self) -> None:
        dirty = self.dirty
        if dirty != self._was_dirty:
            self._was_dirty = dirty
            self.dirtyChanged.emit(dirty)

    def set_case(self, case: Case | None, path: Path | None = None) -> None:
        """Replace the document's case (opening, a new case, closing); the undo history starts afresh."""
        self.undo_stack.clear()
        self.undo_stack.setClean()
        self.generation += 1
        self.case = case
        self.path = Path(path) if path is not None else None
        self._extra_dirty = False
        self._emit_dirty()
        self.pathChanged.emit(self.path)
        self.caseChanged.emit(case)
        self.roisChanged.emit()

    def mark_changed(self) -> None:
        """A change made outside the undo stack (e.g. the clinical factors): dirty, and say so."""
        self._extra_dirty = True
        self._emit_dirty()
        self.caseChanged.emit(self.case)

    def set_factors(self, factors: ClinicalFactors, edit: bool = True) -> None:
        """The case's clinical factors; ``edit=False`` for values derived from the images (DICOM
        sex and age), which do not count as the reader's unsaved change."""
        if self.case is not None and factors != self.case.factors:
            self.case.factors = factors
            if edit:
                self.mark_changed()
            else:
                self.caseChanged.emit(self.case)

    def save(self, path: str | Path) -> Path:
        """Write case.json at ``path`` (a folder or a .json file), image paths relative to it."""
        assert self.case is not None
        path = Path(path)
        target = path if path.suffix.lower() == ".json" else path / case_rules.CASE_FILE
        rebased = case_rules.rebased(self.case, target.parent)
        written = rebased.save(target)
        self.case = rebased  # same content, paths now relative to where it lives
        self.path = written
        self._extra_dirty = False
        self.undo_stack.setClean()
        self._emit_dirty()
        self.pathChanged.emit(self.path)
        return written

    # -- primitive edits (commands call these; they emit) -------------------------------------
    def roi(self, roi_id: str) -> Roi:
        assert self.case is not None
        return case_rules.find_roi(self.case, roi_id)

    def _insert(self, roi: Roi, index: int) -> None:
        assert self.case is not None
        self.case.rois.insert(index, roi)
        self.roisChanged.emit()

    def _remove(self, roi_id: str) -> tuple[Roi, int]:
        assert self.case is not None
        for i, r in enumerate(self.case.rois):
            if r.id == roi_id:
                del self.case.rois[i]
                self.roisChanged.emit()
                return r, i
        raise KeyError(roi_id)

    def _set_points(self, roi_id: str, points: list[tuple[float, float]]) -> None:
        self.roi(roi_id).points = list(points)
        self.roisChanged.emit()

    def _set_role(self, image: int, role: str) -> None:
        assert self.case is not None
        self.case.images[image] = replace(self.case.images[image], role=role)
        self.caseChanged.emit(self.case)
        self.roisChanged.emit()  # soft-tissue readiness depends on the roles

    def _set_task(self, task: str) -> None:
        assert self.case is not None
        self.case.task = task  # type: ignore[assignment]
        self.caseChanged.emit(self.case)
        self.roisChanged.emit()

    # -- undoable edits ------------------------------------------------------------------------
    def add_roi(self, roi: Roi) -> None:
        """Add an ROI after checking the reading rules (raises RoiRuleError)."""
        assert self.case is not None
        case_rules.check_add(self.case, roi)
        case_rules.check_geometry(roi)
        self.undo_stack.push(AddRoiCommand(self, roi))

    def remove_roi(self, roi_id: str) -> None:
        self.undo_stack.push(RemoveRoiCommand(self, self.roi(roi_id)))

    def set_points(self, roi_id: str, points: list[tuple[float, float]], text: str = "Edit ROI") -> bool:
        """Change an ROI's points (move, resize, vertex edit); False when nothing changed."""
        roi = self.roi(roi_id)
        if case_rules.same_points(roi.points, points):
            return False
        case_rules.check_geometry(replace(roi, points=list(points)))
        self.undo_stack.push(SetPointsCommand(self, roi_id, list(roi.points), list(points), text))
        return True

    def set_role(self, image: int, role: str) -> None:
        assert self.case is not None
        old = self.case.images[image].role
        if old != role:
            trial = replace(self.case, images=[replace(ref, role=role) if i == image else ref
                                               for i, ref in enumerate(self.case.images)], rois=[])
            for roi in self.case.rois:  # the soft-tissue pairing must still hold
                case_rules.check_add(trial, roi)
                trial.rois.append(roi)
            self.undo_stack.push(SetRoleCommand(self, image, old, role))

    def set_task(self, task: str) -> None:
        assert self.case is not None
        if self.case.task != task:
            case_rules.check_task_change(self.case, task)
            self.undo_stack.push(SetTaskCommand(self, self.case.task, task))


class AddRoiCommand(QUndoCommand):
    def __init__(self, doc: CaseDocument, roi: Roi) -> None:
        super().__init__(f"Add {case_rules.KIND_LABELS[roi.kind]} {roi.shape}")
        self.doc, self.roi = doc, roi
        assert doc.case is not None
        self.index = len(doc.case.rois)

    def redo(self) -> None:
        self.doc._insert(self.roi, self.index)

    def undo(self) -> None:
        self.doc._remove(self.roi.id)


class RemoveRoiCommand(QUndoCommand):
    def __init__(self, doc: CaseDocument, roi: Roi) -> None:
        super().__init__(f"Delete {case_rules.KIND_LABELS[roi.kind]} ROI")
        self.doc, self.roi, self.index = doc, roi, 0

    def redo(self) -> None:
        self.roi, self.index = self.doc._remove(self.roi.id)

    def undo(self) -> None:
        self.doc._insert(self.roi, self.index)


class SetPointsCommand(QUndoCommand):
    def __init__(self, doc: CaseDocument, roi_id: str, old: list[tuple[float, float]],
                 new: list[tuple[float, float]], text: str) -> None:
        super().__init__(text)
        self.doc, self.roi_id, self.old, self.new = doc, roi_id, old, new

    def redo(self) -> None:
        self.doc._set_points(self.roi_id, self.new)

    def undo(self) -> None:
        self.doc._set_points(self.roi_id, self.old)


class SetRoleCommand(QUndoCommand):
    def __init__(self, doc: CaseDocument, image: int, old: str, new: str) -> None:
        super().__init__(f"Image role {case_rules.ROLE_LABELS[new]}")
        self.doc, self.image, self.old, self.new = doc, image, old, new

    def redo(self) -> None:
        self.doc._set_role(self.image, self.new)

    def undo(self) -> None:
        self.doc._set_role(self.image, self.old)


class SetTaskCommand(QUndoCommand):
    def __init__(self, doc: CaseDocument, old: str, new: str) -> None:
        super().__init__(f"Task {case_rules.TASK_LABELS[new]}")
        self.doc, self.old, self.new = doc, old, new

    def redo(self) -> None:
        self.doc._set_task(self.new)

    def undo(self) -> None:
        self.doc._set_task(self.old)
