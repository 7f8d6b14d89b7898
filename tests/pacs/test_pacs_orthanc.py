"""Echo, query, retrieve and send against a real Orthanc, over DIMSE and DICOMweb."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import numpy as np
import pydicom
import pytest

from tests.pacs.conftest import Fixture, dimse_node, web_node
from ultrasound_reader.dicom import open_cine, pacs
from ultrasound_reader.dicom.synth import write_dicom
from ultrasound_reader.errors import CancelledError

KINDS = ("dimse", "dicomweb")


def node_of(kind: str, server) -> pacs.Node:
    return dimse_node(server) if kind == "dimse" else web_node(server)


@pytest.mark.parametrize("kind", KINDS)
def test_echo(orthanc, kind: str) -> None:
    assert pacs.echo(node_of(kind, orthanc)) > 0


@pytest.mark.parametrize("kind", KINDS)
def test_query_keys_and_counts(orthanc, studies: Fixture, kind: str) -> None:
    node = node_of(kind, orthanc)
    # by patient ID, with series and counts
    found = pacs.query(node, pacs.Query(patient_id="PH-PACS-1"), with_series=True)
    assert [s.study_uid for s in found] == [studies.a.study_uid]
    st = found[0]
    assert (st.n_series, st.n_instances, st.accession, st.date) == (2, 4, "ACC-A", "20200512")
    assert st.modalities == ["US"]
    assert sorted((se.series_uid, se.n_instances) for se in st.series) == sorted(
        (uid, len(files)) for uid, files in studies.a.series.items())
    # by accession, by name with a wildcard, by date range
    assert [s.study_uid for s in pacs.query(node, pacs.Query(accession="ACC-B"))] == [studies.b.study_uid]
    assert {s.study_uid for s in pacs.query(node, pacs.Query(patient_name="PHANTOM^AL*"))} == {studies.a.study_uid}
    # (other tests store studies on the same server: keep to this fixture's patients)
    in_2021 = pacs.query(node, pacs.Query(patient_id="PH-PACS-?", date_from=dt.date(2021, 1, 1),
                                          date_to=dt.date(2021, 12, 31)))
    assert {s.study_uid for s in in_2021} == {studies.b.study_uid}  # C is OT, not US
    # modality US by default; '' means any
    p2_any = pacs.query(node, pacs.Query(patient_id="PH-PACS-2", modality=""))
    assert {s.study_uid for s in p2_any} == {studies.b.study_uid, studies.c.study_uid}
    assert pacs.query(node, pacs.Query(patient_id="NOBODY")) == []


def _frames(path: Path) -> np.ndarray:
    with open_cine(path) as cine:
        return np.stack([np.array(cine.frame(i)) for i in range(cine.n_frames)])


@pytest.mark.parametrize("kind,method", [("dimse", "get"), ("dimse", "move"), ("dicomweb", None)])
def test_retrieve_study_lands_whole_and_opens(orthanc, studies: Fixture, tmp_path: Path, kind: str,
                                              method: str | None) -> None:
    node = node_of(kind, orthanc)
    seen = []
    res = pacs.retrieve(node, studies.a.study_uid, method=method, root=tmp_path / "cache", progress=seen.append)
    assert len(res.files) == 4 and all(f.is_file() for f in res.files)
    assert sorted(f.name for f in res.folders) == sorted(studies.a.series)
    assert [p.done for p in seen] == [1, 2, 3, 4] and seen[-1].bytes == res.bytes
    assert res.bytes == sum(f.stat().st_size for f in res.files)
    assert not list((tmp_path / "cache").glob(".partial-*"))
    # every source instance arrived, each with the same pixels, the cine still JPEG-compressed
    by_sop = {pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID: f for f in res.files}
    for src in studies.a.files:
        ds = pydicom.dcmread(src, stop_before_pixels=True)
        got = by_sop[ds.SOPInstanceUID]
        assert got.parent.name == ds.SeriesInstanceUID and got.parent.parent.name == ds.StudyInstanceUID
        assert pydicom.dcmread(got, stop_before_pixels=True).file_meta.TransferSyntaxUID == \
            ds.file_meta.TransferSyntaxUID
        np.testing.assert_array_equal(_frames(got), _frames(src))


@pytest.mark.parametrize("kind", KINDS)
def test_retrieve_one_series_and_again_replaces(orthanc, studies: Fixture, tmp_path: Path, kind: str) -> None:
    node = node_of(kind, orthanc)
    series_uid, files = next(iter(studies.a.series.items()))
    root = tmp_path / "cache"
    first = pacs.retrieve(node, studies.a.study_uid, series_uid, root=root)
    assert first.folders == [root / studies.a.study_uid / series_uid] and len(first.files) == len(files)
    (first.folders[0] / "stray.txt").write_text("left from before")
    again = pacs.retrieve(node, studies.a.study_uid, series_uid, root=root)
    assert sorted(p.name for p in again.folders[0].iterdir()) == sorted(f.name for f in first.files)


@pytest.mark.parametrize("kind", KINDS)
def test_cancel_leaves_nothing(orthanc, studies: Fixture, tmp_path: Path, kind: str) -> None:
    node = node_of(kind, orthanc)
    stop = threading.Event()
    root = tmp_path / "cache"
    with pytest.raises(CancelledError):
        pacs.retrieve(node, studies.a.study_uid, root=root, progress=lambda p: stop.set(), cancel=stop)
    assert [p.name for p in root.iterdir()] == []


@pytest.mark.parametrize("kind", KINDS)
def test_send_then_query_finds_it(orthanc, tmp_path: Path, kind: str) -> None:
    node = node_of(kind, orthanc)
    study_uid = pydicom.uid.generate_uid()
    files = [write_dicom(tmp_path / f"s{i}.dcm", np.full((1, 16, 16), 10 * i, np.uint8), study_uid=study_uid,
                         patient_id=f"PH-SEND-{kind}", extra={"StudyDate": "20220303"}) for i in range(2)]
    res = pacs.send(node, files)
    assert len(res.sent) == 2 and res.failed == [] and res.bytes == sum(f.stat().st_size for f in files)
    found = pacs.query(node, pacs.Query(patient_id=f"PH-SEND-{kind}"))
    assert [(s.study_uid, s.n_instances) for s in found] == [(study_uid, 2)]


def test_send_refuses_a_non_dicom_file(orthanc, tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("not DICOM")
    with pytest.raises(pacs.PacsError.__mro__[1], match="notes.txt"):
        pacs.send(dimse_node(orthanc), [bad])


def test_thumbnails(orthanc, studies: Fixture) -> None:
    import io

    from PIL import Image

    web = web_node(orthanc)
    series = pacs.find_series(web, studies.a.study_uid)
    jpeg = pacs.thumbnail(web, series[0], size=64)
    assert jpeg is not None
    img = Image.open(io.BytesIO(jpeg))
    assert img.format == "JPEG" and max(img.size) <= 64
    assert pacs.thumbnail(dimse_node(orthanc), series[0]) is None  # DIMSE has no rendered thumbnails


@pytest.mark.parametrize("kind", KINDS)
def test_retrieve_of_an_unknown_study(orthanc, tmp_path: Path, kind: str) -> None:
    root = tmp_path / "cache"
    # Orthanc answers C-GET with 0xC000, WADO with an empty instance list: both say so
    with pytest.raises(pacs.PacsError, match=r"sent no instance of study 1\.2\.3\.999|is the study or series known"):
        pacs.retrieve(node_of(kind, orthanc), "1.2.3.999", root=root)
    assert list(root.iterdir()) == []
