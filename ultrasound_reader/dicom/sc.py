"""Rendered pictures (an image with its Grad-CAM overlay, a nomogram) as DICOM Secondary Capture.

Made with ``highdicom`` (SC Image IOD, RGB, 8 bit) in the patient and study of the
source image whose (possibly de-identified) header is given, in a new series. The
pixels carry burned-in text, so BurnedInAnnotation is YES; a derived image says
which image it was derived from (SourceImageSequence, DERIVED\\SECONDARY).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid


def build_sc(image: np.ndarray, ref: Dataset, *, description: str, series_uid: str | None = None,
             series_number: int = 991, instance_number: int = 1,
             source_refs: Sequence[tuple[str, str, int | None]] = ()) -> Dataset:
    """An SC dataset of an RGB uint8 (H, W, 3) picture.

    ``ref`` gives patient and study (pass the de-identified header to de-identify);
    ``source_refs`` are (SOP class, SOP instance UID, frame or None) of the images the
    picture was derived from (UIDs already remapped when de-identifying).
    """
    from highdicom.sc import SCImage

    from ultrasound_reader import __version__

    rgb = np.ascontiguousarray(image)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError("a secondary capture needs an (H, W, 3) uint8 RGB picture")
    sc = SCImage.from_ref_dataset(
        ref_dataset=ref, pixel_array=rgb, photometric_interpretation="RGB", bits_allocated=8,
        coordinate_system="PATIENT", series_instance_uid=series_uid or str(generate_uid()),
        series_number=series_number, sop_instance_uid=str(generate_uid()), instance_number=instance_number,
        manufacturer="ultrasound-reader", transfer_syntax_uid=ExplicitVRLittleEndian,
        patient_orientation=("L", "F"),  # highdicom insists on one; unknown for a rendering:
    )
    sc.PatientOrientation = ""  # Type 2: empty = unknown
    if "Laterality" not in sc:
        sc.Laterality = ""  # Type 2C (dciodvfy asks for it): unknown
    sc.SeriesDescription = description[:64]
    sc.BurnedInAnnotation = "YES"
    sc.ImageType = ["DERIVED", "SECONDARY"]
    sc.Modality = "OT"
    sc.ConversionType = "WSD"  # workstation
    sc.SoftwareVersions = f"ultrasound-reader {__version__}"
    sc.DerivationDescription = description[:1024]
    if source_refs:
        items = []
        for sop_class, sop_uid, frame in source_refs:
            it = Dataset()
            it.ReferencedSOPClassUID = sop_class
            it.ReferencedSOPInstanceUID = sop_uid
            if frame is not None:
                it.ReferencedFrameNumber = frame + 1
            items.append(it)
        sc.SourceImageSequence = DicomSequence(items)
    return sc


def write_dataset(path: Path, ds: Dataset) -> Path:
    """Save a dataset atomically (see :func:`ultrasound_reader.paths.atomic_write`)."""
    from ultrasound_reader.paths import atomic_write

    return atomic_write(path, lambda tmp: ds.save_as(tmp, enforce_file_format=True))
