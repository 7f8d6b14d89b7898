"""Faults against a real Orthanc: down, wrong AE title, association rejected, bad credentials,
timeout, killed mid-retrieve. Each gives one clear line, leaves nothing in the cache, and a
retry works once the cause is gone."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.pacs.conftest import Fixture, dimse_node, web_node
from tests.pacs.orthanc import free_port
from ultrasound_reader.dicom import pacs


def _empty(root: Path) -> bool:
    return not root.exists() or not any(root.iterdir())


@pytest.mark.parametrize("kind", ["dimse", "dicomweb"])
def test_server_down_then_up(fresh_orthanc, studies: Fixture, tmp_path: Path, kind: str) -> None:
    node = dimse_node(fresh_orthanc, 3) if kind == "dimse" else web_node(fresh_orthanc, 3)
    root = tmp_path / "cache"
    fresh_orthanc.stop()
    for call in (lambda: pacs.echo(node), lambda: pacs.retrieve(node, studies.a.study_uid, root=root)):
        with pytest.raises(pacs.PacsError, match=r"cannot connect .*connection refused") as err:
            call()
        assert "\n" not in str(err.value) and node.address in str(err.value)
    assert _empty(root)
    fresh_orthanc.start()
    assert len(pacs.retrieve(node, studies.a.study_uid, root=root).files) == 4


def test_wrong_called_ae_title(fresh_orthanc) -> None:
    with pytest.raises(pacs.PacsError, match=r"association rejected: Called AE title not recognised.*'WRONGAE'"):
        pacs.echo(dimse_node(fresh_orthanc, ae_title="WRONGAE"))


def test_unknown_calling_ae_is_rejected(fresh_orthanc, studies: Fixture, tmp_path: Path) -> None:
    node = dimse_node(fresh_orthanc, calling_ae="STRANGER")
    # Orthanc answers A-ASSOCIATE-RJ, or under load sometimes drops the connection: both name our AE title
    with pytest.raises(pacs.PacsError, match=r"(association rejected: Calling AE title not recognised"
                                             r"|aborted the association while it was being set up).*STRANGER"):
        pacs.retrieve(node, studies.a.study_uid, root=tmp_path / "cache")
    assert _empty(tmp_path / "cache")


def test_wrong_credentials(fresh_orthanc) -> None:
    with pytest.raises(pacs.PacsError, match=r"refused our credentials \(HTTP 401\)") as err:
        pacs.echo(web_node(fresh_orthanc, secret="not-the-password"))
    assert "not-the-password" not in str(err.value)


@pytest.mark.parametrize("kind", ["dimse", "dicomweb"])
def test_timeout_then_retry(fresh_orthanc, studies: Fixture, tmp_path: Path, kind: str) -> None:
    """A frozen server (SIGSTOP): the TCP connection opens, nothing answers."""
    node = dimse_node(fresh_orthanc, 1.0) if kind == "dimse" else web_node(fresh_orthanc, 1.0)
    root = tmp_path / "cache"
    fresh_orthanc.pause()
    try:
        t0 = time.monotonic()
        with pytest.raises(pacs.PacsError, match=r"no answer within 1 s \(timeout\)"):
            pacs.retrieve(node, studies.a.study_uid, root=root)
        assert time.monotonic() - t0 < 10  # no hidden retries with back-off
    finally:
        fresh_orthanc.resume()
    assert _empty(root / studies.a.study_uid)
    assert not list(root.glob(".partial-*"))
    node.timeout = 10.0
    assert len(pacs.retrieve(node, studies.a.study_uid, root=root).files) == 4


@pytest.mark.parametrize("kind,method", [("dimse", "get"), ("dimse", "move"), ("dicomweb", None)])
def test_server_killed_mid_retrieve(fresh_orthanc, studies: Fixture, tmp_path: Path, kind: str,
                                    method: str | None) -> None:
    node = dimse_node(fresh_orthanc, 3) if kind == "dimse" else web_node(fresh_orthanc, 3)
    root = tmp_path / "cache"
    seen = []

    def kill_after_first(p: pacs.Progress) -> None:
        seen.append(p.done)
        if p.done == 1:
            fresh_orthanc.kill()

    with pytest.raises(pacs.PacsError) as err:
        pacs.retrieve(node, studies.a.study_uid, method=method, root=root, progress=kill_after_first)
    assert seen[0] == 1 and len(seen) < 4
    msg = str(err.value)
    assert "\n" not in msg and ("connection was lost" in msg or "cannot connect" in msg), msg
    assert _empty(root)  # no study folder, no temp folder
    fresh_orthanc.start()
    res = pacs.retrieve(node, studies.a.study_uid, method=method, root=root)
    assert len(res.files) == 4 and sorted(p.name for p in root.iterdir()) == [studies.a.study_uid]


def test_move_port_in_use(fresh_orthanc, studies: Fixture, tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("", fresh_orthanc.scp_port))
        s.listen()
        with pytest.raises(pacs.PacsError, match=f"cannot listen on port {fresh_orthanc.scp_port}"):
            pacs.retrieve(dimse_node(fresh_orthanc), studies.a.study_uid, method="move", root=tmp_path / "c")
    assert _empty(tmp_path / "c")


def test_nothing_listening_on_an_unused_port(tmp_path: Path) -> None:
    node = pacs.Node(name="nowhere", kind="dimse", ae_title="ANY", host="127.0.0.1", port=free_port(), timeout=2)
    with pytest.raises(pacs.PacsError, match="cannot connect"):
        pacs.query(node, pacs.Query())
