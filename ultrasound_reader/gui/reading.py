"""The reading workflow: model bundle, clinical factors, Analyse, results, nomogram, curves, Grad-CAM.

:class:`ReadingController` plugs the stand-alone panels into the main window and
keeps them on the case of the :class:`~.case_controller.CaseController`:

* the model bundle follows the case's task (the reader's last choice for that task,
  else the bundled demo); it loads in a worker, so torch is imported there, never at
  start-up. File ▸ Open Model Bundle… picks another; its task becomes the case's.
* the factors form shows the case's factors (prefilled with sex and age from DICOM
  where unknown), marks what the bundle's LBC fusion needs, and every edit goes to
  the case document (so the case counts as edited);
* Analyse (Ctrl+Enter, F5) runs in :class:`~.analysis.AnalysisController`; results,
  the nomogram's image score, the Grad-CAM maps and the ROI thumbnails come from the
  delivered result only. The results grey out when the ROIs or factors move away from
  what was analysed, and come back if an undo restores them.

It holds no model or statistics logic: the AI layer analyses, the stats layer scores
the nomogram, the panels show.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ultrasound_reader import case_rules
from ultrasound_reader.case import Case
from ultrasound_reader.errors import UserError
from ultrasound_reader.gui import theme
from ultrasound_reader.gui.analysis import AnalysisController, AnalysisRun, Inputs, rois_key
from ultrasound_reader.gui.bundles import BundleInfo, default_bundle, load_bundle_job, no_bundle_message, read_info
from ultrasound_reader.gui.cam_controls import CamControls
from ultrasound_reader.gui.cam_display import CamDisplay
from ultrasound_reader.gui.cam_view import CamThumbnails
from ultrasound_reader.gui.curves_view import CurvesView
from ultrasound_reader.gui.factors_form import FactorsForm, required_from_fusion
from ultrasound_reader.gui.results_panel import ResultsPanel

if TYPE_CHECKING:
    from ultrasound_reader.gui.main_window import MainWindow

log = logging.getLogger(__name__)

FACTORS_STALE = "Clinical factors changed since this analysis — the nomogram shows them; analyse again to update"
ROIS_CHANGED_RUNNING = "The ROIs changed during the analysis, so it was stopped"
STALL_TARGET_MS = 50.0
MIN_DOCK_WIDTH = 40  # the panels scroll sideways rather than widen the window (the image keeps its room)
CENTRAL_ROOM = 780  # width the image and its frame controls get before the results column does


def _dock(title: str, name: str, widget: QWidget, parent: QWidget) -> QDockWidget:
    dock = QDockWidget(title, parent)
    dock.setObjectName(name)
    dock.setWidget(widget)
    dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                     | QDockWidget.DockWidgetFeature.DockWidgetClosable
                     | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
    return dock


def _scrolled(widget: QWidget, horizontal: bool = False) -> QScrollArea:
    """``widget`` in a scroll area. ``horizontal``: it may scroll sideways instead of asking for its
    minimum width, so that the docks never force the window wider than the image needs."""
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded if horizontal
                                      else Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    if horizontal:
        area.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # the panel scrolls itself
    area.setMinimumWidth(MIN_DOCK_WIDTH)
    area.setWidget(widget)
    return area


class ReadingController(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.w = window
        self.ctl = window.case_ctl
        self.doc = window.case_ctl.doc
        self.bundle: Any = None  # ai.bundle.Bundle once loaded
        self.bundle_info: BundleInfo | None = None
        self._loading: BundleInfo | None = None
        self._loading_user = False
        self._no_bundle_task: str | None = None
        self.run: AnalysisRun | None = None  # the result on screen
        self.auto_analyse = False  # analyse once case and bundle are both ready (the demo start)
        self._generation = -1
        self._syncing = False
        self._prefilling = False
        self._refused = False  # the results panel shows a "Cannot analyse" from analyse()
        self._auto_scheduled = False
        self._link: Any = None  # nomogram_view.NomogramLink
        self.nomogram: Any = None  # nomogram_view.NomogramView, made with the first bundle
        # Dialog, replaceable (tests answer it directly).
        self.ask_bundle_dir = self._ask_bundle_dir_dialog

        self.analysis = AnalysisController(self.current_inputs, self)
        self._build_panels()
        self._build_actions()
        self._build_image_layers()
        self._wire()
        self._update_model_label()
        self._update_enabled()

    # ===================================================================== construction
    def _build_panels(self) -> None:
        w = self.w
        self.form = FactorsForm(self.ctl.default_task)
        self.factors_dock = _dock("Clinical factors", "factorsDock", _scrolled(self.form), w)

        self.results = ResultsPanel()
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        head = QWidget(box)
        head.setObjectName("analysisHeader")
        head.setStyleSheet(f"#analysisHeader {{ background: {theme.PANEL}; border-bottom: 1px solid {theme.BORDER}; }}")
        h = QHBoxLayout(head)
        h.setContentsMargins(6, 4, 6, 4)
        self.analyse_button = QPushButton("Analyse", head)
        self.analyse_button.setObjectName("analyseButton")
        self.analyse_button.setToolTip("Run the model bundle on the case (Ctrl+Enter, F5)")
        self.cancel_button = QPushButton("Cancel", head)
        self.cancel_button.setObjectName("cancelAnalysisButton")
        self.cancel_button.setToolTip("Stop the running analysis (Shift+F5)")
        self.model_label = QLabel("", head)
        self.model_label.setObjectName("bundleLabel")
        self.model_label.setStyleSheet(f"color: {theme.TEXT_DIM};")
        self.model_label.setWordWrap(True)
        h.addWidget(self.analyse_button)
        h.addWidget(self.cancel_button)
        h.addWidget(self.model_label, 1)
        lay.addWidget(head)
        # How the last analysis went (time, longest event-loop stall). Here rather than as a
        # permanent status-bar widget: a growing status bar would widen a window at its minimum
        # width and make the image refit under the reader's mouse.
        self.status_label = QLabel("", box)
        self.status_label.setObjectName("analysisStatus")
        self.status_label.setWordWrap(True)
        self.status_label.setStyleSheet(f"color: {theme.TEXT_DIM}; padding: 2px 8px; background: {theme.PANEL};")
        lay.addWidget(self.status_label)
        lay.addWidget(self.results, 1)
        self.results_dock = _dock("Results", "resultsDock", _scrolled(box, horizontal=True), w)

        self.nomogram_stack = QStackedWidget()
        self.nomogram_placeholder = QLabel("The nomogram of the model bundle appears here once a bundle is loaded.")
        self.nomogram_placeholder.setWordWrap(True)
        self.nomogram_placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.nomogram_placeholder.setStyleSheet(f"color: {theme.TEXT_DIM}; padding: 12px;")
        self.nomogram_stack.addWidget(self.nomogram_placeholder)
        self.nomogram_dock = _dock("Nomogram", "nomogramDock", _scrolled(self.nomogram_stack, True), w)

        self.curves = CurvesView()
        self.curves_dock = _dock("Calibration & decision curves", "curvesDock", _scrolled(self.curves, True), w)

        cam_box = QWidget()
        cam_lay = QVBoxLayout(cam_box)
        cam_lay.setContentsMargins(0, 0, 0, 0)
        cam_lay.setSpacing(0)
        self.cam = CamControls()
        self.thumbs = CamThumbnails()
        cam_lay.addWidget(self.cam)
        cam_lay.addWidget(self.thumbs)
        cam_lay.addStretch(1)
        self.cam_dock = _dock("Grad-CAM", "camDock", _scrolled(cam_box), w)

        # Left: what the reader puts in (series; ROIs | factors; Grad-CAM | curves). Right: what
        # comes out (results over the nomogram), without tabs, whose bars would set a minimum width.
        # The image keeps the middle.
        left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        w.add_panel(self.results_dock, right)
        w.add_panel(self.nomogram_dock, right)
        w.splitDockWidget(self.results_dock, self.nomogram_dock, Qt.Orientation.Vertical)
        w.add_panel(self.cam_dock, left)
        w.splitDockWidget(self.ctl.panel, self.cam_dock, Qt.Orientation.Vertical)
        w.add_panel(self.curves_dock, left)
        w.add_panel(self.factors_dock, left)
        # The tabs are made once the window is shown: QMainWindow leaves a stale tab bar on screen
        # when docks are tabified before. A saved layout (restored before the first show) wins.
        self._default_layout_pending = w.prefs.window_state()[1] is None
        w.installEventFilter(self)


    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if obj is self.w and event.type() == QEvent.Type.Show and self._default_layout_pending:
            self._default_layout_pending = False
            self._default_layout()
        return False

    def _default_layout(self) -> None:
        w = self.w
        w.tabifyDockWidget(self.cam_dock, self.curves_dock)
        w.tabifyDockWidget(self.ctl.panel, self.factors_dock)
        self.ctl.panel.raise_()
        self.cam_dock.raise_()
        # Widths: the image first. Narrow windows give the results column what the image can spare
        # (the frame controls need ~710 px), so nothing refits the image later under the mouse.
        width = w.width()
        left, right = (330, 440) if width >= 330 + 440 + CENTRAL_ROOM else (
            260, max(MIN_DOCK_WIDTH, min(440, width - 260 - CENTRAL_ROOM)))
        w.resizeDocks([w.browser, self.results_dock], [left, right], Qt.Orientation.Horizontal)
        w.resizeDocks([self.results_dock, self.nomogram_dock], [450, 470], Qt.Orientation.Vertical)
        w.resizeDocks([w.browser, self.ctl.panel, self.cam_dock], [170, 330, 420], Qt.Orientation.Vertical)

    def _action(self, key: str, text: str, shortcuts: list[str] | None, slot: Any, checkable: bool = False,
                tip: str = "") -> QAction:
        action = QAction(text, self.w)
        action.setObjectName(key)
        if shortcuts:
            action.setShortcuts([QKeySequence(s) for s in shortcuts])
        action.setCheckable(checkable)
        if tip:
            action.setToolTip(tip)
            action.setStatusTip(tip)
        (action.toggled if checkable else action.triggered).connect(slot)
        self.w.addAction(action)
        self.w.actions[key] = action
        return action

    def _build_actions(self) -> None:
        a = self._action
        self.act_analyse = a("analyse", "&Analyse", ["Ctrl+Return", "Ctrl+Enter", "F5"], lambda _=False: self.analyse(),
                             tip="Run the model bundle on the case (Ctrl+Enter, F5)")
        self.act_cancel = a("cancel_analysis", "&Cancel Analysis", ["Shift+F5"],
                            lambda _=False: self.cancel(), tip="Stop the running analysis (Shift+F5)")
        self.act_bundle = a("open_bundle", "Open Model &Bundle…", ["Ctrl+Shift+B"], lambda _=False: self.open_bundle_dialog(),
                            tip="Choose the model bundle folder to analyse with")
        self.act_cam = a("cam_overlay", "Show &Grad-CAM", ["G"], self.cam.toggle.setChecked, checkable=True,
                         tip="Grad-CAM heat map over the image (G)")
        self.act_side = a("cam_side_by_side", "&Side by Side (Image | Grad-CAM)", ["Shift+G"],
                          self.cam.side_by_side.setChecked, checkable=True,
                          tip="The image and the image with its heat map next to each other (Shift+G)")
        bar = self.w.menuBar()
        menus = {m.menu().title(): m for m in bar.actions() if m.menu() is not None}
        file_menu = menus["&File"].menu()
        file_menu.insertAction(self.w.actions["save"], self.act_bundle)
        file_menu.insertSeparator(self.w.actions["save"])
        menu = QMenu("&Analysis", self.w)
        bar.insertMenu(menus["&Help"], menu)
        for act in (self.act_analyse, self.act_cancel):
            menu.addAction(act)
        menu.addSeparator()
        menu.addAction(self.act_cam)
        menu.addAction(self.act_side)
        menu.addSeparator()
        menu.addAction(self.act_bundle)
        self.menu = menu
        tb = self.w.toolbar
        tb.addSeparator()
        tb.addAction(self.act_analyse)
        tb.addAction(self.act_cam)
        tb.addAction(self.act_side)
        self.analyse_button.clicked.connect(lambda: self.analyse())
        self.cancel_button.clicked.connect(lambda: self.cancel())

    def _build_image_layers(self) -> None:
        self.cams = CamDisplay(self.w, self.cam, self.thumbs, self.act_cam, self.act_side, self)
        self.layer, self.compare = self.cams.layer, self.cams.compare

    def _wire(self) -> None:
        w = self.w
        w.caseChanged.connect(self._on_case_changed)
        w.roisChanged.connect(self._on_rois_changed)
        w.cineChanged.connect(self._on_cine_changed)
        self.form.factorsChanged.connect(self._on_form_changed)
        self.results.roiActivated.connect(lambda rid, _image, _frame: self._go_to_roi(rid))
        self.thumbs.roiClicked.connect(self._go_to_roi)
        a = self.analysis
        a.started.connect(lambda _rid: self._on_started())
        a.progressed.connect(self._on_progress)
        a.finished.connect(self._on_finished)
        a.stallMeasured.connect(self._on_stall_measured)
        a.cancelled.connect(self._on_cancelled)
        a.failed.connect(self._on_failed)

    # ===================================================================== state
    @property
    def busy(self) -> bool:
        """Loading a bundle or analysing (the CLI's screenshot waits for it)."""
        return self.analysis.runner.busy or self._loading is not None or self._auto_scheduled

    def current_inputs(self, factors: Any = None) -> Inputs | None:
        case = self.doc.case
        if case is None:
            return None
        return Inputs(self.doc.generation, rois_key(case), factors if factors is not None else case.factors,
                      str(self.bundle.path) if self.bundle is not None else "")

    def _task(self) -> str:
        return self.doc.case.task if self.doc.case is not None else self.ctl.default_task

    # ===================================================================== the case
    def _on_case_changed(self, case: Case | None) -> None:
        if self.doc.generation != self._generation:  # another case
            self._generation = self.doc.generation
            self.analysis.cancel(emit=False)
            self._clear_result()
            self._sync_form(case, force=True)
            if case is not None:
                self._ensure_bundle(case.task)
                self._maybe_auto_analyse()
            else:
                self._update_model_label()
            self._update_enabled()
            return
        if case is None:
            return
        self._drop_refusal()
        self._sync_form(case)
        self._ensure_bundle(case.task)
        self._update_staleness()
        self._update_enabled()

    def _sync_form(self, case: Case | None, force: bool = False) -> None:
        task = case.task if case is not None else self.ctl.default_task
        self._syncing = True
        try:
            if self.form.task != task:
                self.form.set_task(task)
            if case is not None and (force or case.factors != self.form.factors()):
                self.form.set_factors(case.factors)
            elif case is None and force:
                self.form.clear()
        finally:
            self._syncing = False

    def _on_form_changed(self, factors: Any) -> None:
        if self._syncing or self.doc.case is None:
            return
        # The reader's edit makes the case edited; sex and age read from DICOM do not.
        self.doc.set_factors(factors, edit=not self._prefilling)

    def _on_cine_changed(self, cine: Any) -> None:
        if cine is not None and self.doc.case is not None:
            self._prefilling = True
            try:
                self.form.prefill_from_metadata(getattr(cine, "metadata", None))
            finally:
                self._prefilling = False

    def _drop_refusal(self) -> None:
        """The input changed after a "Cannot analyse": the reason may be gone, so is the message."""
        if not self._refused or self.results.state != "error":
            self._refused = False
            return
        self._refused = False
        if self.run is not None:
            self.results.set_result(self.run.result, self.bundle.manifest if self.bundle is not None else None,
                                    self.results.roi_labels)
            self._update_staleness()
        else:
            self.results.clear()

    def _on_rois_changed(self) -> None:
        self._drop_refusal()
        pending = self.analysis.pending_inputs
        if pending is not None:
            if not pending.same_case_and_rois(self.current_inputs()):
                self.analysis.cancel(ROIS_CHANGED_RUNNING)
        self._update_staleness()
        self._update_enabled()

    def _update_staleness(self) -> None:
        run = self.run
        if run is None:
            return
        now = self.current_inputs()
        if now is None or now.generation != run.inputs.generation:
            self._clear_result()
            return
        rois_stale = now.rois != run.inputs.rois
        factors_stale = now.factors != run.inputs.factors
        if rois_stale:
            self.results.set_stale(True)
        elif factors_stale:
            self.results.set_stale(True, FACTORS_STALE)
        else:
            self.results.set_stale(False)
        self.cams.set_stale(rois_stale)

    def _clear_result(self) -> None:
        self.run = None
        self.results.clear()
        self.cams.show_run(None, {})
        if self._link is not None:
            self._link.set_model_probabilities(None)

    # ===================================================================== the bundle
    def _ensure_bundle(self, task: str) -> None:
        if self.bundle_info is not None and self.bundle_info.task == task:
            return
        if self._loading is not None and self._loading.task == task:
            return
        if self.bundle is None and self._loading is None and self._no_bundle_task == task:
            return  # already told: none for this task
        remembered = self.w.prefs.qsettings.value(f"bundle/{task}", "") or None
        info = default_bundle(task, str(remembered) if remembered else None)
        if info is None:
            self._set_bundle(None)
            self._no_bundle_task = task
            self.auto_analyse = False
            self._update_model_label()
            self.w.statusBar().showMessage(no_bundle_message(task), 15000)
            return
        self.load_bundle(info.path)

    def load_bundle(self, path: str | Path, chosen: bool = False) -> int:
        """Load a bundle folder in the worker; ``chosen``: the reader picked it (its task becomes the case's)."""
        info = read_info(path)
        if info is None:
            self.w.report_error(f"{path}: not a model bundle (no readable manifest.json)")
            return 0
        self.analysis.cancel("The model bundle changed", emit=self.analysis.running)
        self._loading = info
        self._loading_user = chosen
        self._update_model_label()
        self._update_enabled()
        return self.analysis.runner.submit("bundle", load_bundle_job, str(info.path),
                                           on_done=lambda b, i=info: self._on_bundle_loaded(i, b),
                                           on_error=lambda m, _u, i=info: self._on_bundle_failed(i, m))

    def _on_bundle_loaded(self, info: BundleInfo, bundle: Any) -> None:
        chosen = self._loading_user
        self._loading = None
        self._set_bundle(bundle, info)
        if chosen:
            self.w.prefs.qsettings.setValue(f"bundle/{bundle.task}", str(info.path))
            if self._task() != bundle.task:
                self.ctl.set_task(bundle.task)  # tells the reader if the case's ROIs forbid it
        self.w.statusBar().showMessage(f"Model bundle {bundle.name} {bundle.version} loaded", 6000)
        self._maybe_auto_analyse()

    def _on_bundle_failed(self, info: BundleInfo, message: str) -> None:
        self._loading = None
        self.auto_analyse = False
        self._update_model_label()
        self._update_enabled()
        self.w.report_error(f"Model bundle {info.path.name} not loaded: {message}")

    def _set_bundle(self, bundle: Any, info: BundleInfo | None = None) -> None:
        if bundle is not None and self.bundle is bundle:
            return
        self.bundle = bundle
        self.bundle_info = info if bundle is not None else None
        self._no_bundle_task = None
        self._clear_result()
        manifest = bundle.manifest if bundle is not None else None
        task = bundle.task if bundle is not None else self._task()
        if self.form.task != self._task():
            self.form.set_task(self._task())
        try:
            self.form.set_required(required_from_fusion(bundle.fusion) if bundle is not None else [])
        except UserError as exc:  # a fusion term the form has no field for
            self.form.set_required([])
            self.w.report_error(f"model bundle {bundle.name}: {exc}")
        self.curves.set_manifest(manifest)
        self._set_nomogram(manifest, bundle.fusion if bundle is not None else None)
        self.results_dock.setWindowTitle("Results" if bundle is None else f"Results — {case_rules.TASK_LABELS.get(task, task)}")
        self._update_model_label()
        self._update_enabled()

    def _set_nomogram(self, manifest: dict[str, Any] | None, fusion: dict[str, Any] | None) -> None:
        if manifest is None:
            self.nomogram_stack.setCurrentWidget(self.nomogram_placeholder)
            return
        # Imported with the first bundle: it pulls in the statistics stack (pandas, scipy),
        # which start-up does not need; the bundle's loading has imported it already.
        from ultrasound_reader.gui.nomogram_view import NomogramView, connect_form_to_nomogram

        if self.nomogram is None:
            self.nomogram = NomogramView()
            self.nomogram_stack.addWidget(self.nomogram)
        if self._link is not None:
            self.form.factorsChanged.disconnect(self._link.update)
            self._link.deleteLater()
            self._link = None
        spec = manifest.get("nomogram")
        self.nomogram.set_spec(spec)
        if spec:
            self._link = connect_form_to_nomogram(self.form, self.nomogram, fusion)
        self.nomogram_stack.setCurrentWidget(self.nomogram)
        # A model without a nomogram (soft tissue) gives the column to the results; one with it
        # brings the dock back (View ▸ Panels toggles it either way).
        if bool(spec) != self.nomogram_dock.isVisible() and self.w.isVisible():
            self.nomogram_dock.setVisible(bool(spec))

    def open_bundle_dialog(self) -> None:
        start = str(self.bundle_info.path.parent) if self.bundle_info else str(Path(self.w.prefs.last_dir or "."))
        folder = self.ask_bundle_dir(start)
        if folder:
            self.load_bundle(folder, chosen=True)

    def _ask_bundle_dir_dialog(self, start: str) -> str | None:
        return QFileDialog.getExistingDirectory(self.w, "Open model bundle (a folder with manifest.json)", start) or None

    def _update_model_label(self) -> None:
        if self._loading is not None:
            text = f"Loading model {self._loading.name}…"
        elif self.bundle is not None:
            text = f"Model: {self.bundle.name} {self.bundle.version}"
        elif self._no_bundle_task is not None:
            text = f"No model bundle for task {self._no_bundle_task} — analysis unavailable"
        else:
            text = "No model bundle loaded"
        self.model_label.setText(text)
        self.model_label.setToolTip(str(self.bundle_info.path) if self.bundle_info else
                                    (no_bundle_message(self._no_bundle_task) if self._no_bundle_task else ""))
        if self.run is None and not self.analysis.running:
            self._set_status(text)

    # ===================================================================== analysing
    def analyse(self) -> int | None:
        """Start an analysis of the case on screen; None (with the reason shown) when it cannot run."""
        case = self.doc.case
        if case is None:
            return self._refuse("open a case (or images) first")
        if self._loading is not None and self._loading.task == case.task:
            self.auto_analyse = True
            self.w.statusBar().showMessage("The analysis starts when the model bundle has loaded", 6000)
            return None
        if self.bundle is None:
            return self._refuse(no_bundle_message(case.task))
        if self.bundle.task != case.task:
            return self._refuse(f"case {case.case_id} is a {case.task} case, but model bundle {self.bundle.name} "
                                f"is for {self.bundle.task}: open a {case.task} bundle (Analysis ▸ Open Model Bundle…)")
        try:
            factors = self.form.factors(strict=True)
        except UserError as exc:
            self.factors_dock.raise_()
            return self._refuse(str(exc))
        inputs = self.current_inputs(factors)
        assert inputs is not None
        self.results_dock.raise_()
        return self.analysis.start(self.bundle, case, inputs)

    def cancel(self) -> bool:
        return self.analysis.cancel()

    def _refuse(self, message: str) -> None:
        self._refused = True
        self.results.set_error(message, "Cannot analyse")
        self.results_dock.raise_()
        self.w.statusBar().showMessage(f"Cannot analyse: {message}", 10000)
        return None

    def _maybe_auto_analyse(self) -> None:
        case = self.doc.case
        if (self.auto_analyse and case is not None and self.bundle is not None and self._loading is None
                and self.bundle.task == case.task and not self.analysis.running):
            self.auto_analyse = False
            self._auto_scheduled = True
            QTimer.singleShot(0, self._auto_start)

    def _auto_start(self) -> None:
        self._auto_scheduled = False
        self.analyse()

    def _on_started(self) -> None:
        self._refused = False
        self.results.set_running(0.0, "starting")
        self._set_status("Analysing…")
        self._update_enabled()

    def _on_progress(self, fraction: float, message: str) -> None:
        self.results.set_running(fraction, message)

    def _on_cancelled(self, reason: str) -> None:
        self.results.set_cancelled(reason)
        self._set_status(reason)
        self._update_enabled()

    def _on_failed(self, message: str, user_error: bool) -> None:
        self._refused = user_error  # bad input: the message goes when the input changes
        self.results.set_error(message, "Cannot analyse" if user_error else "Analysis failed")
        self._set_status("Cannot analyse" if user_error else "Analysis failed")
        self.w.statusBar().showMessage(message, 10000)
        self._update_enabled()

    def _on_finished(self, run: AnalysisRun) -> None:
        self.run = run
        labels = case_rules.roi_labels(self.doc.case) if self.doc.case is not None else {}
        self.results.set_result(run.result, self.bundle.manifest if self.bundle is not None else None, labels)
        if self._link is not None:
            self._link.set_model_probabilities(run.result.probabilities)
        self.cams.show_run(run, labels)
        self._update_staleness()
        self._set_status(f"Analysed in {run.seconds:.1f} s")
        self._update_enabled()

    def _set_status(self, text: str) -> None:
        self.status_label.setText(text)
        self.status_label.setToolTip("")

    def _on_stall_measured(self, run: AnalysisRun) -> None:
        over = run.longest_stall_ms > STALL_TARGET_MS
        text = (f"Analysed in {run.seconds:.1f} s · longest UI stall {run.longest_stall_ms:.0f} ms"
                + (f" (over the {STALL_TARGET_MS:.0f} ms target)" if over else ""))
        self._set_status(text)
        self.w.statusBar().showMessage(text, 10000)
        self.status_label.setToolTip(
            f"Event loop measured every {self.analysis.stall.tick_ms} ms from Analyse until the result was "
            f"shown: longest stall {run.longest_stall_ms:.1f} ms, 99th percentile {run.stall_p99_ms:.1f} ms "
            f"over {run.ticks} ticks")

    @property
    def last_stall_ms(self) -> float | None:
        """Longest event-loop stall of the last delivered analysis (ms)."""
        return self.analysis.last_run.longest_stall_ms if self.analysis.last_run is not None else None

    def _go_to_roi(self, roi_id: str) -> None:
        case = self.doc.case
        if case is not None and any(r.id == roi_id for r in case.rois):
            self.ctl.go_to_roi(roi_id)
        else:
            self.w.statusBar().showMessage("That ROI is no longer in the case", 5000)

    # ===================================================================== misc
    def _update_enabled(self) -> None:
        running = self.analysis.running
        can = self.doc.case is not None and not running
        self.act_analyse.setEnabled(can)
        self.analyse_button.setEnabled(can)
        self.act_cancel.setEnabled(running)
        self.cancel_button.setEnabled(running)

    def show_demo(self) -> None:
        """The newcomer's start: analyse the demo case as soon as it and its bundle are in, overlay on."""
        self.auto_analyse = True
        self.cam.toggle.setChecked(True)
        self._maybe_auto_analyse()

    def shutdown(self) -> None:
        self.auto_analyse = False
        self.analysis.shutdown()
