"""De-identification following PS3.15 Annex E, Basic Application Confidentiality Profile.

The action of every attribute (D dummy, Z empty, X remove, U new UID, and the
combined X/Z, X/D, Z/D, X/Z/D, X/Z/U*) comes from the tables of the
``dicom-anonymizer`` package (transcribed from PS3.15 Table E.1-1); the engine is
here so that it is recursive (every sequence item is cleaned, not only the top
level) and consistent:

* UIDs are remapped by a keyed hash (``2.25.<n>`` from the secret and the old UID):
  the same source UID always gives the same new one for the same secret, so an SR
  exported today still references the de-identified images exported tomorrow.
* Dates are shifted, not blanked (option "Retain Longitudinal Temporal Information
  with Modified Dates", code 113107): one offset per patient (from the secret and
  the patient ID), 1-10 years into the past, so intervals within a patient's
  studies are kept. ``dates="remove"`` empties them instead. The birth date is
  always removed. Times are kept.
* Names and IDs are removed; the patient ID and name become one pseudonym
  ``ANON-<hash>`` (same patient, same pseudonym, for the same secret).
* Private attributes are removed, as are all curves/overlays/other groups the table
  names. PatientIdentityRemoved is YES and DeidentificationMethod(CodeSequence)
  says what was done.

The secret is per installation (``deid-secret`` in the user config folder, created
on first use, readable by the user only) unless one is passed. Burned-in text in
pixel data is NOT removed: :func:`deidentify` reports it in ``warnings`` when the
source says BurnedInAnnotation YES.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import importlib
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import BaseTag, Tag
from pydicom.uid import generate_uid

from ultrasound_reader.errors import UserError

PROFILE_CODES = (
    ("113100", "Basic Application Confidentiality Profile"),
    ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
)
_TABLE_VERSIONS = ("dicomfields_2026c", "dicomfields_2024b", "dicomfields_2023")
_CATEGORIES = {"D_TAGS": "D", "Z_TAGS": "Z", "X_TAGS": "X", "U_TAGS": "U", "Z_D_TAGS": "Z/D",
               "X_Z_TAGS": "X/Z", "X_D_TAGS": "X/D", "X_Z_D_TAGS": "X/Z/D", "X_Z_U_STAR_TAGS": "X/Z/U*"}
PATIENT_ID = Tag(0x0010, 0x0020)
PATIENT_NAME = Tag(0x0010, 0x0010)
BIRTH_DATE = Tag(0x0010, 0x0030)
# Kept although the table says otherwise: needed to keep the SR / SC readable, and not identifying.
KEEP = {Tag(0x0008, 0x0016), Tag(0x0002, 0x0002), Tag(0x0002, 0x0010)}


@lru_cache(maxsize=1)
def action_table() -> tuple[dict[BaseTag, str], list[tuple[int, int, int, int, str]]]:
    """(action by tag, masked ranges (group, element, group mask, element mask, action))."""
    mod = None
    for version in _TABLE_VERSIONS:
        try:
            mod = importlib.import_module(f"dicomanonymizer.dicom_anonymization_databases.{version}")
            break
        except ModuleNotFoundError:
            continue
    if mod is None:
        raise RuntimeError("dicom-anonymizer's PS3.15 tables are not installed (pip install dicom-anonymizer)")
    by_tag: dict[BaseTag, str] = {}
    ranges: list[tuple[int, int, int, int, str]] = []
    for cat, action in _CATEGORIES.items():
        for t in getattr(mod, cat, []):
            if len(t) == 2:
                by_tag[Tag(t[0], t[1])] = action
            else:
                ranges.append((t[0], t[1], t[2], t[3], action))
    return by_tag, ranges


def _secret_path() -> Path:
    from ultrasound_reader.paths import config_dir

    return config_dir() / "deid-secret"


def _create_secret(path: Path) -> None:
    """Create the key once, even when several processes start together: the complete key
    is written to a private temp file and hard-linked into place, which fails if another
    process was first (its key is then used)."""
    import tempfile

    tmp = None
    try:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
        tmp = Path(name)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process created it first
    except OSError as exc:
        raise UserError(f"{path}: cannot create the de-identification key ({exc.strerror or exc})") from None
    finally:
        if tmp is not None:
            try:
                tmp.unlink()
            except OSError:
                pass


def installation_secret() -> bytes:
    """This installation's de-identification key (created on first use, mode 0600)."""
    try:
        path = _secret_path()
    except OSError as exc:
        raise UserError(f"cannot create the settings folder for the de-identification key ({exc})") from None
    if not path.exists():
        _create_secret(path)
    try:
        text = path.read_text().strip()
        key = bytes.fromhex(text)
    except (OSError, ValueError):
        raise UserError(f"{path}: not a readable de-identification key (64 hex digits)") from None
    if len(key) < 16:
        raise UserError(f"{path}: the de-identification key is too short")
    return key


@dataclass
class Deidentifier:
    """Applies the profile to datasets; keep one per export so mappings stay consistent."""

    secret: bytes = field(default_factory=installation_secret, repr=False)
    dates: str = "shift"  # or "remove"
    warnings: list[str] = field(default_factory=list)
    uid_map: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.dates not in ("shift", "remove"):
            raise ValueError(f"dates must be 'shift' or 'remove', not {self.dates!r}")

    # -- mappings ----------------------------------------------------------------------
    def _h(self, *parts: str) -> bytes:
        return hmac.new(self.secret, "\x1f".join(parts).encode(), hashlib.sha256).digest()

    def uid(self, old: str) -> str:
        old = str(old).strip()
        if not old:
            return old
        if old not in self.uid_map:
            self.uid_map[old] = str(generate_uid(prefix="2.25.", entropy_srcs=[self._h("uid", old).hex()]))
        return self.uid_map[old]

    @staticmethod
    def patient_key(ds: Any) -> str:
        """What the pseudonym and the date offset are keyed on: the PatientID, or, when it
        is empty, the study (so patients without an ID do not all share one pseudonym)."""
        pid = str(ds.get("PatientID", "") or "").strip()
        if pid:
            return pid
        study = str(ds.get("StudyInstanceUID", "") or "").strip()
        return f"\\study\\{study}" if study else ""  # a backslash cannot occur in a PatientID (LO)

    def pseudonym(self, patient_id: str) -> str:
        return "ANON-" + self._h("patient", patient_id).hex()[:10].upper()

    def date_offset(self, patient_id: str) -> dt.timedelta:
        n = int.from_bytes(self._h("days", patient_id)[:4], "big")
        return dt.timedelta(days=-(365 + n % (9 * 365)))

    # -- the profile --------------------------------------------------------------------
    def dataset(self, ds: Dataset) -> Dataset:
        """A de-identified deep copy of ``ds`` (its file meta too)."""
        import copy

        out = copy.deepcopy(ds)
        pid = self.patient_key(ds)
        if ds.get("BurnedInAnnotation", "") == "YES":
            self._warn("the source image says it has burned-in annotation: text in the pixels is not removed")
        offset = self.date_offset(pid)
        self._clean(out, offset)
        out.PatientID = self.pseudonym(pid)
        out.PatientName = self.pseudonym(pid) + "^"  # family-name component only
        out.PatientIdentityRemoved = "YES"
        out.DeidentificationMethod = "PS3.15 Basic Profile" + (
            ", dates shifted" if self.dates == "shift" else ", dates removed") + ", ultrasound-reader"
        codes = PROFILE_CODES if self.dates == "shift" else PROFILE_CODES[:1]
        items = []
        for value, meaning in codes:
            it = Dataset()
            it.CodeValue, it.CodingSchemeDesignator, it.CodeMeaning = value, "DCM", meaning
            items.append(it)
        out.DeidentificationMethodCodeSequence = DicomSequence(items)
        if self.dates == "shift":
            out.LongitudinalTemporalInformationModified = "MODIFIED"
        meta = getattr(out, "file_meta", None)
        if meta is not None:
            if "MediaStorageSOPInstanceUID" in meta and "SOPInstanceUID" in out:
                meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
            for key in ("SourceApplicationEntityTitle", "SendingApplicationEntityTitle",
                        "ReceivingApplicationEntityTitle", "PrivateInformation", "PrivateInformationCreatorUID"):
                if key in meta:
                    delattr(meta, key)
        return out

    def _warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def _action(self, tag: BaseTag) -> str | None:
        by_tag, ranges = action_table()
        a = by_tag.get(tag)
        if a is not None:
            return a
        for group, elem, gmask, emask, action in ranges:
            if tag.group & gmask == group & gmask and tag.element & emask == elem & emask:
                return action
        return None

    def _clean(self, ds: Dataset, offset: dt.timedelta) -> None:
        for elem in list(ds):
            tag = elem.tag
            if tag.is_private:
                del ds[tag]
                continue
            if tag in KEEP:
                continue
            action = self._action(tag)
            if elem.VR == "SQ":
                if action in ("X", "X/Z", "X/D", "X/Z/D") and tag not in (Tag(0x0040, 0xA730),):
                    del ds[tag]
                    continue
                for item in elem.value:
                    self._clean(item, offset)
                continue
            if action is None:
                if elem.VR == "UI" and tag not in KEEP and _is_instance_uid(tag):
                    elem.value = self._uids(elem.value)
                continue
            self._apply(ds, elem, action, offset)

    def _uids(self, value: Any) -> Any:
        if isinstance(value, (list, tuple)) or (not isinstance(value, str) and hasattr(value, "__iter__")):
            return [self.uid(v) for v in value]
        return self.uid(value)

    def _apply(self, ds: Dataset, elem: DataElement, action: str, offset: dt.timedelta) -> None:
        tag = elem.tag
        if action == "U" or (action == "X/Z/U*" and elem.VR == "UI"):
            elem.value = self._uids(elem.value)
            return
        if elem.VR in ("DA", "DT") and tag != BIRTH_DATE:
            if self.dates == "shift" and action != "X":
                elem.value = _shift(elem.value, elem.VR, offset)
            elif action.startswith("X"):
                del ds[tag]
            else:
                elem.value = ""
            return
        if elem.VR == "TM" and self.dates == "shift" and action != "X":
            return  # times kept with shifted dates (not those the profile removes: birth time)
        if action == "X":
            del ds[tag]
        elif action in ("Z", "X/Z", "Z/D", "X/Z/D", "X/Z/U*"):
            elem.value = "" if elem.VR not in _NUMERIC_VR else None
        else:  # D, X/D: a dummy of the right VR
            elem.value = _dummy(elem.VR)


_NUMERIC_VR = {"US", "SS", "UL", "SL", "FL", "FD", "UV", "SV", "AT", "OB", "OW", "OF", "OD", "OL", "OV", "UN"}


def _is_instance_uid(tag: BaseTag) -> bool:
    # UIDs the table does not list but that identify instances (e.g. in new modules): remap
    # everything in group 0020 and referenced SOP instance UIDs; class/syntax UIDs are kept.
    return tag.group == 0x0020 or tag in (Tag(0x0008, 0x1155), Tag(0x0008, 0x0018), Tag(0x0040, 0xA124))


def _dummy(vr: str) -> Any:
    if vr in ("PN", "LO", "SH", "LT", "ST", "UT", "CS", "AE", "UC", "UR"):
        return "ANONYMIZED" if vr not in ("CS", "AE") else "ANON"
    if vr in ("DS", "IS"):
        return "0"
    if vr == "AS":
        return "000Y"
    if vr == "UI":
        return str(generate_uid(prefix="2.25."))
    if vr in ("TM",):
        return "000000"
    return None


def _shift(value: Any, vr: str, offset: dt.timedelta) -> Any:
    def one(v: str) -> str:
        v = str(v).strip()
        if len(v) < 8 or not v[:8].isdigit():
            return ""
        try:
            d = dt.datetime.strptime(v[:8], "%Y%m%d").date() + offset
        except ValueError:
            return ""
        return d.strftime("%Y%m%d") + (v[8:] if vr == "DT" else "")

    if isinstance(value, str):
        return one(value)
    if isinstance(value, Iterable):
        return [one(v) for v in value]
    return ""


def deidentify_file(src: Path, dst: Path, deid: Deidentifier) -> Path:
    """Write a de-identified copy of a DICOM file."""
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    try:
        ds = dcmread(src)
    except (InvalidDicomError, OSError) as exc:
        raise UserError(f"{src}: not a DICOM file ({exc})") from None
    out = deid.dataset(ds)
    from ultrasound_reader.dicom.sc import write_dataset

    return write_dataset(dst, out)
