"""The series browser dock: patient ▸ study ▸ series ▸ image, with thumbnails and problems.

It shows what a folder scan found and which files could not be opened (with the
reason, one line each), and emits the path the user picks: a click, Enter, or
moving the current row with the arrow keys loads that image, so the highlighted
row is always the image on screen. Long file names wrap (never elided in the
middle, where "gdcm-U…6.dcm" and "gdcm-US…ig.dcm" would look alike); the full
path is the tooltip. Patient rows are
labelled by position and sex/age only: names and IDs never reach the screen, the
same rule as the image overlay.
"""

from __future__ import annotations

import textwrap
import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import QDockWidget, QTreeWidget, QTreeWidgetItem, QWidget

from ultrasound_reader.gui import theme
from ultrasound_reader.gui.session import SeriesImage as BrowserImage  # one concept: the session's

THUMB = 72  # thumbnail edge in pixels
PATH_ROLE = Qt.ItemDataRole.UserRole
PROBLEM_WRAP = 34  # characters per line of a problem's reason
NAME_WRAP = 24  # characters per line of a long file name


def wrap_label(label: str, width: int = NAME_WRAP) -> str:
    """Each line of ``label`` broken into lines of at most ``width`` characters (names keep every character)."""
    out = []
    for line in label.splitlines() or [""]:
        out.extend(textwrap.wrap(line, width, break_long_words=True, break_on_hyphens=True) or [""])
    return "\n".join(out)


def thumbnail_icon(frame: np.ndarray, size: int = THUMB) -> QIcon:
    """A square icon of ``frame`` (uint8 gray or RGB) scaled to fit, on black."""
    frame = np.ascontiguousarray(frame)
    h, w = frame.shape[:2]
    if frame.ndim == 2:
        image = QImage(frame.data, w, h, frame.strides[0], QImage.Format.Format_Grayscale8)
    else:
        image = QImage(frame.data, w, h, frame.strides[0], QImage.Format.Format_RGB888)
    scaled = image.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                          Qt.TransformationMode.SmoothTransformation)
    canvas = QPixmap(size, size)
    canvas.fill(QColor("black"))
    from PySide6.QtGui import QPainter

    painter = QPainter(canvas)
    painter.drawImage((size - scaled.width()) // 2, (size - scaled.height()) // 2, scaled)
    painter.end()
    return QIcon(canvas)


class SeriesBrowser(QDockWidget):
    """Dock listing the opened files grouped by patient/study/series, plus a Problems group."""

    imageActivated = Signal(str)  # path

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Series", parent)
        self.setObjectName("seriesBrowser")  # saveState needs a name
        self.tree = QTreeWidget(self)
        self.tree.setObjectName("seriesTree")
        self.tree.setHeaderHidden(True)
        self.tree.setIconSize(QSize(THUMB, THUMB))
        self.tree.setUniformRowHeights(False)
        self.tree.setIndentation(12)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.tree.itemActivated.connect(self._on_activated)
        self.tree.itemClicked.connect(self._on_activated)
        self.tree.currentItemChanged.connect(lambda item, _previous: item is not None and self._on_activated(item))
        self.setWidget(self.tree)
        self.setMinimumWidth(260)
        self._items: dict[str, QTreeWidgetItem] = {}
        self._problems: QTreeWidgetItem | None = None
        self._empty = QTreeWidgetItem(["No images open"])
        self._empty.setFlags(Qt.ItemFlag.NoItemFlags)
        self.tree.addTopLevelItem(self._empty)

    # -- content --------------------------------------------------------------------------
    def clear(self) -> None:
        self.tree.clear()
        self._items.clear()
        self._problems = None
        self._empty = QTreeWidgetItem(["No images open"])
        self._empty.setFlags(Qt.ItemFlag.NoItemFlags)
        self.tree.addTopLevelItem(self._empty)

    def _drop_empty(self) -> None:
        if self._empty is not None:
            index = self.tree.indexOfTopLevelItem(self._empty)
            if index >= 0:
                self.tree.takeTopLevelItem(index)
            self._empty = None

    def add_series(self, patient: str, study: str, series: str, images: list[BrowserImage]) -> None:
        """Add one series (creating its patient and study rows as needed)."""
        self._drop_empty()
        # An empty level (loose files have no study) is skipped rather than shown blank.
        node: QTreeWidgetItem | None = None
        nodes = []
        for text in (patient, study, series):
            if text:
                node = self._child(node, text)
                nodes.append(node)
        assert node is not None, "a series needs at least one label"
        series_item = node
        for image in images:
            item = QTreeWidgetItem([wrap_label(image.label)])
            item.setData(0, PATH_ROLE, image.path)
            item.setToolTip(0, image.tooltip or image.path)
            series_item.addChild(item)
            self._items[image.path] = item
        for n in nodes:
            n.setExpanded(True)
        if self._problems is not None:  # keep problems last
            self.tree.takeTopLevelItem(self.tree.indexOfTopLevelItem(self._problems))
            self.tree.addTopLevelItem(self._problems)
            self._problems.setExpanded(True)

    def _child(self, parent: QTreeWidgetItem | None, text: str) -> QTreeWidgetItem:
        count = parent.childCount() if parent else self.tree.topLevelItemCount()
        for i in range(count):
            item = parent.child(i) if parent else self.tree.topLevelItem(i)
            if item.text(0) == text and item is not self._problems:
                return item
        item = QTreeWidgetItem([text])
        item.setFlags(Qt.ItemFlag.ItemIsEnabled)
        if parent:
            parent.addChild(item)
        else:
            self.tree.addTopLevelItem(item)
        return item

    def add_problem(self, path: str, reason: str) -> None:
        """List a file that could not be opened, with the one-line reason."""
        self._drop_empty()
        if self._problems is None:
            self._problems = QTreeWidgetItem(["Problems"])
            self._problems.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self._problems.setForeground(0, QBrush(QColor(theme.ERROR)))
            self.tree.addTopLevelItem(self._problems)
        name = path.replace("\\", "/").rsplit("/", 1)[-1]
        # Tree items do not wrap by themselves: the reason is wrapped here, under the name.
        item = QTreeWidgetItem([name + "\n" + "\n".join(textwrap.wrap(reason, PROBLEM_WRAP))])
        item.setData(0, PATH_ROLE + 1, f"{name}: {reason}")
        item.setToolTip(0, f"{path}\n{reason}")
        item.setForeground(0, QBrush(QColor(theme.ERROR)))
        item.setFlags(Qt.ItemFlag.ItemIsEnabled)
        self._problems.addChild(item)
        self._problems.setText(0, f"Problems ({self._problems.childCount()})")
        self._problems.setExpanded(True)

    def problems(self) -> list[str]:
        if self._problems is None:
            return []
        return [self._problems.child(i).data(0, PATH_ROLE + 1) for i in range(self._problems.childCount())]

    def paths(self) -> list[str]:
        return list(self._items)

    def set_thumbnail(self, path: str, frame: np.ndarray) -> None:
        item = self._items.get(path)
        if item is not None:
            item.setIcon(0, thumbnail_icon(frame))

    def has_thumbnail(self, path: str) -> bool:
        item = self._items.get(path)
        return item is not None and not item.icon(0).isNull()

    def select(self, path: str) -> None:
        item = self._items.get(path)
        if item is not None:
            self.tree.blockSignals(True)
            self.tree.setCurrentItem(item)
            self.tree.blockSignals(False)

    def _on_activated(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        path = item.data(0, PATH_ROLE)
        if path:
            self.imageActivated.emit(str(path))
