"""The main window: image view in the centre, frame controls under it, panels in docks.

It turns gestures into calls on the dicom layer and shows what comes back; the
maths lives in Qt-free modules (windowing, playback, measure, overlay_text). Later
features plug in without rewriting it:

* panels (ROI list, clinical factors, results, nomogram) are docks added with
  :meth:`MainWindow.add_panel`, listed under View ▸ Panels and saved with the layout;
* mouse tools (ROI shapes) join the exclusive tool group with :meth:`MainWindow.add_tool`;
* overlays (Grad-CAM heatmaps, ROIs) are items added to ``image_view`` with
  :meth:`~.image_view.ImageView.add_layer`, in image pixel coordinates;
* long work goes through ``self.runner`` on its own channel, whose request ids
  keep a late result off a case the user has since left (the analysis has its
  own runner, see reading.py / analysis.py);
* ``cineChanged`` and ``frameChanged`` tell panels what is on screen.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QSplitter,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ultrasound_reader import case_rules
from ultrasound_reader.dicom import Cine, open_cine
from ultrasound_reader.errors import CancelledError
from ultrasound_reader.gui import overlay_text
from ultrasound_reader.gui.case_controller import CaseController
from ultrasound_reader.gui.frame_controls import FrameControls
from ultrasound_reader.gui.image_view import ImageView
from ultrasound_reader.gui.measure import readout
from ultrasound_reader.gui.player import Player, playback_fps
from ultrasound_reader.gui.playback import PlaybackStats
from ultrasound_reader.gui.dual_view import DualViewController
from ultrasound_reader.gui.measurements import MeasurementsController
from ultrasound_reader.gui.reading import ReadingController
from ultrasound_reader.gui.scan import ScanResult, scan_paths
from ultrasound_reader.gui.series_browser import BrowserImage, SeriesBrowser
from ultrasound_reader.gui.settings import Preferences, default_settings
from ultrasound_reader.gui.tools import NavigateTool, RulerTool, Tool
from ultrasound_reader.gui.windowing import IDENTITY, PRESETS, auto_window
from ultrasound_reader.gui.workers import Job, TaskRunner

log = logging.getLogger(__name__)

APP_TITLE = "Ultrasound Reader"
FILE_FILTER = "DICOM, images and cases (*.dcm *.dicom *.DCM *.png *.jpg *.jpeg DICOMDIR *.json);;All files (*)"
NEIGHBOURS = 12  # frames decoded ahead of a stepping user
THUMB_SIZE = 96
PREFETCH_DELAY_MS = 40


def _load_cine(job: Job, path: str) -> tuple[Cine, np.ndarray, np.ndarray]:
    """Worker: open a file, decode its first frame and make its thumbnail (none of it on the GUI thread)."""
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


class MainWindow(QMainWindow):
    cineChanged = Signal(object)  # Cine | None
    frameChanged = Signal(int)
    errorShown = Signal(str)
    caseChanged = Signal(object)  # Case | None: another case, or its task/images/factors changed
    roisChanged = Signal()  # an ROI of the case was added, removed or edited (results go stale)

    def __init__(self, settings: QSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(APP_TITLE)
        self.setObjectName("mainWindow")
        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)
        self.prefs = Preferences(settings if settings is not None else default_settings())
        self.runner = TaskRunner(max_threads=2, parent=self)  # opening, scanning, thumbnails
        self.frame_runner = TaskRunner(max_threads=1, parent=self)  # frames for scrubbing/stepping
        self.cine: Cine | None = None
        self.current_path: str | None = None
        self.current_frame = 0
        self.last_error = ""
        self._step_direction = 1
        self._fps_note = ""
        self._scan_note = ""
        self._remember = False

        self.image_view = ImageView(self)
        self.player = Player(self)
        self.actions: dict[str, QAction] = {}
        self._build_actions()
        self.controls = FrameControls(self.actions, self)
        central = QWidget(self)
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
        self.resizeDocks([self.browser], [290], Qt.Orientation.Horizontal)

        self.error_box = QMessageBox(QMessageBox.Icon.Warning, APP_TITLE, "", QMessageBox.StandardButton.Ok, self)
        self.error_box.setWindowModality(Qt.WindowModality.NonModal)  # reading goes on; tests can read it

        self.tools: dict[str, Tool] = {}
        self.navigate_tool = NavigateTool(self)
        self.ruler = RulerTool(self)
        self.ruler.measured.connect(lambda d: self.statusBar().showMessage(f"Distance: {d.label()}", 8000))
        self.add_tool(self.navigate_tool, "N")
        self.add_tool(self.ruler, "M")
        self.ruler.view = self.image_view
        self.set_tool("navigate")
        # The case document, ROI tools, ROI dock and frame strip (case_controller.py).
        self.case_ctl = CaseController(self)
        # Model bundle, clinical factors, analysis, results, nomogram, curves, Grad-CAM (reading.py).
        self.reading = ReadingController(self)
        # Calipers (ruler and ellipse area) saved in the case, listed in a panel (measurements.py).
        self.measurements = MeasurementsController(self)
        # View ▸ Two Viewports (1×2): a second case image beside this one, zoom/pan linked (dual_view.py).
        self.dual_view = DualViewController(self)

        self._wire()
        self._restore_preferences()
        self._update_enabled()
        self.resize(*self._default_size())
        geometry, state = self.prefs.window_state()
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)

    # ===================================================================== construction
    def _default_size(self) -> tuple[int, int]:
        """Up to 1600x1000 where the screen allows (image, ROI/factors column, results column), at least 1280x820."""
        screen = self.screen() or QApplication.primaryScreen()
        avail = screen.availableGeometry() if screen is not None else None
        if avail is None:
            return 1280, 820
        return (max(1280, min(1600, int(avail.width() * 0.92))), max(820, min(1000, int(avail.height() * 0.92))))

    def _action(self, key: str, text: str, shortcut: QKeySequence | str | Sequence[str] | None = None,
                slot: Any = None, checkable: bool = False, tip: str = "") -> QAction:
        action = QAction(text, self)
        action.setObjectName(key)
        if shortcut is not None:
            if isinstance(shortcut, (list, tuple)):
                action.setShortcuts([QKeySequence(s) for s in shortcut])
            else:
                action.setShortcut(QKeySequence(shortcut))
        action.setCheckable(checkable)
        if tip:
            action.setToolTip(tip)
            action.setStatusTip(tip)
        if slot is not None:
            (action.toggled if checkable else action.triggered).connect(slot)
        self.addAction(action)  # shortcuts work whatever has focus, menus or not
        self.actions[key] = action
        return action

    def _build_actions(self) -> None:
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
        a("clear_measurements", "&Clear Measurements", "Shift+Del", self.ruler_clear)
        a("cancel", "Cancel Loading", "Esc", self.cancel_loading)
        a("about", "&About", None, self._about)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        for key in ("open", "open_folder"):
            file_menu.addAction(self.actions[key])
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.setObjectName("recentMenu")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._fill_recent_menu()
        file_menu.addSeparator()
        file_menu.addAction(self.actions["close"])
        file_menu.addAction(self.actions["quit"])

        view = self.view_menu = bar.addMenu("&View")
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

        play = bar.addMenu("&Playback")
        for key in ("play", "step_back", "step_forward", "first", "last", "loop"):
            play.addAction(self.actions[key])

        self.tools_menu = bar.addMenu("&Tools")
        self.tool_group = QActionGroup(self)
        self.tool_group.setExclusive(True)
        self._tools_separator = self.tools_menu.addSeparator()
        self.tools_menu.addAction(self.actions["clear_measurements"])

        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.actions["about"])

    def _build_toolbar(self) -> None:
        tb = QToolBar("Main", self)
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
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
        self.browser.imageActivated.connect(self.open_file)
        self.runner.busyChanged.connect(self._on_busy)
        self.runner.progress.connect(self._on_progress)

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
        """Open files and/or folders (off the GUI thread). Returns the request id."""
        paths = [str(p) for p in paths]
        if not paths or not self.case_ctl.may_leave_case():
            return 0
        case_file = case_rules.case_file_in(paths)
        if case_file is not None:
            return self.case_ctl.open_case(case_file)
        self.case_ctl.prepare_plain_open()
        self._scan_note = ""
        if len(paths) == 1 and not Path(paths[0]).is_dir():
            self.browser.clear()
            return self.open_file(paths[0], remember=True)
        return self.runner.submit("open", scan_paths, paths, on_done=self._on_scanned,
                                  on_error=self._on_open_failed)

    def open_file(self, path: str, remember: bool = False) -> int:
        """Open one image file: header and first frame in a worker, then shown."""
        self._remember = remember
        self.statusBar().showMessage(f"Opening {Path(path).name}…")
        return self.runner.submit("open", _load_cine, str(path),
                                  on_done=lambda result, p=str(path): self._on_loaded(p, *result),
                                  on_error=self._on_open_failed,
                                  on_discard=lambda result: result[0].close())

    def _on_scanned(self, result: ScanResult) -> None:
        self.browser.clear()
        for series in result.series:
            self.browser.add_series(series.patient, series.study, series.label,
                                    [BrowserImage(i.path, i.label, i.tooltip) for i in series.images])
        for path, reason in result.problems:
            self.browser.add_problem(path, reason)
        for root in result.roots:
            self.prefs.add_recent(root)
        if result.roots:
            self.prefs.last_dir = str(Path(result.roots[0]).parent if Path(result.roots[0]).is_file() else result.roots[0])
        n_ok, n_bad = len(result.openable), len(result.problems)
        summary = f"{n_ok} image(s) found" + (f", {n_bad} could not be opened (see Series ▸ Problems)" if n_bad else "")
        if n_bad:
            self._scan_note = f"{n_bad} file(s) could not be opened"
            self.error_label.setText(self._scan_note)
        if not result.openable:
            reason = result.problems[0][1] if result.problems else "no DICOM or image files found"
            self.report_error(f"Nothing to open: {reason}" if len(result.problems) <= 1
                              else f"None of the {n_bad} files could be opened; first: {result.problems[0][1]}")
            return
        self.statusBar().showMessage(summary, 10000)
        self.runner.submit("thumbnails", _thumbnails, result.openable, on_done=self._on_thumbnails)
        self.open_file(result.openable[0])

    def _on_thumbnails(self, thumbs: list[tuple[str, np.ndarray | None]]) -> None:
        for path, thumb in thumbs:
            if thumb is not None:
                self.browser.set_thumbnail(path, thumb)

    def _on_loaded(self, path: str, cine: Cine, first: np.ndarray, thumb: np.ndarray) -> None:
        self._close_cine()
        self.cine = cine
        self.current_path = path
        self.current_frame = 0
        self.error_label.setText(self._scan_note)  # a folder's problems stay noted while browsing it
        self.player.set_cine(cine)
        fps, self._fps_note = playback_fps(cine)
        self.controls.set_cine(cine.n_frames, cine.fps, self._fps_note)
        self.ruler.clear()
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
        self._update_frame_overlay()
        if not self.browser.paths() or path not in self.browser.paths():
            self.browser.clear()
            self.browser.add_series("Opened files", "", Path(path).parent.name or "/",
                                    [BrowserImage(path, Path(path).name)])
        if not self.browser.has_thumbnail(path):
            self.browser.set_thumbnail(path, thumb)
        self.browser.select(path)
        if getattr(self, "_remember", False):
            self.prefs.add_recent(path)
            self.prefs.last_dir = str(Path(path).parent)
        self.setWindowTitle(f"{Path(path).name} — {APP_TITLE}")
        rate = "still image" if cine.n_frames == 1 else f"{cine.fps:.1f} fps" if cine.fps else self._fps_note
        cal = "calibrated" if cine.calibration is not None else "uncalibrated"
        self.statusBar().showMessage(f"Opened {Path(path).name}: {cine.n_frames} frame(s), {rate}, {cal}", 8000)
        # Decode ahead only after the first frame is on screen: the prefetch thread
        # would otherwise compete with the first paint for the GIL.
        QTimer.singleShot(PREFETCH_DELAY_MS, lambda c=cine: c is self.cine and self._prefetch_neighbours(self.current_frame))
        self._update_enabled()
        self.cineChanged.emit(cine)
        self.frameChanged.emit(0)

    def _on_open_failed(self, message: str, user_error: bool) -> None:
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
        self.browser.clear()
        self.ruler.clear()
        self.controls.set_cine(0, None)
        self.image_view.clear("Open a DICOM file or folder\n\nFile ▸ Open (Ctrl+O), or drop files here")
        self.setWindowTitle(APP_TITLE)
        self._update_enabled()
        self.cineChanged.emit(None)

    def _close_cine(self) -> None:
        self.player.set_cine(None)
        if self.cine is not None:
            self.cine.close()
        self.cine = None
        self.current_path = None

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
        self.frameChanged.emit(index)

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
        if self.image_view.raw is not None:
            self.image_view.set_window_level(auto_window(self.image_view.raw))

    def ruler_clear(self) -> None:
        self.ruler.clear()

    def _on_window_level(self, wl: Any) -> None:
        self.wl_label.setText(wl.label() + ("  inv" if self.image_view.inverted else ""))
        self._update_frame_overlay()

    def _update_frame_overlay(self) -> None:
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
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: Any) -> None:
        if event.mimeData().hasUrls():
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
                          "wheel zooms.\nKeys: Space play/pause, ←/→ step, Home/End, +/- zoom, F fit, "
                          "1 for 1:1, I invert, M ruler, N navigate, O overlay, A auto W/L, R reset W/L.")

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.case_ctl.may_leave_case():
            event.ignore()
            return
        self.player.pause()
        self.runner.cancel("open")
        self.runner.cancel("thumbnails")
        self.reading.shutdown()
        self.prefs.save_window_state(self.saveGeometry(), self.saveState())
        self.prefs.sync()
        self.runner.wait(5000)
        self.frame_runner.wait(5000)
        self._close_cine()
        super().closeEvent(event)

