"""Calipers saved in the case: distance lines and ellipse areas, listed in a Measurements panel.

The ruler (M) and the area tool (Shift+M) draw calipers on the frame on screen.
Each finished, edited or removed caliper is written to the open case
(``case.Measurement``: geometry, image and frame; the values are recomputed from
the image's calibration, so they are in mm / mm² where the image is calibrated and
in px, saying "uncalibrated" or why not, otherwise: the ruler's cross-region
refusal holds for both). A caliper shows only on the frame it was drawn on; the
panel lists all of the case's, and a double-click shows a caliper's frame.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QDockWidget, QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from ultrasound_reader.case import Case
from ultrasound_reader.case import Measurement as CaseMeasurement
from ultrasound_reader.gui import theme
from ultrasound_reader.gui.measure import measurement_value
from ultrasound_reader.gui.tools import AreaTool, Measurement, RulerTool

if TYPE_CHECKING:
    from ultrasound_reader.gui.session import ReadingSession
    from ultrasound_reader.gui.shell import Shell

KIND_NAMES = {"distance": "Distance", "ellipse": "Ellipse area"}


class MeasurementsPanel(QWidget):
    """The list of the case's calipers."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("measurementsPanel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        self.list = QListWidget(self)
        self.list.setObjectName("measurementsList")
        layout.addWidget(self.list, 1)
        self.note = QLabel("Ruler (M) and Area (Shift+M) calipers are saved with the case.", self)
        self.note.setWordWrap(True)
        self.note.setStyleSheet(f"color: {theme.TEXT_DIM};")
        layout.addWidget(self.note)

    def texts(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]


class MeasurementsController(QObject):
    """Owns the caliper tools (ruler M, area Shift+M), Tools ▸ Clear Measurements and the panel.

    Gets the :class:`~.shell.Shell` and the :class:`~.session.ReadingSession` (whose case
    document it edits), never the window. Made after the case controller: the session's
    image index, which says which case image is on screen, is set by it."""

    def __init__(self, shell: Shell, session: ReadingSession) -> None:
        super().__init__(session)
        self.shell = shell
        self.session = session
        self.doc = session.doc
        self.ruler = RulerTool(self)
        self.area = AreaTool(self)
        for tool, key in ((self.ruler, "M"), (self.area, "Shift+M")):
            shell.add_tool(tool, key)
            tool.view = shell.view  # calipers can be added (a case opened) before the tool is first chosen
        self.tools = (self.ruler, self.area)
        self.clear_action = shell.add_action("clear_measurements", "&Clear Measurements", "Shift+Del",
                                             lambda _=False: self.clear_here(), menu="tools",
                                             tip="Remove the calipers of the image on screen (Shift+Del)")
        self.panel = MeasurementsPanel()
        self.dock = QDockWidget("Measurements", shell.dialog_parent())
        self.dock.setObjectName("measurementsDock")
        self.dock.setWidget(self.panel)
        shell.add_panel(self.dock, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.ruler.measured.connect(lambda d: shell.status(f"Distance: {d.label()}", 8000))
        for tool in self.tools:
            tool.drawn.connect(self._on_drawn)
            tool.userRemoved.connect(self._on_removed)
            tool.measured.connect(lambda _v: self._refresh_list())
        session.imageChanged.connect(lambda _image: self.rebuild())
        session.frameChanged.connect(lambda _i: self._show_frame())
        session.caseChanged.connect(self._on_case_changed)
        self.panel.list.itemDoubleClicked.connect(self._go_to)
        self._shown_ids: tuple[str, ...] = ()

    # -- where we are ---------------------------------------------------------------------
    @property
    def case(self) -> Case | None:
        return self.doc.case

    def _here(self) -> tuple[int | None, int | None]:
        image = self.session.image
        return (image.index if image is not None else None), self.shell.view.frame_index

    def items(self) -> list[Measurement]:
        return [m for tool in self.tools for m in tool.measurements]

    # -- reader's edits -> case -----------------------------------------------------------------
    def _on_drawn(self, item: Measurement) -> None:
        image, frame = self._here()
        item.image, item.frame = image, frame
        item.edited.connect(self._on_edited)
        case = self.case
        if case is None or image is None or frame is None:
            return  # an image without a case: the caliper is not saved
        p0, p1 = item.endpoints()
        saved = CaseMeasurement(item.kind, [p0, p1], image=image, frame=frame)
        item.case_id = saved.id
        case.measurements.append(saved)
        self._changed()

    def _on_edited(self, item: Measurement) -> None:
        saved = self._saved(item.case_id)
        if saved is None:
            return
        p0, p1 = item.endpoints()
        if [p0, p1] != saved.points:
            saved.points = [p0, p1]
            self._changed()

    def _on_removed(self, item: Measurement) -> None:
        case, saved = self.case, self._saved(item.case_id)
        if case is not None and saved is not None:
            case.measurements.remove(saved)
            self._changed()

    def clear_here(self) -> None:
        """Tools ▸ Clear Measurements: the calipers of the image on screen, from the screen and the case."""
        for tool in self.tools:
            tool.clear()
        case = self.case
        image, _frame = self._here()
        if case is not None and image is not None:
            kept = [m for m in case.measurements if m.image != image]
            if len(kept) != len(case.measurements):
                case.measurements[:] = kept
                self._changed()
        self._refresh_list()

    def _saved(self, case_id: str | None) -> CaseMeasurement | None:
        case = self.case
        if case is None or case_id is None:
            return None
        return next((m for m in case.measurements if m.id == case_id), None)

    def _changed(self) -> None:
        self.doc.mark_changed()
        self._refresh_list()

    # -- case -> screen ---------------------------------------------------------------------------
    def _on_case_changed(self, case: Case | None) -> None:
        ids = tuple(m.id for m in case.measurements) if case is not None else ()
        if ids != self._shown_ids:
            self.rebuild()

    def rebuild(self) -> None:
        """Show the case's calipers of the image on screen (after opening a case or another image)."""
        for tool in self.tools:
            tool.clear()
        case = self.case
        image, _frame = self._here()
        self._shown_ids = tuple(m.id for m in case.measurements) if case is not None else ()
        if case is not None and image is not None and self.shell.view.raw is not None:
            for saved in case.measurements:
                if saved.image != image:
                    continue
                tool = self.area if saved.kind == "ellipse" else self.ruler
                item = tool.add(saved.points[0], saved.points[1])
                item.image, item.frame, item.case_id = saved.image, saved.frame, saved.id
                item.edited.connect(self._on_edited)
        self._show_frame()
        self._refresh_list()

    def _show_frame(self) -> None:
        image, frame = self._here()
        for item in self.items():
            item.set_visible(item.frame is None or (item.image == image and item.frame == frame))

    def _refresh_list(self) -> None:
        lst = self.panel.list
        lst.clear()
        case = self.case
        if case is None:
            return
        image, _frame = self._here()
        calibration = self.shell.view.calibration
        for k, saved in enumerate(case.measurements, 1):
            where = f"img {saved.image + 1} · fr {saved.frame + 1}"
            if saved.image == image:
                value = measurement_value(saved.kind, saved.points[0], saved.points[1], calibration).label()
            else:
                value = "(open its image for the value)"
            item = QListWidgetItem(f"M{k}  {KIND_NAMES.get(saved.kind, saved.kind)}: {value}  ·  {where}")
            item.setData(Qt.ItemDataRole.UserRole, saved.id)
            lst.addItem(item)

    def _go_to(self, item: QListWidgetItem) -> None:
        saved = self._saved(item.data(Qt.ItemDataRole.UserRole))
        if saved is None:
            return
        image, _frame = self._here()
        if saved.image != image:
            self.shell.status(f"That caliper is on image {saved.image + 1}: open it in the series list", 6000)
            return
        self.shell.pause()
        self.shell.show_frame(saved.frame)
