"""Write phantom screens as the DICOM files an ultrasound scanner would export.

Cines are US Multi-frame Image Storage, stills US Image Storage. Pixels are the
whole screen (RGB, burned-in text: BurnedInAnnotation YES), compressed as
scanners usually do, JPEG baseline in YBR_FULL_422 (4:2:2 chroma subsampling,
one fragment per frame with a basic offset table), or losslessly as RLE, or left
uncompressed RGB. Calibration is in SequenceOfUltrasoundRegions: one 2D tissue
region over the field of view and, on CDFI images, one colour-flow region over the
colour box, PhysicalDeltaX/Y in cm (units code 3) with the probe origin as
reference pixel.

Everything that identifies the file (UIDs, dates, names) is derived from the
generator seed and case number: the same seed writes byte-identical files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    RLELossless,
    UID,
    generate_uid,
)

from ultrasound_reader import __version__
from ultrasound_reader.dicom.writing import US_IMAGE, US_MULTIFRAME, jpeg_frame

Compression = Literal["jpeg", "rle", "none"]
COMPRESSIONS: tuple[str, ...] = ("jpeg", "rle", "none")
# Body Part Examined values of paired structures: their series need Laterality (Type 2C, PS3.3 C.7.3.1).
PAIRED_BODY_PARTS = frozenset({"ARM", "LEG", "THIGH", "SHOULDER", "ELBOW", "FOREARM", "WRIST", "HAND", "HIP",
                               "KNEE", "ANKLE", "FOOT", "BREAST", "KIDNEY", "EYE", "EAR", "CLAVICLE"})
# Image Type value 4 (PS3.3 C.8.5.6.1.1): hex bitmap of the modes on screen.
MODE_2D, MODE_COLOUR = 0x0001, 0x0010


@dataclass(frozen=True)
class Region:
    """One SequenceOfUltrasoundRegions item (screen pixel bounds, inclusive)."""

    bounds: tuple[int, int, int, int]
    data_type: int  # 1 tissue, 2 colour flow
    mm_per_px: float
    reference_px: tuple[float, float]  # screen pixel of the probe origin (0 cm, 0 cm)

    def to_item(self) -> Dataset:
        x0, y0, x1, y1 = self.bounds
        item = Dataset()
        item.RegionSpatialFormat = 1  # 2D
        item.RegionDataType = self.data_type
        item.RegionFlags = 0
        item.RegionLocationMinX0 = x0
        item.RegionLocationMinY0 = y0
        item.RegionLocationMaxX1 = x1
        item.RegionLocationMaxY1 = y1
        item.ReferencePixelX0 = int(round(self.reference_px[0] - x0))
        item.ReferencePixelY0 = int(round(self.reference_px[1] - y0))
        item.PhysicalUnitsXDirection = 3  # cm
        item.PhysicalUnitsYDirection = 3
        item.ReferencePixelPhysicalValueX = 0.0
        item.ReferencePixelPhysicalValueY = 0.0
        item.PhysicalDeltaX = self.mm_per_px / 10.0
        item.PhysicalDeltaY = self.mm_per_px / 10.0
        return item


@dataclass(frozen=True)
class Header:
    """Who, when and what: everything but pixels and calibration."""

    uid_key: str  # seed/case/series identity: all UIDs derive from it
    patient_name: str
    patient_id: str
    patient_sex: str
    patient_age: int
    study_date: str  # YYYYMMDD
    study_time: str  # HHMMSS
    accession: str
    study_description: str
    series_description: str
    series_number: int
    body_part: str
    institution: str
    manufacturer: str
    model: str
    transducer: str
    modes: int = MODE_2D
    laterality: str = ""  # "R" or "L"; written for paired body parts only ("" = unknown side)
    extra: dict = field(default_factory=dict)

    def uid(self, what: str) -> UID:
        return generate_uid(entropy_srcs=["ultrasound-reader-phantom", self.uid_key, what])

    def study_uid(self) -> UID:
        # one study per case: the study UID depends on the case only, not the series
        return generate_uid(entropy_srcs=["ultrasound-reader-phantom", self.uid_key.rsplit("/", 1)[0], "study"])


def write_us(path: str | Path, frames: list[np.ndarray], header: Header, regions: list[Region], *,
             frame_time_ms: float | None = None, compression: Compression = "jpeg", quality: int = 90) -> Path:
    """Write RGB uint8 screens (all the same size) as one ultrasound DICOM file."""
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression {compression!r} is not one of {COMPRESSIONS}")
    if not frames:
        raise ValueError("no frames to write")
    path = Path(path)
    n = len(frames)
    rows, cols = frames[0].shape[:2]
    multi = n > 1
    sop_class = US_MULTIFRAME if multi else US_IMAGE
    sop_uid = header.uid("instance")
    syntax = {"jpeg": JPEGBaseline8Bit, "rle": RLELossless, "none": ExplicitVRLittleEndian}[compression]

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = syntax
    meta.ImplementationVersionName = f"USREADER_{__version__}"[:16]
    meta.SourceApplicationEntityTitle = "PHANTOM"
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)

    ds.SpecificCharacterSet = "ISO_IR 100"
    value3 = "ABDOMINAL" if header.body_part in ("LIVER", "ABDOMEN") else "SMALL PARTS"
    ds.ImageType = ["ORIGINAL", "PRIMARY", value3, f"{header.modes:04X}"]
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = ds.AcquisitionDate = header.study_date
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = ds.AcquisitionTime = header.study_time
    ds.AccessionNumber = header.accession
    ds.Modality = "US"
    ds.Manufacturer = header.manufacturer
    ds.InstitutionName = header.institution
    ds.ReferringPhysicianName = ""
    ds.StationName = "PHANTOM"
    ds.StudyDescription = header.study_description
    ds.SeriesDescription = header.series_description
    ds.ManufacturerModelName = header.model
    ds.PatientName = header.patient_name
    ds.PatientID = header.patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = header.patient_sex
    ds.PatientAge = f"{int(header.patient_age):03d}Y"
    ds.PatientIdentityRemoved = "NO"  # nothing to remove: it was never real
    ds.BodyPartExamined = header.body_part
    if header.body_part in PAIRED_BODY_PARTS:
        ds.Laterality = header.laterality
    ds.SoftwareVersions = f"ultrasound-reader {__version__} phantom"
    ds.TransducerData = [header.transducer, "", ""]
    ds.StudyInstanceUID = header.study_uid()
    ds.SeriesInstanceUID = header.uid("series")
    ds.StudyID = header.accession[-8:]
    ds.SeriesNumber = header.series_number
    ds.InstanceNumber = 1
    ds.PatientOrientation = ""
    ds.BurnedInAnnotation = "YES"
    ds.SequenceOfUltrasoundRegions = Sequence([r.to_item() for r in regions])

    ds.SamplesPerPixel = 3
    ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    if multi:
        ds.NumberOfFrames = n
        ds.FrameIncrementPointer = 0x00181063  # FrameTime
        ft = float(frame_time_ms or 40.0)
        ds.FrameTime = f"{ft:.3f}"
        ds.CineRate = int(round(1000.0 / ft))
        ds.RecommendedDisplayFrameRate = int(round(1000.0 / ft))
        ds.EffectiveDuration = f"{n * ft / 1000.0:.3f}"
    for key, value in header.extra.items():
        setattr(ds, key, value)

    stack = np.ascontiguousarray(np.stack(frames).astype(np.uint8))
    if compression == "jpeg":
        encoded = [jpeg_frame(f, quality) for f in frames]
        ds.PhotometricInterpretation = "YBR_FULL_422"
        ds.PixelData = encapsulate(encoded, has_bot=True)
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
        ds.LossyImageCompression = "01"
        ratio = stack.nbytes / max(sum(len(e) for e in encoded), 1)
        ds.LossyImageCompressionRatio = f"{ratio:.2f}"
        ds.LossyImageCompressionMethod = "ISO_10918_1"
    else:
        ds.PhotometricInterpretation = "RGB"
        ds.LossyImageCompression = "00"
        ds.PixelData = stack.tobytes()
        ds["PixelData"].VR = "OB"
        if compression == "rle":
            ds.compress(RLELossless, stack if multi else stack[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
