"""Every real sample decodes, frame by frame, to what pydicom's pixel_array gives.

Exact for lossless and native data. JPEG baseline goes through Pillow's
libjpeg-turbo instead of pydicom's libjpeg: equal within 1 grey level (rounding of
the YCbCr->RGB conversion); the sample here happens to match exactly.
PALETTE COLOR is compared after pydicom's own apply_color_lut (16-bit LUT >> 8).
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_color_lut

from .helpers import pydicom_frames
from ultrasound_reader.dicom import open_cine

SAMPLES = ["ExplVR_BigEnd.dcm", "examples_jpeg2k.dcm", "examples_palette.dcm",
           "examples_rgb_color.dcm", "examples_ybr_color.dcm"]


@pytest.mark.parametrize("name", SAMPLES)
def test_real_sample_matches_pydicom(dicom_samples, name):
    path = dicom_samples / name
    ref = pydicom_frames(path)
    ds = pydicom.dcmread(path)
    if ds.PhotometricInterpretation == "PALETTE COLOR":
        ref = apply_color_lut(ref, ds)
        ref = (ref >> 8).astype(np.uint8) if ref.dtype == np.uint16 else ref
    with open_cine(path) as cine:
        assert cine.n_frames == len(ref)
        ours = np.stack([cine.frame(i) for i in range(cine.n_frames)])
    assert ours.dtype == np.uint8
    assert ours.shape == ref.shape
    tolerance = 1 if ds.file_meta.TransferSyntaxUID == pydicom.uid.JPEGBaseline8Bit else 0
    assert np.abs(ours.astype(int) - ref.astype(int)).max() <= tolerance


def test_ybr_sample_colours_are_rgb(dicom_samples):
    """YBR_FULL_422 comes out as RGB (not raw YCbCr): matches pydicom's converted output exactly."""
    path = dicom_samples / "examples_ybr_color.dcm"
    raw = pydicom.pixels.pixel_array(path, index=4, raw=True)  # still YCbCr
    with open_cine(path) as cine:
        ours = cine.frame(4)
    assert np.array_equal(ours, pydicom_frames(path)[4])
    assert not np.array_equal(ours, raw)


def test_sample_metadata(dicom_samples):
    with open_cine(dicom_samples / "examples_ybr_color.dcm") as cine:
        md = cine.metadata
        assert md["modality"] == "US"
        assert md["sop_class"] == "Ultrasound Multi-frame Image Storage"
        assert md["transfer_syntax"] == "JPEG Baseline (Process 1)"
        assert md["photometric"] == "YBR_FULL_422"
        assert (md["rows"], md["columns"], md["frames"], md["bits"]) == (240, 320, 30, 8)
        assert md["frame_time_ms"] == pytest.approx(33.333, abs=1e-3)
        assert cine.fps == pytest.approx(30.0, rel=1e-4)
        assert cine.is_color and cine.shape == (240, 320, 3)
