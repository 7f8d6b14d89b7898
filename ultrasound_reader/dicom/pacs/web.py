"""DICOMweb client (dicomweb-client): QIDO-RS queries, WADO-RS retrieves, STOW-RS stores.

Authentication: none, HTTP basic (username + password) or a bearer token, from the
node (the secret comes from the keyring or the private credentials file, never from
the command line history or a log). Errors become one-line :class:`PacsError`s.
A retrieve asks for each instance as stored (``transfer-syntax=*``), one request per
instance so that progress, cancel and a dropped server are noticed between files.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import requests
from urllib.parse import quote
from pydicom import dcmread
from pydicom.dataset import Dataset

from ultrasound_reader.dicom.pacs.dimse import read_for_send
from ultrasound_reader.dicom.pacs.landing import Landing
from ultrasound_reader.dicom.pacs.model import (
    PacsError,
    Progress,
    ProgressCallback,
    Query,
    RetrieveResult,
    SendResult,
    Series,
    Study,
    cancelled,
    check_uid,
    clean_text,
    parse_count,
)
from ultrasound_reader.dicom.pacs.nodes import Node
from ultrasound_reader.errors import CancelledError, UserError

log = logging.getLogger(__name__)
T = TypeVar("T")

# DICOM JSON keywords asked for in QIDO answers (besides the defaults).
STUDY_FIELDS = ("StudyDescription", "ModalitiesInStudy", "NumberOfStudyRelatedSeries",
                "NumberOfStudyRelatedInstances")
SERIES_FIELDS = ("SeriesDescription", "NumberOfSeriesRelatedInstances")
AS_STORED = (("application/dicom", "*"),)


def client(node: Node) -> Any:
    from dicomweb_client.api import DICOMwebClient

    session = requests.Session()
    if node.auth == "basic":
        session.auth = (node.username, node.secret or "")
    elif node.auth == "bearer":
        session.headers["Authorization"] = f"Bearer {node.secret or ''}"
    c = DICOMwebClient(node.url, session=session, timeout=(node.timeout, node.timeout))
    # Its default retries any exception 5 times with back-off (a dead server costs ~40 s);
    # the user retries instead, after a clear message.
    c.set_http_retry_params(retry=False)
    return c


def _qido(node: Node, c: Any, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """One QIDO-RS GET with the client's session; returns the DICOM JSON list.

    Done here rather than by dicomweb-client's search_* because that one
    percent-encodes '*', '?' and '^' in matching keys, which Orthanc (1.10) then
    matches literally: no wildcard and no 'FAMILY^GIVEN' name would ever match.
    """
    query = "&".join(f"{k}={quote(str(v), safe='*?^,-._')}" for k, v in params.items())
    url = f"{node.url}/{path}" + (f"?{query}" if query else "")
    r = c._session.get(url, headers={"Accept": "application/dicom+json"}, timeout=(node.timeout, node.timeout))
    r.raise_for_status()
    if r.status_code == 204 or not r.content:
        return []
    rows = r.json()
    if not isinstance(rows, list) or not all(isinstance(x, dict) for x in rows):
        raise ValueError("QIDO-RS answer is not a JSON list of objects")
    return rows


def _call(node: Node, what: str, fn: Callable[[], T]) -> T:
    """Run one DICOMweb request, turning transport and HTTP failures into PacsErrors."""
    where = f"PACS {node.name} ({node.url})"
    try:
        return fn()
    except requests.exceptions.ConnectTimeout:
        raise PacsError(f"{where}: {what}: no connection within {node.timeout:g} s (timeout)") from None
    except requests.exceptions.ReadTimeout:
        raise PacsError(f"{where}: {what}: no answer within {node.timeout:g} s (timeout)") from None
    except requests.exceptions.ConnectionError as exc:
        text = str(exc)
        if "Connection refused" in text or "Failed to establish" in text:
            raise PacsError(f"{where}: {what}: cannot connect (connection refused; is the PACS running?)") from None
        raise PacsError(f"{where}: {what}: the connection was lost ({type(exc).__name__})") from None
    except requests.exceptions.HTTPError as exc:
        code = exc.response.status_code if exc.response is not None else 0
        if code in (401, 403):
            raise PacsError(f"{where}: {what}: the PACS refused our credentials (HTTP {code}); "
                            "check the node's auth, username and stored password/token") from None
        if code == 404:
            raise PacsError(f"{where}: {what}: not found on the PACS (HTTP 404)") from None
        raise PacsError(f"{where}: {what}: HTTP {code} {exc.response.reason if exc.response is not None else ''}"
                        .rstrip()) from None
    except requests.exceptions.RequestException as exc:
        raise PacsError(f"{where}: {what}: {type(exc).__name__}") from None
    except (ValueError, KeyError, TypeError) as exc:  # a malformed answer
        raise PacsError(f"{where}: {what}: the PACS gave a malformed answer ({type(exc).__name__}: "
                        f"{clean_text(exc)[:100]})") from None


def _ds(d: dict[str, Any]) -> Dataset:
    return Dataset.from_json(d)


def echo(node: Node) -> float:
    """A one-result QIDO query: proves the server answers and accepts our credentials."""
    c = client(node)
    t0 = time.perf_counter()
    _call(node, "QIDO-RS", lambda: _qido(node, c, "studies", {"limit": 1}))
    return time.perf_counter() - t0


def find_studies(node: Node, q: Query, cancel: Any = None) -> list[Study]:
    filters: dict[str, Any] = {}
    # Orthanc's QIDO-RS matches no name with a '^' in the key (its C-FIND does); '*' in
    # its place matches the same names (and a few more with another separator there).
    name = q.patient_name.replace("^", "*")
    for key, value in (("PatientID", q.patient_id), ("PatientName", name),
                       ("AccessionNumber", q.accession), ("StudyDate", q.dicom_date),
                       ("ModalitiesInStudy", q.modality), ("StudyInstanceUID", q.study_uid)):
        if value:
            filters[key] = value
    c = client(node)
    params = {**filters, "includefield": ",".join(STUDY_FIELDS), "limit": q.limit + 1}
    rows = _call(node, "QIDO-RS studies", lambda: _qido(node, c, "studies", params))
    if cancelled(cancel):
        raise CancelledError("query cancelled")
    if len(rows) > q.limit:
        raise PacsError(f"PACS {node.name}: more than {q.limit} matches; narrow the search")
    out = []
    for row in rows:
        ds = _ds(row)
        try:
            uid = check_uid(ds.get("StudyInstanceUID", ""), "QIDO match: StudyInstanceUID")
        except PacsError:
            continue
        mods = ds.get("ModalitiesInStudy")
        mods = [] if mods in (None, "") else [mods] if isinstance(mods, str) else list(mods)
        out.append(Study(
            study_uid=uid, patient_id=clean_text(ds.get("PatientID", "")),
            patient_name=clean_text(ds.get("PatientName", "")), accession=clean_text(ds.get("AccessionNumber", "")),
            date=clean_text(ds.get("StudyDate", "")), description=clean_text(ds.get("StudyDescription", "")),
            modalities=[clean_text(m) for m in mods if m],
            n_series=parse_count(ds.get("NumberOfStudyRelatedSeries")),
            n_instances=parse_count(ds.get("NumberOfStudyRelatedInstances"))))
    return out


def find_series(node: Node, study_uid: str, cancel: Any = None) -> list[Series]:
    study_uid = check_uid(study_uid, "study UID")
    c = client(node)
    rows = _call(node, "QIDO-RS series", lambda: _qido(node, c, f"studies/{study_uid}/series",
                                                         {"includefield": ",".join(SERIES_FIELDS)}))
    out = []
    for row in rows:
        ds = _ds(row)
        try:
            uid = check_uid(ds.get("SeriesInstanceUID", ""), "QIDO match: SeriesInstanceUID")
        except PacsError:
            continue
        out.append(Series(study_uid=study_uid, series_uid=uid, modality=clean_text(ds.get("Modality", "")),
                          number=parse_count(ds.get("SeriesNumber")),
                          description=clean_text(ds.get("SeriesDescription", "")),
                          n_instances=parse_count(ds.get("NumberOfSeriesRelatedInstances"))))
    out.sort(key=lambda s: (s.number is None, s.number or 0, s.series_uid))
    return out


def _instances(node: Node, c: Any, study_uid: str, series_uid: str | None) -> list[tuple[str, str]]:
    path = f"studies/{study_uid}" + (f"/series/{series_uid}" if series_uid else "") + "/instances"
    rows = _call(node, "QIDO-RS instances", lambda: _qido(node, c, path, {}))
    out = []
    for row in rows:
        ds = _ds(row)
        out.append((check_uid(ds.get("SeriesInstanceUID", ""), "QIDO match: SeriesInstanceUID"),
                    check_uid(ds.get("SOPInstanceUID", ""), "QIDO match: SOPInstanceUID")))
    return out


def _part10(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def retrieve(node: Node, study_uid: str, series_uid: str | None = None, *, root: Path | None = None,
             progress: ProgressCallback | None = None, cancel: Any = None) -> RetrieveResult:
    """WADO-RS a study or one series into the cache, atomically, one instance per request."""
    t0 = time.perf_counter()
    c = client(node)
    with Landing(root, study_uid=study_uid, series_uid=series_uid) as landing:
        items = _instances(node, c, landing.study_uid, landing.series_uid)
        for series, sop in items:
            if cancelled(cancel):
                raise CancelledError("retrieve cancelled")
            ds = _call(node, "WADO-RS", lambda s=series, i=sop: c.retrieve_instance(
                landing.study_uid, s, i, media_types=AS_STORED))
            if str(ds.get("SOPInstanceUID", "")) != sop:
                raise PacsError(f"PACS {node.name}: asked for instance {sop}, "
                                f"got {clean_text(ds.get('SOPInstanceUID', ''))[:64]}")
            landing.write(ds.get("StudyInstanceUID", ""), ds.get("SeriesInstanceUID", ""), sop, _part10(ds))
            if progress is not None:
                progress(Progress(len(landing.files), len(items), landing.bytes, "received"))
        if cancelled(cancel):
            raise CancelledError("retrieve cancelled")
        folders = landing.commit()
        files = landing.final_files()
    return RetrieveResult(landing.study_uid, landing.series_uid, folders, files, landing.bytes,
                          time.perf_counter() - t0, "wado-rs")


def send(node: Node, paths: Sequence[Path], *, progress: ProgressCallback | None = None,
         cancel: Any = None) -> SendResult:
    """STOW-RS each file (one request per file, so a failure names its file)."""
    files = read_for_send(paths)
    if not files:
        raise UserError("nothing to send")
    c = client(node)
    t0 = time.perf_counter()
    sent: list[str] = []
    failed: list[tuple[str, str]] = []
    nbytes = 0
    for i, (path, _, _) in enumerate(files):
        if cancelled(cancel):
            raise CancelledError("send cancelled")
        ds = dcmread(path)
        answer = _call(node, f"STOW-RS of {path.name}", lambda d=ds: c.store_instances([d]))
        bad = answer.get("FailedSOPSequence") if answer is not None else None
        if bad:
            reason = bad[0].get("FailureReason", "?")
            failed.append((str(path), f"failure reason {reason}"))
        else:
            sent.append(str(ds.SOPInstanceUID))
            nbytes += path.stat().st_size
        if progress is not None:
            progress(Progress(i + 1, len(files), nbytes, "sent"))
    return SendResult(sent, failed, nbytes, time.perf_counter() - t0, "stow-rs")


THUMBNAIL_MAX_BYTES = 4 * 1024 * 1024


def thumbnail(node: Node, study_uid: str, series_uid: str, size: int = 128) -> bytes | None:
    """A JPEG of the series' first instance's first frame, at most ``size`` pixels wide/high,
    rendered by the server (WADO-RS 'rendered'); None when the server renders none."""
    study_uid = check_uid(study_uid, "study UID")
    series_uid = check_uid(series_uid, "series UID")
    if not 16 <= int(size) <= 1024:
        raise UserError(f"thumbnail size {size} is outside 16-1024 pixels")
    c = client(node)
    items = _instances(node, c, study_uid, series_uid)
    if not items:
        return None
    sop = items[0][1]
    # Built by hand: Orthanc does not decode the %2C requests would make of the comma.
    url = (f"{node.url}/studies/{study_uid}/series/{series_uid}/instances/{sop}/frames/1/rendered"
           f"?viewport={int(size)},{int(size)}")
    try:
        r = _call(node, "WADO-RS rendered", lambda: c._session.get(
            url, headers={"Accept": "image/jpeg"}, timeout=(node.timeout, node.timeout), stream=True))
        r.raise_for_status()
        data = r.raw.read(THUMBNAIL_MAX_BYTES + 1, decode_content=True)
    except (PacsError, requests.exceptions.RequestException) as exc:
        log.debug("no thumbnail from %s: %s", node.name, exc)
        return None
    if len(data) > THUMBNAIL_MAX_BYTES or not data.startswith(b"\xff\xd8"):
        return None  # not a JPEG of a sane size: show none
    return bytes(data)
