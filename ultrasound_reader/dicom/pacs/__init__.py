"""PACS access: DIMSE (pynetdicom) and DICOMweb (dicomweb-client) behind one small API.

::

    from ultrasound_reader.dicom import pacs
    node = pacs.resolve("orthanc")                 # a configured node, or dicom://AE@host:port, or a URL
    pacs.echo(node)
    studies = pacs.query(node, pacs.Query(patient_id="X"), with_series=True)
    result = pacs.retrieve(node, studies[0].study_uid, progress=cb, cancel=event)
    pacs.send(node, [Path("sr.dcm")])

Everything returns plain dataclasses (model.py) and raises :class:`PacsError` (a
UserError: one line) on failure or ``CancelledError`` when the cancel token is set.
A GUI dock runs these calls in a worker thread and passes a ``threading.Event``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ultrasound_reader.dicom.pacs.model import (
    PacsError,
    Progress,
    ProgressCallback,
    Query,
    RetrieveResult,
    SendResult,
    Series,
    Study,
    parse_date_range,
)
from ultrasound_reader.dicom.pacs.nodes import Node, load_nodes, resolve

__all__ = ["Node", "PacsError", "Progress", "ProgressCallback", "Query", "RetrieveResult", "SendResult",
           "Series", "Study", "echo", "find_series", "load_nodes", "parse_date_range", "query", "resolve",
           "retrieve", "round_trip", "send", "thumbnail"]


def _impl(node: Node) -> Any:
    if node.kind == "dimse":
        from ultrasound_reader.dicom.pacs import dimse

        return dimse
    from ultrasound_reader.dicom.pacs import web

    return web


def echo(node: Node) -> float:
    """C-ECHO or a one-result QIDO; the round-trip seconds."""
    return float(_impl(node).echo(node))


def query(node: Node, q: Query, *, with_series: bool = False, cancel: Any = None) -> list[Study]:
    """Studies matching ``q`` (with their series filled in when asked)."""
    impl = _impl(node)
    studies: list[Study] = impl.find_studies(node, q, cancel)
    if with_series:
        for s in studies:
            s.series = impl.find_series(node, s.study_uid, cancel)
    return studies


def find_series(node: Node, study_uid: str, cancel: Any = None) -> list[Series]:
    return list(_impl(node).find_series(node, study_uid, cancel))


def retrieve(node: Node, study_uid: str, series_uid: str | None = None, *, method: str | None = None,
             root: Path | None = None, progress: ProgressCallback | None = None,
             cancel: Any = None) -> RetrieveResult:
    """A study or one series into the cache (``root``, default cache_dir()/pacs), atomically.

    DIMSE nodes: ``method`` "get" (default) or "move"; DICOMweb nodes: WADO-RS.
    """
    if node.kind == "dimse":
        from ultrasound_reader.dicom.pacs import dimse

        return dimse.retrieve(node, study_uid, series_uid, method=method or "get", root=root,
                              progress=progress, cancel=cancel)
    if method not in (None, "wado"):
        raise PacsError(f"PACS {node.name} is a DICOMweb node: retrieve uses WADO-RS, not C-{method.upper()}")
    from ultrasound_reader.dicom.pacs import web

    return web.retrieve(node, study_uid, series_uid, root=root, progress=progress, cancel=cancel)


def thumbnail(node: Node, series: Series, size: int = 128) -> bytes | None:
    """A small JPEG of a series where the server renders one (DICOMweb); None otherwise (DIMSE)."""
    if node.kind != "dicomweb":
        return None
    from ultrasound_reader.dicom.pacs import web

    return web.thumbnail(node, series.study_uid, series.series_uid, size)


def send(node: Node, paths: Sequence[Path], *, progress: ProgressCallback | None = None,
         cancel: Any = None) -> SendResult:
    """C-STORE or STOW-RS the files."""
    return _impl(node).send(node, [Path(p) for p in paths], progress=progress, cancel=cancel)


def round_trip(node: Node, paths: Sequence[Path], root: Path, *, method: str | None = None) -> dict[str, Any]:
    """Send files, find their study, retrieve it, open every file: the times and bytes of each step.

    For measuring a PACS link (and testing it): the files must be of one study, not yet
    retrieved under ``root``. Returns seconds per step, bytes sent / received, and
    whether each sent instance came back with the same pixels and attributes.
    """
    import time

    import pydicom

    from ultrasound_reader.dicom.pacs.dimse import read_for_send

    files = [Path(p) for p in paths]
    read_for_send(files)
    studies = {str(pydicom.dcmread(p, stop_before_pixels=True).StudyInstanceUID) for p in files}
    if len(studies) != 1:
        raise PacsError(f"round trip: the files belong to {len(studies)} studies, not one")
    study_uid = studies.pop()
    t0 = time.perf_counter()
    sent = send(node, files)
    t1 = time.perf_counter()
    found = query(node, Query(study_uid=study_uid, modality=""), with_series=True)
    t2 = time.perf_counter()
    got = retrieve(node, study_uid, method=method, root=root)
    t3 = time.perf_counter()
    by_uid = {}
    for f in got.files:
        ds = pydicom.dcmread(f)
        if "PixelData" in ds:
            _ = ds.pixel_array  # decode: 'open'
        by_uid[str(ds.SOPInstanceUID)] = ds
    t4 = time.perf_counter()
    same = 0
    for p in files:
        ds = pydicom.dcmread(p)
        back = by_uid.get(str(ds.SOPInstanceUID))
        if back is None:
            continue
        ok = all(back.get(k) == ds.get(k) for k in ("SOPClassUID", "StudyInstanceUID", "SeriesInstanceUID",
                                                     "PatientID", "Rows", "Columns"))
        if ok and "PixelData" in ds:
            ok = bool((back.pixel_array == ds.pixel_array).all())
        same += ok
    return {"node": node.name, "kind": node.kind, "method": got.method, "files": len(files),
            "bytes_sent": sent.bytes, "bytes_received": got.bytes,
            "instances_found": sum(s.n_instances or 0 for s in found),
            "identical": same, "send_s": t1 - t0, "query_s": t2 - t1, "retrieve_s": t3 - t2, "open_s": t4 - t3,
            "total_s": t4 - t0, "cache": [str(f) for f in got.folders]}
