"""``Analyzer(bundle).run(case) -> AnalysisResult``: the entry point of the AI layer.

The analyzer checks the case against the bundle (task, ROIs, image count), reads
the frames the ROIs were drawn on, and hands over to the task's pipeline (fll.py,
soft_tissue.py) through the task table ``PIPELINES``; what the pipelines share lives
in context.py. It reports progress through a callback, stops between steps when
the cancel token is set (raising CancelledError: a cancelled run has no result), and
stamps the result with the request id so a late result never lands on another case.
With ``partial``, the pipeline hands out each output as it is computed (FLL: L, LB;
soft tissue: DLM-1, SM-1 … SM-4) as a :class:`~.context.PartialResult`, stamped with
the same request id; the final result is the same with or without it.

Bad input raises UserError before anything is computed; an output that could not be
computed (LBC without clinical factors, LB without a background ROI) leaves the
result ``complete=False`` with a warning saying why, never a silent gap.
"""

from __future__ import annotations

import importlib
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from ultrasound_reader.ai.bundle import Bundle, load_bundle
from ultrasound_reader.ai.context import FrameSource, Partial, Progress, RunContext, _CineFrames
from ultrasound_reader.case import AnalysisResult, Case
from ultrasound_reader.errors import UserError

# The pipeline of each task: "module:function", imported on first use (torch comes with it).
PIPELINES: dict[str, str] = {
    "liver-fll": "ultrasound_reader.ai.fll:run_fll",
    "soft-tissue": "ultrasound_reader.ai.soft_tissue:run_soft_tissue",
}


def pipeline_for(task: str) -> Callable[[RunContext], AnalysisResult]:
    """The pipeline function of ``task`` (UserError for a task without one)."""
    if task not in PIPELINES:
        raise UserError(f"no analysis pipeline for task {task!r} (known: {', '.join(PIPELINES)})")
    module, name = PIPELINES[task].split(":")
    return getattr(importlib.import_module(module), name)


class Analyzer:
    """Runs a bundle's pipeline on cases. Construct once per bundle; ``run`` per case.

    ``threads`` sets torch's intra-op thread count (torch's setting is process-wide);
    ``cam=False`` skips the Grad-CAM maps; ``cam_method`` is ``gradcam`` or ``gradcam++``.
    """

    def __init__(self, bundle: Bundle | str | Path, *, threads: int | None = None, cam: bool = True,
                 cam_method: str = "gradcam", runtime: str | None = None) -> None:
        from ultrasound_reader.ai.onnx_runtime import OnnxBundle, choose_runtime, load_onnx_bundle

        # runtime: "torch", "onnx" or "auto"/None ($ULTRASOUND_READER_RUNTIME, else torch if importable).
        if isinstance(bundle, OnnxBundle):
            self.runtime = "onnx"
        elif isinstance(bundle, Bundle):
            self.runtime = "torch"
        else:
            self.runtime = choose_runtime(runtime)
        if isinstance(bundle, (Bundle, OnnxBundle)):
            self.bundle = bundle
        elif self.runtime == "onnx":
            self.bundle = load_onnx_bundle(bundle, threads=threads)
        else:
            self.bundle = load_bundle(bundle)
        self.threads = threads
        self.cam = cam
        if cam_method not in ("gradcam", "gradcam++"):
            raise UserError(f"CAM method {cam_method!r} is not 'gradcam' or 'gradcam++'")
        self.cam_method = cam_method

    def run(self, case: Case, progress: Progress | None = None, cancel: Any = None,
            request_id: str | None = None, frame_source: FrameSource | None = None,
            partial: Partial | None = None) -> AnalysisResult:
        """Analyse ``case``. ``frame_source(image, frame) -> (pixels, calibration)`` overrides file reading;
        ``partial(PartialResult)`` receives the outputs so far as each is computed (same thread)."""
        t0 = time.perf_counter()
        b = self.bundle
        if case.task != b.task:
            raise UserError(f"case {case.case_id} is a {case.task} case; bundle {b.name} is for {b.task}")
        if not case.images:
            raise UserError(f"case {case.case_id}: has no images")
        if self.threads and self.runtime == "torch":
            import torch

            torch.set_num_threads(int(self.threads))
        request_id = request_id or uuid.uuid4().hex
        with ExitStack() as stack:
            ctx = RunContext(case, b, progress, cancel, frame_source or _CineFrames(case, stack),
                             cam=self.cam, cam_method=self.cam_method, partial=partial, request_id=request_id)
            ctx.step(0.0, "checking the case")
            if self.runtime == "onnx":
                from ultrasound_reader.ai.onnx_runtime import PIPELINES as ONNX_PIPELINES

                if b.task not in ONNX_PIPELINES:
                    raise UserError(f"no ONNX analysis pipeline for task {b.task!r}")
                result = ONNX_PIPELINES[b.task](ctx)
            else:
                result = pipeline_for(b.task)(ctx)
        result.request_id = request_id
        result.warnings = ctx.warnings
        result.timings = ctx.timings | {"total_s": round(time.perf_counter() - t0, 6)}
        if progress is not None:
            progress(1.0, "done")
        return result
