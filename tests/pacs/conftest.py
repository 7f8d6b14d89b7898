"""Fixtures of the PACS tests: one real Orthanc for the session (a private one per fault test),
PHANTOM studies on it, and nodes pointing at it. Config and cache go to tmp folders."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import JPEGBaseline8Bit, generate_uid

from tests.pacs.orthanc import Orthanc
from ultrasound_reader.dicom.pacs.nodes import Node


@pytest.fixture(autouse=True)
def _private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ULTRASOUND_READER_CONFIG", str(tmp_path / "config"))
    monkeypatch.setenv("ULTRASOUND_READER_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("ULTRASOUND_READER_PACS_NODES", raising=False)


@dataclass
class StudyFiles:
    study_uid: str
    series: dict[str, list[Path]] = field(default_factory=dict)

    @property
    def files(self) -> list[Path]:
        return [f for fs in self.series.values() for f in fs]


@dataclass
class Fixture:
    a: StudyFiles  # PH-PACS-1, ACC-A, 2020-05-12, US: 3 native frames + 1 JPEG cine
    b: StudyFiles  # PH-PACS-2, ACC-B, 2021-01-01, US: 1 image
    c: StudyFiles  # PH-PACS-2, ACC-C, 2021-02-01, OT (secondary capture): not US


def make_studies(folder: Path) -> Fixture:
    from ultrasound_reader.dicom.synth import SECONDARY_CAPTURE, write_dicom

    rng = np.random.default_rng(7)

    def img(n: int = 1, color: bool = False) -> np.ndarray:
        shape = (n, 24, 32, 3) if color else (n, 24, 32)
        return rng.integers(0, 255, shape, dtype=np.uint8)

    a, b, c = StudyFiles(generate_uid()), StudyFiles(generate_uid()), StudyFiles(generate_uid())
    s1, s2 = generate_uid(), generate_uid()
    common_a = {"AccessionNumber": "ACC-A", "StudyDate": "20200512", "PatientName": "PHANTOM^ALPHA"}
    a.series[s1] = [write_dicom(folder / f"a1-{i}.dcm", img(), study_uid=a.study_uid, series_uid=s1,
                                patient_id="PH-PACS-1", extra={**common_a, "InstanceNumber": i + 1})
                    for i in range(3)]
    a.series[s2] = [write_dicom(folder / "a2-cine.dcm", img(3, color=True), transfer_syntax=JPEGBaseline8Bit,
                                study_uid=a.study_uid, series_uid=s2, patient_id="PH-PACS-1",
                                extra={**common_a, "SeriesNumber": 2}, frame_time_ms=40.0)]
    sb = generate_uid()
    b.series[sb] = [write_dicom(folder / "b.dcm", img(), study_uid=b.study_uid, series_uid=sb, patient_id="PH-PACS-2",
                                extra={"AccessionNumber": "ACC-B", "StudyDate": "20210101",
                                       "PatientName": "PHANTOM^BETA"})]
    sc = generate_uid()
    c.series[sc] = [write_dicom(folder / "c.dcm", img(), study_uid=c.study_uid, series_uid=sc, patient_id="PH-PACS-2",
                                sop_class=SECONDARY_CAPTURE,
                                extra={"AccessionNumber": "ACC-C", "StudyDate": "20210201", "Modality": "OT",
                                       "PatientName": "PHANTOM^BETA"})]
    return Fixture(a, b, c)


@pytest.fixture(scope="session")
def studies(tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    return make_studies(tmp_path_factory.mktemp("pacs-studies"))


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory, studies: Fixture):
    server = Orthanc(tmp_path_factory.mktemp("orthanc")).start()
    for s in (studies.a, studies.b, studies.c):
        for f in s.files:
            server.upload(f)
    yield server
    server.stop()


def dimse_node(server: Orthanc, timeout: float = 10.0, **kw: object) -> Node:
    return server.dimse_node(timeout, **kw)


def web_node(server: Orthanc, timeout: float = 10.0, **kw: object) -> Node:
    return server.web_node(timeout, **kw)


@pytest.fixture
def fresh_orthanc(tmp_path: Path, studies: Fixture):
    """A private Orthanc holding study A, for tests that stop, pause or kill it."""
    server = Orthanc(tmp_path / "orthanc").start()
    for f in studies.a.files:
        server.upload(f)
    yield server
    server.stop()
