"""Exports: SR round trip and validators, de-identification, secondary captures, PDF, CLI.

The case is PHANTOM data with made-up identifiers put into its DICOM headers (names,
IDs, dates, institution, a private tag, a nested sequence), so that the de-identified
outputs can be searched for every one of them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from ultrasound_reader.case import AnalysisResult, Case, ClinicalFactors, ImageRef, Roi
from ultrasound_reader.cli import main
from ultrasound_reader.dicom.sr import case_from_sr, read_sr
from ultrasound_reader.errors import UserError
from ultrasound_reader.export import Export

SECRET = b"test-secret-0123456789abcdef"
IDENT = {
    "PatientName": "DOE^JANE^QUINN", "PatientID": "MRN998877", "OtherPatientIDs": "ALT5544",
    "PatientBirthDate": "19610203", "PatientBirthTime": "101500", "AccessionNumber": "ACC7766", "InstitutionName": "St Example Hospital",
    "ReferringPhysicianName": "WHOEVER^DOCTOR", "StudyDate": "20230405", "SeriesDate": "20230405",
    "StudyID": "STUDY3322", "OperatorsName": "SONO^GRAPHER", "DeviceSerialNumber": "SN112233",
    "InstitutionAddress": "1 Example Road", "StationName": "USROOM7",
}
SECRET_STRINGS = ["DOE", "JANE", "QUINN", "MRN998877", "ALT5544", "19610203", "ACC7766", "Example Hospital",
                  "WHOEVER", "20230405", "STUDY3322", "SONO", "SN112233", "Example Road", "USROOM7", "RP4455",
                  "PRIVATEDOE"]


@dataclass
class Analysed:
    case: Case
    result: AnalysisResult
    bundle: object
    uids: list[str]  # the source study/series/SOP UIDs


def _identify(path: Path) -> list[str]:
    ds = pydicom.dcmread(path)
    for k, v in IDENT.items():
        setattr(ds, k, v)
    req = Dataset()
    req.RequestedProcedureID = "RP4455"
    req.ScheduledProcedureStepID = "RP4455"
    ds.RequestAttributesSequence = DicomSequence([req])
    block = ds.private_block(0x0011, "ACME PRIVATE", create=True)
    block.add_new(0x01, "LO", "PRIVATEDOE")
    ds.save_as(path, enforce_file_format=True)
    return [str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)]


@pytest.fixture(scope="session")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> Analysed:
    import torch

    from ultrasound_reader.ai import Analyzer, load_bundle
    from ultrasound_reader.ai.bundle import make_random_bundle
    from ultrasound_reader.dicom.synth import write_dicom

    torch.set_num_threads(2)
    folder = tmp_path_factory.mktemp("export-case")
    rng = np.random.default_rng(3)
    study = pydicom.uid.generate_uid()
    regions = [{"x0": 0, "y0": 0, "x1": 319, "y1": 239, "data_type": 1, "delta_x": 0.02, "delta_y": 0.02}]
    frames = np.clip(rng.rayleigh(60.0, (3, 240, 320)), 0, 255).astype(np.uint8)
    write_dicom(folder / "cine.dcm", frames, regions=regions, study_uid=study, frame_time_ms=40.0)
    write_dicom(folder / "still.dcm", frames[:1], regions=regions, study_uid=study)
    uids = _identify(folder / "cine.dcm") + _identify(folder / "still.dcm")
    cid = "case-MRN998877"
    rois = [
        Roi("lesion", "polygon", [(60.25, 50.5), (150.0, 60.0), (120.0, 140.75), (70.0, 120.0)], image=0, frame=1,
            id=f"{cid}-lesion-1"),
        Roi("lesion", "ellipse", [(40.0, 40.0), (150.0, 120.0)], image=1, frame=0, id=f"{cid}-lesion-2"),
        Roi("lesion", "freehand", [(50.0, 60.0), (140.0, 55.0), (145.0, 130.0), (60.0, 125.0), (45.5, 90.5)],
            image=0, frame=2, id="free"),
        Roi("background", "rectangle", [(200.0, 120.0), (300.0, 200.0)], image=0, frame=1, id=f"{cid}-bg"),
    ]
    factors = ClinicalFactors(age=62, sex="M", hepatitis=1, tumour_history=False, halo=True, vascularity=False,
                              afp=12.5, shape="irregular", echogenicity="hypo")
    case = Case("liver-fll", cid, images=[ImageRef("cine.dcm", 1), ImageRef("still.dcm")], rois=rois,
                factors=factors, notes="seen by Dr DOE")
    case.save(folder)
    bundle = load_bundle(make_random_bundle(tmp_path_factory.mktemp("bundle") / "fll", "liver-fll", seed=1))
    result = Analyzer(bundle, threads=2).run(case)
    return Analysed(case, result, bundle, uids)


def _dciodvfy_errors(path: Path) -> list[str]:
    p = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
    return [line for line in (p.stdout + p.stderr).splitlines() if line.startswith("Error")]


def test_sr_round_trip_identified(analysed: Analysed, tmp_path: Path) -> None:
    case, result = analysed.case, analysed.result
    path = Export(case, result, analysed.bundle, deid=False).sr(tmp_path / "sr.dcm")
    back = case_from_sr(path, [case.image_path(i) for i in range(2)], task=case.task)
    assert [(r.id, r.kind, r.shape, r.image, r.frame) for r in back.rois] == \
        [(r.id, r.kind, r.shape, r.image, r.frame) for r in case.rois]
    for a, b in zip(case.rois, back.rois):
        np.testing.assert_allclose(np.array(b.points), np.array(a.points), atol=1e-3)
    assert back.factors == case.factors
    content = read_sr(path)
    assert content.probabilities.keys() == result.probabilities.keys()
    for k, v in result.probabilities.items():
        assert content.probabilities[k] == pytest.approx(v, abs=1e-9)
    assert (content.decision, content.decision_model) == (result.decision, result.decision_model)
    assert content.cutoff == pytest.approx(result.cutoff, abs=1e-9)
    assert content.lesion_size_cm == pytest.approx(result.lesion_size_cm, abs=1e-9)
    assert content.total_points == pytest.approx(result.total_points, abs=1e-9)
    assert content.algorithm["name"] == result.bundle_name and content.algorithm["version"] == result.bundle_version
    assert f"signature={analysed.bundle.signature.text}" in content.algorithm["parameters"]
    assert any("NOT FOR CLINICAL USE" in p for p in content.algorithm["parameters"])
    # ROI sizes on the calibrated images (0.2 mm/px) and the per-ROI AI scores are in the groups
    lesion = content.rois[1]
    assert lesion.measurements["81827009"] == pytest.approx(case.rois[1].max_diameter((0.2, 0.2)), rel=1e-6)
    per_roi = {row["roi_id"]: row for row in result.per_image}
    assert lesion.measurements["S:L"] == pytest.approx(per_roi[case.rois[1].id]["L"], abs=1e-9)


def test_sr_passes_dsrdump_and_dciodvfy(analysed: Analysed, tmp_path: Path) -> None:
    for deid in (False, True):
        path = Export(analysed.case, analysed.result, analysed.bundle, deid=deid, secret=SECRET).sr(
            tmp_path / f"sr-{deid}.dcm")
        p = subprocess.run(["dsrdump", "-Ee", str(path)], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        assert "Imaging Measurement Report" in p.stdout and "SCOORD" in p.stdout and "POLYLINE" in p.stdout
        assert "Algorithm Name" in p.stdout and "ELLIPSE" in p.stdout
        assert "error" not in p.stderr.lower(), p.stderr
        assert _dciodvfy_errors(path) == []


def _strings_of(path: Path) -> str:
    if path.suffix == ".pdf":
        return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, timeout=60).stdout
    # every byte of the file except the pixels (random speckle holds any 3-letter string by chance)
    import io

    ds = pydicom.dcmread(path)
    if "PixelData" in ds:
        del ds.PixelData
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue().decode("latin-1")


def test_no_identifier_of_the_source_survives(analysed: Analysed, tmp_path: Path) -> None:
    job = Export(analysed.case, analysed.result, analysed.bundle, deid=True, secret=SECRET)
    outputs = [job.sr(tmp_path / "sr.dcm"), *job.sc(tmp_path / "sc.dcm"), job.pdf(tmp_path / "r.pdf"),
               *job.images(tmp_path / "img")]
    assert len(outputs) == 6
    for path in outputs:
        text = _strings_of(path)
        leaked = [s for s in SECRET_STRINGS + analysed.uids if s in text]
        assert leaked == [], f"{path.name} still holds {leaked}"
        if path.suffix == ".dcm":
            ds = pydicom.dcmread(path)
            assert ds.PatientIdentityRemoved == "YES" and ds.PatientID.startswith("ANON-")
            assert "PatientBirthTime" not in ds  # a time whose action is X goes, even with shifted dates
            assert "0012,0064" in str(ds) or "DeidentificationMethodCodeSequence" in ds
    # consistent remapping: the SR's references resolve to the de-identified image copies
    back = case_from_sr(outputs[0], outputs[-2:], task="liver-fll")
    for a, b in zip(analysed.case.rois, back.rois):
        assert (a.image, a.frame, a.shape) == (b.image, b.frame, b.shape)
        np.testing.assert_allclose(np.array(b.points), np.array(a.points), atol=1e-3)
    # dates shifted, not kept; the same secret gives the same pseudonym and UIDs again
    img = pydicom.dcmread(outputs[-2])
    assert img.StudyDate != IDENT["StudyDate"] and len(img.StudyDate) == 8 and img.PatientBirthDate == ""
    again = Export(analysed.case, None, None, deid=True, secret=SECRET).images(tmp_path / "img2")
    ds2 = pydicom.dcmread(again[0])
    assert (ds2.SOPInstanceUID, ds2.StudyInstanceUID, ds2.PatientID, ds2.StudyDate) == (
        img.SOPInstanceUID, img.StudyInstanceUID, img.PatientID, img.StudyDate)
    other = Export(analysed.case, None, None, deid=True, secret=b"another-secret-000000").images(tmp_path / "i3")
    assert pydicom.dcmread(other[0]).SOPInstanceUID != img.SOPInstanceUID


def test_no_deid_keeps_identity(analysed: Analysed, tmp_path: Path) -> None:
    job = Export(analysed.case, analysed.result, analysed.bundle, deid=False)
    sr = pydicom.dcmread(job.sr(tmp_path / "sr.dcm"))
    assert (sr.PatientID, str(sr.PatientName), sr.StudyInstanceUID) == (
        IDENT["PatientID"], IDENT["PatientName"], analysed.uids[0])


def test_secondary_captures(analysed: Analysed, tmp_path: Path) -> None:
    job = Export(analysed.case, analysed.result, analysed.bundle, deid=True, secret=SECRET)
    assert job.demo  # a random bundle says NOT FOR CLINICAL USE in its manifest
    paths = job.sc(tmp_path / "sc.dcm")
    assert [p.name for p in paths] == ["sc.dcm", "sc_nomogram.dcm"]
    for p in paths:
        ds = pydicom.dcmread(p)
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7" and ds.BurnedInAnnotation == "YES"
        assert ds.pixel_array.ndim == 3 and ds.pixel_array.shape[2] == 3
        assert "NOT FOR CLINICAL USE" in ds.SeriesDescription
        assert _dciodvfy_errors(p) == []
    overlay = pydicom.dcmread(paths[0])
    assert overlay.SourceImageSequence[0].ReferencedFrameNumber == 2  # the lesion's frame 1, 1-based
    assert overlay.Rows > 240  # the frame plus the result band

    def red(a: np.ndarray) -> int:
        return int(((a[..., 0] > 200) & (a[..., 1] < 90) & (a[..., 2] < 90)).sum())

    from ultrasound_reader.export.render import overlay_picture

    demo, _, _ = overlay_picture(analysed.case, analysed.result, demo=True)
    plain, _, _ = overlay_picture(analysed.case, analysed.result, demo=False)
    assert red(demo[:40, :250]) > 200 and red(plain[:40, :250]) == 0
    # the Grad-CAM is there: inside the lesion ROI the picture is coloured, the source is gray
    assert np.abs(demo[70:110, 80:120].astype(int) - demo[70:110, 80:120, :1].astype(int)).max() > 30


def test_pdf_report(analysed: Analysed, tmp_path: Path) -> None:
    path = Export(analysed.case, analysed.result, analysed.bundle, deid=True, secret=SECRET).pdf(tmp_path / "r.pdf")
    text = _strings_of(path)
    r = analysed.result
    for needle in ("NOT FOR CLINICAL USE", r.bundle_name, f"signature: {analysed.bundle.signature.text}", "Intended use",
                   f"{r.probabilities['L']:.3f}", f"cut-off {r.cutoff:.3f}", "de-identified"):
        assert needle in text, needle
    for w in r.warnings:
        assert w[:30] in text.replace("\n", " ")
    # free text that names the case or an image file (which may carry a name) is scrubbed
    from dataclasses import replace

    leaky = replace(r, warnings=[f"image 0 ({analysed.case.images[0].file}) of {analysed.case.case_id}: odd"])
    path2 = Export(analysed.case, leaky, analysed.bundle, deid=True, secret=SECRET).pdf(tmp_path / "r2.pdf")
    text2 = _strings_of(path2)
    assert "image 0 (image-0) of case: odd" in text2 and "MRN998877" not in text2 and "cine.dcm" not in text2
    subprocess.run(["pdftoppm", "-png", "-r", "40", str(path), str(tmp_path / "page")], check=True, timeout=60)
    assert [p.name for p in tmp_path.glob("page*.png")] == ["page-1.png"]  # one page


def test_export_cli(analysed: Analysed, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("ULTRASOUND_READER_CONFIG", str(tmp_path / "cfg"))
    case_dir = analysed.case.root
    assert main(["export", str(case_dir), "--bundle", str(analysed.bundle.path), "--sr", str(tmp_path / "a.dcm"),
                 "--pdf", str(tmp_path / "a.pdf"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["deidentified"] and Path(out["sr"]).is_file() and Path(out["pdf"]).is_file() and out["sc"] == []
    assert main(["export", str(case_dir)]) == 1
    assert "nothing to export" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "missing"), "--sr", str(tmp_path / "x.dcm")]) == 1
    assert "no such case file" in capsys.readouterr().err


def test_export_cli_bad_output_paths(analysed: Analysed, tmp_path: Path, capsys, monkeypatch) -> None:
    """A missing parent folder is refused (not created), a file where a folder is needed is
    a user error naming the path, and no temporary file is left behind."""
    monkeypatch.setenv("ULTRASOUND_READER_CONFIG", str(tmp_path / "cfg"))
    case_dir, bundle = str(analysed.case.root), str(analysed.bundle.path)
    afile = tmp_path / "afile"
    afile.write_text("keep")
    for opt, value in (("--sr", tmp_path / "nonexistent" / "dir" / "x.dcm"), ("--pdf", afile / "x.pdf"),
                       ("--sc", tmp_path / "nonexistent" / "x.dcm"), ("--images", afile),
                       ("--images", tmp_path / "nonexistent" / "img")):
        assert main(["export", case_dir, "--bundle", bundle, opt, str(value)]) == 1, opt
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        assert str(value if opt == "--images" else value.parent) in err, err
    assert not (tmp_path / "nonexistent").exists()
    assert afile.read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "cfg"]


def test_sr_needs_dicom_sources_and_reader_refuses_non_sr(analysed: Analysed, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not a structured report"):
        read_sr(analysed.case.image_path(0))
    folder = tmp_path / "png"
    folder.mkdir()
    shutil.copy(analysed.case.image_path(0), folder / "cine.dcm")
    (folder / "pic.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    case = Case("liver-fll", "x", images=[ImageRef("pic.png")], root=folder)
    with pytest.raises(UserError, match="pic.png: an SR or secondary capture needs DICOM"):
        Export(case, None, None, deid=False).sr(tmp_path / "sr.dcm")


@pytest.mark.parametrize("kind,method", [("dimse", "get"), ("dicomweb", None)])
def test_export_send_query_retrieve_open(analysed: Analysed, orthanc, tmp_path: Path, kind: str,
                                         method: str | None) -> None:
    """The exports reach the PACS and come back whole; the retrieved SR opens as the same case."""
    from tests.pacs.conftest import dimse_node, web_node
    from ultrasound_reader.dicom import pacs

    job = Export(analysed.case, analysed.result, analysed.bundle, deid=True,
                 secret=SECRET + kind.encode())  # another pseudonym per kind: two separate studies
    files = [job.sr(tmp_path / "sr.dcm"), *job.sc(tmp_path / "sc.dcm"), *job.images(tmp_path / "img")]
    node = dimse_node(orthanc) if kind == "dimse" else web_node(orthanc)
    m = pacs.round_trip(node, files, tmp_path / "cache", method=method)
    assert m["files"] == m["identical"] == m["instances_found"] == 5, m
    assert m["bytes_received"] > 0 and m["bytes_sent"] == sum(f.stat().st_size for f in files)
    print(f"\nround trip {kind}: " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                             for k, v in m.items() if k != "cache"))
    retrieved = sorted((tmp_path / "cache").rglob("*.dcm"))
    sr = [p for p in retrieved if pydicom.dcmread(p, stop_before_pixels=True).Modality == "SR"]
    images = [p for p in retrieved if pydicom.dcmread(p, stop_before_pixels=True).Modality == "US"]
    images.sort(key=lambda p: 0 if "NumberOfFrames" in pydicom.dcmread(p, stop_before_pixels=True) else 1)
    back = case_from_sr(sr[0], images, task="liver-fll")
    assert [(r.kind, r.shape, r.image, r.frame) for r in back.rois] == \
        [(r.kind, r.shape, r.image, r.frame) for r in analysed.case.rois]


def test_sr_beside_its_images_is_a_case_and_alone_is_refused(analysed: Analysed, tmp_path: Path) -> None:
    from ultrasound_reader.dicom.sr import case_beside_sr, is_sr_file

    case, result = analysed.case, analysed.result
    folder = tmp_path / "with-images"
    folder.mkdir()
    for i in range(len(case.images)):
        shutil.copy(case.image_path(i), folder / f"img{i}.dcm")
    sr = Export(case, result, analysed.bundle, deid=False).sr(folder / "sr.dcm")
    assert is_sr_file(sr) and not is_sr_file(folder / "img0.dcm") and not is_sr_file(tmp_path)
    back = case_beside_sr(sr)
    assert back.task == case.task and len(back.rois) == len(case.rois)
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.move(str(sr), alone / "sr.dcm")
    with pytest.raises(UserError, match="none of the images the report references"):
        case_beside_sr(alone / "sr.dcm")
