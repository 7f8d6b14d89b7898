"""``ultrasound-reader analyze CASE --bundle DIR [--json] [--cam-dir DIR]``.

Prints the probabilities, the cut-off and decision, per-image scores and warnings
(one JSON object with ``--json``). ``--cam-dir`` writes each Grad-CAM twice: the
heat map in ROI coordinates as ``.npy`` (float32, [0, 1]) and the frame with that map
blended on it as ``.png``. Without ``--bundle`` the bundled demo bundle of the
case's task is used, if there is one.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from ultrasound_reader import safejson
from ultrasound_reader.errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("case", metavar="CASE", help="case folder (holding case.json) or a .json case file")
    p.add_argument("--bundle", metavar="DIR", help="model bundle folder (default: the bundled demo of the case's task)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--cam-dir", metavar="DIR", help="write the Grad-CAM maps (.npy) and overlays (.png) here")
    p.add_argument("--no-cam", action="store_true", help="skip the Grad-CAM maps")
    p.add_argument("--cam-method", choices=("gradcam", "gradcam++"), default="gradcam")
    p.add_argument("--threads", type=int, default=2, metavar="N", help="torch CPU threads (default 2)")
    p.add_argument("--runtime", choices=("auto", "torch", "onnx"), default=None,
                   help="inference runtime (default: $ULTRASOUND_READER_RUNTIME, else ONNX Runtime when the bundle "
                        "carries ONNX graphs and onnxruntime is installed, else torch when installed, else ONNX Runtime)")
    add_trust_arguments(p)


def add_trust_arguments(p: argparse.ArgumentParser) -> None:
    """``--trust-store DIR`` and ``--require-signed``: how a bundle's signature is judged (ai.signing)."""
    p.add_argument("--trust-store", metavar="DIR",
                   help="folder of trusted public keys (*.pub) for bundle signatures (default: "
                        "$ULTRASOUND_READER_TRUST_STORE, else the bundled models/trust)")
    p.add_argument("--require-signed", action="store_true",
                   help="site policy: refuse bundles whose signature is not verified "
                        "(also ULTRASOUND_READER_REQUIRE_SIGNED=1)")


def default_bundle(task: str) -> Path:
    """The first bundled bundle (models/) whose manifest names ``task``."""
    from ultrasound_reader.ai.manifest import read as read_manifest
    from ultrasound_reader.paths import models_dir

    root = models_dir()
    for d in sorted(p for p in root.glob("*") if (p / "manifest.json").is_file()):
        try:
            data, _ = read_manifest(d / "manifest.json")
        except UserError:
            continue
        if isinstance(data, dict) and data.get("task") == task:
            return d
    raise UserError(f"no --bundle given and no bundled model for task {task!r} in {root}")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def write_cams(result: Any, case: Any, folder: Path) -> list[str]:
    """Write each CAM as .npy (ROI coordinates) and a blended full-frame .png; return the paths."""
    import numpy as np

    from ultrasound_reader.ai.gradcam import blend, overlay_rgba
    from ultrasound_reader.dicom import open_cine
    from ultrasound_reader.dicom.still import write_png

    folder.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    frames: dict[tuple[int, int], np.ndarray] = {}
    for cam in result.cams:
        key = (cam.image, cam.frame)
        if key not in frames:
            with open_cine(case.image_path(cam.image)) as cine:
                frames[key] = np.array(cine.frame(cam.frame))
        img = frames[key]
        stem = folder / _safe(f"{result.case_id}_{cam.model}_{cam.roi_id}")
        np.save(stem.with_suffix(".npy"), cam.heat)
        rgb = blend(img, overlay_rgba([cam], img.shape[0], img.shape[1]))
        write_png(stem.with_suffix(".png"), rgb)
        written += [str(stem.with_suffix(".npy")), str(stem.with_suffix(".png"))]
    return written


def _human(d: dict[str, Any]) -> str:
    lines = [f"case {d['case_id']} ({d['task']}) with {d['bundle_name']} {d['bundle_version']}"
             " - research software, not for clinical use"]
    if d.get("bundle_signature"):
        lines.append(f"  bundle: {d['bundle_signature']['verdict']} - {d['bundle_signature']['text']}")
    labels = d.get("model_labels", {})
    for k, v in d["probabilities"].items():
        lines.append(f"  {k:<6} p = {v:.3f}   {labels.get(k, '')}")
    if d["decision"]:
        lines.append(f"  decision: {d['decision']} ({d['decision_model']} >= {d['cutoff']:.3f} is malignant)")
    if d.get("subtype"):
        lines.append(f"  benign subtype: {d['subtype']}")
    if d.get("lb_type"):
        lines.append(f"  liver background: {d['lb_type']} "
                     + ", ".join(f"{k} {v:.2f}" for k, v in d["lb_type_probabilities"].items()))
    if d.get("total_points") is not None:
        pts = ", ".join(f"{k} {v:.1f}" for k, v in d["nomogram_points"].items())
        lines.append(f"  nomogram: {d['total_points']:.1f} points ({pts})")
    if d.get("lesion_size_cm") is not None:
        lines.append(f"  lesion size: {d['lesion_size_cm']:.2f} cm ({d['size_band']})")
    lines.append("  per image:")
    for row in d["per_image"]:
        parts = [f"{k} {v:.3f}" for k, v in row.items() if isinstance(v, float)]
        if "lb_type" in row:
            parts.append(f"LB type {row['lb_type']}")
        lines.append(f"    {row['kind']:<10} ROI {row['roi_id']} image {row['image']} frame {row['frame']}: "
                     + ", ".join(parts))
    if not d["complete"]:
        lines.append("  INCOMPLETE: some outputs could not be computed (see warnings)")
    for w in d["warnings"]:
        lines.append(f"  warning: {w}")
    if d.get("cam_files"):
        lines.append(f"  {len(d['cam_files'])} CAM files written")
    lines.append("  timings: " + ", ".join(f"{k} {v:.3f}" for k, v in d["timings"].items()))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ultrasound_reader.ai.analyzer import Analyzer
    from ultrasound_reader.ai.onnx_runtime import load_for_runtime
    from ultrasound_reader.case import Case

    if args.threads < 1:
        raise UserError(f"--threads: must be >= 1, got {args.threads}")
    case = Case.load(args.case)
    bundle_dir = Path(args.bundle) if args.bundle else default_bundle(case.task)
    # A bundle of another task, or a tampered one, fails before any weight is read.
    bundle = load_for_runtime(bundle_dir, case.task, runtime=getattr(args, "runtime", None), threads=args.threads,
                              trust_store=args.trust_store, require_signed=True if args.require_signed else None)
    result = Analyzer(bundle, threads=args.threads, cam=not args.no_cam, cam_method=args.cam_method).run(case)
    d = result.to_dict()
    d["bundle_signature"] = bundle.signature.to_dict() if bundle.signature else None
    if args.cam_dir and result.cams:
        d["cam_files"] = write_cams(result, case, Path(args.cam_dir))
    if args.json:
        sys.stdout.write(safejson.dumps(d, indent=2) + "\n")
    else:
        print(_human(d))
    return 0
