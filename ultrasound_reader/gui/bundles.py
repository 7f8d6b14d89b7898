"""Which model bundle the reading window uses, found without importing torch.

A bundle is chosen per task: the one the reader last opened for that task (kept in
QSettings by the caller) if it still exists, else a bundle of that task under
:func:`ultrasound_reader.paths.models_dir` (a ``*-demo`` one first). Finding reads
only ``manifest.json``; loading (:func:`load_bundle_job`, hashes checked, weights
read, torch imported) runs in a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ultrasound_reader.ai import manifest
from ultrasound_reader.case_rules import TASK_LABELS
from ultrasound_reader.errors import UserError
from ultrasound_reader.gui.viewer_activity import pause_point, yield_to_viewer
from ultrasound_reader.paths import models_dir

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class BundleInfo:
    """What the manifest of a bundle folder says about it (read without loading it)."""

    path: Path
    name: str
    version: str
    task: str


def read_info(folder: str | Path) -> BundleInfo | None:
    """The bundle in ``folder`` per its manifest, or None when it is not a readable bundle."""
    folder = Path(folder)
    try:
        # The strict reader: size- and depth-capped, so a hostile manifest in a remembered
        # folder cannot blow the stack here.
        data, _raw = manifest.read(folder / MANIFEST)
        return BundleInfo(folder, str(data["name"]), str(data.get("version", "")), str(data["task"]))
    except (OSError, ValueError, KeyError, TypeError, UserError):
        return None


def bundles_for(task: str, root: Path | None = None) -> list[BundleInfo]:
    """The bundles of ``task`` under ``root`` (default: the bundled models), demo bundles first."""
    root = models_dir() if root is None else root
    if not root.is_dir():
        return []
    found = [info for p in sorted(root.iterdir()) if p.is_dir() and (info := read_info(p)) is not None
             and info.task == task]
    return sorted(found, key=lambda i: (not i.name.endswith("-demo"), i.name))


def default_bundle(task: str, remembered: str | None = None) -> BundleInfo | None:
    """The bundle to use for ``task``: the remembered folder if it is still a bundle of that task, else the first found."""
    if remembered:
        info = read_info(remembered)
        if info is not None and info.task == task:
            return info
    found = bundles_for(task)
    return found[0] if found else None


def no_bundle_message(task: str) -> str:
    label = TASK_LABELS.get(task, task)
    return (f"no model bundle for task {task} ({label}) — analysis unavailable "
            f"(Analysis ▸ Open Model Bundle… to choose one; looked in {models_dir()})")


def load_bundle_job(job: Any, path: str) -> Any:
    """Worker: verify and load a bundle (imports torch or onnxruntime; never on the GUI thread)."""
    job.progress(0, 1, f"Loading model bundle {Path(path).name}")
    # Seconds of GIL-holding imports: they wait while the viewer shows frames (viewer_activity.py).
    with yield_to_viewer():
        from ultrasound_reader.ai.onnx_runtime import load_for_runtime
        from ultrasound_reader.gui.analysis import ANALYSIS_THREADS

        pause_point()
        # ONNX Runtime when the bundle carries its graphs (faster) or torch is absent (the frozen
        # application), else torch; $ULTRASOUND_READER_RUNTIME overrides
        bundle = load_for_runtime(path, threads=ANALYSIS_THREADS)
        # What the first analysis and its display would otherwise import (holding the GIL, or on
        # the GUI thread): the pipelines and scipy.ndimage, which fades the Grad-CAM maps at the
        # ROI outline (ai.gradcam.soft_mask). The reading path does not use OpenCV.
        import scipy.ndimage  # noqa: F401

        import ultrasound_reader.ai.analyzer  # noqa: F401
        if getattr(bundle, "runtime", "torch") == "torch":
            from ultrasound_reader.ai import fll, soft_tissue  # noqa: F401

    job.check()
    return bundle
