"""The header facts a reader and the `inspect` command show, as a plain dict.

No patient identifiers (name, ID, birth date) leave this module: the overlay and
logs show sex and age only (DESIGN.md: no patient identifiers in logs).
"""

from __future__ import annotations

from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import UID


def _str(ds: Dataset, key: str) -> str | None:
    value = ds.get(key)
    if value is None or value == "":
        return None
    return str(value).strip() or None


def _int(ds: Dataset, key: str) -> int | None:
    try:
        value = ds.get(key)
        return None if value is None or value == "" else int(value)
    except (TypeError, ValueError):
        return None


def _uid_name(value: str | None) -> str | None:
    if not value:
        return None
    name = UID(value).name
    return name if name != value else value


def dicom_metadata(ds: Dataset, transfer_syntax: UID, n_frames: int) -> dict[str, Any]:
    sop_uid = _str(ds, "SOPClassUID")
    return {
        "format": "DICOM",
        "modality": _str(ds, "Modality"),
        "sop_class": _uid_name(sop_uid),
        "sop_class_uid": sop_uid,
        "transfer_syntax": transfer_syntax.name,
        "transfer_syntax_uid": str(transfer_syntax),
        "photometric": _str(ds, "PhotometricInterpretation"),
        "rows": _int(ds, "Rows"),
        "columns": _int(ds, "Columns"),
        "frames": n_frames,
        "samples_per_pixel": _int(ds, "SamplesPerPixel"),
        "planar_configuration": _int(ds, "PlanarConfiguration"),
        "bits_allocated": _int(ds, "BitsAllocated"),
        "bits_stored": _int(ds, "BitsStored"),
        "bits": _int(ds, "BitsStored"),
        "pixel_representation": _int(ds, "PixelRepresentation"),
        "patient_sex": _str(ds, "PatientSex"),
        "patient_age": _str(ds, "PatientAge"),
        "study_uid": _str(ds, "StudyInstanceUID"),
        "series_uid": _str(ds, "SeriesInstanceUID"),
        "sop_instance_uid": _str(ds, "SOPInstanceUID"),
        "study_description": _str(ds, "StudyDescription"),
        "series_description": _str(ds, "SeriesDescription"),
        "study_date": _str(ds, "StudyDate"),
        "series_number": _int(ds, "SeriesNumber"),
        "instance_number": _int(ds, "InstanceNumber"),
        "manufacturer": _str(ds, "Manufacturer"),
        "model": _str(ds, "ManufacturerModelName"),
        "body_part": _str(ds, "BodyPartExamined"),
    }
