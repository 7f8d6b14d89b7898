"""The reading session: one owner of the reading state, with signals (no widgets in here).

:class:`ReadingSession` owns the case document, the image on screen, the series
the reader can pick from, the model bundle and its loading, the last analysis and
whether it still matches its inputs. The state is explicit (:class:`SessionState`)
and derived from those facts in one place (:meth:`ReadingSession.state`):

=============  ====================================================================
state          when
=============  ====================================================================
no bundle      no bundle loaded (none for the case's task, or none chosen yet)
loading        a bundle is loading in the worker
ready          a bundle is loaded, no analysis on screen
analysing      an analysis runs
result         the last analysis matches every input it was computed from
stale          it does not: :attr:`ReadingSession.stale_reasons` says what changed
failed         the last analysis (or Analyse itself, or a bundle) failed; a
               user-input failure goes when the input changes
=============  ====================================================================

Panels and controllers (and, later, the reader-study window: a second face over the
same session) read the session and listen to its signals; they never talk to each
other or reach into a window. The session never assumes a window: a test drives it
with a real bundle and real analyses under a bare QApplication.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from ultrasound_reader import case_rules
from ultrasound_reader.case import Case, ClinicalFactors
from ultrasound_reader.errors import UserError
from ultrasound_reader.gui.analysis import AnalysisController, AnalysisRun, Inputs, rois_key
from ultrasound_reader.gui.bundles import BundleInfo, default_bundle, load_bundle_job, no_bundle_message, read_info
from ultrasound_reader.gui.case_document import CaseDocument

log = logging.getLogger(__name__)

ROIS_CHANGED_RUNNING = "The ROIs changed during the analysis, so it was stopped"
BUNDLE_CHANGED_RUNNING = "The model bundle changed"

# What changed since the analysis on screen, in the order the banner names them.
ROIS = "ROIs changed"
IMAGES = "images changed"
TASK = "task changed"
BUNDLE = "model bundle changed"
FACTORS = "clinical factors changed"
REASON_ORDER = (ROIS, IMAGES, TASK, BUNDLE, FACTORS)


class SessionState(str, Enum):
    NO_BUNDLE = "no bundle"
    LOADING = "loading"
    READY = "ready"
    ANALYSING = "analysing"
    RESULT = "result"
    STALE = "stale"
    FAILED = "failed"


@dataclass(frozen=True)
class Failure:
    """Why the last attempt did not give a result. ``user_error``: bad input, cleared when the input changes."""

    message: str
    title: str
    user_error: bool


@dataclass(frozen=True)
class ImageOnScreen:
    """The image the face shows: its file, the opened cine, and its index in the case (None: not in it)."""

    path: str
    cine: Any
    index: int | None = None

    @property
    def n_frames(self) -> int:
        return int(getattr(self.cine, "n_frames", 0) or 0)

    @property
    def calibration(self) -> Any:
        return getattr(self.cine, "calibration", None)

    @property
    def metadata(self) -> Any:
        return getattr(self.cine, "metadata", None)


@dataclass(frozen=True)
class SeriesImage:
    """One image the reader can pick (a file; for a cine all its frames)."""

    path: str
    label: str
    tooltip: str = ""


@dataclass
class Series:
    patient: str
    study: str
    label: str
    images: list[SeriesImage]
    thumbnails: dict[str, np.ndarray] = field(default_factory=dict)


def stale_text(reasons: tuple[str, ...]) -> str:
    """The banner: "ROIs changed and factors changed since this analysis — analyse again"."""
    if not reasons:
        return ""
    words = list(reasons)
    said = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    return f"{said[0].upper()}{said[1:]} since this analysis — analyse again"


class ReadingSession(QObject):
    """See the module docstring. ``memory``: where the reader's bundle choice per task and the
    default task are kept (a QSettings adapter in the window, a dict in tests)."""

    stateChanged = Signal(object)  # SessionState
    caseChanged = Signal(object)  # Case | None (another case, or its task/images/factors changed)
    roisChanged = Signal()
    dirtyChanged = Signal(bool)
    imageChanged = Signal(object)  # ImageOnScreen | None
    frameChanged = Signal(int)  # the frame on screen
    seriesChanged = Signal()
    thumbnailReady = Signal(str, object)  # path, ndarray
    bundleChanged = Signal(object)  # the loaded bundle | None
    bundleLoading = Signal(object)  # BundleInfo | None (loading finished or failed)
    resultChanged = Signal(object)  # AnalysisRun | None
    staleChanged = Signal(object)  # tuple[str, ...]: what changed since the analysis on screen
    analysisStarted = Signal()
    progressed = Signal(float, str)
    partialResult = Signal(object)  # AnalysisPartial: the outputs of the running analysis so far
    cancelled = Signal(str)
    failureChanged = Signal(object)  # Failure | None
    stallMeasured = Signal(object)  # AnalysisRun with its stall figures
    roiRequested = Signal(str)  # a view asked to show this ROI (its image and frame)
    camSettingsChanged = Signal(object)  # cam_controls.CamSettings: how every view draws the Grad-CAM maps
    message = Signal(str, int)  # a status line, shown for ms
    error = Signal(str)  # something the reader must see (the face shows it as an error)

    def __init__(self, memory: MutableMapping[str, str] | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.memory: MutableMapping[str, str] = memory if memory is not None else {}
        self.doc = CaseDocument(self)
        self.image: ImageOnScreen | None = None
        self.frame: int | None = None
        self.series: list[Series] = []
        self.problems: list[tuple[str, str]] = []
        self.bundle: Any = None  # ai.bundle.Bundle once loaded
        self.bundle_info: BundleInfo | None = None
        self.loading: BundleInfo | None = None
        self.no_bundle_task: str | None = None
        self.run: AnalysisRun | None = None
        self.run_manifest: dict[str, Any] | None = None  # the manifest of the bundle the run used
        self.stale_reasons: tuple[str, ...] = ()
        self.failure: Failure | None = None
        self.failure_field = ""  # "factors" when the form's entries refused the analysis
        self.cam_settings: Any = None  # cam_controls.CamSettings once the Grad-CAM controls exist
        self.auto_analyse = False  # analyse once case and bundle are both ready (the demo start)
        # The factors Analyse uses: the case's, unless a form says otherwise (it raises UserError
        # on an invalid entry, which refuses the analysis with the field named).
        self.read_factors: Callable[[], ClinicalFactors] | None = None
        self.bundle_loader: Callable[..., Any] = load_bundle_job  # replaceable (tests)
        self._loading_chosen = False
        self._generation = self.doc.generation
        self._state = self.state
        self.analysis = AnalysisController(self.current_inputs, self)
        self._auto_timer = QTimer(self)
        self._auto_timer.setSingleShot(True)
        self._auto_timer.setInterval(0)
        self._auto_timer.timeout.connect(self._auto_start)
        a = self.analysis
        a.started.connect(lambda _rid: self._on_started())
        a.progressed.connect(self.progressed.emit)
        a.partial.connect(self.partialResult.emit)
        a.finished.connect(self._on_finished)
        a.stallMeasured.connect(self.stallMeasured.emit)
        a.cancelled.connect(self._on_cancelled)
        a.failed.connect(lambda m, user: self._fail(m, "Cannot analyse" if user else "Analysis failed", user))
        self.doc.caseChanged.connect(self._on_doc_case)
        self.doc.roisChanged.connect(self._on_doc_rois)
        self.doc.dirtyChanged.connect(self.dirtyChanged.emit)

    # ===================================================================== state
    @property
    def state(self) -> SessionState:
        if self.loading is not None:
            return SessionState.LOADING
        if self.analysis_running:
            return SessionState.ANALYSING
        if self.failure is not None:
            return SessionState.FAILED
        if self.run is not None:
            return SessionState.STALE if self.stale_reasons else SessionState.RESULT
        if self.bundle is not None:
            return SessionState.READY
        return SessionState.NO_BUNDLE

    @property
    def analysis_running(self) -> bool:
        return hasattr(self, "analysis") and self.analysis.running

    @property
    def busy(self) -> bool:
        """Loading a bundle, analysing, or about to (a screenshot waits for it)."""
        return self.analysis.runner.busy or self.loading is not None or self._auto_timer.isActive()

    def _emit_state(self) -> None:
        state = self.state
        if state != self._state:
            log.debug("session: %s -> %s", self._state.value, state.value)
            self._state = state
            self.stateChanged.emit(state)

    @property
    def case(self) -> Case | None:
        return self.doc.case

    @property
    def task(self) -> str:
        return self.doc.case.task if self.doc.case is not None else self.default_task

    @property
    def default_task(self) -> str:
        task = str(self.memory.get("case/task", "") or "liver-fll")
        return task if task in case_rules.KINDS_BY_TASK else "liver-fll"

    @property
    def manifest(self) -> dict[str, Any] | None:
        return self.bundle.manifest if self.bundle is not None else None

    @property
    def is_demo_bundle(self) -> bool:
        """The loaded bundle says it is trained on synthetic data or not for clinical use."""
        m = self.manifest or {}
        return bool((m.get("training_data") or {}).get("synthetic")) or bool(
            (m.get("intended_use") or {}).get("not_for_clinical_use"))

    def current_inputs(self, factors: ClinicalFactors | None = None) -> Inputs | None:
        case = self.doc.case
        if case is None:
            return None
        return Inputs(self.doc.generation, rois_key(case), factors if factors is not None else case.factors,
                      str(self.bundle.path) if self.bundle is not None else "")

    # ===================================================================== the case
    def set_task(self, task: str) -> bool:
        """The case's task (the ROI dock, or a chosen bundle of another task). False, said, if refused."""
        if task not in case_rules.KINDS_BY_TASK:
            return False
        self.memory["case/task"] = task
        if self.doc.case is None:
            self.caseChanged.emit(None)
            self._ensure_bundle(task)
            return True
        try:
            self.doc.set_task(task)
        except UserError as exc:
            self.error.emit(str(exc))
            self.caseChanged.emit(self.doc.case)  # the views show the task it still has
            return False
        return True

    def set_factors(self, factors: ClinicalFactors, edit: bool = True) -> None:
        """The case's clinical factors; ``edit=False`` for values read from the images (not an unsaved change)."""
        self.doc.set_factors(factors, edit=edit)

    def _on_doc_case(self, case: Case | None) -> None:
        if self.doc.generation != self._generation:  # another case
            self._generation = self.doc.generation
            self.analysis.cancel(emit=False)
            self._auto_timer.stop()
            self.failure = None
            self.failureChanged.emit(None)
            self._set_run(None)
            self.caseChanged.emit(case)
            self._ensure_bundle(self.task)
            self._maybe_auto_analyse()
            self._emit_state()
            return
        self.caseChanged.emit(case)
        if case is None:
            return
        self._input_changed()
        self._ensure_bundle(case.task)

    def _on_doc_rois(self) -> None:
        self.roisChanged.emit()
        pending = self.analysis.pending_inputs
        if pending is not None and not pending.same_case_and_rois(self.current_inputs()):
            self.analysis.cancel(ROIS_CHANGED_RUNNING)
        self._input_changed()

    def _input_changed(self) -> None:
        if self.failure is not None and self.failure.user_error:
            self.failure = None  # its reason may be gone with the change
            self.failureChanged.emit(None)
        self._update_staleness()
        self._emit_state()

    # ===================================================================== image and series
    def set_image(self, image: ImageOnScreen | None) -> None:
        self.image = image
        self.frame = 0 if image is not None else None
        self.imageChanged.emit(image)

    def set_image_index(self, index: int | None) -> None:
        if self.image is not None:
            self.image = ImageOnScreen(self.image.path, self.image.cine, index)

    def set_frame(self, index: int) -> None:
        self.frame = index
        self.frameChanged.emit(index)

    def set_series(self, series: list[Series], problems: list[tuple[str, str]] | None = None) -> None:
        self.series = list(series)
        self.problems = list(problems or [])
        self.seriesChanged.emit()

    def add_thumbnail(self, path: str, thumb: np.ndarray) -> None:
        for s in self.series:
            if any(i.path == path for i in s.images):
                s.thumbnails[path] = thumb
        self.thumbnailReady.emit(path, thumb)

    def set_cam_settings(self, settings: Any) -> None:
        """How the Grad-CAM maps are drawn (on/off, output, opacity, colours, shape), for every view of the image."""
        if settings != self.cam_settings:
            self.cam_settings = settings
            self.camSettingsChanged.emit(settings)

    def request_roi(self, roi_id: str) -> None:
        self.roiRequested.emit(roi_id)

    def series_paths(self) -> list[str]:
        return [i.path for s in self.series for i in s.images]

    # ===================================================================== the bundle
    def _ensure_bundle(self, task: str) -> None:
        if self.bundle_info is not None and self.bundle_info.task == task:
            return
        if self.loading is not None and self.loading.task == task:
            return
        if self.bundle is None and self.loading is None and self.no_bundle_task == task:
            return  # already told: none for this task
        info = default_bundle(task, self.memory.get(f"bundle/{task}") or None)
        if info is None:
            self._set_bundle(None)
            self.no_bundle_task = task
            self.auto_analyse = False
            self.bundleChanged.emit(None)
            self.message.emit(no_bundle_message(task), 15000)
            self._emit_state()
            return
        self.load_bundle(info.path)

    def load_bundle(self, path: str | Path, chosen: bool = False) -> int:
        """Load a bundle folder in the worker; ``chosen``: the reader picked it (its task becomes the case's)."""
        info = read_info(path)
        if info is None:
            self.error.emit(f"{path}: not a model bundle (no readable manifest.json)")
            return 0
        self.analysis.cancel(BUNDLE_CHANGED_RUNNING, emit=self.analysis.running)
        self.loading = info
        self._loading_chosen = chosen
        self.bundleLoading.emit(info)
        self._emit_state()
        return self.analysis.runner.submit("bundle", self.bundle_loader, str(info.path),
                                           on_done=lambda b, i=info: self._on_bundle_loaded(i, b),
                                           on_error=lambda m, _u, i=info: self._on_bundle_failed(i, m))

    def _on_bundle_loaded(self, info: BundleInfo, bundle: Any) -> None:
        chosen = self._loading_chosen
        self.loading = None
        self.bundleLoading.emit(None)
        self._set_bundle(bundle, info)
        if chosen:
            self.memory[f"bundle/{bundle.task}"] = str(info.path)
            if self.task != bundle.task:
                self.set_task(bundle.task)  # tells the reader if the case's ROIs forbid it
        self.message.emit(f"Model bundle {bundle.name} {bundle.version} loaded", 6000)
        self._update_staleness()
        self._emit_state()
        self._maybe_auto_analyse()

    def _on_bundle_failed(self, info: BundleInfo, message: str) -> None:
        self.loading = None
        self.auto_analyse = False
        self.bundleLoading.emit(None)
        self._fail(f"Model bundle {info.path.name} not loaded: {message}", "Model bundle not loaded", True)
        self.error.emit(f"Model bundle {info.path.name} not loaded: {message}")

    def _set_bundle(self, bundle: Any, info: BundleInfo | None = None) -> None:
        if bundle is not None and self.bundle is bundle:
            return
        self.bundle = bundle
        self.bundle_info = info if bundle is not None else None
        self.no_bundle_task = None
        if self.failure is not None:
            self.failure = None
            self.failureChanged.emit(None)
        self.bundleChanged.emit(bundle)

    # ===================================================================== analysing
    def request_auto_analyse(self) -> None:
        """Analyse as soon as the case and its bundle are both in (the demo start)."""
        self.auto_analyse = True
        self._maybe_auto_analyse()

    def _maybe_auto_analyse(self) -> None:
        case = self.doc.case
        if (self.auto_analyse and case is not None and self.bundle is not None and self.loading is None
                and self.bundle.task == case.task and not self.analysis.running):
            self.auto_analyse = False
            self._auto_timer.start()

    def _auto_start(self) -> None:
        self.analyse()

    def analyse(self) -> int | None:
        """Start an analysis of the case; None (the reason in :attr:`failure`) when it cannot run."""
        case = self.doc.case
        if case is None:
            return self._refuse("open a case (or images) first")
        if self.loading is not None and self.loading.task == case.task:
            self.auto_analyse = True
            self.message.emit("The analysis starts when the model bundle has loaded", 6000)
            return None
        if self.bundle is None:
            return self._refuse(no_bundle_message(case.task))
        if self.bundle.task != case.task:
            return self._refuse(f"case {case.case_id} is a {case.task} case, but model bundle {self.bundle.name} "
                                f"is for {self.bundle.task}: open a {case.task} bundle (Analysis ▸ Open Model Bundle…)")
        try:
            factors = self.read_factors() if self.read_factors is not None else case.factors
        except UserError as exc:
            return self._refuse(str(exc), field="factors")
        inputs = self.current_inputs(factors)
        assert inputs is not None
        return self.analysis.start(self.bundle, case, inputs)

    def cancel(self) -> bool:
        return self.analysis.cancel()

    def _refuse(self, message: str, field: str = "") -> None:
        self._fail(message, "Cannot analyse", True, field)
        self.message.emit(f"Cannot analyse: {message}", 10000)
        return None

    def _fail(self, message: str, title: str, user_error: bool, field: str = "") -> None:
        self.failure = Failure(message, title, user_error)
        self.failure_field = field
        self.failureChanged.emit(self.failure)
        self._emit_state()

    def _on_started(self) -> None:
        if self.failure is not None:
            self.failure = None
            self.failureChanged.emit(None)
        self.analysisStarted.emit()
        self._emit_state()

    def _on_cancelled(self, reason: str) -> None:
        self.cancelled.emit(reason)
        self._emit_state()

    def _on_finished(self, run: AnalysisRun) -> None:
        self.run_manifest = self.manifest
        self._set_run(run)
        self._emit_state()

    def _set_run(self, run: AnalysisRun | None) -> None:
        self.run = run
        if run is None:
            self.run_manifest = None
        self.stale_reasons = ()
        self.resultChanged.emit(run)
        self._update_staleness(force=True)

    # ===================================================================== staleness
    def _update_staleness(self, force: bool = False) -> None:
        run = self.run
        reasons: tuple[str, ...] = ()
        if run is not None:
            now = self.current_inputs()
            if now is None or now.generation != run.inputs.generation:
                self._set_run(None)
                return
            reasons = self.changes_since(run.inputs, now)
        if force or reasons != self.stale_reasons:
            self.stale_reasons = reasons
            self.staleChanged.emit(reasons)

    @property
    def maps_stale(self) -> bool:
        """The Grad-CAM maps on screen would mislead: something other than the clinical factors changed
        (a heat map over an ROI that has moved). They are not drawn until the inputs match again."""
        return bool(self.stale_reasons) and self.stale_reasons != (FACTORS,)

    @staticmethod
    def changes_since(then: Inputs, now: Inputs) -> tuple[str, ...]:
        """What differs between the inputs of an analysis and the inputs now, in banner order."""
        (t_task, t_images, t_rois), (n_task, n_images, n_rois) = then.rois, now.rois
        changed = {ROIS: t_rois != n_rois, IMAGES: t_images != n_images, TASK: t_task != n_task,
                   BUNDLE: then.bundle != now.bundle, FACTORS: then.factors != now.factors}
        return tuple(r for r in REASON_ORDER if changed[r])

    @property
    def last_stall_ms(self) -> float | None:
        return self.analysis.last_run.longest_stall_ms if self.analysis.last_run is not None else None

    def shutdown(self) -> None:
        self.auto_analyse = False
        self._auto_timer.stop()
        self.analysis.shutdown()
