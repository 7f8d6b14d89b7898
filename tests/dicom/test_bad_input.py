"""Every kind of bad input gives a UserError naming the file and the reason.

Nothing else may escape: a reader opening a folder of mixed files must get one
line per bad file and carry on.
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGBaseline8Bit, generate_uid

from ultrasound_reader.dicom import open_cine
from ultrasound_reader.errors import UserError


def _open_all(path):
    with open_cine(path) as cine:
        for i in range(cine.n_frames):
            cine.frame(i)


def _expect(path, *words):
    with pytest.raises(UserError) as info:
        _open_all(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    for word in words:
        assert word in message, message
    return message


def _bare(tmp_path, name, sop="1.2.840.10008.5.1.4.1.1.6.1", **elements):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = elements.pop("ts", pydicom.uid.ExplicitVRLittleEndian)
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = elements.pop("Modality", "US")
    for key, value in elements.items():
        setattr(ds, key, value)
    path = tmp_path / name
    ds.save_as(path, enforce_file_format=True)
    return path


def _image_elements(rows=8, columns=8, frames=None):
    out = dict(Rows=rows, Columns=columns, SamplesPerPixel=1, PhotometricInterpretation="MONOCHROME2",
               BitsAllocated=8, BitsStored=8, HighBit=7, PixelRepresentation=0)
    if frames is not None:
        out["NumberOfFrames"] = frames
    return out


def test_not_dicom(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("this is not an image\n" * 20)
    _expect(path, "not a DICOM file")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.dcm"
    path.write_bytes(b"")
    _expect(path, "not a DICOM file")


def test_missing_file_and_folder(tmp_path):
    _expect(tmp_path / "nope.dcm", "no such file")
    _expect(tmp_path, "folder")


def test_truncated_header(make, gray, tmp_path):
    full = make("whole", gray).read_bytes()
    path = tmp_path / "cut_header.dcm"
    path.write_bytes(full[:300])
    _expect(path, "truncated")
    path.write_bytes(full[:900])  # cut inside an element: pydicom's own error
    _expect(path, "truncated")


def test_truncated_native_pixels(make, gray, tmp_path):
    full = make("whole", gray).read_bytes()
    path = tmp_path / "cut.dcm"
    path.write_bytes(full[:-500])
    _expect(path, "truncated")


@pytest.mark.parametrize("table", ["basic", "none"])
def test_truncated_jpeg(make, color, tmp_path, table):
    full = make(f"whole_{table}", color, transfer_syntax=JPEGBaseline8Bit, offset_table=table).read_bytes()
    path = tmp_path / f"cut_{table}.dcm"
    path.write_bytes(full[: len(full) - 1500])
    _expect(path, "truncated")


def test_no_pixel_data(tmp_path):
    _expect(_bare(tmp_path, "nopixels.dcm", **_image_elements()), "no pixel data")
    _expect(_bare(tmp_path, "nothing.dcm", StudyDescription="PHANTOM"), "no pixel data")


def test_sr_document(tmp_path):
    path = _bare(tmp_path, "report.dcm", sop="1.2.840.10008.5.1.4.1.1.88.33", Modality="SR")
    _expect(path, "Comprehensive SR", "no image")


def test_unsupported_transfer_syntax(tmp_path):
    path = _bare(tmp_path, "video.dcm", ts="1.2.840.10008.1.2.4.102", **_image_elements(),
                 PixelData=encapsulate([b"\x00\x00\x00\x01" * 8]))
    ds = pydicom.dcmread(path)
    ds["PixelData"].is_undefined_length = True
    ds.save_as(path)
    _expect(path, "not supported", "MPEG-4")


def test_zero_frames(tmp_path):
    path = _bare(tmp_path, "zero.dcm", **_image_elements(frames=0), PixelData=b"")
    _expect(path, "zero frames")


def test_pixel_data_too_short(tmp_path):
    path = _bare(tmp_path, "short.dcm", **_image_elements(frames=5), PixelData=bytes(8 * 8 * 3))
    _expect(path, "pixel data too short", "8x8x1", "5 frame")


def test_corrupt_compressed_frame(make, color, tmp_path):
    path = make("jpeg", color, transfer_syntax=JPEGBaseline8Bit)
    ds = pydicom.dcmread(path)
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xe0garbage" + bytes(64)] * len(color))
    ds.save_as(path)
    _expect(path, "cannot decode frame 0")


def test_png_and_jpeg_images_open_uncalibrated(tmp_path, color):
    import cv2

    rgb = np.ascontiguousarray(color[0])
    png, jpg = tmp_path / "still.png", tmp_path / "still.jpg"
    cv2.imwrite(str(png), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(jpg), rgb[:, :, 1])
    with open_cine(png) as cine:
        assert cine.n_frames == 1 and cine.calibration is None and cine.fps is None
        assert np.array_equal(cine.frame(0), rgb) and cine.metadata["format"] == "PNG"
    with open_cine(jpg) as cine:
        assert cine.frame(0).shape == rgb.shape[:2] and cine.metadata["format"] == "JPEG"
    broken = tmp_path / "broken.png"
    broken.write_bytes(png.read_bytes()[:40])
    _expect(broken, "cannot decode the image")
