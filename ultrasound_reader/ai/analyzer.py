"""``Analyzer(bundle).run(case) -> AnalysisResult``: the entry point of the AI layer.

The analyzer checks the case against the bundle (task, ROIs, image count), reads
the frames the ROIs were drawn on, and hands over to the task's pipeline (fll.py,
soft_tissue.py). It reports progress through a callback, stops between steps when
the cancel token is set (raising CancelledError: a cancelled run has no result), and
stamps the result with the request id so a late result never lands on another case.

Bad input raises UserError before anything is computed; an output that could not be
computed (LBC without clinical factors, LB without a background ROI) leaves the
result ``complete=False`` with a warning saying why, never a silent gap.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ultrasound_reader.ai.bundle import Bundle, load_bundle
from ultrasound_reader.ai.preprocess import check_roi
from ultrasound_reader.case import AnalysisResult, Case, Roi, size_band
from ultrasound_reader.case_rules import roi_size
from ultrasound_reader.errors import CancelledError, UserError

Progress = Callable[[float, str], None]
FrameSource = Callable[[int, int], tuple[np.ndarray, Any]]  # (image, frame) -> (pixels, calibration)

CYSTIC_RATIO = 0.35  # lesion-core mean below this fraction of the surrounding tissue's ...
CYSTIC_CV = 0.35  # ... and a homogeneous core (std/mean of the surround below this): anechoic


def _cancelled(token: Any) -> bool:
    if token is None:
        return False
    if callable(getattr(token, "is_set", None)):
        return bool(token.is_set())
    if hasattr(token, "cancelled"):
        c = token.cancelled
        return bool(c() if callable(c) else c)
    return bool(token() if callable(token) else token)


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
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    _t: float = field(default_factory=time.perf_counter)

    def step(self, fraction: float, message: str) -> None:
        if _cancelled(self.cancel):
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

    def frame_of(self, roi: Roi) -> tuple[np.ndarray, Any]:
        """The frame an ROI was drawn on, after checking the ROI lies on it."""
        pixels, calibration = self.frame_source(roi.image, roi.frame)
        h, w = pixels.shape[:2]
        check_roi(roi, w, h, where=f"image {roi.image} ({self.case.images[roi.image].file}) frame {roi.frame}")
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
            self.cines[image] = self.stack.enter_context(open_cine(self.case.image_path(image)))
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
    sizes, uncalibrated = [], []
    for roi in rois:
        _, cal = ctx.frame_of(roi)
        mm = roi_size(roi, cal).diameter_mm
        if mm is None:
            uncalibrated.append(roi.id)
        else:
            sizes.append(mm)
    if not sizes:
        ctx.warn("uncalibrated image: lesion size and its size stratum are unknown "
                 "(check the lesion is > 1.0 cm by eye)" if ctx.bundle.manifest["intended_use"].get("min_lesion_cm")
                 else "uncalibrated image: lesion size is unknown")
        return None, None
    if uncalibrated:
        ctx.warn(f"lesion ROI(s) {', '.join(uncalibrated)} lie on uncalibrated images and were not measured")
    cm = max(sizes) / 10.0
    min_cm = ctx.bundle.manifest["intended_use"].get("min_lesion_cm")
    if min_cm is not None and cm <= float(min_cm):
        ctx.warn(f"lesion {cm:.2f} cm is <= {min_cm} cm: outside the intended use "
                 f"(the model was validated on lesions > {min_cm} cm)")
    return round(cm, 3), size_band(cm)


def decide(ctx: RunContext, probs: dict[str, float]) -> tuple[str | None, float | None, str | None]:
    """(decision model, cut-off, decision) from the first computable decision model."""
    m = ctx.bundle.manifest
    for name in m["decision_models"]:
        if name in probs:
            cut = float(m["thresholds"][name]["value"])
            return name, cut, "malignant" if probs[name] >= cut else "benign"
    return None, None, None


class Analyzer:
    """Runs a bundle's pipeline on cases. Construct once per bundle; ``run`` per case.

    ``threads`` sets torch's intra-op thread count (torch's setting is process-wide);
    ``cam=False`` skips the Grad-CAM maps; ``cam_method`` is ``gradcam`` or ``gradcam++``.
    """

    def __init__(self, bundle: Bundle | str | Path, *, threads: int | None = None, cam: bool = True,
                 cam_method: str = "gradcam") -> None:
        self.bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
        self.threads = threads
        self.cam = cam
        if cam_method not in ("gradcam", "gradcam++"):
            raise UserError(f"CAM method {cam_method!r} is not 'gradcam' or 'gradcam++'")
        self.cam_method = cam_method

    def run(self, case: Case, progress: Progress | None = None, cancel: Any = None,
            request_id: str | None = None, frame_source: FrameSource | None = None) -> AnalysisResult:
        """Analyse ``case``. ``frame_source(image, frame) -> (pixels, calibration)`` overrides file reading."""
        import torch

        t0 = time.perf_counter()
        b = self.bundle
        if case.task != b.task:
            raise UserError(f"case {case.case_id} is a {case.task} case; bundle {b.name} is for {b.task}")
        if not case.images:
            raise UserError(f"case {case.case_id}: has no images")
        if self.threads:
            torch.set_num_threads(int(self.threads))
        with ExitStack() as stack:
            ctx = RunContext(case, b, progress, cancel, frame_source or _CineFrames(case, stack),
                             cam=self.cam, cam_method=self.cam_method)
            ctx.step(0.0, "checking the case")
            if b.task == "liver-fll":
                from ultrasound_reader.ai.fll import run_fll as pipeline
            else:
                from ultrasound_reader.ai.soft_tissue import run_soft_tissue as pipeline
            result = pipeline(ctx)
        result.request_id = request_id or uuid.uuid4().hex
        result.warnings = ctx.warnings
        result.timings = ctx.timings | {"total_s": round(time.perf_counter() - t0, 6)}
        if progress is not None:
            progress(1.0, "done")
        return result
