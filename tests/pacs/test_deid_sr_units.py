"""Small, fast checks of the de-identifier's actions and of an SR without analysis (soft tissue)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from ultrasound_reader.case import Case, ImageRef, Roi
from ultrasound_reader.dicom.deid import Deidentifier, action_table, deidentify_file
from ultrasound_reader.dicom.sr import case_from_sr, read_sr
from ultrasound_reader.dicom.synth import write_dicom
from ultrasound_reader.export import Export


def _source(tmp_path: Path, name: str = "s.dcm", color: bool = False) -> Path:
    shape = (1, 32, 40, 3) if color else (1, 32, 40)
    p = write_dicom(tmp_path / name, np.full(shape, 90, np.uint8), extra={
        "PatientName": "ROE^RICHARD", "PatientID": "ID-1", "PatientBirthDate": "19700101",
        "StudyDate": "20200115", "AcquisitionDateTime": "20200115101010", "StudyTime": "101010",
        "InstitutionName": "Hospital X", "OperatorsName": "OP^ONE"})
    ds = pydicom.dcmread(p)
    ov = Dataset()
    ov.PatientName = "NESTED^NAME"
    ov.PatientID = "ID-NESTED"
    ds.ReferencedPatientSequence = DicomSequence([ov])
    ds.add_new(0x60004000, "LT", "overlay comment naming ROE")  # Overlay Comments: a repeating group (X)
    ds.save_as(p, enforce_file_format=True)
    return p


def test_table_is_the_ps315_basic_profile() -> None:
    by_tag, ranges = action_table()
    assert len(by_tag) > 400
    assert by_tag[pydicom.tag.Tag("PatientName")] == "Z" and by_tag[pydicom.tag.Tag("SOPInstanceUID")] == "U"
    assert by_tag[pydicom.tag.Tag("InstitutionName")].startswith("X")
    assert any(g == 0x6000 for g, *_ in ranges)  # overlay groups 60xx


def test_actions_shift_and_remove(tmp_path: Path) -> None:
    src = pydicom.dcmread(_source(tmp_path))
    shifted = Deidentifier(secret=b"s" * 32).dataset(src)
    removed = Deidentifier(secret=b"s" * 32, dates="remove").dataset(src)
    off = Deidentifier(secret=b"s" * 32).date_offset("ID-1").days
    assert -3650 <= off <= -365
    import datetime as dt

    assert shifted.StudyDate == (dt.date(2020, 1, 15) + dt.timedelta(days=off)).strftime("%Y%m%d")
    assert shifted.AcquisitionDateTime[8:] == "101010" and shifted.StudyTime == "101010"
    assert shifted.LongitudinalTemporalInformationModified == "MODIFIED"
    assert removed.StudyDate == "" and "AcquisitionDateTime" not in removed
    for out in (shifted, removed):
        assert out.PatientBirthDate == "" and out.get("InstitutionName", "") == "" and out.get("OperatorsName", "") == ""
        assert str(out.ReferencedPatientSequence[0].PatientName) == "" if "ReferencedPatientSequence" in out \
            else True
        assert 0x60004000 not in out
        text = str(out)
        assert "ROE" not in text and "ID-1" not in text and "NESTED" not in text and "Hospital" not in text
        assert out.SOPInstanceUID.startswith("2.25.") and out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
        assert out.SOPClassUID == src.SOPClassUID  # class UIDs are kept
    # the source object is untouched
    assert str(src.PatientName) == "ROE^RICHARD"


def test_deidentify_file_refuses_non_dicom(tmp_path: Path) -> None:
    bad = tmp_path / "x.dcm"
    bad.write_bytes(b"nope")
    with pytest.raises(Exception, match="x.dcm: not a DICOM file"):
        deidentify_file(bad, tmp_path / "y.dcm", Deidentifier(secret=b"s" * 32))


def test_secret_is_private_and_stable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import stat

    from ultrasound_reader.dicom.deid import installation_secret

    monkeypatch.setenv("ULTRASOUND_READER_CONFIG", str(tmp_path / "cfg"))
    a = installation_secret()
    assert a == installation_secret() and len(a) == 32
    assert stat.S_IMODE(os.stat(tmp_path / "cfg" / "deid-secret").st_mode) == 0o600


def test_sr_without_analysis_keeps_image_roles(tmp_path: Path) -> None:
    gray, cdfi = _source(tmp_path, "gray.dcm"), _source(tmp_path, "cdfi.dcm", color=True)
    case = Case("soft-tissue", "st", images=[ImageRef("gray.dcm", role="bmode"), ImageRef("cdfi.dcm", role="cdfi")],
                rois=[Roi("mass", "ellipse", [(5, 5), (30, 20)], image=0, id="m1"),
                      Roi("mass", "rectangle", [(4, 4), (31, 22)], image=1, id="m2")], root=tmp_path)
    sr = Export(case, None, None, deid=False).sr(tmp_path / "sr.dcm")
    content = read_sr(sr)
    assert content.probabilities == {} and content.decision is None
    back = case_from_sr(sr, [gray, cdfi], task="soft-tissue")
    assert [i.role for i in back.images] == ["bmode", "cdfi"]
    assert [(r.id, r.shape, r.image) for r in back.rois] == [("m1", "ellipse", 0), ("m2", "rectangle", 1)]
    np.testing.assert_allclose(back.rois[0].points, case.rois[0].points, atol=1e-3)
