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
           "retrieve", "send"]


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


def send(node: Node, paths: Sequence[Path], *, progress: ProgressCallback | None = None,
         cancel: Any = None) -> SendResult:
    """C-STORE or STOW-RS the files."""
    return _impl(node).send(node, [Path(p) for p in paths], progress=progress, cancel=cancel)
