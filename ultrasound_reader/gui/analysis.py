"""Running the analysis off the GUI thread, and keeping late results off the wrong case.

:class:`AnalysisController` submits ``Analyzer(bundle).run(case)`` to its own one-thread
:class:`~.workers.TaskRunner` (bundle loading shares it, so an analysis never races
the bundle it needs). What a result depends on is captured at request time as
:class:`Inputs`: the document generation (which case), the ROIs, images and task,
the clinical factors and the bundle. When the result comes back it is compared with
the inputs *now*: another case or other ROIs drop it (it never lands); other factors
only make it stale (its L/LB are still right, LBC is not). Editing the ROIs or
leaving the case while an analysis runs cancels it at once as well.

The case is deep-copied for the worker, so the reader can go on editing. The worker
keeps the ROI frames it read, so the results can show each ROI's crop with its
Grad-CAM without reading the files again. A :class:`~.stall.StallMeter` measures
the longest event-loop stall during each analysis.

Progressive results: while the analysis runs, each output is delivered as soon as it
is computed (``partial``: DLM-1, then the subtype models; L, then LB) as an
:class:`AnalysisPartial`, through the same Inputs check as the final result (a partial
never lands on another case or other ROIs). Partials that queue up while the GUI
thread is busy are coalesced: only the latest is shown. The final result replaces it.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from ultrasound_reader.case import AnalysisResult, Case, ClinicalFactors
from ultrasound_reader.errors import UserError
from ultrasound_reader.gui.stall import StallMeter
from ultrasound_reader.gui.workers import Job, TaskRunner

if TYPE_CHECKING:  # the ai package loads with the bundle, off the GUI thread
    from ultrasound_reader.ai.context import PartialResult

# torch's intra-op threads for an analysis: leave a core to the GUI thread (torch's setting is process-wide).
# An ONNX bundle gets the same count when it loads (bundles.load_bundle_job). Measured on 2 cores (bench
# viewer, analysis/progressive): 1 thread beat 2 for the whole cascade and the stall whenever the
# machine had other load, for torch and ONNX Runtime alike.
ANALYSIS_THREADS = max(1, min(4, (os.cpu_count() or 2) - 1))
# The stall meter runs on this long after a result is delivered: showing it (results, maps,
# thumbnails, the repaint) is part of what the reader waits for.
STALL_TAIL_MS = 150

CropKey = tuple[int, int, tuple[int, int, int, int]]  # image, frame, bbox


def rois_key(case: Case) -> tuple[Any, ...]:
    """Everything but the factors a result depends on: task, images (absolute), ROIs."""
    images = tuple((str(case.image_path(i)), ref.frame, ref.role) for i, ref in enumerate(case.images))
    rois = tuple((r.id, r.kind, r.shape, r.image, r.frame, tuple(r.points)) for r in case.rois)
    return case.task, images, rois


@dataclass(frozen=True)
class Inputs:
    """What an analysis was asked about; compared with the case on screen when it returns."""

    generation: int
    rois: tuple[Any, ...]
    factors: ClinicalFactors
    bundle: str

    def same_case_and_rois(self, other: Inputs | None) -> bool:
        return other is not None and (self.generation, self.rois, self.bundle) == (
            other.generation, other.rois, other.bundle)


@dataclass
class AnalysisRun:
    """A delivered analysis: the result, the ROI crops it saw, its inputs and how it went."""

    result: AnalysisResult
    crops: dict[CropKey, np.ndarray]
    inputs: Inputs
    seconds: float = 0.0
    longest_stall_ms: float = 0.0
    stall_p99_ms: float = 0.0
    ticks: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class AnalysisPartial:
    """The outputs of a running analysis so far (``partial.result``) and its inputs; seconds since Analyse."""

    partial: PartialResult
    inputs: Inputs
    seconds: float = 0.0


class _Frames:
    """Frame source for Analyzer.run: each image opened once; the frames read are kept."""

    def __init__(self, case: Case, stack: ExitStack) -> None:
        self.case, self.stack = case, stack
        self.cines: dict[int, Any] = {}
        self.frames: dict[tuple[int, int], np.ndarray] = {}

    def __call__(self, image: int, frame: int) -> tuple[np.ndarray, Any]:
        from ultrasound_reader.dicom import open_cine

        if not 0 <= image < len(self.case.images):
            raise UserError(f"case {self.case.case_id}: an ROI refers to image {image + 1}, "
                            f"but the case has {len(self.case.images)} image(s)")
        if image not in self.cines:
            self.cines[image] = self.stack.enter_context(open_cine(self.case.image_path(image)))
        cine = self.cines[image]
        if not 0 <= frame < cine.n_frames:
            raise UserError(f"{cine.path.name}: an ROI is on frame {frame + 1}, but the file has "
                            f"{cine.n_frames} frame(s)")
        pixels = self.frames.get((image, frame))
        if pixels is None:
            pixels = self.frames[(image, frame)] = cine.frame(frame)
        return pixels, cine.calibration


def run_analysis(job: Job, bundle: Any, case: Case, threads: int,
                 progressive: bool = True) -> tuple[AnalysisResult, dict[CropKey, np.ndarray]]:
    """Worker: analyse ``case`` (a private copy) with ``bundle``; returns the result and the CAM crops.

    ``progressive``: hand each output to the GUI thread as it is computed (``job.partial``)."""
    from ultrasound_reader.ai import Analyzer

    with ExitStack() as stack:
        frames = _Frames(case, stack)
        result = Analyzer(bundle, threads=threads).run(
            case, progress=lambda f, message: job.progress(int(round(f * 1000)), 1000, message),
            cancel=job, request_id=str(job.request_id), frame_source=frames,
            partial=job.partial if progressive else None)
    crops: dict[CropKey, np.ndarray] = {}
    for cam in result.cams:
        key = (cam.image, cam.frame, tuple(int(v) for v in cam.bbox))
        pixels = frames.frames.get((cam.image, cam.frame))
        if key not in crops and pixels is not None:
            x0, y0, x1, y1 = key[2]
            crops[key] = np.ascontiguousarray(pixels[max(y0, 0):y1, max(x0, 0):x1])
    return result, crops


class AnalysisController(QObject):
    """Starts, cancels and delivers analyses; see the module docstring for the rules."""

    started = Signal(int)  # request id
    progressed = Signal(float, str)  # fraction, message
    partial = Signal(object)  # AnalysisPartial (its inputs match the case and ROIs on screen)
    finished = Signal(object)  # AnalysisRun (its inputs still match the case on screen, or only the factors differ)
    stallMeasured = Signal(object)  # the same AnalysisRun, once its stall figures are in (after the tail)
    cancelled = Signal(str)  # why
    failed = Signal(str, bool)  # message, is a user error (bad input) rather than an internal one

    def __init__(self, current_inputs: Callable[[], Inputs | None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.current_inputs = current_inputs
        self.runner = TaskRunner(max_threads=1, parent=self)
        self.stall = StallMeter(self)
        self.threads = ANALYSIS_THREADS
        self.progressive = True  # show each output as it is computed (False: all at the end, the old way)
        self.work: Callable[..., Any] = run_analysis  # replaceable (tests wrap it)
        self.request_id: int | None = None
        self._inputs: Inputs | None = None
        self._t0 = 0.0
        self.last_run: AnalysisRun | None = None
        self.dropped = 0  # late results that did not land (tests read it)
        self.partials_dropped = 0  # partials of another case or other ROIs (tests read it)
        self.first_partial_s: float | None = None  # of the running (or last) analysis
        self._partial: tuple[int, PartialResult] | None = None  # the latest, not yet shown
        self._partial_timer = QTimer(self)
        self._partial_timer.setSingleShot(True)
        self._partial_timer.setInterval(0)
        self._partial_timer.timeout.connect(self._deliver_partial)
        self._tail_run: AnalysisRun | None = None
        self._tail = QTimer(self)
        self._tail.setSingleShot(True)
        self._tail.setInterval(STALL_TAIL_MS)
        self._tail.timeout.connect(self._end_tail)

    @property
    def running(self) -> bool:
        return self.request_id is not None

    @property
    def pending_inputs(self) -> Inputs | None:
        """What the running analysis was asked about (None when none runs)."""
        return self._inputs

    def start(self, bundle: Any, case: Case, inputs: Inputs) -> int:
        """Analyse a copy of ``case`` (its factors as given in ``inputs``); returns the request id."""
        if self.running:
            self.cancel("Superseded by a new analysis", emit=False)
        self._end_tail()
        snapshot = copy.deepcopy(case)
        snapshot.factors = inputs.factors
        self._inputs = inputs
        self._t0 = time.perf_counter()
        self.first_partial_s = None
        self._drop_partial()
        self.stall.start()
        rid = self.runner.submit("analysis", self.work, bundle, snapshot, self.threads, self.progressive,
                                 on_done=lambda r: self._on_done(rid, r),
                                 on_error=lambda m, user: self._on_error(rid, m, user),
                                 on_progress=lambda d, t, m: self._on_progress(rid, d, t, m),
                                 on_discard=lambda _r: self._count_drop(),
                                 on_partial=lambda p: self._on_partial(rid, p))
        self.request_id = rid
        self.started.emit(rid)
        return rid

    def cancel(self, reason: str = "Analysis cancelled", emit: bool = True) -> bool:
        """Stop the running analysis (its result, should it still come, is dropped). False if none ran."""
        if not self.running:
            return False
        self.runner.cancel("analysis")
        self.request_id = None
        self._inputs = None
        self._drop_partial()
        self.stall.stop()
        if emit:
            self.cancelled.emit(reason)
        return True

    def _count_drop(self) -> None:
        self.dropped += 1

    def _on_progress(self, rid: int, done: int, total: int, message: str) -> None:
        if rid == self.request_id and total > 0:
            self.progressed.emit(done / total, message)

    def _on_partial(self, rid: int, partial: PartialResult) -> None:
        """Keep the latest partial of the running request; shown on the next event-loop turn."""
        if rid != self.request_id or partial.result.request_id != str(rid):
            self.partials_dropped += 1
            return
        self._partial = (rid, partial)
        if not self._partial_timer.isActive():
            self._partial_timer.start()

    def _drop_partial(self) -> None:
        self._partial = None
        self._partial_timer.stop()

    def _deliver_partial(self) -> None:
        pending, self._partial = self._partial, None
        inputs = self._inputs
        if pending is None or pending[0] != self.request_id or inputs is None:
            return
        if not inputs.same_case_and_rois(self.current_inputs()):
            self.partials_dropped += 1  # another case or other ROIs on screen: never show it
            return
        seconds = time.perf_counter() - self._t0
        if self.first_partial_s is None:
            self.first_partial_s = seconds
        self.partial.emit(AnalysisPartial(pending[1], inputs, seconds))

    def _on_error(self, rid: int, message: str, user_error: bool) -> None:
        if rid != self.request_id:
            return
        self._drop_partial()
        self.request_id = None
        self.stall.stop()
        self.failed.emit(message, user_error)

    def _on_done(self, rid: int, payload: tuple[AnalysisResult, dict[CropKey, np.ndarray]]) -> None:
        result, crops = payload
        inputs = self._inputs
        if rid != self.request_id or inputs is None or result.request_id != str(rid):
            self.dropped += 1
            return
        self.request_id = None
        self._inputs = None
        self._drop_partial()  # the final result replaces any partial not yet shown
        if not inputs.same_case_and_rois(self.current_inputs()):
            # The case or its ROIs changed and the cancel came too late: never show it.
            self.stall.stop()
            self.dropped += 1
            self.cancelled.emit("The case or its ROIs changed during the analysis")
            return
        run = AnalysisRun(result, crops, inputs, seconds=time.perf_counter() - self._t0,
                          extra={"first_partial_s": self.first_partial_s})
        self.last_run = run
        self.finished.emit(run)
        self._tail_run = run
        self._tail.start()

    def _end_tail(self) -> None:
        """The stall figures of the last delivered run: from the request to shortly after its display."""
        run, self._tail_run = self._tail_run, None
        self._tail.stop()
        if run is None:
            return
        run.longest_stall_ms = self.stall.stop()
        run.stall_p99_ms = self.stall.percentile_ms(99)
        run.ticks = len(self.stall.gaps_ms)
        self.stallMeasured.emit(run)

    def shutdown(self, msecs: int = 10000) -> None:
        self._drop_partial()
        self._tail_run = None
        self._tail.stop()
        self.stall.stop()
        self.cancel(emit=False)
        self.runner.cancel("bundle")
        self.runner.wait(msecs)
