"""Write synthetic (PHANTOM) ultrasound DICOM files in any layout the reader supports.

Tests and the benchmark need cines in every photometric interpretation, bit depth,
byte order and transfer syntax; real scanner files are few. ``write_dicom`` takes
frames as pydicom's ``pixel_array`` should return them (RGB for YBR files, stored
values for MONOCHROME1/16-bit, palette indices for PALETTE COLOR) and encodes them.
JPEG baseline frames are encoded by OpenCV (libjpeg-turbo, 4:2:2 chroma, as
scanners write them); RLE, JPEG-LS and JPEG 2000 by pydicom's own encoders.
Every file says PHANTOM: no patient data.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate, encapsulate_extended
from pydicom.pixels import convert_color_space
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
    PYDICOM_IMPLEMENTATION_UID,
    generate_uid,
)

from ultrasound_reader.dicom.writing import (  # re-exported: tests import them from here
    ENHANCED_US_VOLUME,
    SECONDARY_CAPTURE,
    US_IMAGE,
    US_MULTIFRAME,
    jpeg_frame,
)

__all__ = ["ENHANCED_US_VOLUME", "SECONDARY_CAPTURE", "US_IMAGE", "US_MULTIFRAME", "speckle_frames",
           "transcode_gdcm", "write_dicom"]


def speckle_frames(n: int, rows: int = 480, columns: int = 640, color: bool = False,
                   seed: int = 0) -> np.ndarray:
    """Smooth, speckle-like uint8 frames that drift slowly (compress like real B-mode).

    Rayleigh-distributed noise blurred to a speckle grain, shaded by depth, moving a
    few pixels per frame; ``color`` adds a red/blue colour-flow blob so chroma matters.
    """
    import cv2

    rng = np.random.default_rng(seed)
    pad = 2 * n + 8
    field = rng.rayleigh(1.0, size=(rows + pad, columns + pad)).astype(np.float32)
    field = cv2.GaussianBlur(field, (0, 0), 1.6)
    field = (field - field.min()) / (np.ptp(field) + 1e-6)
    depth = np.linspace(1.0, 0.45, rows, dtype=np.float32)[:, None]
    yy, xx = np.mgrid[0:rows, 0:columns].astype(np.float32)
    out = np.empty((n, rows, columns, 3) if color else (n, rows, columns), np.uint8)
    for k in range(n):
        dy, dx = k % pad, (2 * k) % pad
        gray = np.clip(field[dy:dy + rows, dx:dx + columns] * depth * 255.0 * 1.2, 0, 255)
        if not color:
            out[k] = gray.astype(np.uint8)
            continue
        rgb = np.repeat(gray[:, :, None], 3, axis=2)
        cy, cx = rows * (0.45 + 0.05 * np.sin(k / 7)), columns * 0.5
        blob = np.exp(-(((yy - cy) / (rows * 0.12)) ** 2 + ((xx - cx) / (columns * 0.1)) ** 2))
        flow = np.sin((xx - cx) / (columns * 0.05) + k / 3)
        rgb[:, :, 0] = np.where(blob > 0.3, np.clip(255 * blob * (flow > 0), 0, 255), rgb[:, :, 0])
        rgb[:, :, 2] = np.where(blob > 0.3, np.clip(255 * blob * (flow <= 0), 0, 255), rgb[:, :, 2])
        out[k] = rgb.astype(np.uint8)
    return out


def _jpeg_frames(frames: np.ndarray, quality: int) -> list[bytes]:
    return [jpeg_frame(frame, quality) for frame in frames]


def _native_bytes(frames: np.ndarray, photometric: str, planar: int, big_endian: bool) -> bytes:
    arr = frames
    if photometric in ("YBR_FULL", "YBR_FULL_422"):
        arr = np.stack([convert_color_space(f, "RGB", "YBR_FULL") for f in frames])
    if photometric == "YBR_FULL_422":
        # PS3.3 C.7.6.3.1.2: per pixel pair Y1 Y2 Cb Cr, chroma of the pair's average.
        y, cb, cr = arr[..., 0], arr[..., 1].astype(np.uint16), arr[..., 2].astype(np.uint16)
        cb2 = ((cb[..., 0::2] + cb[..., 1::2] + 1) // 2).astype(np.uint8)
        cr2 = ((cr[..., 0::2] + cr[..., 1::2] + 1) // 2).astype(np.uint8)
        packed = np.stack([y[..., 0::2], y[..., 1::2], cb2, cr2], axis=-1)
        return packed.tobytes()
    if arr.ndim == 4 and planar == 1:
        arr = arr.transpose(0, 3, 1, 2)
    if arr.dtype.itemsize > 1:
        arr = arr.astype(arr.dtype.newbyteorder(">" if big_endian else "<"))
    return np.ascontiguousarray(arr).tobytes()


def write_dicom(
    path: str | Path,
    frames: np.ndarray,
    *,
    photometric: str | None = None,
    transfer_syntax: str = ExplicitVRLittleEndian,
    planar_configuration: int = 0,
    bits_stored: int | None = None,
    sop_class: str | None = None,
    frame_time_ms: float | None = None,
    frame_time_vector: Sequence[float] | None = None,
    cine_rate: float | None = None,
    regions: Sequence[dict[str, Any]] | None = None,
    pixel_spacing: tuple[float, float] | None = None,
    window: tuple[float, float] | None = None,
    palette: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    jpeg_quality: int = 90,
    offset_table: str = "basic",
    fragments_per_frame: int = 1,
    study_uid: str | None = None,
    series_uid: str | None = None,
    series_description: str = "PHANTOM cine",
    patient_id: str = "PHANTOM-0001",
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``frames`` ((N,H,W) or (N,H,W,3)) as a DICOM file; see module doc.

    ``offset_table`` is ``"basic"``, ``"extended"`` or ``"none"`` (encapsulated only);
    ``fragments_per_frame`` > 1 splits each compressed frame (tests the fragment scan).
    ``regions``: dicts with x0, y0, x1, y1, data_type (1 tissue, 2 colour flow, 3 PW…),
    delta_x, delta_y (cm/pixel) and optionally spatial_format, units_x, units_y.
    """
    path = Path(path)
    frames = np.asarray(frames)
    if frames.ndim not in (3, 4):
        raise ValueError("frames must be (N,H,W) or (N,H,W,3)")
    n, rows, columns = frames.shape[:3]
    samples = 3 if frames.ndim == 4 else 1
    ts = UID(transfer_syntax)
    if photometric is None:
        photometric = ("YBR_FULL_422" if ts == JPEGBaseline8Bit else "RGB") if samples == 3 else "MONOCHROME2"
    bits_allocated = frames.dtype.itemsize * 8
    signed = frames.dtype.kind == "i"

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class or (US_MULTIFRAME if n > 1 else US_IMAGE))
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ts
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "US"
    ds.PatientName = "PHANTOM^SYNTHETIC"
    ds.PatientID = patient_id
    ds.PatientSex = "O"
    ds.PatientAge = "050Y"
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.StudyDescription = "PHANTOM study"
    ds.StudyDate, ds.StudyTime, ds.StudyID = "20000101", "120000", "PHANTOM"
    ds.SeriesDescription = series_description
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.Manufacturer = "PHANTOM (ultrasound_reader.dicom.synth)"
    ds.SamplesPerPixel = samples
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = rows, columns
    ds.BitsAllocated = bits_allocated
    ds.BitsStored = bits_stored or bits_allocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if signed else 0
    if samples == 3:
        ds.PlanarConfiguration = planar_configuration
    if n > 1 or sop_class in (US_MULTIFRAME, ENHANCED_US_VOLUME):
        ds.NumberOfFrames = n
    if frame_time_ms is not None:
        ds.FrameTime = f"{frame_time_ms:.6g}"
        ds.FrameIncrementPointer = 0x00181063
    if frame_time_vector is not None:
        ds.FrameTimeVector = [f"{v:.6g}" for v in frame_time_vector]
        ds.FrameIncrementPointer = 0x00181065
    if cine_rate is not None:
        ds.CineRate = int(round(cine_rate))
    if pixel_spacing is not None:
        ds.PixelSpacing = [f"{pixel_spacing[1]:.6g}", f"{pixel_spacing[0]:.6g}"]  # (row, column) = (dy, dx)
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = f"{window[0]:.6g}", f"{window[1]:.6g}"
    if palette is not None:
        bits = 16 if palette[0].dtype == np.uint16 else 8
        for name, lut in zip(("Red", "Green", "Blue"), palette):
            setattr(ds, f"{name}PaletteColorLookupTableDescriptor", [len(lut) % 65536, 0, bits])
            setattr(ds, f"{name}PaletteColorLookupTableData", lut.astype(f"<u{bits // 8}").tobytes())
    if regions:
        items = []
        for r in regions:
            it = Dataset()
            it.RegionSpatialFormat = r.get("spatial_format", 1)
            it.RegionDataType = r.get("data_type", 1)
            it.RegionFlags = 0
            it.RegionLocationMinX0, it.RegionLocationMinY0 = r["x0"], r["y0"]
            it.RegionLocationMaxX1, it.RegionLocationMaxY1 = r["x1"], r["y1"]
            it.PhysicalUnitsXDirection = r.get("units_x", 3)
            it.PhysicalUnitsYDirection = r.get("units_y", 3)
            it.PhysicalDeltaX, it.PhysicalDeltaY = float(r["delta_x"]), float(r["delta_y"])
            items.append(it)
        ds.SequenceOfUltrasoundRegions = DicomSequence(items)
    for key, value in (extra or {}).items():
        setattr(ds, key, value)

    if ts in _GDCM_ONLY:
        # pydicom has no encoder for these: write native, let GDCM transcode.
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.PixelData = _native_bytes(frames, photometric, planar_configuration, False)
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        tmp = path.with_suffix(".native.tmp")
        ds.save_as(tmp, enforce_file_format=True)
        try:
            transcode_gdcm(tmp, path, ts)
        finally:
            tmp.unlink(missing_ok=True)
        return path
    if ts == JPEGBaseline8Bit:
        if frames.dtype != np.uint8:
            raise ValueError("JPEG baseline needs uint8 frames")
        _encapsulate(ds, _jpeg_frames(frames, jpeg_quality), offset_table, fragments_per_frame)
    elif ts.is_encapsulated:
        # pydicom encodes from stored values: build the native dataset, then compress.
        native_photometric = "RGB" if photometric in ("YBR_RCT", "YBR_ICT") else photometric
        ds.PhotometricInterpretation = native_photometric
        ds.PixelData = _native_bytes(frames, native_photometric, 0, False)
        ds.PlanarConfiguration = 0 if samples == 3 else None
        if samples == 1:
            del ds.PlanarConfiguration
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        kwargs: dict[str, Any] = {}
        if photometric in ("YBR_RCT", "YBR_ICT"):
            kwargs["use_mct"] = True
        if ts == UID("1.2.840.10008.1.2.4.91"):  # JPEG 2000 (lossy allowed): needs a rate
            kwargs["j2k_cr"] = [10]
        ds.compress(ts, encapsulate_ext=(offset_table == "extended"), generate_instance_uid=False, **kwargs)
        if photometric in ("YBR_RCT", "YBR_ICT"):
            ds.PhotometricInterpretation = photometric  # the codestream applies the colour transform
        if offset_table == "none" or fragments_per_frame > 1:
            from pydicom.encaps import generate_frames

            data = list(generate_frames(ds.PixelData, number_of_frames=n))
            for key in ("ExtendedOffsetTable", "ExtendedOffsetTableLengths"):
                if key in ds:
                    delattr(ds, key)
            _encapsulate(ds, data, offset_table, fragments_per_frame)
    else:
        ds.PixelData = _native_bytes(frames, photometric, planar_configuration, ts == ExplicitVRBigEndian)
        if ts == ImplicitVRLittleEndian:
            pass
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


_GDCM_ONLY = {UID("1.2.840.10008.1.2.4.70"): "JPEGLosslessProcess14_1",  # JPEG Lossless SV1
              UID("1.2.840.10008.1.2.4.57"): "JPEGLosslessProcess14"}


def transcode_gdcm(src: str | Path, dst: str | Path, transfer_syntax: str) -> Path:
    """Re-encode a DICOM file with GDCM (JPEG lossless, which pydicom cannot encode)."""
    import gdcm

    name = _GDCM_ONLY.get(UID(transfer_syntax))
    if name is None:
        raise ValueError(f"transcode_gdcm does not handle {UID(transfer_syntax).name}")
    reader = gdcm.ImageReader()
    reader.SetFileName(str(src))
    if not reader.Read():
        raise RuntimeError(f"GDCM could not read {src}")
    change = gdcm.ImageChangeTransferSyntax()
    change.SetTransferSyntax(gdcm.TransferSyntax(getattr(gdcm.TransferSyntax, name)))
    change.SetInput(reader.GetImage())
    if not change.Change():
        raise RuntimeError(f"GDCM could not transcode {src} to {name}")
    writer = gdcm.ImageWriter()
    writer.SetFileName(str(dst))
    writer.SetFile(reader.GetFile())
    writer.SetImage(change.GetOutput())
    if not writer.Write():
        raise RuntimeError(f"GDCM could not write {dst}")
    return Path(dst)


def _encapsulate(ds: Dataset, encoded: list[bytes], offset_table: str, fragments_per_frame: int) -> None:
    if offset_table == "extended":
        data, offsets, lengths = encapsulate_extended(encoded)
        ds.PixelData = data
        ds.ExtendedOffsetTable = offsets
        ds.ExtendedOffsetTableLengths = lengths
    else:
        ds.PixelData = encapsulate(encoded, fragments_per_frame=fragments_per_frame,
                                   has_bot=(offset_table == "basic"))
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
