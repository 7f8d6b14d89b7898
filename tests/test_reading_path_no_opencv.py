"""The reading path (dicom -> case -> ai -> export) imports no OpenCV: the packaged app leaves it out.

Each test runs a script in a fresh interpreter with a meta-path finder that records the
stack of the first ``import cv2`` (and lets it happen), then fails naming the importer.
The quick test walks the reading path without model inference (open, thumbnails,
preprocessing of every ROI, Grad-CAM overlay and soft mask, corner-text placement, the
export picture, a PNG); the slow one runs ``analyze`` with Grad-CAM PNGs and ``export``
(SR, secondary capture, PDF) on a demo case, as a user would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "resources" / "demo"

WATCH = textwrap.dedent("""
    import importlib.abc, sys, traceback
    _first = []

    class _WatchOpenCV(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "cv2" and not _first:
                _first.append("".join(traceback.format_stack()[:-1]))
            return None

    sys.meta_path.insert(0, _WatchOpenCV())

    def _check():
        if _first or "cv2" in sys.modules:
            print("OpenCV imported by the reading path, first import from:", file=sys.stderr)
            print(_first[0] if _first else "(no stack recorded)", file=sys.stderr)
            sys.exit(3)
        print("no OpenCV")
""")

QUICK = textwrap.dedent("""
    import json
    from pathlib import Path

    import numpy as np

    from ultrasound_reader.ai.gradcam import blend, colorize, overlay_rgba, roi_mask
    from ultrasound_reader.ai.preprocess import crop_roi, map_to_box
    from ultrasound_reader.case import CamMap, Case
    from ultrasound_reader.dicom import open_cine
    from ultrasound_reader.dicom.still import write_png
    from ultrasound_reader.export.render import overlay_picture
    from ultrasound_reader.gui.overlay_place import occupancy

    demo, models, out = (Path(p) for p in sys.argv[1:4])
    for task, bundle in (("liver", "liver-fll-demo"), ("soft-tissue", "soft-tissue-demo")):
        spec = json.loads((models / bundle / "manifest.json").read_text())["input"]
        case = Case.load(sorted((demo / task).glob("*/case.json"))[0])
        for i, _ in enumerate(case.images):
            with open_cine(case.image_path(i)) as cine:
                cine.thumbnail()
                occupancy(cine.frame(0))
        cams = []
        for roi in case.rois:
            with open_cine(case.image_path(roi.image)) as cine:
                frame = np.array(cine.frame(roi.frame))
            for role in spec["color"]:
                crop = crop_roi(frame, roi, spec, role)
            box, heat = map_to_box(np.random.default_rng(0).random((7, 7)).astype(np.float32), crop)
            cams.append(CamMap(roi.id, "L", roi.image, roi.frame, box, heat))
        h, w = frame.shape[:2]
        outlines = {r.id: r.outline() for r in case.rois}
        rgba = overlay_rgba(cams, h, w, mask=roi_mask(cams, outlines, h, w))
        colorize(np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8))
        rgb = frame if frame.ndim == 3 else np.repeat(frame[:, :, None], 3, axis=2)
        write_png(out / f"{task}.png", blend(rgb, rgba))
        picture, _, _ = overlay_picture(case, None, demo=True)
        assert picture.ndim == 3
    _check()
""")

FULL = textwrap.dedent("""
    from ultrasound_reader import cli

    case, out = sys.argv[1:3]
    assert cli.main(["analyze", case, "--cam-dir", out + "/cams", "--json"]) == 0
    assert cli.main(["export", case, "--sr", out + "/sr.dcm", "--sc", out + "/sc.dcm", "--pdf",
                     out + "/report.pdf", "--json"]) == 0
    _check()
""")


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "QT_QPA_PLATFORM": "offscreen"}
    with tempfile.TemporaryDirectory(prefix="ur-no-opencv-") as tmp:
        path = Path(tmp) / "reading_path.py"  # a file, so that the recorded stack shows its lines
        path.write_text(WATCH + script)
        return subprocess.run([sys.executable, str(path), *args], capture_output=True, text=True,
                              env=env, cwd=REPO, timeout=600)


def test_watch_names_the_importer():
    """The check can fail: a script that imports OpenCV is caught, with the importing line."""
    proc = _run("def f():\n    import cv2\nf()\n_check()\n")
    assert proc.returncode == 3, proc.stderr
    assert "OpenCV imported by the reading path" in proc.stderr and "import cv2" in proc.stderr


def test_reading_path_without_inference_imports_no_opencv(tmp_path):
    proc = _run(QUICK, str(DEMO), str(REPO / "models"), str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "no OpenCV" in proc.stdout
    assert (tmp_path / "liver.png").stat().st_size > 1000


@pytest.mark.slow
def test_analyze_and_export_of_a_demo_case_import_no_opencv(tmp_path):
    proc = _run(FULL, str(DEMO / "liver" / "liver-s136-0000"), str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "no OpenCV" in proc.stdout
    assert list((tmp_path / "cams").glob("*.png")) and (tmp_path / "report.pdf").stat().st_size > 1000
