"""The ROI list dock and the frame strip under the frame slider.

Both are views: the controller hands them what to show and listens to what the user
picks. The dock lists every ROI of the case (name, kind, image, frame, shape,
maximal diameter and area: mm where the image is calibrated, px and labelled so
where not), the lesion diameter with its size band, and what the case still
lacks. The strip marks the frames of the image on screen that carry ROIs, in the
ROI colours; a click jumps there.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDockWidget,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSlider,
    QStyle,
    QStyleOptionSlider,
    QTableWidget,
    QTableWidgetItem,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from ultrasound_reader import case_rules
from ultrasound_reader.gui import theme
from ultrasound_reader.gui.roi_items import kind_colour

COLUMNS = ("ROI", "Kind", "Frame", "Shape", "Max Ø")
ID_ROLE = Qt.ItemDataRole.UserRole
SHORT_KIND = {"lesion": "lesion", "background": "background", "mass": "mass"}


@dataclass(frozen=True)
class RoiRow:
    """One line of the list, already worded."""

    roi_id: str
    label: str
    kind: str
    frame: str  # 1-based like the frame counter, with the image when the case has several
    shape: str
    diameter: str
    area: str
    calibrated: bool


MIN_ROWS = 4


class RoiPanel(QDockWidget):
    taskChosen = Signal(str)
    kindChosen = Signal(str)
    roleChosen = Signal(str)
    roiActivated = Signal(str)  # roi id picked in the list
    deleteRequested = Signal()
    copyRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("ROIs", parent)
        self.setObjectName("roiPanel")
        body = QWidget(self)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)

        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        self.task = QComboBox(body)
        self.task.setObjectName("roiTask")
        for task, label in case_rules.TASK_LABELS.items():
            self.task.addItem(label, task)
        self.task.setToolTip("The case's task: which ROI kinds it takes (follows the model bundle's task)")
        self.task.activated.connect(lambda i: self.taskChosen.emit(self.task.itemData(i)))
        self.kind = QComboBox(body)
        self.kind.setObjectName("roiKind")
        self.kind.setToolTip("What the next ROI you draw outlines")
        self.kind.activated.connect(lambda i: self.kindChosen.emit(self.kind.itemData(i)))
        self.role = QComboBox(body)
        self.role.setObjectName("imageRole")
        for role, label in case_rules.ROLE_LABELS.items():
            self.role.addItem(label, role)
        self.role.setToolTip("Whether the image on screen is the grayscale (B-mode) or the colour-Doppler one")
        self.role.activated.connect(lambda i: self.roleChosen.emit(self.role.itemData(i)))
        form.addRow("Task", self.task)
        form.addRow("Draw", self.kind)
        form.addRow("Image", self.role)
        layout.addLayout(form)

        self.table = QTableWidget(0, len(COLUMNS), body)
        self.table.setObjectName("roiTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # columns fit a narrow dock
        # At least MIN_ROWS rows in view (a lesion on four frames and its background need five).
        self.table.setMinimumHeight(self.table.horizontalHeader().sizeHint().height() + MIN_ROWS * 22 + 4)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._on_selection)
        layout.addWidget(self.table, 1)

        self.size_label = QLabel("", body)
        self.size_label.setObjectName("lesionSize")
        self.size_label.setWordWrap(True)
        self.status_label = QLabel("", body)
        self.status_label.setObjectName("roiStatus")
        self.status_label.setWordWrap(True)
        layout.addWidget(self.size_label)
        layout.addWidget(self.status_label)

        buttons = QHBoxLayout()
        self.copy_button = QPushButton("Copy to Frame…", body)
        self.copy_button.clicked.connect(self.copyRequested.emit)
        self.delete_button = QPushButton("Delete", body)
        self.delete_button.clicked.connect(self.deleteRequested.emit)
        for b in (self.copy_button, self.delete_button):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            buttons.addWidget(b)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.setWidget(body)
        self._updating = False
        self.set_enabled(False)

    # -- content -----------------------------------------------------------------------------
    def set_enabled(self, enabled: bool) -> None:
        for w in (self.task, self.kind, self.role, self.table):
            w.setEnabled(enabled)

    def set_task(self, task: str, kinds: tuple[str, ...], current_kind: str) -> None:
        self._updating = True
        self.task.setCurrentIndex(self.task.findData(task))
        self.kind.clear()
        for k in kinds:
            self.kind.addItem(case_rules.KIND_LABELS[k], k)
        self.kind.setCurrentIndex(max(self.kind.findData(current_kind), 0))
        self._updating = False

    def set_kind(self, kind: str) -> None:
        self.kind.setCurrentIndex(max(self.kind.findData(kind), 0))

    def set_role(self, role: str | None) -> None:
        self.role.setEnabled(role is not None)
        if role is not None:
            self.role.setCurrentIndex(self.role.findData(role))

    def set_rows(self, rows: list[RoiRow], selected: str | None) -> None:
        self._updating = True
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            cells = (row.label, SHORT_KIND[row.kind], row.frame, row.shape, row.diameter)
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(ID_ROLE, row.roi_id)
                if c == 0:
                    item.setForeground(kind_colour(row.kind))
                if c == 4:
                    item.setToolTip(f"Maximal diameter {row.diameter}; area {row.area}"
                                    + ("" if row.calibrated else "\nThis image is not calibrated here: sizes in pixels"))
                    if not row.calibrated:
                        item.setForeground(QColor(theme.TEXT_DIM))
                self.table.setItem(r, c, item)
        self._updating = False
        self.select(selected)

    def set_summary(self, size_text: str, problems: list[str]) -> None:
        self.size_label.setText(f"Lesion: {size_text}" if size_text else "")
        if problems:
            self.status_label.setText("To do: " + "; ".join(problems))
            self.status_label.setStyleSheet(f"color: {theme.ACCENT};")
        else:
            self.status_label.setText("ROIs complete for analysis")
            self.status_label.setStyleSheet(f"color: {theme.TEXT_DIM};")

    def rows(self) -> list[list[str]]:
        """The table's text, row by row (tests read it)."""
        return [[self.table.item(r, c).text() for c in range(self.table.columnCount())]
                for r in range(self.table.rowCount())]

    def tooltips(self, column: int = 4) -> list[str]:
        return [self.table.item(r, column).toolTip() for r in range(self.table.rowCount())]

    def row_ids(self) -> list[str]:
        return [self.table.item(r, 0).data(ID_ROLE) for r in range(self.table.rowCount())]

    def select(self, roi_id: str | None) -> None:
        self._updating = True
        self.table.clearSelection()
        if roi_id is not None:
            for r in range(self.table.rowCount()):
                if self.table.item(r, 0).data(ID_ROLE) == roi_id:
                    self.table.selectRow(r)
                    self.table.scrollToItem(self.table.item(r, 0))
                    break
        self._updating = False
        self.delete_button.setEnabled(roi_id is not None)
        self.copy_button.setEnabled(roi_id is not None)

    def _on_selection(self) -> None:
        if self._updating:
            return
        items = self.table.selectedItems()
        if items:
            self.roiActivated.emit(items[0].data(ID_ROLE))


class FrameStrip(QWidget):
    """A thin strip under the frame slider: a coloured tick at each frame that carries ROIs."""

    frameClicked = Signal(int)
    HEIGHT = 9
    SNAP_PX = 8  # a click this close to a tick goes to its frame

    def __init__(self, slider: QSlider, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("roiFrameStrip")
        self.slider = slider
        self.n_frames = 0
        self.marks: dict[int, list[str]] = {}
        self.setFixedHeight(self.HEIGHT)
        self.setMouseTracking(True)
        self.setToolTip("Frames with ROIs (click to go there)")

    def sizeHint(self) -> QSize:
        return QSize(100, self.HEIGHT)

    def set_marks(self, n_frames: int, marks: dict[int, list[str]]) -> None:
        self.n_frames, self.marks = n_frames, dict(marks)
        self.update()

    def _groove(self) -> tuple[int, int]:
        """(x of frame 0's centre, pixel span to the last frame) in this widget's coordinates."""
        opt = QStyleOptionSlider()
        self.slider.initStyleOption(opt)
        style = self.slider.style()
        handle = style.subControlRect(QStyle.ComplexControl.CC_Slider, opt, QStyle.SubControl.SC_SliderHandle,
                                      self.slider)
        groove = style.subControlRect(QStyle.ComplexControl.CC_Slider, opt, QStyle.SubControl.SC_SliderGroove,
                                      self.slider)
        top = self.window()
        offset = self.slider.mapTo(top, QPoint(0, 0)).x() - self.mapTo(top, QPoint(0, 0)).x()
        hw = max(handle.width(), 1)
        left = groove.x() + offset + hw // 2
        span = max(groove.width() - hw, 1)
        return left, span

    def x_of(self, frame: int) -> int:
        left, span = self._groove()
        if self.n_frames <= 1:
            return left
        return left + QStyle.sliderPositionFromValue(0, self.n_frames - 1, frame, span)

    def frame_at(self, x: int) -> int:
        if self.n_frames <= 1:
            return 0
        near = sorted(self.marks, key=lambda f: abs(self.x_of(f) - x))
        if near and abs(self.x_of(near[0]) - x) <= self.SNAP_PX:
            return near[0]
        left, span = self._groove()
        return QStyle.sliderValueFromPosition(0, self.n_frames - 1, x - left, span)

    def paintEvent(self, _event: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(theme.PANEL))
        if self.n_frames:
            for frame, kinds in sorted(self.marks.items()):
                if not 0 <= frame < self.n_frames:
                    continue
                x = self.x_of(frame)
                h = self.height() / max(len(kinds), 1)
                for k, kind in enumerate(kinds):
                    p.fillRect(QRect(x - 2, int(k * h), 4, max(int(h), 1)), kind_colour(kind))
        p.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.n_frames:
            self.frameClicked.emit(self.frame_at(int(event.position().x())))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if not self.n_frames:
            return
        frame = self.frame_at(int(event.position().x()))
        kinds = self.marks.get(frame)
        text = (f"Frame {frame + 1}: " + ", ".join(case_rules.KIND_LABELS[k] for k in kinds)) if kinds else \
            f"Frame {frame + 1}"
        QToolTip.showText(event.globalPosition().toPoint(), text, self)
