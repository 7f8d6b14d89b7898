"""``ultrasound-reader analyze`` as a user runs it (a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np


def analyze(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ultrasound_reader", "analyze", *args],
                          capture_output=True, text=True, timeout=180)


def test_json_and_cam_files(fll_bundle_dir: Path, fll_case, tmp_path: Path) -> None:
    case = fll_case(n_lesion=2, n_background=2)
    out = analyze(str(case.root), "--bundle", str(fll_bundle_dir), "--json", "--cam-dir", str(tmp_path / "cams"))
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert d["case_id"] == case.case_id and set(d["probabilities"]) == {"L", "LB", "LBC"}
    assert d["decision"] in ("benign", "malignant") and d["not_for_clinical_use"] is True
    assert len(d["cams"]) == 8 and len(d["cam_files"]) == 16
    for cam in d["cams"]:
        stem = tmp_path / "cams" / f"{case.case_id}_{cam['model']}_{cam['roi_id']}"
        heat = np.load(stem.with_suffix(".npy"))
        assert list(heat.shape) == cam["shape"] and heat.max() <= 1.0
        png = cv2.imread(str(stem.with_suffix(".png")))
        assert png.shape == (240, 320, 3)


def test_human_output(soft_bundle_dir: Path, soft_case) -> None:
    case = soft_case()
    out = analyze(str(case.root / "case.json"), "--bundle", str(soft_bundle_dir), "--no-cam")
    assert out.returncode == 0, out.stderr
    assert "not for clinical use" in out.stdout and "DLM-1" in out.stdout and "SM-5" in out.stdout
    assert "decision:" in out.stdout


def test_bad_case_exits_1_with_one_line(fll_bundle_dir: Path, soft_bundle_dir: Path, fll_case, tmp_path: Path) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "case.json").write_text("{oops")
    out = analyze(str(tmp_path / "broken"), "--bundle", str(fll_bundle_dir))
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and "not a readable case file" in out.stderr
    case = fll_case()
    out = analyze(str(case.root), "--bundle", str(soft_bundle_dir))
    assert out.returncode == 1 and out.stderr.count("\n") == 1
    assert "bundle is for task 'soft-tissue', not 'liver-fll'" in out.stderr and "Traceback" not in out.stderr
