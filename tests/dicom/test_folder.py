"""Opening a folder: grouping into patient/study/series, bad files skipped with a reason."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from pydicom.uid import JPEGBaseline8Bit, generate_uid

from ultrasound_reader.dicom.folder import scan_folder
from ultrasound_reader.dicom.synth import write_dicom
from ultrasound_reader.errors import CancelledError, UserError


@pytest.fixture()
def exam(tmp_path, gray, color):
    study = generate_uid()
    liver, kidney = generate_uid(), generate_uid()
    root = tmp_path / "exam"
    write_dicom(root / "a" / "liver1.dcm", color, study_uid=study, series_uid=liver,
                series_description="PHANTOM liver", transfer_syntax=JPEGBaseline8Bit,
                extra={"InstanceNumber": 2})
    write_dicom(root / "a" / "liver2.dcm", color[:1], study_uid=study, series_uid=liver,
                series_description="PHANTOM liver", extra={"InstanceNumber": 1})
    write_dicom(root / "b" / "deep" / "kidney.dcm", gray, study_uid=study, series_uid=kidney,
                series_description="PHANTOM kidney", extra={"SeriesNumber": 2})
    write_dicom(root / "other.dcm", gray, patient_id="PHANTOM-0002", series_description="PHANTOM thyroid")
    (root / "broken.dcm").write_bytes((root / "other.dcm").read_bytes()[:-200])
    (root / "notes.txt").write_text("not an image")
    cv2.imwrite(str(root / "photo.png"), np.ascontiguousarray(color[0][:, :, ::-1]))
    (root / ".hidden").write_text("ignored")
    return root


def test_groups_and_problems(exam):
    result = scan_folder(exam)
    assert len(result.patients) == 3  # two DICOM patients + plain images
    labels = sorted(s.description for s in result.series)
    assert labels == ["PHANTOM kidney", "PHANTOM liver", "PHANTOM thyroid", "exam"]
    liver = next(s for s in result.series if s.description == "PHANTOM liver")
    assert [p.name for p in liver.paths] == ["liver2.dcm", "liver1.dcm"]  # by InstanceNumber
    assert liver.n_frames == 4 and liver.modality == "US"
    assert "4 frame(s)" in liver.label
    study = next(st for p in result.patients for st in p.studies if liver in st.series)
    assert {s.description for s in study.series} == {"PHANTOM liver", "PHANTOM kidney"}
    problems = {p.name: reason for p, reason in result.problems}
    assert set(problems) == {"broken.dcm", "notes.txt"}
    assert "truncated" in problems["broken.dcm"] and "not a DICOM" in problems["notes.txt"]
    assert result.n_files == 5
    for patient in result.patients:  # never the ID or name
        assert "PHANTOM" not in patient.label


def test_series_open_and_thumbnail(exam):
    result = scan_folder(exam)
    liver = next(s for s in result.series if s.description == "PHANTOM liver")
    thumb = liver.thumbnail(24)
    assert thumb.dtype == np.uint8 and max(thumb.shape[:2]) == 24 and thumb.shape[2] == 3
    with liver.open(1) as cine:
        assert cine.n_frames == 3 and cine.decode_count == 0


def test_progress_and_cancel(exam):
    seen = []
    scan_folder(exam, progress=lambda done, total, path: seen.append((done, total)))
    assert seen[-1][0] == seen[-1][1] == 7
    with pytest.raises(CancelledError):
        scan_folder(exam, cancelled=lambda: True)


def test_not_a_folder(tmp_path):
    with pytest.raises(UserError, match="not a folder"):
        scan_folder(tmp_path / "missing")


def test_dicomdir(tmp_path, gray):
    from pydicom import dcmread
    from pydicom.fileset import FileSet

    src = tmp_path / "src"
    fs = FileSet()
    for k in range(2):
        fs.add(dcmread(write_dicom(src / f"{k}.dcm", gray, series_description=f"PHANTOM s{k}")))
    cd = tmp_path / "cd"
    fs.write(cd)
    result = scan_folder(cd)
    assert result.used_dicomdir and not result.problems
    assert sorted(s.description for s in result.series) == ["PHANTOM s0", "PHANTOM s1"]
    # A file the DICOMDIR lists but that is gone is reported, the rest still opens.
    next(p for p in cd.rglob("*") if p.is_file() and p.name != "DICOMDIR").unlink()
    result = scan_folder(cd)
    assert len(result.series) == 1
    assert [reason for _, reason in result.problems] == ["listed in DICOMDIR but missing"]


def test_hostile_dicomdir_does_not_stop_the_scan(tmp_path, gray):
    """A record pointing outside the folder is refused; an unreadable record (unknown VR,
    raised lazily by pydicom) leaves the plain folder scan to find the files."""
    from pydicom import dcmread
    from pydicom.fileset import FileSet

    fs = FileSet()
    for k in range(2):
        fs.add(dcmread(write_dicom(tmp_path / "src" / f"{k}.dcm", gray, series_description=f"PHANTOM s{k}")))
    cd = tmp_path / "cd"
    fs.write(cd)
    outside = write_dicom(tmp_path / "outside.dcm", gray, series_description="PHANTOM outside")
    ds = dcmread(cd / "DICOMDIR")
    image = next(r for r in ds.DirectoryRecordSequence if r.DirectoryRecordType == "IMAGE")
    image.ReferencedFileID = ["..", outside.name]
    ds.save_as(cd / "DICOMDIR", enforce_file_format=False)
    result = scan_folder(cd)
    assert any("outside its folder" in reason for _, reason in result.problems)
    assert all(i.path.resolve().is_relative_to(cd.resolve()) for s in result.series for i in s.instances)

    data = (cd / "DICOMDIR").read_bytes()
    (cd / "DICOMDIR").write_bytes(data.replace(b"\x04\x00\x00\x15CS", b"\x04\x00\x00\x15ZZ"))
    result = scan_folder(cd)
    assert any("unreadable DICOMDIR" in reason for _, reason in result.problems)
    assert sorted(s.description for s in result.series) == ["PHANTOM s0", "PHANTOM s1"]
