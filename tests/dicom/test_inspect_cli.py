"""`ultrasound-reader inspect` run as a user runs it (subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pydicom
import pytest

ENV_PY = [sys.executable, "-m", "ultrasound_reader"]


def _run(*args):
    return subprocess.run([*ENV_PY, "inspect", *map(str, args)], capture_output=True, text=True, timeout=60)


def test_text_and_json(dicom_samples):
    path = dicom_samples / "examples_palette.dcm"
    text = _run(path)
    assert text.returncode == 0, text.stderr
    assert "PALETTE COLOR" in text.stdout and "0.26229 x 0.26229 mm/px" in text.stdout
    out = _run(path, "--json")
    assert out.returncode == 0
    info = json.loads(out.stdout)
    assert info["photometric"] == "PALETTE COLOR" and info["frames"] == 1
    tissue = info["calibration"]["regions"][0]
    assert tissue["data_type"] == "tissue" and tissue["units_x"] == "cm"
    assert tissue["mm_per_pixel"][0] == pytest.approx(0.262288, abs=1e-6)


def test_writes_frame_png(dicom_samples, tmp_path):
    path = dicom_samples / "examples_ybr_color.dcm"
    out = tmp_path / "frame7.png"
    result = _run(path, "--frame", 7, "--out", out, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["fps"] > 29
    png = cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB)
    assert np.array_equal(png, pydicom.dcmread(path).pixel_array[7])


def test_bad_file_exits_1_with_one_line(tmp_path):
    bad = tmp_path / "bad.dcm"
    bad.write_text("nope")
    result = _run(bad)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.dcm" in lines[0] and "Traceback" not in result.stderr


def test_frame_out_of_range(dicom_samples, tmp_path):
    result = _run(dicom_samples / "examples_ybr_color.dcm", "--frame", 99, "--out", tmp_path / "x.png")
    assert result.returncode == 1 and "out of range" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
