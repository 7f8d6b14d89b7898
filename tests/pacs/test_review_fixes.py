"""Review fixes: one atomic writer, de-identification edge cases, PACS CLI validation."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from ultrasound_reader.dicom.deid import Deidentifier
from ultrasound_reader.dicom.synth import write_dicom

from ultrasound_reader.errors import UserError
from ultrasound_reader.paths import atomic_write


def _write(text: str):
    return lambda tmp: Path(tmp).write_text(text)


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    out = tmp_path / "a.txt"
    out.write_text("old")
    assert atomic_write(out, _write("new")) == out
    assert out.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
    assert (out.stat().st_mode & 0o777) == 0o666 & ~_umask()
    atomic_write(tmp_path / "secret", _write("k"), private=True)
    assert ((tmp_path / "secret").stat().st_mode & 0o777) == 0o600


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def test_atomic_write_refuses_missing_parent_and_creates_nothing(tmp_path: Path) -> None:
    target = tmp_path / "nonexistent" / "dir" / "x.dcm"
    with pytest.raises(UserError, match=r"--sr: cannot write .*x\.dcm: folder .*dir does not exist"):
        atomic_write(target, _write("x"), label="--sr")
    assert not (tmp_path / "nonexistent").exists()
    afile = tmp_path / "plain"
    afile.write_text("")
    with pytest.raises(UserError, match="is not a folder"):
        atomic_write(afile / "x.pdf", _write("x"))


def test_atomic_write_oserror_becomes_user_error_and_temp_is_removed(tmp_path: Path) -> None:
    def fails(tmp: Path) -> None:
        Path(tmp).write_text("half")
        raise OSError(28, "No space left on device")

    out = tmp_path / "r.pdf"
    with pytest.raises(UserError, match=r"cannot write .*r\.pdf \(No space left on device\)"):
        atomic_write(out, fails)
    assert list(tmp_path.iterdir()) == []

    def boom(tmp: Path) -> None:
        Path(tmp).write_text("half")
        raise RuntimeError("encoder bug")

    with pytest.raises(RuntimeError):
        atomic_write(out, boom)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_atomic_write_read_only_folder(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(UserError, match="Permission denied"):
            atomic_write(ro / "x", _write("x"))
    finally:
        ro.chmod(0o700)


def _patient(tmp_path: Path, name: str, patient_id: str, study_uid: str) -> pydicom.Dataset:
    p = write_dicom(tmp_path / name, np.full((1, 8, 8), 90, np.uint8), study_uid=study_uid, extra={
        "PatientName": "ROE^RICHARD", "PatientID": patient_id, "PatientBirthTime": "101500",
        "StudyDate": "20200115", "StudyTime": "101010"})
    return pydicom.dcmread(p)


def test_birth_time_removed_other_times_kept(tmp_path: Path) -> None:
    src = _patient(tmp_path, "a.dcm", "ID-1", generate_uid())
    for dates in ("shift", "remove"):
        out = Deidentifier(secret=b"s" * 32, dates=dates).dataset(src)
        assert "PatientBirthTime" not in out and "101500" not in str(out), dates
    assert Deidentifier(secret=b"s" * 32).dataset(src).StudyTime == "101010"


def test_empty_patient_id_is_keyed_on_the_study(tmp_path: Path) -> None:
    d = Deidentifier(secret=b"s" * 32)
    a, b = _patient(tmp_path, "a.dcm", "", generate_uid()), _patient(tmp_path, "b.dcm", "", generate_uid())
    a2 = _patient(tmp_path, "a2.dcm", "", str(a.StudyInstanceUID))
    oa, ob, oa2 = d.dataset(a), d.dataset(b), d.dataset(a2)
    assert oa.PatientID != ob.PatientID and oa.PatientID == oa2.PatientID
    assert "" != d.patient_key(a) != d.patient_key(b)
    assert oa.StudyDate == oa2.StudyDate
    # a real PatientID still decides, whatever the study
    c1, c2 = _patient(tmp_path, "c1.dcm", "ID-7", generate_uid()), _patient(tmp_path, "c2.dcm", "ID-7", generate_uid())
    assert d.dataset(c1).PatientID == d.dataset(c2).PatientID == d.pseudonym("ID-7")


def test_secret_creation_never_replaces_an_existing_key(tmp_path: Path) -> None:
    from ultrasound_reader.dicom.deid import _create_secret

    path = tmp_path / "deid-secret"
    _create_secret(path)
    first = path.read_text()
    _create_secret(path)  # a second process that also saw "no key yet"
    assert path.read_text() == first and len(first.strip()) == 64
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deid-secret"]


def test_secret_first_use_by_parallel_processes_agrees(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    code = ("import sys,time; from ultrasound_reader.dicom.deid import installation_secret; "
            "t=float(sys.argv[1]); time.sleep(max(0.0, t-time.time())); print(installation_secret().hex())")
    env = {**os.environ, "ULTRASOUND_READER_CONFIG": str(tmp_path / "cfg")}
    start = time.time() + 3.0
    procs = [subprocess.Popen([sys.executable, "-c", code, str(start)], env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(6)]
    keys = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(keys) == 1 and (tmp_path / "cfg" / "deid-secret").read_text().strip() in keys


def test_secret_unwritable_config_is_a_user_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ultrasound_reader.dicom.deid import installation_secret

    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("ULTRASOUND_READER_CONFIG", str(blocker / "cfg"))
    with pytest.raises(UserError, match="de-identification key"):
        installation_secret()


@pytest.mark.parametrize("port", ["99999", "abc", "0", "-1"])
def test_bad_port_in_a_node_address_is_a_user_error(port: str, capsys) -> None:
    from ultrasound_reader.cli import main

    assert main(["pacs", "echo", "--node", f"dicom://ANY@127.0.0.1:{port}", "--timeout", "2"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--node" in err and "port is not 1-65535" in err, err
    assert main(["pacs", "nodes", "add", "x", "--dimse", f"ANY@127.0.0.1:{port}"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--dimse" in err and "port is not 1-65535" in err, err


def test_nodes_add_refuses_options_of_the_other_kind_and_bad_values(capsys) -> None:
    from ultrasound_reader.cli import main
    from ultrasound_reader.dicom.pacs import nodes

    cases = [
        (["--url", "http://127.0.0.1:8042/dicom-web", "--move-port", "-1"], "--move-port: not an option of a DICOMweb"),
        (["--url", "http://127.0.0.1:8042/dicom-web", "--calling-ae", "ME"], "--calling-ae: not an option of a DICOMweb"),
        (["--dimse", "A@127.0.0.1:104", "--auth", "basic", "--username", "u"], "--auth, --username: not an option of a DIMSE"),
        (["--dimse", "A@127.0.0.1:104", "--move-port", "-1"], "move_port -1 is not a TCP port"),
        (["--dimse", "A@127.0.0.1:104", "--move-port", "70000"], "move_port 70000 is not a TCP port"),
    ]
    for extra, expect in cases:
        assert main(["pacs", "nodes", "add", "n1", *extra]) == 1, extra
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and expect in err, err
    assert not nodes.nodes_path().exists()  # nothing was saved
    assert main(["pacs", "nodes", "add", "n1", "--dimse", "A@127.0.0.1:104"]) == 0
    n = nodes.resolve("n1")
    assert (n.calling_ae, n.move_port, n.port) == (nodes.DEFAULT_CALLING_AE, 11112, 104)
    assert main(["pacs", "nodes", "add", "w1", "--url", "http://127.0.0.1:8042/dicom-web"]) == 0
    assert nodes.resolve("w1").auth == "none"


def test_progress_line_ends_with_a_newline(orthanc, studies, tmp_path: Path) -> None:
    """``pacs send`` on a terminal: the \\r progress line is ended, so the summary and the
    shell prompt start on their own line (a real process with its stderr on a pty)."""
    import pty
    import subprocess
    import sys

    from tests.pacs.orthanc import AET, OUR_AET

    master, slave = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
           "ULTRASOUND_READER_CONFIG": str(tmp_path / "cfg")}
    url = f"dicom://{AET}@127.0.0.1:{orthanc.dicom_port}?calling={OUR_AET}"
    p = subprocess.Popen([sys.executable, "-m", "ultrasound_reader", "pacs", "send", "--node", url,
                          str(studies.b.files[0])], stderr=slave, stdout=subprocess.PIPE, env=env, text=True)
    os.close(slave)
    out, _ = p.communicate(timeout=120)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    err = b"".join(chunks).decode()
    assert p.returncode == 0, err
    assert "\r" in err and "files" in err, err  # a progress line was shown
    assert err.endswith("\n") or err.endswith("\r\n"), repr(err)


def test_deid_export_renumbers_rois_and_scrubs_whole_tokens_only(tmp_path: Path) -> None:
    from ultrasound_reader.case import AnalysisResult, Case, ImageRef, Roi
    from ultrasound_reader.dicom.sr import read_sr
    from ultrasound_reader.export import Export

    write_dicom(tmp_path / "liv.dcm", np.full((1, 32, 40), 90, np.uint8), extra={"PatientID": "ID-1"})
    rois = [Roi("mass", "ellipse", [(5, 5), (30, 20)], image=0, id="liv-mass-1"),
            Roi("mass", "rectangle", [(4, 4), (31, 22)], image=0, id="first DOE")]
    case = Case("soft-tissue", "liv", images=[ImageRef("liv.dcm")], rois=rois, root=tmp_path)
    job = Export(case, None, None, deid=True, secret=b"s" * 32)
    assert job.scrub("delivered via liver scan of liv (liv.dcm); see liv-mass-1") == \
        "delivered via liver scan of case (image-0); see case-mass-1"
    assert [r.id for r in job._public_case().rois] == ["roi-1", "roi-2"]
    sr = job.sr(tmp_path / "sr.dcm")
    text = sr.read_bytes().decode("latin-1")
    assert "DOE" not in text and "liv-mass" not in text
    assert [r.roi.id for r in read_sr(sr).rois] == ["roi-1", "roi-2"]
    result = AnalysisResult(case_id="liv", task="soft-tissue", bundle_name="b", bundle_version="1",
                            per_image=[{"roi_id": "liv-mass-1"}, {"roi_id": "first DOE"}])
    with_result = Export(case, result, None, deid=True, secret=b"s" * 32)
    assert [row["roi_id"] for row in with_result._public_result().per_image] == ["roi-1", "roi-2"]
