"""DIMSE client (pynetdicom): C-ECHO, C-FIND, C-GET, C-MOVE (to an in-process storage SCP), C-STORE.

Every failure becomes a :class:`PacsError` whose one line says what happened and
where: the PACS is down (connection refused), it did not answer in time, it rejected
the association (with the reason it gave, e.g. the called AE title it does not
know), it aborted, or it answered with a failure status. Retrieves land through
:class:`Landing` (nothing half-written in the cache) and honour a cancel token.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLossless,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)
from pynetdicom import AE, build_role, evt
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

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
# pynetdicom logs every failed association at ERROR before we raise a PacsError that
# says the same in one line; keep it quiet unless someone asked for its logs
# (``-v`` sets it back to DEBUG). Its debug output may name patients: never default.
if logging.getLogger("pynetdicom").level == logging.NOTSET:
    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)

# What a reading workstation receives: ultrasound images, secondary captures, SRs, PDFs.
# Image classes get one presentation context per transfer syntax, so that the PACS
# sends each file as stored (one context with many syntaxes lets the acceptor pick a
# single one, and the PACS then transcodes a JPEG cine to raw); the others one context.
IMAGE_CLASSES: tuple[str, ...] = (
    "1.2.840.10008.5.1.4.1.1.6.1",  # US Image
    "1.2.840.10008.5.1.4.1.1.3.1",  # US Multi-frame Image
    "1.2.840.10008.5.1.4.1.1.6.2",  # Enhanced US Volume
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture
    "1.2.840.10008.5.1.4.1.1.7.4",  # Multi-frame True Color SC
    "1.2.840.10008.5.1.4.1.1.7.2",  # Multi-frame Grayscale Byte SC
)
OTHER_CLASSES: tuple[str, ...] = (
    "1.2.840.10008.5.1.4.1.1.88.11",  # Basic Text SR
    "1.2.840.10008.5.1.4.1.1.88.22",  # Enhanced SR
    "1.2.840.10008.5.1.4.1.1.88.33",  # Comprehensive SR
    "1.2.840.10008.5.1.4.1.1.88.34",  # Comprehensive 3D SR
    "1.2.840.10008.5.1.4.1.1.88.59",  # Key Object Selection
    "1.2.840.10008.5.1.4.1.1.104.1",  # Encapsulated PDF
    "1.2.840.10008.5.1.4.1.1.11.1",  # Grayscale Softcopy Presentation State
)
TRANSFER_SYNTAXES: tuple[str, ...] = (
    ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLossless,
    JPEGLosslessSV1, JPEGLSLossless, JPEGLSNearLossless, JPEG2000Lossless, JPEG2000, RLELossless,
    DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian,
)
STORAGE_CLASSES = IMAGE_CLASSES + OTHER_CLASSES
UNCOMPRESSED = (ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian)
_PENDING = (0xFF00, 0xFF01)


def _add_storage_contexts(ae: AE, scp: bool) -> None:
    """Storage contexts for receiving (C-GET: requested with the SCP role; C-MOVE: supported)."""
    add = ae.add_supported_context if scp else ae.add_requested_context
    for uid in IMAGE_CLASSES:
        if scp:
            add(uid, list(TRANSFER_SYNTAXES))
        else:
            for ts in TRANSFER_SYNTAXES:
                add(uid, ts)
    for uid in OTHER_CLASSES:
        add(uid, list(UNCOMPRESSED))


def _ae(node: Node) -> AE:
    ae = AE(ae_title=node.calling_ae)
    ae.acse_timeout = node.timeout
    ae.dimse_timeout = node.timeout
    ae.network_timeout = node.timeout
    ae.connection_timeout = node.timeout
    return ae


class _Watch:
    """Association events that tell why an association did not come up."""

    def __init__(self) -> None:
        self.opened = False
        self.pdus = 0

    def handlers(self) -> list[tuple[Any, Any]]:
        return [(evt.EVT_CONN_OPEN, self._open), (evt.EVT_PDU_RECV, self._pdu)]

    def _open(self, event: Any) -> None:
        self.opened = True

    def _pdu(self, event: Any) -> None:
        self.pdus += 1


def _associate(ae: AE, node: Node, *, ext_neg: list[Any] | None = None,
               handlers: list[tuple[Any, Any]] | None = None) -> Any:
    watch = _Watch()
    where = f"PACS {node.name} ({node.address})"
    assoc = ae.associate(node.host, node.port, ae_title=node.ae_title, ext_neg=ext_neg,
                         evt_handlers=watch.handlers() + list(handlers or []))
    if assoc.is_established:
        return assoc
    if assoc.is_rejected:
        prim = assoc.acceptor.primitive
        reason = getattr(prim, "reason_str", "no reason given") if prim is not None else "no reason given"
        hint = ""
        if prim is not None and getattr(prim, "result_source", None) == 1 and getattr(prim, "diagnostic", None) == 0x07:
            hint = f" (check the node's AE title {node.ae_title!r})"
        elif prim is not None and getattr(prim, "result_source", None) == 1 and getattr(prim, "diagnostic", None) == 0x03:
            hint = f" (the PACS does not know our AE title {node.calling_ae!r}: register it there)"
        raise PacsError(f"{where}: association rejected: {reason}{hint}")
    if not watch.opened:
        raise PacsError(f"{where}: cannot connect (connection refused or host unreachable; is the PACS running?)")
    if watch.pdus == 0:
        raise PacsError(f"{where}: no answer within {node.timeout:g} s (timeout)")
    if assoc.acceptor.primitive is not None and not assoc.accepted_contexts:
        raise PacsError(f"{where}: the PACS accepted none of the requested services")
    # Orthanc sometimes drops the connection instead of answering A-ASSOCIATE-RJ (seen for an unknown
    # calling AE under load): the likely causes are the AE titles, so say which ones were used.
    raise PacsError(f"{where}: the PACS aborted the association while it was being set up (check that it "
                    f"knows our AE title {node.calling_ae!r} and that its own is {node.ae_title!r})")


def _status_error(node: Node, what: str, status: Dataset | None) -> PacsError:
    where = f"PACS {node.name} ({node.address})"
    if status is None or "Status" not in status:
        return PacsError(f"{where}: {what}: the connection was lost or the PACS did not answer within "
                         f"{node.timeout:g} s")
    code = int(status.Status)
    comment = clean_text(status.get("ErrorComment", "")) or _meaning(code, node, what)
    return PacsError(f"{where}: {what} failed with status 0x{code:04X}" + (f" ({comment})" if comment else ""))


def _meaning(code: int, node: Node, what: str) -> str:
    """What a DIMSE failure status says (PS3.4 C.4), in words the user can act on."""
    if code == 0xA801:
        return (f"the PACS does not know our C-MOVE destination {node.calling_ae!r}: register it there "
                f"at our host, port {node.move_port}")
    if code in (0xA701, 0xA702, 0xA700):
        return "the PACS is out of resources"
    if code == 0xA900:
        return "the query does not match what the PACS supports"
    if code == 0x0122:
        return "the PACS does not support this service"
    if 0xC000 <= code <= 0xCFFF:
        return ("the PACS could not process it; is the study or series known there?"
                if what.startswith(("C-GET", "C-MOVE")) else "the PACS could not process it")
    return ""


# -- echo ------------------------------------------------------------------------------
def echo(node: Node) -> float:
    """C-ECHO; the round-trip seconds."""
    ae = _ae(node)
    ae.add_requested_context(Verification)
    t0 = time.perf_counter()
    assoc = _associate(ae, node)
    try:
        status = assoc.send_c_echo()
        if status is None or "Status" not in status or int(status.Status) != 0:
            raise _status_error(node, "C-ECHO", status)
    finally:
        assoc.release()
    return time.perf_counter() - t0


# -- find --------------------------------------------------------------------------------
def _find(node: Node, identifier: Dataset, limit: int, cancel: Any = None) -> list[Dataset]:
    ae = _ae(node)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    assoc = _associate(ae, node)
    out: list[Dataset] = []
    try:
        for status, ident in assoc.send_c_find(identifier, StudyRootQueryRetrieveInformationModelFind):
            if cancelled(cancel):
                assoc.abort()
                raise CancelledError("query cancelled")
            if status is None or "Status" not in status:
                raise _status_error(node, "C-FIND", None)
            code = int(status.Status)
            if code in _PENDING:
                if ident is not None:
                    out.append(ident)
                if len(out) > limit:
                    assoc.abort()
                    raise PacsError(f"PACS {node.name}: more than {limit} matches; narrow the search")
            elif code == 0x0000:
                break
            else:
                raise _status_error(node, "C-FIND", status)
    finally:
        if assoc.is_established:
            assoc.release()
    return out


def _values(value: Any) -> list[str]:
    """A multi-valued element's values as clean strings (a single value is a one-item list)."""
    if value is None or value == "":
        return []
    items = [value] if isinstance(value, str) else list(value)
    return [clean_text(v) for v in items if str(v)]


def find_studies(node: Node, q: Query, cancel: Any = None) -> list[Study]:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.PatientID = q.patient_id
    ds.PatientName = q.patient_name
    ds.AccessionNumber = q.accession
    ds.StudyDate = q.dicom_date
    ds.StudyTime = ""
    ds.ModalitiesInStudy = q.modality
    ds.StudyInstanceUID = q.study_uid
    ds.StudyDescription = ""
    ds.NumberOfStudyRelatedSeries = None
    ds.NumberOfStudyRelatedInstances = None
    studies = []
    for ident in _find(node, ds, q.limit, cancel):
        try:
            uid = check_uid(ident.get("StudyInstanceUID", ""), "C-FIND match: StudyInstanceUID")
        except PacsError:
            log.warning("PACS %s: a study match without a valid StudyInstanceUID was skipped", node.name)
            continue
        mods = _values(ident.get("ModalitiesInStudy"))
        studies.append(Study(
            study_uid=uid, patient_id=clean_text(ident.get("PatientID", "")),
            patient_name=clean_text(ident.get("PatientName", "")), accession=clean_text(ident.get("AccessionNumber", "")),
            date=clean_text(ident.get("StudyDate", "")), description=clean_text(ident.get("StudyDescription", "")),
            modalities=mods, n_series=parse_count(ident.get("NumberOfStudyRelatedSeries")),
            n_instances=parse_count(ident.get("NumberOfStudyRelatedInstances"))))
    return studies


def find_series(node: Node, study_uid: str, cancel: Any = None) -> list[Series]:
    study_uid = check_uid(study_uid, "study UID")
    ds = Dataset()
    ds.QueryRetrieveLevel = "SERIES"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = ""
    ds.Modality = ""
    ds.SeriesNumber = None
    ds.SeriesDescription = ""
    ds.NumberOfSeriesRelatedInstances = None
    out = []
    for ident in _find(node, ds, 10_000, cancel):
        try:
            uid = check_uid(ident.get("SeriesInstanceUID", ""), "C-FIND match: SeriesInstanceUID")
        except PacsError:
            continue
        out.append(Series(study_uid=study_uid, series_uid=uid, modality=clean_text(ident.get("Modality", "")),
                          number=parse_count(ident.get("SeriesNumber")),
                          description=clean_text(ident.get("SeriesDescription", "")),
                          n_instances=parse_count(ident.get("NumberOfSeriesRelatedInstances"))))
    out.sort(key=lambda s: (s.number is None, s.number or 0, s.series_uid))
    return out


# -- retrieve ----------------------------------------------------------------------------
class _Receiver:
    """The C-STORE handler of a C-GET / C-MOVE: validates and lands each instance."""

    def __init__(self, landing: Landing, progress: ProgressCallback | None, cancel: Any) -> None:
        self.landing, self.progress, self.cancel = landing, progress, cancel
        self.total: int | None = None
        self.error: Exception | None = None
        self.lock = threading.Lock()

    def __call__(self, event: Any) -> int:
        if cancelled(self.cancel) or self.error is not None:
            return 0xA700  # refused: out of resources (we stop)
        try:
            ds = event.dataset
            data = event.encoded_dataset()
            with self.lock:
                self.landing.write(ds.get("StudyInstanceUID", ""), ds.get("SeriesInstanceUID", ""),
                                   ds.get("SOPInstanceUID", ""), data)
                done, nbytes = len(self.landing.files), self.landing.bytes
        except UserError as exc:
            self.error = exc
            return 0xC000
        except Exception as exc:  # a dataset we cannot decode or a full disk
            self.error = PacsError(f"cannot store a received instance: {type(exc).__name__}: {exc}")
            return 0xA700
        if self.progress is not None:
            self.progress(Progress(done, self.total, nbytes, "received"))
        return 0x0000


def _retrieve_identifier(study_uid: str, series_uid: str | None) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "SERIES" if series_uid else "STUDY"
    ds.StudyInstanceUID = study_uid
    if series_uid:
        ds.SeriesInstanceUID = series_uid
    return ds


def _run_retrieve(node: Node, responses: Iterable[tuple[Dataset, Any]], assoc: Any, receiver: _Receiver,
                  what: str, cancel: Any) -> None:
    for status, _ in responses:
        if cancelled(cancel):
            assoc.abort()
            raise CancelledError(f"{what} cancelled")
        if receiver.error is not None:
            assoc.abort()
            raise receiver.error
        if status is None or "Status" not in status:
            raise _status_error(node, what, None)
        code = int(status.Status)
        if code in _PENDING:
            done = sum(int(status.get(k, 0) or 0) for k in (
                "NumberOfCompletedSuboperations", "NumberOfFailedSuboperations", "NumberOfWarningSuboperations"))
            remaining = status.get("NumberOfRemainingSuboperations")
            if remaining is not None:
                receiver.total = done + int(remaining)
            continue
        if code == 0xFE00:
            raise CancelledError(f"{what} cancelled by the PACS")
        failed = int(status.get("NumberOfFailedSuboperations", 0) or 0)
        if code == 0x0000 and not failed:
            break
        if receiver.error is not None:
            raise receiver.error
        raise _status_error(node, what + (f" ({failed} sub-operation(s) failed)" if failed else ""), status)
    if cancelled(cancel):
        raise CancelledError(f"{what} cancelled")
    if receiver.error is not None:
        raise receiver.error


def retrieve(node: Node, study_uid: str, series_uid: str | None = None, *, method: str = "get",
             root: Path | None = None, progress: ProgressCallback | None = None,
             cancel: Any = None) -> RetrieveResult:
    """C-GET (default) or C-MOVE a study or one series into the cache, atomically."""
    if method not in ("get", "move"):
        raise UserError(f"retrieve method {method!r} is not 'get' or 'move'")
    t0 = time.perf_counter()
    with Landing(root, study_uid=study_uid, series_uid=series_uid) as landing:
        receiver = _Receiver(landing, progress, cancel)
        ident = _retrieve_identifier(landing.study_uid, landing.series_uid)
        if method == "get":
            _c_get(node, ident, receiver, cancel)
        else:
            _c_move(node, ident, receiver, cancel)
        folders = landing.commit()
        files = landing.final_files()
    return RetrieveResult(landing.study_uid, landing.series_uid, folders, files, landing.bytes,
                          time.perf_counter() - t0, "c-" + method)


def _c_get(node: Node, ident: Dataset, receiver: _Receiver, cancel: Any) -> None:
    ae = _ae(node)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    _add_storage_contexts(ae, scp=False)
    roles = [build_role(uid, scp_role=True) for uid in STORAGE_CLASSES]
    assoc = _associate(ae, node, ext_neg=roles, handlers=[(evt.EVT_C_STORE, receiver)])
    try:
        _run_retrieve(node, assoc.send_c_get(ident, StudyRootQueryRetrieveInformationModelGet), assoc,
                      receiver, "C-GET", cancel)
    finally:
        if assoc.is_established:
            assoc.release()


def _c_move(node: Node, ident: Dataset, receiver: _Receiver, cancel: Any) -> None:
    scp = AE(ae_title=node.calling_ae)
    scp.network_timeout = node.timeout
    scp.dimse_timeout = node.timeout
    scp.acse_timeout = node.timeout
    scp.require_called_aet = True
    _add_storage_contexts(scp, scp=True)
    # Listen on loopback only when the PACS is local; otherwise it must reach us from outside.
    local = node.host in ("127.0.0.1", "localhost", "::1")
    try:
        server = scp.start_server(("127.0.0.1" if local else "", node.move_port), block=False,
                                  evt_handlers=[(evt.EVT_C_STORE, receiver)])
    except OSError as exc:
        raise PacsError(f"cannot listen on port {node.move_port} for the C-MOVE ({exc.strerror}); "
                        "set another move_port on the node (and on the PACS)") from None
    try:
        ae = _ae(node)
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
        assoc = _associate(ae, node)
        try:
            _run_retrieve(node, assoc.send_c_move(ident, node.calling_ae, StudyRootQueryRetrieveInformationModelMove),
                          assoc, receiver, "C-MOVE", cancel)
        finally:
            if assoc.is_established:
                assoc.release()
    finally:
        server.shutdown()


# -- store -------------------------------------------------------------------------------
def read_for_send(paths: Sequence[Path]) -> list[tuple[Path, UID, UID]]:
    """(path, SOP class, transfer syntax) of each file, refusing anything that is not DICOM Part 10."""
    out = []
    for p in paths:
        try:
            ds = dcmread(p, stop_before_pixels=True)
        except (InvalidDicomError, OSError) as exc:
            raise UserError(f"{p}: not a DICOM file that can be sent ({exc})") from None
        meta = getattr(ds, "file_meta", None)
        sop_class = getattr(meta, "MediaStorageSOPClassUID", None) or ds.get("SOPClassUID")
        ts = getattr(meta, "TransferSyntaxUID", None)
        if not sop_class or not ts or "SOPInstanceUID" not in ds:
            raise UserError(f"{p}: lacks SOP class, SOP instance UID or transfer syntax; cannot send it")
        out.append((p, UID(str(sop_class)), UID(str(ts))))
    return out


def send(node: Node, paths: Sequence[Path], *, progress: ProgressCallback | None = None,
         cancel: Any = None) -> SendResult:
    """C-STORE each file (one association)."""
    files = read_for_send(paths)
    if not files:
        raise UserError("nothing to send")
    contexts: dict[str, set[str]] = {}
    for _, sop, ts in files:
        contexts.setdefault(sop, set()).add(ts)
    if sum(len(v) for v in contexts.values()) > 128:
        raise UserError("too many different SOP classes / transfer syntaxes for one association (over 128)")
    ae = _ae(node)
    for sop, tss in contexts.items():
        for ts in sorted(tss):
            ae.add_requested_context(sop, ts)
    t0 = time.perf_counter()
    assoc = _associate(ae, node)
    sent: list[str] = []
    failed: list[tuple[str, str]] = []
    nbytes = 0
    try:
        for i, (path, _, _) in enumerate(files):
            if cancelled(cancel):
                assoc.abort()
                raise CancelledError("send cancelled")
            ds = dcmread(path)
            status = assoc.send_c_store(ds)
            if status is None or "Status" not in status:
                raise _status_error(node, f"C-STORE of {path.name}", None)
            code = int(status.Status)
            if code == 0 or code in (0xB000, 0xB007, 0xB006):
                sent.append(str(ds.SOPInstanceUID))
                nbytes += path.stat().st_size
            else:
                failed.append((str(path), f"status 0x{code:04X}"))
            if progress is not None:
                progress(Progress(i + 1, len(files), nbytes, "sent"))
    finally:
        if assoc.is_established:
            assoc.release()
    return SendResult(sent, failed, nbytes, time.perf_counter() - t0, "c-store")
