"""What every analysis pipeline shares: the run context and the steps common to both tasks.

:class:`RunContext` carries the case, bundle, frames, progress, cancellation, timings
and warnings of one run, and hands out partial results as each output is computed
(:class:`PartialResult`, through ``RunContext.partial``); :func:`decide`,
:func:`lesion_size` and :func:`looks_cystic` are the steps both pipelines (fll.py,
soft_tissue.py) take. The dispatcher
(analyzer.py) imports the pipelines through its task table; the pipelines import
this module, never the dispatcher.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ultrasound_reader.ai.bundle import Bundle
from ultrasound_reader.ai.preprocess import check_roi
from ultrasound_reader.case import AnalysisResult, Case, Roi, size_band
from ultrasound_reader.case_rules import roi_size
from ultrasound_reader.errors import CancelledError, UserError, is_cancelled

Progress = Callable[[float, str], None]
FrameSource = Callable[[int, int], tuple[np.ndarray, Any]]  # (image, frame) -> (pixels, calibration)

EDGE_TOLERANCE_PX = 0.5  # an ROI may reach half a pixel past the outer pixel edges (rounding)
CYSTIC_RATIO = 0.35  # lesion-core mean below this fraction of the surrounding tissue's ...
CYSTIC_CV = 0.35  # ... and a homogeneous core (std/mean of the surround below this): anechoic


@dataclass
class PartialResult:
    """The outputs of a run so far (``result.complete`` is False) and those still to come, in order.

    FLL: L, then LB, then LBC; soft tissue: DLM-1, then SM-1 … SM-5. ``result`` carries the
    probabilities, per-image scores and Grad-CAMs computed so far; its decision is set only
    once no output still to come could decide instead (soft tissue: DLM-1 decides; FLL: the
    first of LBC, LB, L computed), and the benign subtype only with the final result.
    """

    result: AnalysisResult
    done: tuple[str, ...]
    remaining: tuple[str, ...]

    @property
    def total(self) -> int:
        return len(self.done) + len(self.remaining)

    @property
    def computing(self) -> str | None:
        """The output being computed now (the next to come), None when none remains."""
        return self.remaining[0] if self.remaining else None


Partial = Callable[[PartialResult], None]


@dataclass
class RunContext:
    """What a pipeline needs while it runs: frames, progress, cancellation, timings."""

    case: Case
    bundle: Bundle
    progress: Progress | None
    cancel: Any
    frame_source: FrameSource
    cam: bool = True
    cam_method: str = "gradcam"
    partial: Partial | None = None  # called with each partial result (on the thread that runs the pipeline)
    request_id: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    _t: float = field(default_factory=time.perf_counter)

    def step(self, fraction: float, message: str) -> None:
        if is_cancelled(self.cancel):
            raise CancelledError(f"analysis of case {self.case.case_id} cancelled")
        if self.progress is not None:
            self.progress(float(fraction), message)

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = round(self.timings.get(name, 0.0) + now - self._t, 6)
        self._t = now

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def emit_partial(self, done: list[str], remaining: list[str], make: Callable[[], AnalysisResult]) -> None:
        """Hand the outputs so far to ``partial`` (if any): ``make()`` builds them, only when asked for.

        Nothing is handed out once the run is cancelled or when nothing remains (the final
        result follows at once); the final result does not depend on this call.
        """
        if self.partial is None or not remaining or is_cancelled(self.cancel):
            return
        result = make()
        result.complete = False
        result.request_id = self.request_id
        result.warnings = list(self.warnings)
        result.timings = dict(self.timings)
        self.partial(PartialResult(result, tuple(done), tuple(remaining)))

    def frame_of(self, roi: Roi) -> tuple[np.ndarray, Any]:
        """The frame an ROI was drawn on, after checking the ROI lies on it, wholly."""
        pixels, calibration = self.frame_source(roi.image, roi.frame)
        h, w = pixels.shape[:2]
        where = f"image {roi.image} ({self.case.images[roi.image].file}) frame {roi.frame}"
        check_roi(roi, w, h, where=where)
        # The GUI never draws past the image's edge (case_rules.clip_points); an ROI that does
        # comes from an edited file, and its size and calibration would be judged off the image.
        x0, y0, x1, y1 = roi.bbox()
        if x0 < -0.5 - EDGE_TOLERANCE_PX or y0 < -0.5 - EDGE_TOLERANCE_PX \
                or x1 > w - 0.5 + EDGE_TOLERANCE_PX or y1 > h - 0.5 + EDGE_TOLERANCE_PX:
            raise UserError(f"ROI {roi.id} on {where}: extends outside the {w}x{h} image "
                            f"(x {x0:.1f} to {x1:.1f}, y {y0:.1f} to {y1:.1f}); redraw it inside the image")
        return pixels, calibration


class _CineFrames:
    """Frames read through dicom.open_cine, each file opened once per run."""

    def __init__(self, case: Case, stack: ExitStack) -> None:
        self.case, self.stack, self.cines = case, stack, {}

    def __call__(self, image: int, frame: int) -> tuple[np.ndarray, Any]:
        from ultrasound_reader.dicom import open_cine

        if not 0 <= image < len(self.case.images):
            raise UserError(f"case {self.case.case_id}: ROI refers to image {image}, "
                            f"but the case has {len(self.case.images)} image(s)")
        if image not in self.cines:
            cine = self.stack.enter_context(open_cine(self.case.image_path(image)))
            shown = self.case.images[image].frame
            if not 0 <= shown < cine.n_frames:
                raise UserError(f"{cine.path}: image {image} of case {self.case.case_id} names frame {shown}, "
                                f"which does not exist (the file has {cine.n_frames} frame(s))")
            self.cines[image] = cine
        cine = self.cines[image]
        if not 0 <= frame < cine.n_frames:
            raise UserError(f"{cine.path}: frame {frame} does not exist (the file has {cine.n_frames} frame(s))")
        return cine.frame(frame), cine.calibration


def looks_cystic(pixels: np.ndarray, roi: Roi) -> bool:
    """Heuristic intended-use check: an anechoic, homogeneous core inside brighter tissue.

    Compares the central half of the ROI box with a ring around the box (half a box
    wide). It is a prompt to look again, not a diagnosis; the thresholds are above.
    """
    gray = pixels.mean(axis=2) if pixels.ndim == 3 else pixels.astype(np.float32)
    h, w = gray.shape
    x0, y0, x1, y1 = roi.bbox()
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
    core = gray[max(int(cy - ry / 2), 0): min(int(cy + ry / 2) + 1, h),
                max(int(cx - rx / 2), 0): min(int(cx + rx / 2) + 1, w)]
    oy0, oy1 = max(int(y0 - ry), 0), min(int(y1 + ry) + 1, h)
    ox0, ox1 = max(int(x0 - rx), 0), min(int(x1 + rx) + 1, w)
    outer = gray[oy0:oy1, ox0:ox1].astype(np.float64)
    ring = np.ones(outer.shape, bool)
    ring[max(int(y0), 0) - oy0: min(int(y1) + 1, h) - oy0, max(int(x0), 0) - ox0: min(int(x1) + 1, w) - ox0] = False
    if core.size == 0 or ring.sum() < 16:
        return False
    ring_mean = float(outer[ring].mean())
    if ring_mean < 10:  # surround itself is (nearly) black: no contrast to judge by
        return False
    return float(core.mean()) < CYSTIC_RATIO * ring_mean and float(core.std()) < CYSTIC_CV * ring_mean


def lesion_size(ctx: RunContext, rois: list[Roi]) -> tuple[float | None, str | None]:
    """(maximal diameter in cm over the calibrated ROIs, size band); warns when uncalibrated."""
    sizes, uncalibrated, off_region = [], [], []
    for roi in rois:
        _, cal = ctx.frame_of(roi)
        size = roi_size(roi, cal)
        if size.diameter_mm is not None:
            sizes.append(size.diameter_mm)
        elif cal is None:
            uncalibrated.append(roi.id)
        else:  # the image is calibrated, but not where the ROI's centre lies
            off_region.append(roi.id)
    by_eye = " (check the lesion is > 1.0 cm by eye)" if ctx.bundle.manifest["intended_use"].get("min_lesion_cm") \
        else ""
    if off_region:
        ctx.warn(f"lesion ROI(s) {', '.join(off_region)} lie outside the calibrated region of their image "
                 "and were not measured" + ("" if sizes else f": lesion size is unknown{by_eye}"))
    if not sizes and not off_region:
        ctx.warn("uncalibrated image: lesion size and its size stratum are unknown" + by_eye if by_eye
                 else "uncalibrated image: lesion size is unknown")
    if not sizes:
        return None, None
    if uncalibrated:
        ctx.warn(f"lesion ROI(s) {', '.join(uncalibrated)} lie on uncalibrated images and were not measured")
    cm = max(sizes) / 10.0
    min_cm = ctx.bundle.manifest["intended_use"].get("min_lesion_cm")
    if min_cm is not None and cm <= float(min_cm):
        ctx.warn(f"lesion {cm:.2f} cm is <= {min_cm} cm: outside the intended use "
                 f"(the model was validated on lesions > {min_cm} cm)")
    return round(cm, 3), size_band(cm)


def decide(ctx: RunContext, probs: dict[str, float],
           pending: tuple[str, ...] | list[str] = ()) -> tuple[str | None, float | None, str | None]:
    """(decision model, cut-off, decision) from the first computable decision model.

    ``pending``: outputs still to be computed (a partial result); a decision model listed
    before them cannot decide yet, so (None, None, None) until they are in.
    """
    m = ctx.bundle.manifest
    for name in m["decision_models"]:
        if name in pending:
            return None, None, None
        if name in probs:
            cut = float(m["thresholds"][name]["value"])
            return name, cut, "malignant" if probs[name] >= cut else "benign"
    return None, None, None
