"""Files made here in every layout decode frame by frame to pydicom's output.

The reference is pydicom's whole-file pixel_array followed by the documented
display conversion (decode.py), written here independently: MONOCHROME1 inverted,
>8-bit grey windowed with pydicom's own apply_voi_lut and scaled to 0..255 (within
1 level of rounding), PALETTE through pydicom's apply_color_lut. The synthetic
frames are also checked against what was written, so a writer bug cannot hide a
reader bug.
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut, apply_voi_lut
from pydicom.sequence import Sequence
from pydicom.uid import (
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)

from ultrasound_reader.dicom import open_cine
from ultrasound_reader.dicom.synth import ENHANCED_US_VOLUME, SECONDARY_CAPTURE

from .helpers import pydicom_frames


def _ours(path):
    with open_cine(path) as cine:
        return np.stack([cine.frame(i) for i in range(cine.n_frames)]), cine.metadata


def _assert_close(a, b, tol=0):
    assert a.shape == b.shape
    assert np.abs(a.astype(int) - b.astype(int)).max() <= tol


LOSSLESS_8BIT = [
    ("mono2", "gray", {}),
    ("implicit", "gray", dict(transfer_syntax=ImplicitVRLittleEndian)),
    ("rgb_planar0", "color", {}),
    ("rgb_planar1", "color", dict(planar_configuration=1)),
    ("rgb_bigendian", "color", dict(transfer_syntax=ExplicitVRBigEndian)),
    ("gray_bigendian", "gray", dict(transfer_syntax=ExplicitVRBigEndian)),
    ("rle_gray", "gray", dict(transfer_syntax=RLELossless)),
    ("rle_rgb", "color", dict(transfer_syntax=RLELossless)),
    ("j2k_gray", "gray", dict(transfer_syntax=JPEG2000Lossless)),
    ("j2k_ybr_rct", "color", dict(transfer_syntax=JPEG2000Lossless, photometric="YBR_RCT")),
    ("jpeg_lossless_gray", "gray", dict(transfer_syntax=JPEGLosslessSV1)),
    ("jpeg_lossless_rgb", "color", dict(transfer_syntax=JPEGLosslessSV1)),
    ("secondary_capture", "color", dict(sop_class=SECONDARY_CAPTURE)),
]


@pytest.mark.parametrize("name,kind,options", LOSSLESS_8BIT, ids=[c[0] for c in LOSSLESS_8BIT])
def test_lossless_layouts_exact(make, gray, color, name, kind, options):
    frames = gray if kind == "gray" else color
    path = make(name, frames, **options)
    ref = pydicom_frames(path)
    _assert_close(ref, frames)  # the writer wrote what we meant
    ours, md = _ours(path)
    _assert_close(ours, ref)
    assert md["frames"] == len(frames)


@pytest.mark.parametrize("kind", ["gray", "color"])
def test_jpeg_ls(make, gray, color, kind):
    frames = gray if kind == "gray" else color
    path = make(f"jls_{kind}", frames, transfer_syntax=JPEGLSLossless)
    ref = pydicom_frames(path)
    _assert_close(ref, frames)
    _assert_close(_ours(path)[0], ref)


# An extended offset table implies one fragment per frame.
@pytest.mark.parametrize("table,fragments", [("basic", 1), ("basic", 3), ("extended", 1), ("none", 1), ("none", 3)])
def test_jpeg_baseline_ybr422_offset_tables_and_fragments(make, color, table, fragments):
    path = make(f"jpeg_{table}_{fragments}", color, transfer_syntax=JPEGBaseline8Bit,
                offset_table=table, fragments_per_frame=fragments)
    ds = pydicom.dcmread(path)
    assert ds.PhotometricInterpretation == "YBR_FULL_422"
    ref = pydicom_frames(path)
    # OpenCV (libjpeg-turbo) vs pydicom (libjpeg + its own YCbCr->RGB): rounding only.
    _assert_close(_ours(path)[0], ref, tol=1)


def test_jpeg_baseline_gray(make, gray):
    path = make("jpeg_gray", gray, transfer_syntax=JPEGBaseline8Bit)
    _assert_close(_ours(path)[0], pydicom_frames(path), tol=1)


def test_native_ybr_full_and_422_become_rgb(make, color):
    # Pixel pairs with equal colour survive 4:2:2 subsampling, so both files hold ~the input.
    pairs = np.repeat(color[:, :, ::2], 2, axis=2)
    for photometric in ("YBR_FULL", "YBR_FULL_422"):
        path = make(photometric, pairs, photometric=photometric)
        ref = pydicom_frames(path)
        _assert_close(ref, pairs, tol=2)  # RGB->YBR->RGB rounding in the writer
        _assert_close(_ours(path)[0], ref)


def test_monochrome1_is_inverted(make, gray):
    path = make("mono1", gray, photometric="MONOCHROME1")
    ref = pydicom_frames(path)
    _assert_close(ref, gray)  # pydicom gives stored values
    ours, md = _ours(path)
    _assert_close(ours, 255 - ref)
    assert "MONOCHROME1" in md["display"]


def _voi_reference(path, bits_stored):
    ds = pydicom.dcmread(path)
    ref = pydicom_frames(path)
    out = np.stack([apply_voi_lut(f, ds) for f in ref]).astype(float)
    return np.clip(np.rint(out * 255.0 / ((1 << bits_stored) - 1)), 0, 255)


@pytest.mark.parametrize("ts", ["little", "big"])
def test_16bit_with_voi_window(make, gray, ts):
    stored = gray.astype(np.uint16) * 16  # 12 bits
    options = dict(bits_stored=12, window=(1500.0, 2000.0))
    if ts == "big":
        options["transfer_syntax"] = ExplicitVRBigEndian
    path = make(f"g16_{ts}", stored, **options)
    _assert_close(pydicom_frames(path), stored)
    ours, md = _ours(path)
    assert ours.dtype == np.uint8
    _assert_close(ours, _voi_reference(path, 12), tol=1)
    assert md["display"].startswith("VOI window")
    assert (ours == 0).any() and (ours == 255).any()  # the window clips both ends


def test_16bit_without_window_uses_bits_stored_range(make, gray):
    stored = gray.astype(np.uint16) * 16
    path = make("g16_nowindow", stored, bits_stored=12, transfer_syntax=RLELossless)
    ours, md = _ours(path)
    _assert_close(ours, np.rint(pydicom_frames(path) * 255.0 / 4095), tol=0)
    assert "12-bit range" in md["display"]


def test_16bit_monochrome1_windowed_then_inverted(make, gray):
    stored = gray.astype(np.uint16) * 16
    path = make("g16_mono1", stored, bits_stored=12, photometric="MONOCHROME1", window=(2048.0, 4096.0))
    ours, _ = _ours(path)
    ds = pydicom.dcmread(path)
    lin = np.clip(((pydicom_frames(path) - (2047.5)) / 4095 + 0.5) * 255, 0, 255)
    _assert_close(ours, 255 - np.rint(lin), tol=1)
    assert ds.PhotometricInterpretation == "MONOCHROME1"


@pytest.mark.parametrize("bits", [8, 16])
def test_palette_color(make, gray, bits):
    ramp = np.arange(256)
    dtype = np.uint8 if bits == 8 else np.uint16
    scale = 1 if bits == 8 else 257
    palette = tuple((lut * scale).astype(dtype) for lut in (ramp, 255 - ramp, (ramp * 7) % 256))
    path = make(f"palette{bits}", gray, photometric="PALETTE COLOR", palette=palette)
    ds = pydicom.dcmread(path)
    ref = apply_color_lut(pydicom_frames(path), ds)
    ref = (ref >> 8) if bits == 16 else ref
    ours, md = _ours(path)
    _assert_close(ours, ref)
    assert ours.shape[-1] == 3 and md["display"] == "palette colour LUT"


def test_enhanced_us_volume_frames_and_spacing(make, gray):
    shared = Dataset()
    measures = Dataset()
    measures.PixelSpacing = ["0.2", "0.3"]  # row spacing (dy), column spacing (dx)
    shared.PixelMeasuresSequence = Sequence([measures])
    path = make("enhanced", gray, sop_class=ENHANCED_US_VOLUME,
                extra={"SharedFunctionalGroupsSequence": Sequence([shared])})
    with open_cine(path) as cine:
        assert cine.metadata["sop_class"] == "Enhanced US Volume Storage"
        assert cine.n_frames == len(gray)
        _assert_close(cine.frame(2), gray[2])
        assert cine.calibration is not None
        assert cine.calibration.mm_per_pixel(1, 1) == pytest.approx((0.3, 0.2))


def test_signed_16bit_windowed(make, gray):
    stored = (gray.astype(np.int16) - 128) * 8  # -1024..1016
    path = make("s16", stored, bits_stored=16, window=(0.0, 1024.0))
    ref = pydicom_frames(path)
    _assert_close(ref, stored)
    ours, _ = _ours(path)
    lin = np.clip(((ref - (-0.5)) / 1023 + 0.5) * 255, 0, 255)
    _assert_close(ours, np.rint(lin), tol=1)


def test_rgb_16bit_shifted_to_8(make, color):
    stored = color.astype(np.uint16) << 4
    path = make("rgb16", stored, bits_stored=12)
    ours, _ = _ours(path)
    _assert_close(ours, pydicom_frames(path) >> 4)
    _assert_close(ours, color)


def test_jpeg2000_lossy_ybr_ict(make, color):
    from pydicom.uid import JPEG2000

    path = make("j2k_ict", color, transfer_syntax=JPEG2000, photometric="YBR_ICT")
    ref = pydicom_frames(path)
    assert np.abs(ref.astype(int) - color).mean() < 8  # lossy, but colours (not YCbCr) come back
    _assert_close(_ours(path)[0], ref)


def test_file_without_preamble_or_file_meta(make, gray, tmp_path):
    ds = pydicom.dcmread(make("implicit_src", gray, transfer_syntax=ImplicitVRLittleEndian))
    del ds.file_meta
    ds.preamble = None
    path = tmp_path / "raw_dataset.dcm"
    ds.save_as(path, enforce_file_format=False, implicit_vr=True, little_endian=True)
    assert path.read_bytes()[128:132] != b"DICM"
    ours, md = _ours(path)
    _assert_close(ours, gray)
    assert md["transfer_syntax"] == "Implicit VR Little Endian"
