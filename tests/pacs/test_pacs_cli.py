"""The ``pacs`` command (a contract), nodes and secrets, and the cache landing's checks."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pacs.conftest import Fixture
from tests.pacs.orthanc import AET, OUR_AET, PASSWORD, USER, free_port
from ultrasound_reader.cli import main
from ultrasound_reader.dicom.pacs import PacsError, nodes
from ultrasound_reader.dicom.pacs.landing import Landing
from ultrasound_reader.errors import UserError

REPO = Path(__file__).resolve().parents[2]


def _add_nodes(orthanc, monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["pacs", "nodes", "add", "ortho", "--dimse", f"{AET}@127.0.0.1:{orthanc.dicom_port}",
                 "--calling-ae", OUR_AET, "--move-port", str(orthanc.scp_port), "--timeout", "10"]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["pacs", "nodes", "add", "orthoweb", "--url", orthanc.dicomweb_url, "--auth", "basic",
                 "--username", USER, "--password-stdin"]) == 0


def test_nodes_file_holds_no_secret(orthanc, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    _add_nodes(orthanc, monkeypatch)
    text = nodes.nodes_path().read_text()
    assert PASSWORD not in text and "orthoweb" in text
    # no usable keyring here: the secret went to a file only the user can read
    store = nodes.secret_store()
    if store != "keyring":
        assert stat.S_IMODE(os.stat(store).st_mode) == 0o600
    assert nodes.resolve("orthoweb").secret == PASSWORD
    assert repr(nodes.resolve("orthoweb")).find(PASSWORD) == -1
    capsys.readouterr()
    assert main(["pacs", "nodes", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {n["name"] for n in listed["nodes"]} == {"ortho", "orthoweb"}
    assert PASSWORD not in json.dumps(listed)
    assert main(["pacs", "nodes", "remove", "orthoweb"]) == 0
    assert nodes.load_secret("orthoweb") is None


@pytest.mark.parametrize("name", ["ortho", "orthoweb"])
def test_echo_query_retrieve_send_by_node_name(orthanc, studies: Fixture, monkeypatch, capsys, tmp_path: Path,
                                                name: str) -> None:
    _add_nodes(orthanc, monkeypatch)
    capsys.readouterr()
    assert main(["pacs", "echo", "--node", name]) == 0
    assert "answered in" in capsys.readouterr().out
    assert main(["pacs", "query", "--node", name, "--patient-id", "PH-PACS-1", "--series", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    [study] = out["studies"]
    assert study["study_uid"] == studies.a.study_uid and len(study["series"]) == 2
    assert main(["pacs", "query", "--node", name, "--date", "2020-01-01..2020-12-31"]) == 0
    human = capsys.readouterr().out
    assert human.startswith("1 study on") and studies.a.study_uid in human
    dest = tmp_path / "dest"
    assert main(["pacs", "retrieve", "--node", name, "--study", studies.a.study_uid, "--dest", str(dest),
                 "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert len(got["files"]) == 4 and all(Path(f).is_file() for f in got["files"])
    study_dir = Path(got["folders"][0]).parent
    (study_dir / "notes.json").write_text("{}")  # a folder's non-DICOM files are not sent
    assert main(["pacs", "send", "--node", name, str(study_dir)]) == 0
    assert capsys.readouterr().out.startswith("sent 4 file(s)")


def test_address_instead_of_a_name(orthanc, studies: Fixture, capsys) -> None:
    url = f"dicom://{AET}@127.0.0.1:{orthanc.dicom_port}?calling={OUR_AET}"
    assert main(["pacs", "query", "--node", url, "--accession", "ACC-B", "--json"]) == 0
    assert [s["study_uid"] for s in json.loads(capsys.readouterr().out)["studies"]] == [studies.b.study_uid]


def test_errors_are_one_line_exit_1(tmp_path: Path, capsys) -> None:
    port = free_port()
    cases = [
        (["pacs", "echo", "--node", f"dicom://ANY@127.0.0.1:{port}", "--timeout", "2"], "cannot connect"),
        (["pacs", "echo", "--node", "nosuchnode"], "no such PACS node"),
        (["pacs", "query", "--node", f"dicom://ANY@127.0.0.1:{port}", "--date", "2020-13-45"], "not a date"),
        (["pacs", "retrieve", "--node", f"dicom://ANY@127.0.0.1:{port}", "--study", "../../etc"], "not a valid"),
        (["pacs", "send", "--node", f"dicom://ANY@127.0.0.1:{port}", str(tmp_path / "nothing")], "no such file"),
    ]
    for argv, expect in cases:
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and expect in err, err
    # and in a real process: no library log lines, no traceback
    env = {**os.environ, "PYTHONPATH": str(REPO), "ULTRASOUND_READER_CONFIG": str(tmp_path)}
    p = subprocess.run([sys.executable, "-m", "ultrasound_reader", *cases[0][0]], capture_output=True, text=True,
                       env=env, timeout=60)
    assert p.returncode == 1 and p.stderr.count("\n") == 1 and "cannot connect" in p.stderr, p.stderr


def test_node_validation() -> None:
    with pytest.raises(UserError, match="no credentials in the URL"):
        nodes.Node(name="x", kind="dicomweb", url="http://user:pw@host/dicom-web")
    with pytest.raises(UserError, match="not a valid AE title"):
        nodes.Node(name="x", kind="dimse", ae_title="WAY-TOO-LONG-AE-TITLE", host="h", port=104)
    with pytest.raises(UserError, match="not a TCP port"):
        nodes.Node(name="x", kind="dimse", ae_title="A", host="h", port=70000)
    with pytest.raises(UserError, match="dicom://AE_TITLE@host:port"):
        nodes.parse_address("dicom://host:104")


def test_bad_nodes_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "nodes.json"
    monkeypatch.setenv("ULTRASOUND_READER_PACS_NODES", str(f))
    f.write_text("{not json")
    with pytest.raises(UserError, match="nodes.json: not a readable PACS nodes file"):
        nodes.load_nodes()
    f.write_text(json.dumps({"nodes": [{"name": "a", "kind": "dimse", "ae_title": "A", "host": "h", "port": 1,
                                        "password": "x"}]}))
    with pytest.raises(UserError, match=r"unknown field\(s\) \['password'\]"):
        nodes.load_nodes()


def test_landing_refuses_foreign_or_hostile_uids(tmp_path: Path) -> None:
    with Landing(tmp_path, study_uid="1.2.3", series_uid="1.2.3.4") as landing:
        with pytest.raises(PacsError, match="not a valid DICOM UID"):
            landing.write("1.2.3", "1.2.3.4", "../../evil", b"x")
        with pytest.raises(PacsError, match="not of the requested 1.2.3"):
            landing.write("9.9", "1.2.3.4", "1.5", b"x")
        with pytest.raises(PacsError, match="not of the requested 1.2.3.4"):
            landing.write("1.2.3", "1.2.3.5", "1.5", b"x")
        with pytest.raises(PacsError, match="sent no instance"):
            landing.commit()
    assert list(tmp_path.iterdir()) == []
