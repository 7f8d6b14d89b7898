"""Phantom files of a paired body part carry Laterality (Type 2C, General Series); an IOD
validator (dicom3tools' dciodvfy) finds no error in them."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pydicom
import pytest

from ultrasound_reader.phantom.writer import PAIRED_BODY_PARTS, Header, Region, write_us


def _write(tmp_path, body_part: str, laterality: str):
    header = Header(f"1/soft/0/{body_part}", patient_name="PHANTOM^TEST", patient_id="PH-TEST", patient_sex="O",
                    patient_age=40, study_date="20000101", study_time="120000", accession="PHTEST0001",
                    study_description="PHANTOM test", series_description="PHANTOM B-mode", series_number=1,
                    body_part=body_part, institution="PHANTOM", manufacturer="PHANTOM", model="PHANTOM",
                    transducer="L12", laterality=laterality)
    frame = np.full((32, 48, 3), 60, np.uint8)
    return write_us(tmp_path / f"{body_part}.dcm", [frame], header, [Region((0, 0, 47, 31), 1, 0.1, (24.0, 0.0))],
                    compression="none")


@pytest.mark.parametrize("body_part, laterality, expected", [("LEG", "L", "L"), ("SHOULDER", "R", "R"),
                                                              ("CHEST", "R", None)])
def test_laterality_written_for_paired_parts_only(tmp_path, body_part, laterality, expected):
    ds = pydicom.dcmread(_write(tmp_path, body_part, laterality))
    assert ds.get("Laterality") == expected
    assert (body_part in PAIRED_BODY_PARTS) == (expected is not None)


def test_iod_validator_is_satisfied(tmp_path):
    assert shutil.which("dciodvfy"), "dciodvfy (Debian package dicom3tools) is needed by this test"
    path = _write(tmp_path, "THIGH", "R")
    out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    report = out.stdout + out.stderr
    assert "Error" not in report, report
