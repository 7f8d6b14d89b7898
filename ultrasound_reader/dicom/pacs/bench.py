"""Benchmark: the PACS round trip (send -> query -> retrieve -> open) against a private Orthanc.

PHANTOM study: one JPEG-baseline B-mode cine (20 frames, 480 x 640 RGB, as the demo
cases) and two native single frames. For C-GET, C-MOVE and DICOMweb (STOW/QIDO/WADO)
the figures are the seconds of each step, bytes sent and received, and how many
instances came back identical; the baseline, measured in the same run, is copying the
same files to a local folder and opening them (read + decode), so each round trip
reads as a ratio to local disk. Needs Debian's ``orthanc`` and ``orthanc-dicomweb``.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def _study(folder: Path, frames: int) -> list[Path]:
    from pydicom.uid import JPEGBaseline8Bit, generate_uid

    from ultrasound_reader.dicom.synth import speckle_frames, write_dicom

    study = str(generate_uid())
    files = [write_dicom(folder / "cine.dcm", speckle_frames(frames, color=True, seed=1),
                         transfer_syntax=JPEGBaseline8Bit, study_uid=study, frame_time_ms=40.0,
                         patient_id="PHANTOM-BENCH")]
    for i in range(2):
        files.append(write_dicom(folder / f"still{i}.dcm", speckle_frames(1, seed=2 + i), study_uid=study,
                                 patient_id="PHANTOM-BENCH"))
    return files


def _local(files: list[Path], dest: Path) -> float:
    import pydicom

    t0 = time.perf_counter()
    dest.mkdir()
    for f in files:
        shutil.copyfile(f, dest / f.name)
    for f in dest.iterdir():
        _ = pydicom.dcmread(f).pixel_array
    return time.perf_counter() - t0


def run(quick: bool = False) -> dict:
    from ultrasound_reader.dicom import pacs
    from ultrasound_reader.dicom.pacs.testserver import Orthanc, dicomweb_plugin, orthanc_binary

    try:
        orthanc_binary()
        dicomweb_plugin()
    except RuntimeError as exc:  # `bench` runs every suite: say why this one did not run
        return {"skipped": str(exc)}
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="usr-pacs-bench-") as tmp:
        root = Path(tmp)
        files = _study(root / "src", 8 if quick else 20)
        out["files"] = len(files)
        out["bytes"] = sum(f.stat().st_size for f in files)
        local = [_local(files, root / f"local{i}") for i in range(1 if quick else 3)]
        out["baseline_local_copy_open_s"] = round(float(np.median(local)), 4)
        for label, kind, method in (("c-get", "dimse", "get"), ("c-move", "dimse", "move"),
                                    ("dicomweb", "dicomweb", None)):
            server = Orthanc(root / f"orthanc-{label}").start()
            try:
                node = server.dimse_node(30) if kind == "dimse" else server.web_node(30)
                m = pacs.round_trip(node, files, root / f"cache-{label}", method=method)
            finally:
                server.stop()
            for k in ("send_s", "query_s", "retrieve_s", "open_s", "total_s"):
                out[f"{label}_{k}"] = round(m[k], 4)
            out[f"{label}_bytes_received"] = m["bytes_received"]
            out[f"{label}_identical"] = f"{m['identical']}/{m['files']}"
            out[f"{label}_total_over_local"] = round(m["total_s"] / out["baseline_local_copy_open_s"], 1)
    return out
