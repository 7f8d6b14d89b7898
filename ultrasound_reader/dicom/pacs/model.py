"""Plain dataclasses a PACS client takes and gives (a GUI dock shows them as they are).

A :class:`Query` is what the user typed; :class:`Study` and :class:`Series` are the
matches (values from the PACS, i.e. untrusted: cut to sane lengths, counts parsed
or None); :class:`Progress` is what a retrieve or send reports after each file;
:class:`RetrieveResult` / :class:`SendResult` what it leaves.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ultrasound_reader.errors import UserError, is_cancelled


class PacsError(UserError):
    """A PACS operation failed for a reason the user can act on (message: one line)."""


UID_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_MAX_TEXT = 128


def check_uid(value: Any, what: str) -> str:
    """A DICOM UID (digits and dots, <= 64 chars); anything else is refused (paths are built from UIDs)."""
    v = str(value or "").strip().rstrip("\x00")
    if not v or len(v) > 64 or not UID_RE.match(v):
        raise PacsError(f"{what}: {str(value)[:70]!r} is not a valid DICOM UID")
    return v


def clean_text(value: Any) -> str:
    """A PACS-supplied string cut to a sane length, control characters dropped."""
    s = "" if value is None else str(value)
    s = "".join(ch for ch in s if ch.isprintable())
    return s[:_MAX_TEXT]


def parse_count(value: Any) -> int | None:
    try:
        n = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return n if 0 <= n < 10_000_000 else None


def _check_key(value: str, what: str, max_len: int = 64) -> str:
    v = (value or "").strip()
    if len(v) > max_len or "\\" in v or any(not ch.isprintable() for ch in v):
        raise UserError(f"{what}: {value[:80]!r} must be <= {max_len} printable characters without '\\'")
    return v


def _parse_date(text: str, what: str) -> dt.date:
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            pass
    raise UserError(f"{what}: {text!r} is not a date (YYYY-MM-DD)")


def parse_date_range(text: str) -> tuple[dt.date | None, dt.date | None]:
    """One day, or a range ``FROM..TO`` / ``FROM..`` / ``..TO`` (YYYY-MM-DD or YYYYMMDD),
    or DICOM's own ``YYYYMMDD-YYYYMMDD`` / ``YYYYMMDD-`` / ``-YYYYMMDD``."""
    t = (text or "").strip()
    if not t:
        return None, None
    if ".." in t:
        a, _, b = t.partition("..")
    elif re.fullmatch(r"\d{8}-\d{8}|\d{8}-|-\d{8}", t):
        a, _, b = t.partition("-")
    else:
        a = b = t
    start = _parse_date(a.strip(), "--date") if a.strip() else None
    end = _parse_date(b.strip(), "--date") if b.strip() else None
    if start is None and end is None:
        raise UserError(f"--date: {text!r} is not a date or a range FROM..TO (YYYY-MM-DD)")
    if start and end and end < start:
        raise UserError(f"--date: {text!r} ends before it starts")
    return start, end


@dataclass
class Query:
    """Study search keys; empty means any. ``modality`` defaults to US."""

    patient_id: str = ""
    patient_name: str = ""  # DICOM wildcards * and ? allowed
    accession: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    modality: str = "US"
    study_uid: str = ""
    limit: int = 200

    def __post_init__(self) -> None:
        self.patient_id = _check_key(self.patient_id, "patient ID")
        self.patient_name = _check_key(self.patient_name, "patient name")
        self.accession = _check_key(self.accession, "accession number", 16)
        self.modality = _check_key(self.modality, "modality", 16).upper()
        if self.study_uid:
            self.study_uid = check_uid(self.study_uid, "study UID")
        if self.date_from and self.date_to and self.date_to < self.date_from:
            raise UserError("date range: it ends before it starts")
        if not 1 <= int(self.limit) <= 10_000:
            raise UserError(f"query limit {self.limit} is outside 1-10000")

    @property
    def dicom_date(self) -> str:
        """The StudyDate matching key: '', 'YYYYMMDD', 'A-B', 'A-' or '-B'."""
        f = self.date_from.strftime("%Y%m%d") if self.date_from else ""
        t = self.date_to.strftime("%Y%m%d") if self.date_to else ""
        if not f and not t:
            return ""
        return f if f == t else f"{f}-{t}"


@dataclass
class Series:
    study_uid: str
    series_uid: str
    modality: str = ""
    number: int | None = None
    description: str = ""
    n_instances: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Study:
    study_uid: str
    patient_id: str = ""
    patient_name: str = ""
    accession: str = ""
    date: str = ""  # YYYYMMDD as the PACS gave it
    description: str = ""
    modalities: list[str] = field(default_factory=list)
    n_series: int | None = None
    n_instances: int | None = None
    series: list[Series] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Progress:
    """After each file: files done, files expected (None if unknown), bytes so far."""

    done: int
    total: int | None
    bytes: int
    message: str = ""


ProgressCallback = Callable[[Progress], None]


@dataclass
class RetrieveResult:
    study_uid: str
    series_uid: str | None
    folders: list[Path]  # one per series, under the cache
    files: list[Path]
    bytes: int
    seconds: float
    method: str  # "c-get", "c-move", "wado-rs"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["folders"] = [str(p) for p in self.folders]
        d["files"] = [str(p) for p in self.files]
        return d


@dataclass
class SendResult:
    sent: list[str]  # SOP Instance UIDs stored
    failed: list[tuple[str, str]]  # (file, reason)
    bytes: int
    seconds: float
    method: str  # "c-store", "stow-rs"

    def to_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "failed": [{"file": f, "reason": r} for f, r in self.failed],
                "bytes": self.bytes, "seconds": self.seconds, "method": self.method}


cancelled = is_cancelled  # a cancel token, read the one way every layer reads it (errors.is_cancelled)
