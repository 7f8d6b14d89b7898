"""What the series browser lists for a set of dropped or opened paths (Qt-free, runs in a worker).

Folders go through the dicom layer's :func:`~ultrasound_reader.dicom.folder.scan_folder`
(patient ▸ study ▸ series, one reason per bad file); loose files are checked by
opening their header and listed together. Labels never carry patient names or IDs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ultrasound_reader.dicom import open_cine
from ultrasound_reader.dicom.folder import scan_folder
from ultrasound_reader.errors import UserError


@dataclass(frozen=True)
class ImageEntry:
    path: str
    label: str
    tooltip: str = ""


@dataclass
class SeriesEntry:
    patient: str
    study: str
    label: str
    images: list[ImageEntry] = field(default_factory=list)


@dataclass
class ScanResult:
    roots: list[str] = field(default_factory=list)
    series: list[SeriesEntry] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (path, one-line reason)

    @property
    def openable(self) -> list[str]:
        return [image.path for s in self.series for image in s.images]


def _image_label(path: Path, n_frames: int, fps: float | None, calibrated: bool) -> str:
    """Name, then '30 frames · 30 fps', then 'uncalibrated' when it is: short lines for the dock."""
    frames = f"{n_frames} frames" if n_frames > 1 else "1 frame"
    rate = f" · {fps:.0f} fps" if fps and n_frames > 1 else ""
    return f"{path.name}\n{frames}{rate}" + ("" if calibrated else "\nuncalibrated")


def _reason(message: str, path: Path) -> str:
    prefix = f"{path}: "
    return message[len(prefix):] if message.startswith(prefix) else message


def scan_paths(job: object, paths: list[str]) -> ScanResult:
    """Scan folders and check files; ``job`` (a workers.Job) gets progress and may cancel."""
    result = ScanResult(roots=list(paths))
    loose = SeriesEntry("Opened files", "", "Files")
    for root in map(Path, paths):
        if root.is_dir():
            scan = scan_folder(
                root,
                progress=lambda done, total, p: job.progress(done, total, f"Scanning {p.name}"),  # type: ignore[attr-defined]
                cancelled=lambda: job.cancelled,  # type: ignore[attr-defined]
            )
            for patient in scan.patients:
                for study in patient.studies:
                    study_label = " · ".join(x for x in (_described(study.description) or "Study",
                                                          _date(study.date)) if x)
                    for series in study.series:
                        entry = SeriesEntry(patient.label, study_label, _series_label(series))
                        for inst in series.instances:
                            entry.images.append(ImageEntry(
                                str(inst.path),
                                _image_label(inst.path, inst.n_frames, inst.fps, inst.calibrated),
                                f"{inst.path}\n{inst.columns}×{inst.rows}"))
                        result.series.append(entry)
            result.problems += [(str(p), reason) for p, reason in scan.problems]
        elif not root.exists():
            result.problems.append((str(root), "no such file or folder"))
        else:
            try:
                with open_cine(root, cache_mib=0) as cine:
                    loose.images.append(ImageEntry(
                        str(root), _image_label(root, cine.n_frames, cine.fps, cine.calibration is not None),
                        f"{root}\n{cine.columns}×{cine.rows}"))
            except UserError as exc:
                result.problems.append((str(root), _reason(str(exc), root)))
            except Exception as exc:  # one bad file never stops the others
                result.problems.append((str(root), f"cannot open ({type(exc).__name__}: {exc})"))
    if loose.images:
        result.series.insert(0, loose)
    return result


def _described(text: str | None) -> str:
    return "" if not text or text == "(no description)" else text


def _series_label(series: object) -> str:
    """'Series 2 · US · Liver · 3 files': short enough for the browser dock."""
    number = getattr(series, "number", None)
    n_files = len(getattr(series, "instances", []))
    parts = [f"Series {number}" if number is not None else "Series",
             getattr(series, "modality", "") or "",
             _described(getattr(series, "description", "")),
             f"{n_files} files" if n_files > 1 else ""]
    return " · ".join(p for p in parts if p)


def _date(value: str | None) -> str:
    # Study dates identify a visit; the browser shows the year only.
    return value[:4] if value and len(value) >= 4 and value[:4].isdigit() else ""
