"""A private Orthanc (Debian's ``orthanc`` + ``orthanc-dicomweb``) as a plain process.

For the tests and the ``pacs`` benchmark (and a GUI test of the Query/Retrieve dock):
private configuration and storage in a folder, free ports on 127.0.0.1, HTTP basic
authentication on, the called AE title checked, and only known AEs allowed (so an
unknown calling AE is rejected at association). The modality ``USREADER`` is our
C-MOVE destination at ``scp_port``. :meth:`Orthanc.dimse_node` / :meth:`web_node`
give nodes pointing at it. Nothing here is used by the application itself.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests

USER, PASSWORD = "reader", "s3cret-test-only"
AET = "ORTHANC"
OUR_AET = "USREADER"


def free_ports(n: int) -> list[int]:
    """``n`` distinct free TCP ports on 127.0.0.1 (all held until all are chosen)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port() -> int:
    return free_ports(1)[0]


def orthanc_binary() -> str:
    exe = shutil.which("Orthanc") or ("/usr/sbin/Orthanc" if Path("/usr/sbin/Orthanc").exists() else None)
    if exe is None:
        raise RuntimeError("Orthanc is not installed (apt-get install orthanc orthanc-dicomweb)")
    return exe


def dicomweb_plugin() -> str:
    for cand in ("/usr/share/orthanc/plugins/libOrthancDicomWeb.so", *sorted(
            str(p) for p in Path("/usr/lib/orthanc").glob("libOrthancDicomWeb.so*"))):
        if Path(cand).exists():
            return cand
    raise RuntimeError("the Orthanc DICOMweb plugin is not installed (apt-get install orthanc-dicomweb)")


class Orthanc:
    def __init__(self, workdir: Path) -> None:
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.http_port, self.dicom_port, self.scp_port = free_ports(3)
        self.proc: subprocess.Popen | None = None
        self.config = self.dir / "orthanc.json"
        storage = self.dir / "storage"
        storage.mkdir(exist_ok=True)
        cfg = {
            "Name": "TEST-PACS", "StorageDirectory": str(storage), "IndexDirectory": str(storage),
            "HttpPort": self.http_port, "DicomPort": self.dicom_port, "DicomAet": AET,
            "RemoteAccessAllowed": False, "AuthenticationEnabled": True,
            "RegisteredUsers": {USER: PASSWORD},
            "DicomCheckCalledAet": True,
            "DicomAlwaysAllowEcho": False, "DicomAlwaysAllowStore": False,
            "DicomAlwaysAllowFind": False, "DicomAlwaysAllowGet": False, "DicomAlwaysAllowMove": False,
            "DicomModalities": {"usreader": {"AET": OUR_AET, "Host": "127.0.0.1", "Port": self.scp_port}},
            "DicomScuTimeout": 5, "DicomAssociationCloseDelay": 0,
            "Plugins": [dicomweb_plugin()],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
            "HttpDescribeErrors": True, "StorageCompression": False,
        }
        self.config.write_text(json.dumps(cfg, indent=1))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    def start(self, timeout: float = 30.0) -> Orthanc:
        log = open(self.dir / "orthanc.log", "ab")
        self.proc = subprocess.Popen([orthanc_binary(), str(self.config)], stdout=log, stderr=subprocess.STDOUT,
                                     cwd=self.dir)  # same process group: a Ctrl-C of the tests stops it too
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Orthanc exited ({self.proc.returncode}): {self.log_tail()}")
            try:
                if requests.get(f"{self.url}/system", auth=(USER, PASSWORD), timeout=1).ok:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Orthanc did not answer within {timeout} s: {self.log_tail()}")

    def log_tail(self, n: int = 2000) -> str:
        p = self.dir / "orthanc.log"
        return p.read_text(errors="replace")[-n:] if p.exists() else ""

    def stop(self, graceful: bool = False) -> None:
        """Stop the server; by SIGKILL unless ``graceful`` (Orthanc takes ~3 s to shut down,
        and its storage is a throw-away tmp folder; a restart on it works either way)."""
        if self.proc is None:
            return
        if not graceful:
            self.kill()
            return
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: the server dies at once, connections drop (a crash / pulled cable)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def pause(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    # -- REST helpers (test set-up and checks only) -----------------------------------------
    def rest(self, method: str, path: str, **kw: object) -> requests.Response:
        r = requests.request(method, self.url + path, auth=(USER, PASSWORD), timeout=30, **kw)
        r.raise_for_status()
        return r

    def upload(self, path: Path) -> None:
        self.rest("POST", "/instances", data=Path(path).read_bytes())

    def instance_ids(self) -> list[str]:
        return list(self.rest("GET", "/instances").json())

    def dimse_node(self, timeout: float = 10.0, **kw: object):  # type: ignore[no-untyped-def]
        from ultrasound_reader.dicom.pacs.nodes import Node

        args = {"name": "test-dimse", "kind": "dimse", "ae_title": AET, "host": "127.0.0.1",
                "port": self.dicom_port, "calling_ae": OUR_AET, "move_port": self.scp_port, "timeout": timeout, **kw}
        return Node(**args)  # type: ignore[arg-type]

    def web_node(self, timeout: float = 10.0, **kw: object):  # type: ignore[no-untyped-def]
        from ultrasound_reader.dicom.pacs.nodes import Node

        args = {"name": "test-web", "kind": "dicomweb", "url": self.dicomweb_url, "auth": "basic",
                "username": USER, "secret": PASSWORD, "timeout": timeout, **kw}
        return Node(**args)  # type: ignore[arg-type]

    def clear(self) -> None:
        for pid in self.rest("GET", "/patients").json():
            self.rest("DELETE", f"/patients/{pid}")
