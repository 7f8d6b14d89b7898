"""The main window: image view in the centre, frame controls under it, panels in docks.

It turns gestures into calls on the dicom layer and shows what comes back; the
maths lives in Qt-free modules (windowing, playback, measure, overlay_text). Later
features plug in without rewriting it:

* panels (ROI list, clinical factors, results, nomogram) are docks added with
  :meth:`MainWindow.add_panel`, listed under View ▸ Panels and saved with the layout;
* mouse tools (ROI shapes, calipers) join the exclusive tool group with :meth:`MainWindow.add_tool`;
* overlays (Grad-CAM heatmaps, ROIs) are items added to ``image_view`` with
  :meth:`~.image_view.ImageView.add_layer`, in image pixel coordinates;
* long work goes through ``self.runner`` on its own channel, whose request ids
  keep a late result off a case the user has since left (the analysis has its
  own runner, see reading.py / analysis.py);
* ``cineChanged`` and ``frameChanged`` tell panels what is on screen.

The reading state (case, image on screen, series, bundle, analysis) lives in one
:class:`~.session.ReadingSession`; the controllers get a narrow
:class:`WindowShell` (panels, actions by menu key, status, errors, the viewer)
and the session, never this window. The window is one face over the session:
it shows the image the session says, the series it lists, and the title.
Layout: docks have minimum widths, the saved state carries a version and is
checked before it is used or saved, and View ▸ Reset Layout puts it back.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QSplitter,
    QTextBrowser,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ultrasound_reader.errors import CancelledError
from ultrasound_reader.gui.settings import Preferences, default_settings
from ultrasound_reader.gui.shell import MENU_KEYS, Shortcuts, make_action, plain_title
from ultrasound_reader.gui.workers import Job, TaskRunner

# Only Qt and light modules above: the window's shell (title, size, menu bar, status line) shows
# before numpy, pyqtgraph and pydicom are imported; :meth:`MainWindow.build` imports the rest
# (see ``MainWindow(deferred=True)`` and gui/cli.py). tests/test_gui_cold_start.py keeps it so.
if TYPE_CHECKING:
    import numpy as np

    from ultrasound_reader.dicom import Cine
    from ultrasound_reader.gui.playback import PlaybackStats
    from ultrasound_reader.gui.scan import ScanResult
    from ultrasound_reader.gui.tools import Tool

log = logging.getLogger(__name__)

# What build() and opening import (function-level imports below): gui/cli.py imports them
# while the shell is on screen (cold_start.py);
# tests/test_gui_cold_start.py checks this list against the imports in this file.
BUILD_IMPORTS = (
    "ultrasound_reader.case_rules",
    "ultrasound_reader.dicom",
    "ultrasound_reader.dicom.sr",
    "ultrasound_reader.gui.case_controller",
    "ultrasound_reader.gui.dual_view",
    "ultrasound_reader.gui.frame_controls",
    "ultrasound_reader.gui.image_view",
    "ultrasound_reader.gui.measure",
    "ultrasound_reader.gui.measurements",
    "ultrasound_reader.gui.overlay_text",
    "ultrasound_reader.gui.pacs_dock",
    "ultrasound_reader.gui.player",
    "ultrasound_reader.gui.reading",
    "ultrasound_reader.gui.scan",
    "ultrasound_reader.gui.series_browser",
    "ultrasound_reader.gui.session",
    "ultrasound_reader.gui.tools",
    "ultrasound_reader.gui.verdict",
    "ultrasound_reader.gui.windowing",
)

APP_TITLE = "Ultrasound Reader"
FILE_FILTER = "DICOM, images and cases (*.dcm *.dicom *.DCM *.png *.jpg *.jpeg DICOMDIR *.json);;All files (*)"
NEIGHBOURS = 12  # frames decoded ahead of a stepping user
THUMB_SIZE = 96
PREFETCH_DELAY_MS = 40
LAYOUT_VERSION = 2  # saveState/restoreState version: an older saved layout is not restored
MIN_PANEL_WIDTH = 220  # no dock is crushed below this (docks scroll inside instead)
MIN_CENTRAL_WIDTH = 420  # the image and its frame controls keep at least this
MENU_TITLES = {"file": "&File", "edit": "&Edit", "view": "&View", "playback": "&Playback", "tools": "&Tools",
               "analysis": "&Analysis", "help": "&Help"}


def default_dock_widths(width: int) -> tuple[int, int]:
    """The default layout's left and right dock column widths for a window ``width`` px wide."""
    return ((350, 440) if width >= 1500 else (300, 360) if width >= 1240 else
            (MIN_PANEL_WIDTH + 10, MIN_PANEL_WIDTH + 10))


def _load_cine(job: Job, path: str) -> tuple[Cine, np.ndarray, np.ndarray]:
    """Worker: open a file, decode its first frame and make its thumbnail (none of it on the GUI thread)."""
    from ultrasound_reader.dicom import open_cine

    name = Path(path).name
    job.progress(0, 2, f"Opening {name}")
    cine = open_cine(path)
    try:
        job.check()
        job.progress(1, 2, f"Decoding {name}")
        first = cine.frame(0)
        thumb = cine.thumbnail(THUMB_SIZE, index=0)
        job.check()
    except BaseException:
        cine.close()
        raise
    return cine, first, thumb


def _decode_frame(job: Job, cine: Cine, index: int) -> tuple[Cine, int, np.ndarray]:
    if cine.closed:  # the user opened something else meanwhile
        raise CancelledError(f"{cine.path.name} was closed")
    job.check()  # a newer request superseded this one while it waited
    return cine, index, cine.frame(index)


def _thumbnails(job: Job, paths: list[str]) -> list[tuple[str, np.ndarray | None]]:
    from ultrasound_reader.dicom import open_cine

    out: list[tuple[str, np.ndarray | None]] = []
    for k, path in enumerate(paths):
        job.check()
        job.progress(k, len(paths), "Making thumbnails")
        try:
            with open_cine(path) as cine:
                out.append((path, cine.thumbnail(THUMB_SIZE, index=0)))
        except Exception:  # the problem is reported when the file itself is opened
            out.append((path, None))
    return out


class SettingsMemory:
    """The session's memory (bundle per task, default task) kept in QSettings."""

    def __init__(self, settings: QSettings) -> None:
        self.settings = settings

    def get(self, key: str, default: str | None = None) -> str | None:
        value = self.settings.value(key, default)
        return str(value) if value not in (None, "") else default

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, value: str) -> None:
        self.settings.setValue(key, value)

    def __delitem__(self, key: str) -> None:
        self.settings.remove(key)

    def __iter__(self) -> Any:
        return iter(self.settings.allKeys())

    def __len__(self) -> int:
        return len(self.settings.allKeys())


class WindowShell:
    """The narrow part of :class:`MainWindow` controllers see (see shell.py)."""

    def __init__(self, window: MainWindow) -> None:
        self._w = window
        self.prefs = window.prefs
        self.view = window.image_view

    def add_panel(self, dock: QDockWidget, area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea) -> None:
        self._w.add_panel(dock, area)

    def add_action(self, key: str, text: str, shortcuts: Shortcuts = None, slot: Any = None, *,
                   menu: str | None = None, before: str | None = None, toolbar: bool | str = False,
                   checkable: bool = False, tip: str = "") -> QAction:
        action = self._w._action(key, text, shortcuts, slot, checkable=checkable, tip=tip)
        return self._w.place_action(action, menu, before, toolbar)

    def register_action(self, key: str, action: QAction, menu: str | None = None) -> QAction:
        action.setObjectName(key)
        self._w.addAction(action)
        self._w.actions[key] = action
        return self._w.place_action(action, menu, None, False)

    def add_separator(self, menu: str, before: str | None = None) -> None:
        target = self._w.menus[menu]
        if before is not None:
            target.insertSeparator(self._w.actions[before])
        else:
            target.addSeparator()

    def add_toolbar_separator(self) -> None:
        self._w.toolbar.addSeparator()

    def menu(self, key: str) -> QMenu:
        return self._w.menus[key]

    def add_tool(self, tool: Tool, shortcut: str | None = None) -> QAction:
        return self._w.add_tool(tool, shortcut)

    def status(self, message: str, ms: int = 6000) -> None:
        self._w.statusBar().showMessage(message, ms)

    def report_error(self, message: str) -> None:
        self._w.report_error(message)

    def submit(self, channel: str, fn: Any, *args: Any, **callbacks: Any) -> int:
        return self._w.runner.submit(channel, fn, *args, **callbacks)

    def cancel(self, channel: str) -> None:
        """Stop the running work of ``channel`` (its result, if any, is dropped)."""
        self._w.runner.cancel(channel)

    def open_paths(self, paths: Any) -> int:
        """Open files/folders as File ▸ Open would (a PACS retrieve lands in the cache, then opens)."""
        return self._w.open_paths(paths)

    def dialog_parent(self) -> QWidget:
        return self._w

    def open_failed(self, message: str) -> None:
        """Something asked to be opened could not be: shown as an error, with what stays on screen."""
        self._w._on_open_failed(message)

    def show_frame(self, index: int) -> None:
        self._w.show_frame(index)

    def open_image(self, path: str) -> int:
        return self._w.open_file(path)

    def pause(self) -> None:
        if self._w.player.playing:
            self._w.player.pause()

    def add_under_slider(self, make: Any) -> QWidget:
        widget = make(self._w.controls.slider)
        self._w.controls.slider_column.addWidget(widget)
        return widget

    def add_beside_image(self, widget: QWidget) -> None:
        self._w.view_splitter.addWidget(widget)

    def split_beside_evenly(self) -> None:
        """The image and every view shown beside it get the same width."""
        splitter = self._w.view_splitter
        shown = [i for i in range(splitter.count()) if i == 0 or not splitter.widget(i).isHidden()]
        total = sum(splitter.sizes())
        sizes = [0] * splitter.count()
        for k, i in enumerate(shown):
            sizes[i] = total // len(shown) + (total % len(shown) if k == len(shown) - 1 else 0)
        splitter.setSizes(sizes)


class MainWindow(QMainWindow):
    cineChanged = Signal(object)  # Cine | None
    frameChanged = Signal(int)
    errorShown = Signal(str)
    caseChanged = Signal(object)  # Case | None: another case, or its task/images/factors changed
    roisChanged = Signal()  # an ROI of the case was added, removed or edited (results go stale)

    def __init__(self, settings: QSettings | None = None, parent: QWidget | None = None, *,
                 deferred: bool = False) -> None:
        """The whole window; with ``deferred`` only its shell (title, size, menu bar, status line),
        cheap enough to show at once: :meth:`build` then imports and makes the rest (gui/cli.py)."""
        super().__init__(parent)
        self.setWindowTitle(APP_TITLE)
        self.setObjectName("mainWindow")
        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)
        self.prefs = Preferences(settings if settings is not None else default_settings())
        self.built = False
        self.menus: dict[str, QMenu] = {}
        bar = self.menuBar()
        for key in MENU_KEYS:
            menu = bar.addMenu(MENU_TITLES[key])
            menu.setObjectName(f"menu_{key}")
            self.menus[key] = menu
        self.resize(*self._default_size())
        geometry, self._saved_state = self.prefs.window_state()
        if geometry is not None:
            self.restoreGeometry(geometry)
        if deferred:
            placeholder = QLabel("Starting…", self)
            placeholder.setObjectName("startingPlaceholder")
            placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.setCentralWidget(placeholder)
            self.statusBar()  # made now: the window keeps its shape when the rest comes in
        else:
            self.build()

    def build(self) -> None:
        """Everything but the shell: the viewer, panels, controllers, toolbar (once; shown or not)."""
        if self.built:
            return
        self.built = True
        from ultrasound_reader.gui.case_controller import CaseController
        from ultrasound_reader.gui.dual_view import DualViewController
        from ultrasound_reader.gui.frame_controls import FrameControls
        from ultrasound_reader.gui.image_view import ImageView
        from ultrasound_reader.gui.measurements import MeasurementsController
        from ultrasound_reader.gui.pacs_dock import PacsController
        from ultrasound_reader.gui.player import Player
        from ultrasound_reader.gui.reading import ReadingController
        from ultrasound_reader.gui.series_browser import SeriesBrowser
        from ultrasound_reader.gui.session import ReadingSession
        from ultrasound_reader.gui.tools import NavigateTool

        self.session = ReadingSession(SettingsMemory(self.prefs.qsettings), self)
        self.runner = TaskRunner(max_threads=2, parent=self)  # opening, scanning, thumbnails
        self.frame_runner = TaskRunner(max_threads=1, parent=self)  # frames for scrubbing/stepping
        self.current_frame = 0
        self.last_error = ""
        self._step_direction = 1
        self._fps_note = ""
        self._scan_note = ""
        self._remember = False
        self._open_failed: str | None = None
        self._requested_path: str | None = None

        self.image_view = ImageView(self)
        self.player = Player(self)
        self.actions: dict[str, QAction] = {}
        self._build_actions()
        self.controls = FrameControls(self.actions, self)
        central = QWidget(self)
        central.setMinimumWidth(MIN_CENTRAL_WIDTH)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        # The image, and beside it (only when asked) the Grad-CAM side-by-side view.
        self.view_splitter = QSplitter(Qt.Orientation.Horizontal, central)
        self.view_splitter.setObjectName("viewSplitter")
        self.view_splitter.setChildrenCollapsible(False)
        self.view_splitter.addWidget(self.image_view)
        layout.addWidget(self.view_splitter, 1)
        layout.addWidget(self.controls)
        self.setCentralWidget(central)

        self.browser = SeriesBrowser(self)
        self.panels_menu: QMenu  # filled by _build_menus
        self._build_menus()
        self._build_toolbar()
        self._build_status_bar()
        self.add_panel(self.browser, Qt.DockWidgetArea.LeftDockWidgetArea)

        self.error_box = QMessageBox(QMessageBox.Icon.Warning, APP_TITLE, "", QMessageBox.StandardButton.Ok, self)
        self.error_box.setWindowModality(Qt.WindowModality.NonModal)  # reading goes on; tests can read it

        self.tools: dict[str, Tool] = {}
        self.navigate_tool = NavigateTool(self)
        self.add_tool(self.navigate_tool, "N")
        self.set_tool("navigate")
        self.shell = WindowShell(self)
        # The case document's face: ROI tools, ROI dock and frame strip (case_controller.py).
        self.case_ctl = CaseController(self.shell, self.session)
        # Model bundle, clinical factors, analysis, results, nomogram, curves, Grad-CAM (reading.py).
        self.reading = ReadingController(self.shell, self.session)
        # Calipers (ruler and ellipse area) saved in the case, listed in a panel (measurements.py).
        # After case_ctl: it sets the session's image index these two read on imageChanged.
        self.measurements = MeasurementsController(self.shell, self.session)
        # View ▸ Two Viewports (1×2): a second case image beside this one, zoom/pan linked (dual_view.py).
        self.dual_view = DualViewController(self.shell, self.session)
        # PACS query/retrieve dock, node preferences, File ▸ Export / Send to PACS (pacs_dock.py).
        self.pacs = PacsController(self.shell, self.session)
        for action in self.pacs.result_actions:
            self.reading.add_result_action(action)
        self._build_help_actions()

        self._wire()
        self._restore_preferences()
        self._update_enabled()
        self._layout_pending = True  # the default layout, or the saved one if it is sane, at the first show
        state, self._saved_state = self._saved_state, None
        if state is not None and self.restoreState(state, LAYOUT_VERSION):
            self._layout_pending = False
            self._check_layout_at_show = True
        else:
            self._check_layout_at_show = False
        self.installEventFilter(self)
        if self.isVisible():  # built behind the shown shell: what the first show does, now
            self._on_first_show()

    # ===================================================================== the image on screen (the session's)
    @property
    def cine(self) -> Cine | None:
        image = self.session.image
        return image.cine if image is not None else None

    @property
    def current_path(self) -> str | None:
        image = self.session.image
        return image.path if image is not None else None

    # ===================================================================== construction
    def _default_size(self) -> tuple[int, int]:
        """Up to 1600x1000 where the screen allows (image, ROI/factors column, results column), at least 1024x700."""
        screen = self.screen() or QApplication.primaryScreen()
        avail = screen.availableGeometry() if screen is not None else None
        if avail is None:
            return 1280, 820
        return (max(1024, min(1600, int(avail.width() * 0.92))), max(700, min(1000, int(avail.height() * 0.92))))

    def _action(self, key: str, text: str, shortcut: Shortcuts = None, slot: Any = None, checkable: bool = False,
                tip: str = "") -> QAction:
        action = make_action(self, key, text, shortcut, slot, checkable=checkable, tip=tip)
        self.actions[key] = action
        return action

    def place_action(self, action: QAction, menu: str | None, before: str | None, toolbar: bool | str) -> QAction:
        """Put an action in the menu with key ``menu`` (before the action keyed ``before``) and the toolbar
        (``toolbar``: True at its end, or the key of the action to insert it before)."""
        if menu is not None:
            target = self.menus[menu]
            if before is not None and before in self.actions:
                target.insertAction(self.actions[before], action)
            else:
                target.addAction(action)
        if toolbar:
            if isinstance(toolbar, str) and toolbar in self.actions:
                self.toolbar.insertAction(self.actions[toolbar], action)
            else:
                self.toolbar.addAction(action)
            for button in self.toolbar.findChildren(QToolButton):
                button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        return action

    def _build_actions(self) -> None:
        from ultrasound_reader.gui.windowing import IDENTITY

        a = self._action
        a("open", "&Open File…", QKeySequence.StandardKey.Open, self.open_dialog, tip="Open DICOM or image files")
        a("open_folder", "Open &Folder…", "Ctrl+Shift+O", self.open_folder_dialog, tip="Open every image in a folder")
        a("close", "&Close", QKeySequence.StandardKey.Close, self.close_all)
        a("quit", "&Quit", QKeySequence.StandardKey.Quit, self.close)
        a("play", "▶ Play", "Space", self.toggle_play, tip="Play / pause (Space)")
        a("step_back", "◀ Step", "Left", lambda: self.step(-1), tip="Previous frame (Left)")
        a("step_forward", "Step ▶", "Right", lambda: self.step(1), tip="Next frame (Right)")
        a("first", "|◀", "Home", lambda: self.show_frame(0), tip="First frame (Home)")
        a("last", "▶|", "End", lambda: self.show_frame(self.n_frames - 1), tip="Last frame (End)")
        a("loop", "Loop", "L", self._on_loop, checkable=True, tip="Loop playback (L)")
        a("zoom_in", "Zoom &In", ["+", "=", "Ctrl++"], lambda: self.image_view.zoom_by(1.25), tip="Zoom in (+)")
        a("zoom_out", "Zoom &Out", ["-", "Ctrl+-"], lambda: self.image_view.zoom_by(0.8), tip="Zoom out (-)")
        a("fit", "&Fit", "F", self.image_view.fit, tip="Fit the image to the window (F)")
        a("one_to_one", "&1:1", "1", self.image_view.one_to_one, tip="One image pixel per screen pixel (1)")
        a("invert", "&Invert", "I", self.image_view.set_inverted, checkable=True, tip="Invert grey levels (I)")
        a("overlay", "&Overlay Text", "O", self._on_overlay, checkable=True,
          tip="Show de-identified study information over the image (O)")
        a("wl_reset", "&Reset Window/Level", "R", lambda: self.image_view.set_window_level(IDENTITY),
          tip="Back to the scanner's rendering (R)")
        a("wl_auto", "&Auto Window/Level", "A", self.auto_window_level,
          tip="Stretch this frame's grey levels to full contrast (A)")
        a("cancel", "Cancel Loading", "Esc", self.cancel_loading)
        a("reset_layout", "Reset &Layout", None, self.reset_layout,
          tip="Put the panels back where they start, sized for this window")
        a("shortcuts", "&Keyboard Shortcuts", "F1", self.show_shortcuts, tip="Every key and what it does (F1)")
        a("about", "&About", None, self._about)

    def _build_menus(self) -> None:
        from ultrasound_reader.gui.windowing import PRESETS

        file_menu = self.menus["file"]  # the menus themselves are the shell's (__init__)
        for key in ("open", "open_folder"):
            file_menu.addAction(self.actions[key])
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.setObjectName("recentMenu")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._fill_recent_menu()
        file_menu.addSeparator()
        file_menu.addAction(self.actions["close"])
        file_menu.addAction(self.actions["quit"])

        view = self.menus["view"]
        for key in ("zoom_in", "zoom_out", "fit", "one_to_one"):
            view.addAction(self.actions[key])
        view.addSeparator()
        self.wl_menu = view.addMenu("&Window/Level")
        self.wl_menu.addAction(self.actions["wl_reset"])
        self.wl_menu.addAction(self.actions["wl_auto"])
        self.wl_menu.addSeparator()
        self.preset_actions: dict[str, QAction] = {}
        for name, wl in PRESETS.items():
            action = self.wl_menu.addAction(f"{name}  ({wl.label()})")
            action.triggered.connect(lambda _=False, w=wl: self.image_view.set_window_level(w))
            self.preset_actions[name] = action
        view.addAction(self.actions["invert"])
        view.addAction(self.actions["overlay"])
        view.addSeparator()
        self.panels_menu = view.addMenu("&Panels")
        self.actions["panels"] = self.panels_menu.menuAction()  # a place to insert before (menu="view", before=)
        view.addAction(self.actions["reset_layout"])

        play = self.menus["playback"]
        for key in ("play", "step_back", "step_forward", "first", "last", "loop"):
            play.addAction(self.actions[key])

        self.tools_menu = self.menus["tools"]
        self.tool_group = QActionGroup(self)
        self.tool_group.setExclusive(True)
        self._tools_separator = self.tools_menu.addSeparator()  # Clear Measurements after it (measurements.py)

        self.menus["help"].addAction(self.actions["shortcuts"])

    def _build_help_actions(self) -> None:
        """Help ▸ Model Card (the loaded bundle's MODEL_CARD.md) and About, after the controllers' items."""
        help_menu = self.menus["help"]
        self._action("model_card", "&Model Card", None, self.show_model_card,
                     tip="The model bundle's own description: data, intended use, limits")
        help_menu.addAction(self.actions["model_card"])
        help_menu.addSeparator()
        help_menu.addAction(self.actions["about"])
        self.session.bundleChanged.connect(lambda _b: self._update_model_card_action())
        self._update_model_card_action()

    def _build_toolbar(self) -> None:
        tb = QToolBar("Main", self)
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        # A toolbar wider than the window ends in a » button with the rest (Qt's extension menu).
        tb.addAction(self.actions["open"])
        tb.addAction(self.actions["open_folder"])
        tb.addSeparator()
        self.toolbar_tools_anchor = tb.addSeparator()
        for key in ("fit", "one_to_one", "zoom_in", "zoom_out", "invert"):
            tb.addAction(self.actions[key])
        wl_button = QToolButton(tb)
        wl_button.setText("W/L")
        wl_button.setToolTip("Window/level presets (right-drag on the image adjusts it)")
        wl_button.setMenu(self.wl_menu)
        wl_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        tb.addWidget(wl_button)
        tb.addAction(self.actions["overlay"])
        for button in tb.findChildren(QToolButton):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)
        self.toolbar = tb
        # Qt's overflow button draws an icon the theme's padding hides: say it in text.
        for ext in tb.findChildren(QToolButton):
            if ext.metaObject().className() == "QToolBarExtension":
                ext.setObjectName("toolbarOverflow")
                ext.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
                ext.setText("»")
                ext.setToolTip("More tools")
                ext.setStyleSheet("QToolButton { padding: 0px 4px; font-weight: bold; }")
                ext.setMinimumWidth(18)

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.error_label = QLabel("", self)
        self.error_label.setObjectName("error")
        self.readout_label = QLabel("", self)
        self.readout_label.setObjectName("readout")
        self.readout_label.setMinimumWidth(330)
        self.wl_label = QLabel("", self)
        self.stats_label = QLabel("", self)
        self.stats_label.setObjectName("playbackStats")
        self.progress = QProgressBar(self)
        self.progress.setMaximumWidth(180)
        self.progress.setTextVisible(False)
        self.progress.hide()
        # Permanent widgets: temporary status messages never hide an error.
        for widget in (self.error_label, self.readout_label, self.wl_label, self.stats_label, self.progress):
            sb.addPermanentWidget(widget)

    def _wire(self) -> None:
        self.controls.frameRequested.connect(self.show_frame)
        self.controls.speedChanged.connect(self._on_speed)
        self.player.frameReady.connect(self._on_player_frame)
        self.player.playingChanged.connect(self._on_playing_changed)
        self.player.statsChanged.connect(self._on_stats)
        self.image_view.cursorMoved.connect(self._on_cursor)
        self.image_view.windowLevelChanged.connect(self._on_window_level)
        self.image_view.zoomChanged.connect(lambda _z: self._update_frame_overlay())
        self.browser.imageActivated.connect(self._on_browser_pick)
        self.runner.busyChanged.connect(self._on_busy)
        self.runner.progress.connect(self._on_progress)
        s = self.session
        s.imageChanged.connect(lambda image: self.cineChanged.emit(image.cine if image is not None else None))
        s.frameChanged.connect(self.frameChanged.emit)
        s.caseChanged.connect(self.caseChanged.emit)
        s.roisChanged.connect(self.roisChanged.emit)
        s.seriesChanged.connect(self._show_series)
        s.thumbnailReady.connect(self.browser.set_thumbnail)
        s.message.connect(lambda text, ms: self.statusBar().showMessage(text, ms))
        s.error.connect(self.report_error)
        for signal in (s.caseChanged, s.dirtyChanged, s.imageChanged, s.doc.pathChanged):
            signal.connect(lambda *_: self._update_title())

    def _restore_preferences(self) -> None:
        self.actions["loop"].setChecked(self.prefs.loop)
        self.player.set_loop(self.prefs.loop)
        self.actions["overlay"].setChecked(self.prefs.overlay_visible)
        self.image_view.set_overlay_visible(self.prefs.overlay_visible)
        self.controls.set_speed(self.prefs.speed)
        self.player.speed = float(self.controls.speed.currentData())

    # ===================================================================== extension points
    def add_panel(self, dock: QDockWidget, area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea) -> None:
        """Add a panel as a dock; it gets a toggle under View ▸ Panels. Give it an objectName."""
        if not dock.objectName():
            dock.setObjectName(dock.windowTitle() or f"panel{len(self.findChildren(QDockWidget))}")
        if dock.minimumWidth() < MIN_PANEL_WIDTH:
            dock.setMinimumWidth(MIN_PANEL_WIDTH)  # never crushed to a sliver; its content scrolls instead
        self.addDockWidget(area, dock)
        self.panels_menu.addAction(dock.toggleViewAction())

    def add_tool(self, tool: Tool, shortcut: str | None = None) -> QAction:
        """Register a mouse tool; it appears in the Tools menu and toolbar, exclusive with the others."""
        action = QAction(tool.label, self)
        action.setObjectName(f"tool_{tool.name}")
        action.setCheckable(True)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
            action.setToolTip(f"{tool.label} ({shortcut})")
        action.triggered.connect(lambda _=False, name=tool.name: self.set_tool(name))
        self.tool_group.addAction(action)
        self.tools_menu.insertAction(self._tools_separator, action)
        self.toolbar.insertAction(self.toolbar_tools_anchor, action)
        for button in self.toolbar.findChildren(QToolButton):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.addAction(action)
        self.actions[f"tool_{tool.name}"] = action
        self.tools[tool.name] = tool
        return action

    def set_tool(self, name: str) -> None:
        tool = self.tools[name]
        self.actions[f"tool_{name}"].setChecked(True)
        self.image_view.set_tool(tool)
        if name == "ruler" and self.cine is not None and self.cine.calibration is None:
            self.statusBar().showMessage("This image is uncalibrated: the ruler measures in pixels", 6000)

    # ===================================================================== layout
    def dock(self, name: str) -> QDockWidget | None:
        return self.findChild(QDockWidget, name)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if obj is self and event.type() == QEvent.Type.Show:
            self._on_first_show()
        return False

    def _on_first_show(self) -> None:
        """The default layout, or a check of the restored one, once the built window is first shown."""
        if self._layout_pending:
            self._layout_pending = False
            # After the show: QMainWindow leaves a stale tab bar on screen when docks are tabified before.
            QTimer.singleShot(0, self.reset_layout)
        elif self._check_layout_at_show:
            self._check_layout_at_show = False
            QTimer.singleShot(0, self._check_restored_layout)

    def reset_layout(self) -> None:
        """The default layout for the window's width: inputs on the left, results on the right, image between."""
        named = {d.objectName(): d for d in self.findChildren(QDockWidget)}
        left = [named[n] for n in ("seriesBrowser", "roiPanel", "factorsDock", "measurementsDock", "camDock", "curvesDock")
                if n in named]
        right = [named[n] for n in ("resultsDock", "nomogramDock") if n in named]
        for dock in left + right:
            dock.setFloating(False)
            dock.setMinimumWidth(max(dock.minimumWidth(), MIN_PANEL_WIDTH))
        for dock in left:
            self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        for dock in right:
            self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        # Left column: series / (ROIs | factors | measurements) / (Grad-CAM | curves); right: results over nomogram.
        browser, roi, factors, cam, curves = (named.get(n) for n in
                                              ("seriesBrowser", "roiPanel", "factorsDock", "camDock", "curvesDock"))
        if browser is not None and roi is not None:
            self.splitDockWidget(browser, roi, Qt.Orientation.Vertical)
        if roi is not None and cam is not None:
            self.splitDockWidget(roi, cam, Qt.Orientation.Vertical)
        if roi is not None and factors is not None:
            self.tabifyDockWidget(roi, factors)
        measurements = named.get("measurementsDock")
        if roi is not None and measurements is not None:
            self.tabifyDockWidget(factors or roi, measurements)
        if cam is not None and curves is not None:
            self.tabifyDockWidget(cam, curves)
        results, nomogram = named.get("resultsDock"), named.get("nomogramDock")
        if results is not None and nomogram is not None:
            self.splitDockWidget(results, nomogram, Qt.Orientation.Vertical)
        for dock in (browser, roi, cam, results, nomogram):
            if dock is not None:
                dock.show()
                dock.raise_()
        if nomogram is not None and self.session.bundle is not None:
            nomogram.setVisible(bool((self.session.manifest or {}).get("nomogram")))
        width, height = self.width(), self.height()
        left_w, right_w = default_dock_widths(width)
        if left and right:
            self.resizeDocks([left[0], right[0]], [left_w, right_w], Qt.Orientation.Horizontal)
        if results is not None and nomogram is not None:
            self.resizeDocks([results, nomogram], [height // 2, height // 2], Qt.Orientation.Vertical)
        column = [d for d in (browser, roi, cam) if d is not None]
        if len(column) == 3:
            self.resizeDocks(column, [int(height * 0.18), int(height * 0.42), int(height * 0.40)],
                             Qt.Orientation.Vertical)

    def layout_problems(self) -> list[str]:
        """What is wrong with the layout on screen: a docked panel narrower than its minimum, the image crushed."""
        problems = []
        for dock in self.findChildren(QDockWidget):
            if dock.isVisible() and not dock.isFloating() and dock.width() < MIN_PANEL_WIDTH - 2:
                problems.append(f"{plain_title(dock.windowTitle())} is {dock.width()} px wide")
        central = self.centralWidget()
        if central is not None and central.width() < MIN_CENTRAL_WIDTH - 2:
            problems.append(f"the image is {central.width()} px wide")
        return problems

    def _check_restored_layout(self) -> None:
        problems = self.layout_problems()
        if problems:
            log.info("saved layout not usable (%s): default layout", "; ".join(problems))
            self.reset_layout()
            self.statusBar().showMessage("The saved panel layout did not fit this window: panels reset", 8000)

    # ===================================================================== opening
    def open_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open images", self.prefs.last_dir, FILE_FILTER)
        if paths:
            self.open_paths(paths)

    def open_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open folder", self.prefs.last_dir)
        if path:
            self.open_paths([path])

    def open_paths(self, paths: Iterable[str | Path]) -> int:
        """Open files and/or folders (off the GUI thread). Returns the request id.

        Nothing on screen changes until something opened: a failed open keeps the case,
        image, series and title that were there, and says so."""
        from ultrasound_reader import case_rules
        from ultrasound_reader.dicom.sr import is_sr_file
        from ultrasound_reader.gui.scan import scan_paths

        paths = [str(p) for p in paths]
        if not paths or not self.case_ctl.may_leave_case():
            return 0
        case_file = case_rules.case_file_in(paths)
        if case_file is None and len(paths) == 1 and is_sr_file(paths[0]):
            case_file = Path(paths[0])  # a report this program exported: its ROIs and values on their images
        if case_file is not None:
            return self.case_ctl.open_case(case_file)
        self._scan_note = ""
        if len(paths) == 1 and not Path(paths[0]).is_dir():
            self.case_ctl.prepare_plain_open()
            return self.open_file(paths[0], remember=True, new_series=True)
        return self.runner.submit("open", scan_paths, paths, on_done=self._on_scanned,
                                  on_error=self._on_open_failed)

    def open_file(self, path: str, remember: bool = False, new_series: bool = False) -> int:
        """Open one image file: header and first frame in a worker, then shown."""
        self._remember = remember
        self._requested_path = str(path)
        self.statusBar().showMessage(f"Opening {Path(path).name}…")
        return self.runner.submit("open", _load_cine, str(path),
                                  on_done=lambda result, p=str(path), n=new_series: self._on_loaded(p, *result, n),
                                  on_error=self._on_open_failed,
                                  on_discard=lambda result: result[0].close())

    def _on_browser_pick(self, path: str) -> None:
        # A click moves the current row and clicks it: one request for the same file is enough.
        if path != self.current_path and path != self._requested_path:
            self.open_file(path)

    def _on_scanned(self, result: ScanResult) -> None:
        from ultrasound_reader.gui.session import Series, SeriesImage

        n_ok, n_bad = len(result.openable), len(result.problems)
        if not result.openable:
            reason = result.problems[0][1] if result.problems else "no DICOM or image files found"
            self._on_open_failed(f"Nothing to open: {reason}" if len(result.problems) <= 1
                                 else f"None of the {n_bad} files could be opened; first: {result.problems[0][1]}",
                                 True)
            return
        self.case_ctl.prepare_plain_open()
        self.session.set_series([Series(series.patient, series.study, series.label,
                                         [SeriesImage(i.path, i.label, i.tooltip) for i in series.images])
                                 for series in result.series], result.problems)
        for root in result.roots:
            self.prefs.add_recent(root)
        if result.roots:
            self.prefs.last_dir = str(Path(result.roots[0]).parent if Path(result.roots[0]).is_file() else result.roots[0])
        summary = f"{n_ok} image(s) found" + (f", {n_bad} could not be opened (see Series ▸ Problems)" if n_bad else "")
        if n_bad:
            self._scan_note = f"{n_bad} file(s) could not be opened"
            self.error_label.setText(self._scan_note)
        self.statusBar().showMessage(summary, 10000)
        self.runner.submit("thumbnails", _thumbnails, result.openable, on_done=self._on_thumbnails)
        self.open_file(result.openable[0])

    def _on_thumbnails(self, thumbs: list[tuple[str, np.ndarray | None]]) -> None:
        for path, thumb in thumbs:
            if thumb is not None:
                self.session.add_thumbnail(path, thumb)

    def _show_series(self) -> None:
        """The series browser shows the session's series (and the image on screen selected)."""
        self.browser.clear()
        for series in self.session.series:
            self.browser.add_series(series.patient, series.study, series.label, series.images)
            for path, thumb in series.thumbnails.items():
                self.browser.set_thumbnail(path, thumb)
        for path, reason in self.session.problems:
            self.browser.add_problem(path, reason)
        if self.current_path is not None:
            self.browser.select(self.current_path)

    def _on_loaded(self, path: str, cine: Cine, first: np.ndarray, thumb: np.ndarray, new_series: bool = False) -> None:
        from ultrasound_reader.gui import overlay_text
        from ultrasound_reader.gui.player import playback_fps
        from ultrasound_reader.gui.session import ImageOnScreen, Series, SeriesImage
        from ultrasound_reader.gui.windowing import IDENTITY

        self._close_cine()
        self._open_failed = None
        self._requested_path = None
        self.current_frame = 0
        self.error_label.setText(self._scan_note)  # a folder's problems stay noted while browsing it
        self.player.set_cine(cine)
        fps, self._fps_note = playback_fps(cine)
        self.controls.set_cine(cine.n_frames, cine.fps, self._fps_note)
        self.image_view.set_window_level(IDENTITY)
        self.wl_label.setText(IDENTITY.label())
        self.stats_label.setText("")
        self.image_view.calibration = cine.calibration
        self.image_view.set_frame(first, 0)
        self.image_view.set_overlay_text(
            tl=overlay_text.study_text(cine.metadata),
            tr=overlay_text.patient_text(cine.metadata),
            br=overlay_text.image_text(cine.metadata, cine.calibration),
        )
        if new_series or path not in self.session.series_paths():
            self.session.set_series([Series("Opened files", "", Path(path).parent.name or "/",
                                            [SeriesImage(path, Path(path).name)])])
        if path not in {p for s in self.session.series for p in s.thumbnails}:
            self.session.add_thumbnail(path, thumb)
        if getattr(self, "_remember", False):
            self.prefs.add_recent(path)
            self.prefs.last_dir = str(Path(path).parent)
        self.session.set_image(ImageOnScreen(path, cine))
        self.browser.select(path)
        self._update_frame_overlay()
        self._update_title()
        rate = "still image" if cine.n_frames == 1 else f"{cine.fps:.1f} fps" if cine.fps else self._fps_note
        cal = "calibrated" if cine.calibration is not None else "uncalibrated"
        self.statusBar().showMessage(f"Opened {Path(path).name}: {cine.n_frames} frame(s), {rate}, {cal}", 8000)
        # Decode ahead only after the first frame is on screen: the prefetch thread
        # would otherwise compete with the first paint for the GIL.
        QTimer.singleShot(PREFETCH_DELAY_MS, lambda c=cine: c is self.cine and self._prefetch_neighbours(self.current_frame))
        self._update_enabled()
        self.session.set_frame(0)

    def _on_open_failed(self, message: str, user_error: bool = True) -> None:
        """Nothing of the failed open reaches the screen: what was shown stays, and the message says so."""
        self._requested_path = None
        self.case_ctl.cancel_plain_open()
        if self.current_path is not None:
            case = self.session.case
            kept = f"case {case.case_id}" if case is not None else Path(self.current_path).name
            message = f"{message} — still showing {kept}"
        self._open_failed = message
        if self.current_path is not None:
            self.browser.select(self.current_path)  # the tree agrees with the viewer again
        self.report_error(message)

    def report_error(self, message: str) -> None:
        """Show an error in the status bar and a non-modal dialog; never raises."""
        self.last_error = message
        log.info("error shown to user: %s", message)
        self.error_label.setText(message if len(message) < 120 else message[:117] + "…")
        self.error_label.setToolTip(message)
        self.statusBar().clearMessage()
        self.error_box.setText(message)
        self.error_box.show()
        self.errorShown.emit(message)

    def cancel_loading(self) -> None:
        if self.runner.busy:
            self.runner.cancel("open")
            self.runner.cancel("thumbnails")
            self.statusBar().showMessage("Loading cancelled", 4000)

    def close_all(self) -> None:
        if not self.case_ctl.may_leave_case():
            return
        self.case_ctl.close_case()
        self._close_cine()
        self.wl_label.setText("")
        self.stats_label.setText("")
        self.readout_label.setText("")
        self.session.set_series([])
        self.controls.set_cine(0, None)
        self.image_view.clear("Open a DICOM file or folder\n\nFile ▸ Open (Ctrl+O), or drop files here")
        self._update_enabled()
        self._update_title()

    def _close_cine(self) -> None:
        self.player.set_cine(None)
        cine = self.cine
        if cine is not None:
            self.session.set_image(None)
            cine.close()

    def _update_title(self) -> None:
        case, path = self.session.case, self.current_path
        if path is None:
            self.setWindowTitle(APP_TITLE)
        elif case is None:
            self.setWindowTitle(f"{Path(path).name} — {APP_TITLE}")
        else:
            star = " *" if self.session.doc.dirty else ""
            self.setWindowTitle(f"{case.case_id}{star} · {Path(path).name} — {APP_TITLE}")

    # ===================================================================== frames
    @property
    def n_frames(self) -> int:
        return self.cine.n_frames if self.cine is not None else 0

    def show_frame(self, index: int) -> None:
        """Go to frame ``index``: shown at once when decoded, else decoded in a worker."""
        cine = self.cine
        if cine is None:
            return
        index = max(0, min(int(index), cine.n_frames - 1))
        self.current_frame = index
        self.controls.set_frame(index)
        if self.player.playing:
            self.player.seek(index)
        if cine.is_cached(index):
            self._display(index, cine.frame(index))
        else:
            self.frame_runner.submit("frame", _decode_frame, cine, index,
                                     on_done=lambda r: self._on_frame_decoded(*r),
                                     on_error=lambda message, _user, c=cine: self._on_frame_failed(c, message))
        if not self.player.playing:
            self._prefetch_neighbours(index)

    def step(self, delta: int) -> None:
        if self.cine is None:
            return
        if self.player.playing:
            self.player.pause()
        self._step_direction = 1 if delta > 0 else -1
        target = self.current_frame + delta
        if self.actions["loop"].isChecked():
            target %= self.cine.n_frames
        self.show_frame(target)

    def _on_frame_failed(self, cine: Cine, message: str) -> None:
        if cine is self.cine and not cine.closed:  # an error about a file already left is moot
            self.report_error(message)

    def _on_frame_decoded(self, cine: Cine, index: int, frame: np.ndarray) -> None:
        if cine is self.cine and index == self.current_frame:
            self._display(index, frame)

    def _display(self, index: int, frame: np.ndarray) -> None:
        self.image_view.set_frame(frame, index)
        self.controls.set_frame(index)
        self._update_frame_overlay()
        self.session.set_frame(index)

    def _prefetch_neighbours(self, index: int) -> None:
        cine = self.cine
        if cine is not None and cine.n_frames > 1:
            cine.prefetch(index + self._step_direction, count=NEIGHBOURS, step=self._step_direction,
                          wrap=self.actions["loop"].isChecked())

    # ===================================================================== playback
    def toggle_play(self) -> None:
        if self.cine is None or self.cine.n_frames < 2:
            return
        self.player.current = self.current_frame
        self.player.toggle()

    def _on_player_frame(self, index: int, frame: np.ndarray) -> None:
        self.current_frame = index
        self._display(index, frame)

    def _on_playing_changed(self, playing: bool) -> None:
        self.actions["play"].setText("❚❚ Pause" if playing else "▶ Play")
        if not playing:
            self.current_frame = self.player.current

    def _on_stats(self, stats: PlaybackStats) -> None:
        self.stats_label.setText(f"{stats.fps:.1f} fps · {stats.dropped} dropped")

    def _on_speed(self, speed: float) -> None:
        self.prefs.speed = speed
        self.player.set_speed(speed)

    def _on_loop(self, loop: bool) -> None:
        self.prefs.loop = loop
        self.player.set_loop(loop)

    # ===================================================================== view state
    def _on_overlay(self, visible: bool) -> None:
        self.prefs.overlay_visible = visible
        self.image_view.set_overlay_visible(visible)

    def auto_window_level(self) -> None:
        from ultrasound_reader.gui.windowing import auto_window

        if self.image_view.raw is not None:
            self.image_view.set_window_level(auto_window(self.image_view.raw))

    def _on_window_level(self, wl: Any) -> None:
        self.wl_label.setText(wl.label() + ("  inv" if self.image_view.inverted else ""))
        self._update_frame_overlay()

    def _update_frame_overlay(self) -> None:
        from ultrasound_reader.gui import overlay_text

        cine = self.cine
        if cine is None:
            return
        view = self.image_view
        # The frame on screen, which lags the requested one while a decode is under way.
        index = view.frame_index if view.frame_index is not None else self.current_frame
        text = overlay_text.frame_text(index, cine.n_frames, cine.frame_time_ms(index),
                                       cine.fps, view.window_level.label(), view.zoom_factor(), view.inverted)
        view.set_corner_text("bl", text)

    def _on_cursor(self, x: float, y: float) -> None:
        from ultrasound_reader.gui.measure import readout

        if math.isnan(x) or self.cine is None:
            self.readout_label.setText("")
            return
        self.readout_label.setText(readout(self.image_view.raw, x, y, self.cine.calibration))

    def _on_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)  # busy until the first progress report

    def _on_progress(self, channel: str, done: int, total: int, message: str) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
        if message and channel == "open":
            self.statusBar().showMessage(message)

    def _update_enabled(self) -> None:
        has = self.cine is not None
        multi = has and self.n_frames > 1
        for key in ("close", "zoom_in", "zoom_out", "fit", "one_to_one", "invert", "wl_reset", "wl_auto",
                    "clear_measurements"):
            self.actions[key].setEnabled(has)
        for key in ("play", "step_back", "step_forward", "first", "last", "loop"):
            self.actions[key].setEnabled(multi)

    # ===================================================================== recent files
    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.prefs.recent_files()
        for path in recent:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _=False, p=path: self.open_recent(p))
        if not recent:
            empty = self.recent_menu.addAction("No recent files")
            empty.setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear Recent", self._clear_recent)

    def open_recent(self, path: str) -> int:
        if not Path(path).exists():
            self.prefs.remove_recent(path)
            self.report_error(f"{path}: no longer exists (removed from recent files)")
            return 0
        return self.open_paths([path])

    def _clear_recent(self) -> None:
        self.prefs.clear_recent()

    # ===================================================================== drag and drop
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self.built and any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: Any) -> None:
        if self.built and event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    # ===================================================================== misc
    def _about(self) -> None:
        from ultrasound_reader import __version__

        QMessageBox.about(self, APP_TITLE,
                          f"{APP_TITLE} {__version__}\n\nResearch software. Not for clinical use.\n\n"
                          "Mouse: left-drag pans (or uses the active tool), right-drag sets window/level, "
                          "wheel zooms.\nEvery key: Help ▸ Keyboard Shortcuts (F1).")

    def shortcut_rows(self) -> list[tuple[str, str, str]]:
        """(menu, action, keys) for every action with a shortcut, read from the actions themselves."""
        where: dict[int, str] = {}
        for key, menu in self.menus.items():
            for action in _menu_actions(menu):
                where.setdefault(id(action), plain_title(menu.title()))
        rows = []
        for action in self.findChildren(QAction):
            keys = [k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts()]
            if not keys or not action.text():
                continue
            rows.append((where.get(id(action), "Window"), _action_name(action), ", ".join(keys)))
        order = {plain_title(MENU_TITLES[k]): i for i, k in enumerate(MENU_KEYS)}
        return sorted(set(rows), key=lambda r: (order.get(r[0], 99), r[1]))

    def show_shortcuts(self) -> QDialog:
        """Help ▸ Keyboard Shortcuts (F1): a sheet generated from the window's actions."""
        rows = self.shortcut_rows()
        html = ["<h3>Keyboard shortcuts</h3>",
                "<p>Mouse: left-drag pans (or uses the active tool), right-drag sets window/level, wheel zooms.</p>"]
        section = None
        for menu, text, keys in rows:
            if menu != section:
                if section is not None:
                    html.append("</table>")
                html.append(f"<h4>{menu}</h4><table cellspacing='0' cellpadding='2'>")
                section = menu
            html.append(f"<tr><td width='220'>{_html(text)}</td><td><b>{_html(keys)}</b></td></tr>")
        if section is not None:
            html.append("</table>")
        return self._text_dialog("shortcutsDialog", "Keyboard shortcuts", "".join(html), markdown=False)

    def show_model_card(self) -> QDialog | None:
        """Help ▸ Model Card: the loaded bundle's MODEL_CARD.md, as the bundle wrote it."""
        from ultrasound_reader.gui import verdict

        info = self.session.bundle_info
        if info is None:
            self.report_error("No model bundle loaded: nothing to show (Analysis ▸ Open Model Bundle…)")
            return None
        card = Path(info.path) / "MODEL_CARD.md"
        try:
            if card.stat().st_size > 1_000_000:
                raise ValueError("larger than 1 MB")
            text = card.read_text(encoding="utf-8")
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.report_error(f"{card}: cannot show the model card ({reason})")
            return None
        if self.session.bundle is not None:  # the signature verdict heads the card (gui/verdict.py)
            text = verdict.card_header(self.session.bundle) + text
        return self._text_dialog("modelCardDialog", f"Model card — {info.name} {info.version}", text, markdown=True)

    def _text_dialog(self, name: str, title: str, text: str, markdown: bool) -> QDialog:
        old = self.findChild(QDialog, name)
        if old is not None:
            old.close()
            old.deleteLater()
        dialog = QDialog(self)
        dialog.setObjectName(name)
        dialog.setWindowTitle(title)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        lay = QVBoxLayout(dialog)
        browser = QTextBrowser(dialog)
        browser.setObjectName("text")
        browser.setOpenExternalLinks(False)
        if markdown:
            browser.setMarkdown(text)
        else:
            browser.setHtml(text)
        lay.addWidget(browser)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, dialog)
        buttons.rejected.connect(dialog.close)
        lay.addWidget(buttons)
        dialog.resize(min(760, max(480, self.width() - 200)), min(720, max(420, self.height() - 120)))
        dialog.show()
        return dialog

    def _update_model_card_action(self) -> None:
        info = self.session.bundle_info
        action = self.actions["model_card"]
        action.setEnabled(info is not None)
        action.setText(f"&Model Card ({info.name})" if info is not None else "&Model Card")

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.built:  # closed while still the shell: nothing to save, nothing running
            super().closeEvent(event)
            return
        if not self.case_ctl.may_leave_case():
            event.ignore()
            return
        self.player.pause()
        self.runner.cancel("open")
        self.runner.cancel("thumbnails")
        self.pacs.shutdown()
        self.reading.shutdown()
        if not self.layout_problems():  # a crushed layout is not kept for the next start
            self.prefs.save_window_state(self.saveGeometry(), self.saveState(LAYOUT_VERSION))
            # where the image sits, so that the next start's shell shows its first frame there (cold_start.py)
            corner = self.image_view.mapTo(self, self.image_view.rect().topLeft())
            self.prefs.save_image_margins((self.width(), self.height()), (
                corner.x(), corner.y(), self.width() - corner.x() - self.image_view.width(),
                self.height() - corner.y() - self.image_view.height()))
        self.prefs.sync()
        self.runner.wait(5000)
        self.frame_runner.wait(5000)
        self._close_cine()
        super().closeEvent(event)


def _menu_actions(menu: QMenu) -> list[QAction]:
    out = []
    for action in menu.actions():
        out.append(action)
        if action.menu() is not None:
            out.extend(_menu_actions(action.menu()))
    return out


def _action_name(action: QAction) -> str:
    """An action's name in words: its tooltip's first part for symbol-only buttons ("|◀" → "First frame")."""
    fixed = {"undo": "Undo", "redo": "Redo"}  # their texts name the last edit
    if action.objectName() in fixed:
        return fixed[action.objectName()]
    text = plain_title(action.text()).replace("…", "")
    tip = action.toolTip().split(" (")[0]
    if tip and (not any(c.isalpha() for c in text) or text.split()[0] in ("◀", "▶", "❚❚") or
                text.split()[-1] == "▶"):
        return tip
    return text


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
