"""The corner text drawn over the image, built from an allow-list of metadata (Qt-free).

De-identified by construction: only the keys named here can reach the screen, so a
patient's name, ID or birth date (or any key the loader adds later) never does.
Dates are left out too; sex and age stay, as they matter for reading.
"""

from __future__ import annotations

from typing import Any

from ultrasound_reader.dicom.calibration import Calibration

# The only metadata keys the overlay may show.
ALLOWED_KEYS = frozenset({
    "format", "modality", "sop_class", "manufacturer", "model", "study_description",
    "series_description", "body_part", "series_number", "instance_number", "patient_sex",
    "patient_age", "photometric", "transfer_syntax", "rows", "columns", "frames",
})

_SOP_SHORT = {
    "Ultrasound Multi-frame Image Storage": "Multi-frame",
    "Ultrasound Image Storage": "Single frame",
    "Secondary Capture Image Storage": "Secondary capture",
    "Enhanced US Volume Storage": "Enhanced US volume",
}


def _get(metadata: dict[str, Any], key: str) -> str:
    assert key in ALLOWED_KEYS, f"{key} is not allowed on the overlay"
    value = metadata.get(key)
    return "" if value is None else str(value).strip()


def study_text(metadata: dict[str, Any], file_label: str = "") -> str:
    """Top-left: what the image is (modality, device, descriptions), no identifiers."""
    lines = []
    modality = _get(metadata, "modality") or _get(metadata, "format")
    sop = _get(metadata, "sop_class")
    lines.append(" · ".join(p for p in (modality, _SOP_SHORT.get(sop, sop)) if p))
    device = " ".join(p for p in (_get(metadata, "manufacturer"), _get(metadata, "model")) if p)
    if device:
        lines.append(device)
    for key in ("study_description", "series_description", "body_part"):
        if _get(metadata, key):
            lines.append(_get(metadata, key))
    series, instance = _get(metadata, "series_number"), _get(metadata, "instance_number")
    if series or instance:
        lines.append(" ".join(p for p in (f"Se {series}" if series else "", f"Im {instance}" if instance else "") if p))
    if file_label:
        lines.append(file_label)
    return "\n".join(line for line in lines if line)


def patient_text(metadata: dict[str, Any]) -> str:
    """Top-right: sex and age only, when the file states them."""
    sex = {"M": "Male", "F": "Female", "O": "Other"}.get(_get(metadata, "patient_sex").upper(), "")
    age = _get(metadata, "patient_age")
    if age[-1:] in ("Y", "M", "W", "D") and age[:-1].isdigit():
        unit = {"Y": "y", "M": "mo", "W": "wk", "D": "d"}[age[-1]]
        age = f"{int(age[:-1])} {unit}"
    return "  ".join(p for p in (sex, age) if p)


def calibration_text(calibration: Calibration | None) -> str:
    """Bottom-right: the calibration in one or two lines; 'Uncalibrated' when there is none."""
    if calibration is None:
        return "Uncalibrated (distances in px)"
    if calibration.spacing_mm is not None:
        dx, dy = calibration.spacing_mm
        source = {"pixel_spacing": "PixelSpacing", "imager_pixel_spacing": "ImagerPixelSpacing"}.get(
            calibration.source, calibration.source)
        return f"{dx:.3f} × {dy:.3f} mm/px ({source})"
    spatial = [r for r in calibration.regions if r.is_spatial]
    if not spatial:
        return "Uncalibrated (no 2D region in mm)"
    r = spatial[0]
    mm = r.mm_per_pixel()
    assert mm is not None
    more = f" +{len(spatial) - 1} region(s)" if len(spatial) > 1 else ""
    return f"{mm[0]:.3f} × {mm[1]:.3f} mm/px ({r.data_type_name}{more})"


def image_text(metadata: dict[str, Any], calibration: Calibration | None) -> str:
    """Bottom-right block: encoding and calibration."""
    encoding = " · ".join(p for p in (_get(metadata, "photometric"), _get(metadata, "transfer_syntax")) if p)
    size = ""
    if _get(metadata, "rows") and _get(metadata, "columns"):
        size = f"{_get(metadata, 'columns')}×{_get(metadata, 'rows')}"
    first = " · ".join(p for p in (size, encoding) if p)
    return "\n".join(p for p in (first, calibration_text(calibration)) if p)


def frame_text(frame: int, n_frames: int, time_ms: float | None, fps: float | None,
               window_label: str, zoom: float, inverted: bool) -> str:
    """Bottom-left: frame, time, window/level and zoom."""
    first = f"Frame {frame + 1}/{n_frames}"
    if time_ms is not None:
        first += f"  {time_ms / 1000:.3f} s"
    if fps:
        first += f"  ({fps:.1f} fps)"
    second = f"{window_label}{'  inverted' if inverted else ''}  Zoom {zoom:.2f}×"
    return f"{first}\n{second}"
