"""The reading workflow's panels: model bundle, clinical factors, Analyse, results, nomogram, curves, Grad-CAM.

:class:`ReadingController` adds its docks and actions through the narrow
:class:`~.shell.Shell` and shows the :class:`~.session.ReadingSession`: the bundle
and its loading, the analysis and its state, what changed since it. It keeps no
reading state of its own — the session decides; this module draws:

* the factors form shows the case's factors (prefilled with sex and age from DICOM
  where unknown), marks what the bundle's LBC fusion needs, and every edit goes to
  the session (so the case counts as edited);
* Analyse (F5, Ctrl+Enter) asks the session; results, the nomogram's image score,
  the Grad-CAM maps and the ROI thumbnails come from the delivered result only;
* when the session says the result is stale, every result view says what changed:
  the results grey out, the nomogram greys (or, when only the factors changed, says
  it shows the current factors), the Grad-CAM maps go, the curves say so;
* a demo bundle's "not for clinical use" status shows as soon as it is loaded, and a
  caution stands next to the probability when the bundle's own external calibration
  is poor (see caution.py).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QSignalBlocker, Qt
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QFrame,
    QGraphicsOpacityEffect,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ultrasound_reader import case_rules
from ultrasound_reader.case import Case
from ultrasound_reader.errors import UserError
from ultrasound_reader.gui import theme, verdict
from ultrasound_reader.gui.analysis import AnalysisController, AnalysisRun, Inputs
from ultrasound_reader.gui.bundles import no_bundle_message
from ultrasound_reader.gui.cam_controls import CamControls
from ultrasound_reader.gui.cam_display import CamDisplay
from ultrasound_reader.gui.cam_view import CamThumbnails
from ultrasound_reader.gui.curves_view import CurvesView
from ultrasound_reader.gui.factors_form import FactorsForm, required_from_fusion
from ultrasound_reader.gui.results_panel import ResultsPanel
from ultrasound_reader.gui.session import FACTORS, Failure, ImageOnScreen, ReadingSession, SessionState, stale_text
from ultrasound_reader.gui.shell import escape_mnemonic

if TYPE_CHECKING:
    from ultrasound_reader.gui.shell import Shell

log = logging.getLogger(__name__)

STALL_TARGET_MS = 50.0
FACTORS_ONLY_NOMOGRAM = ("Clinical factors changed since the analysis: the nomogram shows the current factors "
                         "(what-if); the Results show the analysed ones — analyse again to update both")
CURVES_TITLE = "Calibration & decision curves"


def _dock(title: str, name: str, widget: QWidget, parent: QWidget) -> QDockWidget:
    dock = QDockWidget(escape_mnemonic(title), parent)  # "&" shown as "&" in the title, tab and menu
    dock.setObjectName(name)
    dock.setWidget(widget)
    dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                     | QDockWidget.DockWidgetFeature.DockWidgetClosable
                     | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
    return dock


def _scrolled(widget: QWidget, horizontal: bool = False) -> QScrollArea:
    """``widget`` in a scroll area. ``horizontal``: it may scroll sideways below its minimum width."""
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded if horizontal
                                      else Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    if horizontal:
        area.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # the panel scrolls itself
    area.setWidget(widget)
    return area


def _note_label(name: str, parent: QWidget | None = None) -> QLabel:
    """The stale banner every result view carries (hidden while the result is current)."""
    label = QLabel("", parent)
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setStyleSheet(f"color: {theme.ACCENT}; background: {theme.PANEL}; font-weight: bold; padding: 4px 8px; "
                        f"border-bottom: 1px solid {theme.BORDER};")
    label.hide()
    return label


def _with_note(widget: QWidget, note: QLabel) -> QWidget:
    box = QWidget()
    lay = QVBoxLayout(box)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.setSpacing(0)
    lay.addWidget(note)
    lay.addWidget(widget, 1)
    return box


class ReadingController(QObject):
    def __init__(self, shell: Shell, session: ReadingSession) -> None:
        super().__init__(session)
        self.shell = shell
        self.session = session
        self.doc = session.doc
        self._link: Any = None  # nomogram_view.NomogramLink
        self.nomogram: Any = None  # nomogram_view.NomogramView, made with the first bundle
        # Dialog, replaceable (tests answer it directly).
        self.ask_bundle_dir = self._ask_bundle_dir_dialog

        session.read_factors = lambda: self.form.factors(strict=True)
        self._build_panels()
        self._build_actions()
        self.cams = CamDisplay(shell, session, self.cam, self.thumbs, self.act_cam, self.act_side, self)
        self.layer, self.compare = self.cams.layer, self.cams.compare
        self._wire()
        self._on_bundle_changed(session.bundle)
        self._update_model_label()
        self._update_enabled()

    # ===================================================================== the session's (read-only views)
    @property
    def analysis(self) -> AnalysisController:
        return self.session.analysis

    @property
    def bundle(self) -> Any:
        return self.session.bundle

    @property
    def bundle_info(self) -> Any:
        return self.session.bundle_info

    @property
    def run(self) -> AnalysisRun | None:
        return self.session.run

    @property
    def busy(self) -> bool:
        """Loading a bundle or analysing (the CLI's screenshot waits for it)."""
        return self.session.busy

    @property
    def last_stall_ms(self) -> float | None:
        return self.session.last_stall_ms

    def current_inputs(self, factors: Any = None) -> Inputs | None:
        return self.session.current_inputs(factors)

    # ===================================================================== construction
    def _build_panels(self) -> None:
        parent = self.shell.dialog_parent()
        self.form = FactorsForm(self.session.task)
        self.factors_dock = _dock("Clinical factors", "factorsDock", _scrolled(self.form), parent)

        self.results = ResultsPanel()
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        head = QWidget(box)
        head.setObjectName("analysisHeader")
        head.setStyleSheet(f"#analysisHeader {{ background: {theme.PANEL}; border-bottom: 1px solid {theme.BORDER}; }}")
        # Analyse / Cancel, and under them the model line (name, version, signature verdict) at full width.
        v = QVBoxLayout(head)
        v.setContentsMargins(6, 4, 6, 4)
        v.setSpacing(2)
        h = QHBoxLayout()
        h.setContentsMargins(0, 0, 0, 0)
        v.addLayout(h)
        self.analyse_button = QPushButton("Analyse", head)
        self.analyse_button.setObjectName("analyseButton")
        self.analyse_button.setToolTip("Run the model bundle on the case (F5, Ctrl+Enter)")
        self.cancel_button = QPushButton("Cancel", head)
        self.cancel_button.setObjectName("cancelAnalysisButton")
        self.cancel_button.setToolTip("Stop the running analysis (Shift+F5)")
        self.model_label = QLabel("", head)
        self.model_label.setObjectName("bundleLabel")
        self.model_label.setStyleSheet(f"color: {theme.TEXT_DIM};")
        self.model_label.setWordWrap(True)
        h.addWidget(self.analyse_button)
        h.addWidget(self.cancel_button)
        h.addStretch(1)
        v.addWidget(self.model_label)
        # Two lines at least: a narrow column wraps the line, and a short dock must not clip it.
        self.model_label.setMinimumHeight(2 * self.model_label.fontMetrics().lineSpacing() + 2)
        lay.addWidget(head)
        # How the last analysis went (time, longest event-loop stall).
        self.status_label = QLabel("", box)
        self.status_label.setObjectName("analysisStatus")
        self.status_label.setWordWrap(True)
        self.status_label.setStyleSheet(f"color: {theme.TEXT_DIM}; padding: 2px 8px; background: {theme.PANEL};")
        lay.addWidget(self.status_label)
        lay.addWidget(self.results, 1)
        # Buttons other controllers offer on a result (Export…, Send to PACS…): add_result_action.
        self.result_actions_row = QWidget(box)
        self.result_actions_row.setObjectName("resultActions")
        QHBoxLayout(self.result_actions_row).setContentsMargins(6, 4, 6, 4)
        self.result_actions_row.hide()
        lay.addWidget(self.result_actions_row)
        self.results_dock = _dock("Results", "resultsDock", _scrolled(box, horizontal=True), parent)

        self.nomogram_stack = QStackedWidget()
        self.nomogram_placeholder = QLabel("The nomogram of the model bundle appears here once a bundle is loaded.")
        self.nomogram_placeholder.setWordWrap(True)
        self.nomogram_placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.nomogram_placeholder.setStyleSheet(f"color: {theme.TEXT_DIM}; padding: 12px;")
        self.nomogram_stack.addWidget(self.nomogram_placeholder)
        self.nomogram_note = _note_label("nomogramStale")
        self.nomogram_dock = _dock("Nomogram", "nomogramDock",
                                   _with_note(_scrolled(self.nomogram_stack, True), self.nomogram_note), parent)

        self.curves = CurvesView()
        self.curves_note = _note_label("curvesStale")
        self.curves_dock = _dock(CURVES_TITLE, "curvesDock", _with_note(_scrolled(self.curves, True), self.curves_note),
                                 parent)

        cam_box = QWidget()
        cam_lay = QVBoxLayout(cam_box)
        cam_lay.setContentsMargins(0, 0, 0, 0)
        cam_lay.setSpacing(0)
        self.cam = CamControls()
        self.thumbs = CamThumbnails()
        cam_lay.addWidget(self.cam)
        cam_lay.addWidget(self.thumbs)
        cam_lay.addStretch(1)
        self.cam_note = _note_label("camStale")
        self.cam_dock = _dock("Grad-CAM", "camDock", _with_note(_scrolled(cam_box), self.cam_note), parent)

        # Left: what the reader puts in; right: what comes out. The window arranges them (reset_layout).
        left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        for dock, area in ((self.results_dock, right), (self.nomogram_dock, right), (self.cam_dock, left),
                           (self.curves_dock, left), (self.factors_dock, left)):
            self.shell.add_panel(dock, area)

    def _build_actions(self) -> None:
        sh = self.shell
        # F5 first: the menu shows an action's first shortcut.
        self.act_bundle = sh.add_action("open_bundle", "Open Model &Bundle…", ["Ctrl+Shift+B"],
                                        lambda _=False: self.open_bundle_dialog(), menu="file", before="save",
                                        tip="Choose the model bundle folder to analyse with")
        sh.add_separator("file", before="save")
        self.act_analyse = sh.add_action("analyse", "&Analyse", ["F5", "Ctrl+Return", "Ctrl+Enter"],
                                         lambda _=False: self.analyse(), menu="analysis", toolbar=True,
                                         tip="Run the model bundle on the case (F5, Ctrl+Enter)")
        self.act_cancel = sh.add_action("cancel_analysis", "&Cancel Analysis", ["Shift+F5"],
                                        lambda _=False: self.cancel(), menu="analysis",
                                        tip="Stop the running analysis (Shift+F5)")
        sh.add_separator("analysis")
        self.act_cam = sh.add_action("cam_overlay", "Show &Grad-CAM", ["G"], lambda on: self.cam.toggle.setChecked(on),
                                     menu="analysis", toolbar=True, checkable=True,
                                     tip="Grad-CAM heat map over the image (G)")
        self.act_side = sh.add_action("cam_side_by_side", "&Side by Side (Image | Grad-CAM)", ["Shift+G"],
                                      lambda on: self.cam.side_by_side.setChecked(on), menu="analysis", toolbar=True,
                                      checkable=True,
                                      tip="The image and the image with its heat map next to each other (Shift+G)")
        sh.add_separator("analysis")
        sh.menu("analysis").addAction(self.act_bundle)
        self.menu = sh.menu("analysis")
        self.analyse_button.clicked.connect(lambda: self.analyse())
        self.cancel_button.clicked.connect(lambda: self.cancel())

    def _wire(self) -> None:
        s = self.session
        s.caseChanged.connect(self._on_case_changed)
        s.imageChanged.connect(self._on_image_changed)
        s.bundleChanged.connect(self._on_bundle_changed)
        s.bundleLoading.connect(lambda _info: (self._update_model_label(), self._update_enabled()))
        s.stateChanged.connect(lambda _state: (self._update_enabled(), self._update_model_label()))
        s.resultChanged.connect(self._on_result)
        s.staleChanged.connect(self._on_stale)
        s.analysisStarted.connect(self._on_started)
        s.progressed.connect(self.results.set_running)
        s.partialResult.connect(self._on_partial)
        s.cancelled.connect(self._on_cancelled)
        s.failureChanged.connect(self._on_failure)
        s.stallMeasured.connect(self._on_stall_measured)
        self.form.factorsChanged.connect(self._on_form_changed)
        self.results.roiActivated.connect(lambda rid, _image, _frame: self._go_to_roi(rid))
        self.thumbs.roiClicked.connect(self._go_to_roi)

    # ===================================================================== the case and the form
    def _on_case_changed(self, case: Case | None) -> None:
        self._sync_form(case)
        self._update_enabled()

    def _sync_form(self, case: Case | None) -> None:
        """The form shows the case's task and factors (the case wins; nothing is written back)."""
        task = case.task if case is not None else self.session.default_task
        with QSignalBlocker(self.form):
            if self.form.task != task:
                self.form.set_task(task)
            if case is not None and case.factors != self.form.factors():
                self.form.set_factors(case.factors)
            elif case is None:
                self.form.clear()
        if self._link is not None:
            self._link.update()

    def _on_form_changed(self, factors: Any) -> None:
        if self.doc.case is not None:
            self.session.set_factors(factors, edit=True)  # the reader's edit: the case counts as edited

    def _on_image_changed(self, image: ImageOnScreen | None) -> None:
        if image is not None and self.doc.case is not None:
            # Sex and age read from DICOM where the case has none: not the reader's edit (no unsaved change).
            with QSignalBlocker(self.form):
                filled = self.form.prefill_from_metadata(image.metadata)
            if filled:
                self.session.set_factors(self.form.factors(), edit=False)
                if self._link is not None:
                    self._link.update()

    # ===================================================================== the bundle
    def _on_bundle_changed(self, bundle: Any) -> None:
        manifest = bundle.manifest if bundle is not None else None
        task = self.session.task
        if self.form.task != task:
            self._sync_form(self.doc.case)
        try:
            self.form.set_required(required_from_fusion(bundle.fusion) if bundle is not None else [])
        except UserError as exc:  # a fusion term the form has no field for
            self.form.set_required([])
            self.shell.report_error(f"model bundle {bundle.name}: {exc}")
        self.curves.set_manifest(manifest)
        self._set_nomogram(manifest, bundle.fusion if bundle is not None else None)
        self.results.set_bundle(manifest)
        self.results_dock.setWindowTitle("Results" if bundle is None else
                                         escape_mnemonic(f"Results — {case_rules.TASK_LABELS.get(bundle.task, bundle.task)}"))
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
        if bool(spec) != self.nomogram_dock.isVisible() and self.shell.dialog_parent().isVisible():
            self.nomogram_dock.setVisible(bool(spec))

    def load_bundle(self, path: str | Path, chosen: bool = False) -> int:
        return self.session.load_bundle(path, chosen)

    def open_bundle_dialog(self) -> None:
        info = self.session.bundle_info
        start = str(info.path.parent) if info else str(Path(self.shell.prefs.last_dir or "."))
        folder = self.ask_bundle_dir(start)
        if folder:
            self.session.load_bundle(folder, chosen=True)

    def _ask_bundle_dir_dialog(self, start: str) -> str | None:
        return QFileDialog.getExistingDirectory(self.shell.dialog_parent(),
                                                "Open model bundle (a folder with manifest.json)", start) or None

    def add_result_action(self, action: Any) -> QToolButton:
        """A button for ``action`` under the results (it follows the action's text and enabled state)."""
        button = QToolButton(self.result_actions_row)
        button.setDefaultAction(action)
        button.setObjectName(f"result_{action.objectName()}")
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.result_actions_row.layout().addWidget(button)
        self.result_actions_row.show()
        return button

    def _update_model_label(self) -> None:
        s = self.session
        self.model_label.setStyleSheet(f"color: {theme.TEXT_DIM};")
        if s.loading is not None:
            text = f"Loading model {s.loading.name}…"
        elif s.bundle is not None:
            # The signature verdict (verified / unsigned / untrusted) with its reason, in the model line.
            text = f"Model: {s.bundle.name} {s.bundle.version} · {verdict.short(s.bundle)}"
            self.model_label.setStyleSheet(f"color: {verdict.colour(s.bundle)};")
        elif s.no_bundle_task is not None:
            text = f"No model bundle for task {s.no_bundle_task} — analysis unavailable"
        else:
            text = "No model bundle loaded"
        self.model_label.setText(text)
        self.model_label.setToolTip(f"{s.bundle_info.path}\n{verdict.tooltip(s.bundle)}" if s.bundle_info and s.bundle
                                    else str(s.bundle_info.path) if s.bundle_info else
                                    (no_bundle_message(s.no_bundle_task) if s.no_bundle_task else ""))
        if s.run is None and s.state in (SessionState.NO_BUNDLE, SessionState.LOADING):
            self._set_status(text)
        elif s.run is None and s.state is SessionState.READY:
            self._set_status("Ready: Analyse (F5) when the ROIs and factors are in" if self.doc.case is not None
                             else "Ready: open a case or images")

    # ===================================================================== analysing
    def analyse(self) -> int | None:
        """Start an analysis of the case on screen; None (with the reason shown) when it cannot run."""
        rid = self.session.analyse()
        if rid is None and self.session.failure is not None and self.session.failure_field == "factors":
            self.factors_dock.raise_()
        elif rid is not None or self.session.failure is not None:
            self.results_dock.raise_()
        return rid

    def cancel(self) -> bool:
        return self.session.cancel()

    def _on_started(self) -> None:
        self.results.set_running(0.0, "starting")
        self._set_status("Analysing…")

    def _on_cancelled(self, reason: str) -> None:
        self.results.set_cancelled(reason)
        self._set_status(reason)

    def _on_failure(self, failure: Failure | None) -> None:
        if failure is not None:
            self.results.set_error(failure.message, failure.title)
            self._set_status(failure.title)
            if not failure.user_error or failure.title != "Cannot analyse":
                self.shell.status(failure.message, 10000)
            return
        if self.results.state != "error":
            return
        # The reason went with the input: back to what the session holds.
        run = self.session.run
        if run is not None:
            self._show_run(run)
            self._on_stale(self.session.stale_reasons)
        else:
            self.results.clear()
        self._update_model_label()

    def _on_result(self, run: AnalysisRun | None) -> None:
        if run is None:
            self.results.clear()
            self.cams.show_run(None, {})
            if self._link is not None:
                self._link.set_model_probabilities(None)
            self._update_model_label()
            return
        self._show_run(run)
        self._set_status(f"Analysed in {run.seconds:.1f} s")

    def _on_partial(self, partial: Any) -> None:
        """The outputs so far of the running analysis (AnalysisPartial); its maps come with the final result."""
        labels = case_rules.roi_labels(self.doc.case) if self.doc.case is not None else {}
        self.results.set_partial(partial.partial, self.session.manifest, labels)

    def _show_run(self, run: AnalysisRun) -> None:
        labels = case_rules.roi_labels(self.doc.case) if self.doc.case is not None else {}
        self.results.set_result(run.result, self.session.run_manifest, labels)
        if self._link is not None:
            self._link.set_model_probabilities(run.result.probabilities)
        self.cams.show_run(run, labels)

    def _on_stale(self, reasons: tuple[str, ...]) -> None:
        """Every result view follows the session's staleness, and says what changed."""
        stale = bool(reasons)
        text = stale_text(reasons)
        factors_only = reasons == (FACTORS,)
        self.results.set_stale(stale, text + (" (the nomogram shows the current factors)" if factors_only else ""))
        self.cams.set_stale(self.session.maps_stale)  # maps of moved ROIs would mislead
        self.cam_note.setText(text + ("" if factors_only else " — heat maps hidden"))
        self.cam_note.setVisible(stale)
        self.curves_note.setText(text)
        self.curves_note.setVisible(stale)
        self.nomogram_note.setText(FACTORS_ONLY_NOMOGRAM if factors_only else
                                   f"{text} — the image score here is from the earlier analysis")
        self.nomogram_note.setVisible(stale and self.nomogram_stack.currentWidget() is self.nomogram)
        dim = stale and not factors_only
        if dim and self.nomogram_stack.graphicsEffect() is None:
            effect = QGraphicsOpacityEffect(self.nomogram_stack)
            effect.setOpacity(0.45)
            self.nomogram_stack.setGraphicsEffect(effect)
        elif not dim and self.nomogram_stack.graphicsEffect() is not None:
            self.nomogram_stack.setGraphicsEffect(None)

    @property
    def nomogram_dimmed(self) -> bool:
        return self.nomogram_stack.graphicsEffect() is not None

    def _set_status(self, text: str) -> None:
        self.status_label.setText(text)
        self.status_label.setToolTip("")

    def _on_stall_measured(self, run: AnalysisRun) -> None:
        over = run.longest_stall_ms > STALL_TARGET_MS
        text = (f"Analysed in {run.seconds:.1f} s · longest UI stall {run.longest_stall_ms:.0f} ms"
                + (f" (over the {STALL_TARGET_MS:.0f} ms target)" if over else ""))
        self._set_status(text)
        self.shell.status(text, 10000)
        self.status_label.setToolTip(
            f"Event loop measured every {self.analysis.stall.tick_ms} ms from Analyse until the result was "
            f"shown: longest stall {run.longest_stall_ms:.1f} ms, 99th percentile {run.stall_p99_ms:.1f} ms "
            f"over {run.ticks} ticks")

    def _go_to_roi(self, roi_id: str) -> None:
        case = self.doc.case
        if case is not None and any(r.id == roi_id for r in case.rois):
            self.session.request_roi(roi_id)  # whoever shows ROIs goes there
        else:
            self.shell.status("That ROI is no longer in the case", 5000)

    # ===================================================================== misc
    def _update_enabled(self) -> None:
        running = self.session.analysis_running
        can = self.doc.case is not None and not running
        self.act_analyse.setEnabled(can)
        self.analyse_button.setEnabled(can)
        self.act_cancel.setEnabled(running)
        self.cancel_button.setEnabled(running)

    def show_demo(self) -> None:
        """The newcomer's start: analyse the demo case as soon as it and its bundle are in, overlay on."""
        self.cam.toggle.setChecked(True)
        self.session.request_auto_analyse()

    def shutdown(self) -> None:
        self.session.shutdown()

