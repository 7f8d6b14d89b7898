"""Open a folder: find every image in it, grouped into patient / study / series.

A sonographer opens an exam folder (or a CD with a DICOMDIR) and expects the series
listed, each with its description, modality, frame count and a thumbnail. One bad
file must not stop the rest: each is skipped with one reason, and the reasons are
returned with the result. Opening a file here reads only its header (as
``open_cine`` does); thumbnails decode a single frame when asked for.

Patient names and IDs are not exposed: patients are labelled by number, sex and age.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ultrasound_reader.dicom.cine import Cine, open_cine
from ultrasound_reader.dicom.guard import quiet_pydicom, quote
from ultrasound_reader.errors import CancelledError, UserError, clean_text

_SKIP_NAMES = {"DICOMDIR", "Thumbs.db", "desktop.ini"}


@dataclass
class Instance:
    """One file of a series."""

    path: Path
    n_frames: int
    instance_number: int | None
    rows: int
    columns: int
    fps: float | None
    calibrated: bool


@dataclass
class Series:
    uid: str
    description: str
    modality: str
    number: int | None
    instances: list[Instance] = field(default_factory=list)

    @property
    def n_frames(self) -> int:
        return sum(i.n_frames for i in self.instances)

    @property
    def paths(self) -> list[Path]:
        return [i.path for i in self.instances]

    @property
    def label(self) -> str:
        """What a browser shows: number, description, size."""
        num = f"#{self.number} " if self.number is not None else ""
        files = f"{len(self.instances)} file(s), " if len(self.instances) > 1 else ""
        return f"{num}{self.description} ({self.modality}, {files}{self.n_frames} frame(s))"

    def open(self, index: int = 0, **kwargs: object) -> Cine:
        """Open instance ``index`` of the series as a lazy Cine."""
        return open_cine(self.instances[index].path, **kwargs)  # type: ignore[arg-type]

    def thumbnail(self, max_size: int = 128) -> np.ndarray:
        """A small image of the first file's middle frame (decodes only that frame)."""
        with open_cine(self.instances[0].path, cache_mib=0) as cine:
            return cine.thumbnail(max_size)


@dataclass
class Study:
    uid: str
    description: str
    date: str | None
    series: list[Series] = field(default_factory=list)


@dataclass
class Patient:
    label: str  # "Patient 1 (F, 045Y)": never the name or ID
    sex: str | None
    age: str | None
    studies: list[Study] = field(default_factory=list)


@dataclass
class ScanResult:
    root: Path
    patients: list[Patient] = field(default_factory=list)
    problems: list[tuple[Path, str]] = field(default_factory=list)
    used_dicomdir: bool = False

    @property
    def series(self) -> list[Series]:
        return [s for p in self.patients for st in p.studies for s in st.series]

    @property
    def n_files(self) -> int:
        return sum(len(s.instances) for s in self.series)


def _dicomdir_files(path: Path, problems: list[tuple[Path, str]]) -> list[Path]:
    """Files referenced by a DICOMDIR's records; missing ones become problems."""
    from pydicom import dcmread

    quiet_pydicom()
    files = []
    base = path.parent.resolve()
    try:
        # pydicom reads records lazily: a malformed one may raise anywhere in this loop.
        for record in dcmread(path).DirectoryRecordSequence:
            file_id = record.get("ReferencedFileID")
            if not file_id:
                continue
            parts = [str(file_id)] if isinstance(file_id, str) else [str(x) for x in file_id]
            p = path.parent.joinpath(*parts)
            if not p.resolve().is_relative_to(base):
                problems.append((path, f"DICOMDIR lists {quote(file_id)}, outside its folder"))
            elif p.exists():
                files.append(p)
            else:
                problems.append((p, "listed in DICOMDIR but missing"))
    except Exception as exc:  # a damaged DICOMDIR: the plain scan still runs
        problems.append((path, f"unreadable DICOMDIR ({type(exc).__name__}: {clean_text(exc, 160)})"))
    return files


def _walk(root: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and name not in _SKIP_NAMES:
                out.append(Path(dirpath) / name)
    return out


def scan_folder(root: str | Path,
                progress: Callable[[int, int, Path], None] | None = None,
                cancelled: Callable[[], bool] | None = None) -> ScanResult:
    """Scan ``root`` recursively (and its DICOMDIR, if any).

    ``progress(done, total, path)`` is called per file; ``cancelled()`` returning
    True stops the scan with CancelledError. Raises UserError only when ``root``
    itself is not a readable folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root}: not a folder")
    result = ScanResult(root)
    listed: list[Path] = []
    dicomdir = root / "DICOMDIR"
    if dicomdir.is_file():
        listed = _dicomdir_files(dicomdir, result.problems)
        result.used_dicomdir = bool(listed)
    seen = {p.resolve() for p in listed}
    files = listed + [p for p in _walk(root) if p.resolve() not in seen]

    patients: dict[str, Patient] = {}
    studies: dict[tuple[str, str], Study] = {}
    series_by_key: dict[tuple[str, str, str], Series] = {}
    for k, path in enumerate(files):
        if cancelled is not None and cancelled():
            raise CancelledError(f"scan of {root} cancelled")
        if progress is not None:
            progress(k, len(files), path)
        try:
            cine = open_cine(path, cache_mib=0)
        except UserError as exc:
            result.problems.append((path, _reason(str(exc), path)))
            continue
        except Exception as exc:  # an unforeseen failure in one file must not stop the scan
            result.problems.append((path, f"cannot open ({type(exc).__name__}: {clean_text(exc, 160)})"))
            continue
        with cine:
            md = cine.metadata
            if md.get("format") == "DICOM":
                pid = cine.patient_key or "(unknown patient)"
                study_uid = md.get("study_uid") or f"(no study) {path.parent}"
                series_uid = md.get("series_uid") or f"(no series) {path.parent}"
            else:
                pid = "(images)"
                study_uid = f"(images) {path.parent}"
                series_uid = f"(images) {path.parent}"
            patient = patients.get(pid)
            if patient is None:
                sex, age = md.get("patient_sex"), md.get("patient_age")
                details = ", ".join(x for x in (sex, age) if x)
                name = "Images" if pid == "(images)" else f"Patient {len(patients) + 1}"
                patient = patients[pid] = Patient(f"{name} ({details})" if details else name, sex, age)
                result.patients.append(patient)
            study = studies.get((pid, study_uid))
            if study is None:
                desc = md.get("study_description") or (path.parent.name if pid == "(images)" else "(no description)")
                study = studies[(pid, study_uid)] = Study(study_uid, desc, md.get("study_date"))
                patient.studies.append(study)
            series = series_by_key.get((pid, study_uid, series_uid))
            if series is None:
                desc = md.get("series_description") or (
                    path.parent.name if pid == "(images)" else "(no description)")
                series = series_by_key[(pid, study_uid, series_uid)] = Series(
                    series_uid, desc, md.get("modality") or md.get("format") or "?", md.get("series_number"))
                study.series.append(series)
            series.instances.append(Instance(path, cine.n_frames, md.get("instance_number"), cine.rows,
                                             cine.columns, cine.fps, cine.calibration is not None))
    for s in series_by_key.values():
        s.instances.sort(key=lambda i: (i.instance_number is None, i.instance_number or 0, str(i.path)))
    for st in studies.values():
        st.series.sort(key=lambda s: (s.number is None, s.number or 0, s.description))
    if progress is not None:
        progress(len(files), len(files), root)
    return result


def _reason(message: str, path: Path) -> str:
    """The reason part of a UserError message (it starts with the path)."""
    prefix = f"{path}: "
    return message[len(prefix):] if message.startswith(prefix) else message
