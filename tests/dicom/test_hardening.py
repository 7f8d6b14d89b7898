"""Hostile files (issue 15, "DICOM loading" 1-7): each class of fault, refused cleanly and quietly.

The files that once killed the interpreter or ate all memory go through the fuzz
harness's supervised worker (``ultrasound_reader.dicom.fuzz.Worker``): a
subprocess with an address-space limit and a time limit that runs exactly what a
reader does — ``open_cine``, first and last frame, then ``inspect`` in-process
with its stderr captured at the file-descriptor level. A crash there fails the
test instead of killing pytest.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import DeflatedExplicitVRLittleEndian, JPEGBaseline8Bit

import ultrasound_reader
from ultrasound_reader import cli
from ultrasound_reader.dicom import open_cine
from ultrasound_reader.dicom.decode import decoding_plugins
from ultrasound_reader.dicom.fuzz import Worker
from ultrasound_reader.dicom.synth import speckle_frames, write_dicom
from ultrasound_reader.errors import MAX_MESSAGE_CHARS, UserError

CODE_ROOT = Path(ultrasound_reader.__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def worker():
    w = Worker(CODE_ROOT, mem_mib=2048, timeout=60)
    yield w
    w.close()


def _edit(src: Path, dst: Path, **values) -> Path:
    ds = pydicom.dcmread(src)
    for key, value in values.items():
        setattr(ds, key, value)
    ds.save_as(dst, enforce_file_format=False)
    return dst


def _refused_quietly(worker: Worker, path: Path, *words: str) -> dict:
    """The worker's answer for ``path``: refused with a UserError naming the words, inspect exit 1, one line."""
    result = worker.run(path)
    assert result["outcome"] == "refused", result
    detail = result["detail"]
    assert str(path) in detail
    for word in words:
        assert word in detail, detail
    assert result["inspect_rc"] == 1, result
    assert result["stderr_lines"] == 1 and not result["stderr_ctrl"], result  # inspect's one line
    return result


@pytest.fixture(scope="module")
def jpeg_cine(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hard")
    return write_dicom(folder / "jpeg.dcm", speckle_frames(3, 32, 48, color=True, seed=11),
                       transfer_syntax=JPEGBaseline8Bit, frame_time_ms=33.3)


# -- 1. header vs codestream: never to a decoder that can abort ------------------
@pytest.mark.parametrize("change, words", [
    ({"BitsStored": 7, "HighBit": 6}, ["BitsStored 7", "8-bit JPEG"]),
    ({"BitsAllocated": 32}, ["BitsAllocated 32", "8-bit"]),
])
def test_jpeg_header_disagreeing_with_codestream_is_refused(worker, jpeg_cine, tmp_path, change, words):
    path = _edit(jpeg_cine, tmp_path / "bad.dcm", **change)
    _refused_quietly(worker, path, "frame 0", *words)


@pytest.mark.parametrize("change, words", [
    ({"SamplesPerPixel": 1, "PhotometricInterpretation": "MONOCHROME2"}, ["3 component(s)", "SamplesPerPixel 1"]),
    ({"PhotometricInterpretation": "CMYK"}, ["CMYK", "not supported"]),
])
def test_j2k_header_disagreeing_with_codestream_is_refused(worker, dicom_samples, tmp_path, change, words):
    path = _edit(dicom_samples / "examples_jpeg2k.dcm", tmp_path / "bad.dcm", **change)
    _refused_quietly(worker, path, *words)


def test_gdcm_is_only_a_last_resort():
    class Fake:
        available_plugins = ("gdcm", "pillow", "pylibjpeg")

    assert decoding_plugins(Fake()) == ["pylibjpeg", "pillow"]
    Fake.available_plugins = ("gdcm",)
    assert decoding_plugins(Fake()) == ["gdcm"]
    assert "gdcm" not in decoding_plugins(pydicom.pixels.get_decoder(JPEGBaseline8Bit))


# -- 2. NumberOfFrames against the pixel data -------------------------------------
def test_huge_number_of_frames_is_refused_at_open(worker, jpeg_cine, tmp_path):
    path = _edit(jpeg_cine, tmp_path / "frames.dcm", NumberOfFrames=2**31)
    result = _refused_quietly(worker, path, "NumberOfFrames 2147483648", "more than the pixel data can hold")
    assert "hang" not in result["outcome"]


def test_constant_frame_rate_builds_no_per_frame_table(jpeg_cine):
    with open_cine(jpeg_cine) as cine:
        assert cine.timing.frame_times_ms is None  # nothing sized by NumberOfFrames
        assert cine.frame_time_ms(2) == pytest.approx(66.6)


# -- 3. foreign exceptions become the project's error ------------------------------
def _patch(src: Path, dst: Path, old: bytes, new: bytes) -> Path:
    data = src.read_bytes()
    assert data.count(old) >= 1, old
    dst.write_bytes(data.replace(old, new, 1))
    return dst


@pytest.fixture(scope="module")
def native(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("native")
    return write_dicom(folder / "native.dcm", speckle_frames(2, 24, 32, color=False, seed=12))


def test_deflate_declared_on_plain_data(worker, native, tmp_path):
    ts = pydicom.dcmread(native).file_meta.TransferSyntaxUID
    new = str(DeflatedExplicitVRLittleEndian).encode()
    assert str(ts) != str(DeflatedExplicitVRLittleEndian)
    data = native.read_bytes()
    pos = data.index(b"\x02\x00\x10\x00UI")
    length = struct.unpack_from("<H", data, pos + 6)[0]
    patched = data[:pos + 6] + struct.pack("<H", len(new)) + new + data[pos + 8 + length:]
    gl = patched.index(b"\x02\x00\x00\x00UL")
    patched = patched[:gl + 8] + struct.pack("<L", struct.unpack_from("<L", patched, gl + 8)[0] + len(new) - length) \
        + patched[gl + 12:]
    path = tmp_path / "deflate.dcm"
    path.write_bytes(patched)
    _refused_quietly(worker, path, "deflated data is corrupt")


def test_unknown_vr_read_lazily(worker, native, tmp_path):
    path = _patch(native, tmp_path / "vr.dcm", b"\x08\x00\x30\x10LO", b"\x08\x00\x30\x10ZZ")  # StudyDescription
    _refused_quietly(worker, path, "unknown value representation")


def test_odd_length_us_value(worker, native, tmp_path):
    rows = struct.pack("<H", 24)
    path = _patch(native, tmp_path / "odd.dcm", b"\x28\x00\x10\x00US\x02\x00" + rows,
                  b"\x28\x00\x10\x00US\x03\x00" + rows + b"\x00")
    _refused_quietly(worker, path, "BytesLengthException")


def test_zero_length_jpeg_fragment(worker, jpeg_cine, tmp_path):
    ds = pydicom.dcmread(jpeg_cine)
    ds.NumberOfFrames = 1
    ds.PixelData = b"\xfe\xff\x00\xe0\x00\x00\x00\x00" * 2 + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    ds["PixelData"].is_undefined_length = True
    path = tmp_path / "empty.dcm"
    ds.save_as(path, enforce_file_format=False)
    _refused_quietly(worker, path, "frame 0", "empty")


def test_length_beyond_memory_is_refused(tmp_path, native):
    """A 4 GiB element length under a 2 GiB address-space limit: MemoryError -> UserError."""
    path = _patch(native, tmp_path / "huge.dcm", b"\x08\x00\x30\x10LO", b"\x08\x00\x30\x10UN\x00\x00")
    data = bytearray(path.read_bytes())
    pos = data.index(b"\x08\x00\x30\x10UN\x00\x00")
    struct.pack_into("<L", data, pos + 8, 0xFFFFFFF0)
    path.write_bytes(bytes(data))
    w = Worker(CODE_ROOT, mem_mib=1024, timeout=60)
    try:
        result = w.run(path)
    finally:
        w.close()
    assert result["outcome"] == "refused", result
    assert result["inspect_rc"] == 1 and result["stderr_lines"] == 1


# -- 4. messages: capped, sanitised; library warnings to the log --------------------
def test_runaway_value_is_capped_and_sanitised(worker, native, tmp_path):
    data = native.read_bytes()
    pos = data.index(b"\x02\x00\x10\x00UI")
    length = struct.unpack_from("<H", data, pos + 6)[0]
    value = (b"1.2.\x1b[31m\x07" + b"9" * 60000)[:60000]
    path = tmp_path / "long.dcm"
    path.write_bytes(data[:pos + 6] + struct.pack("<H", len(value)) + value + data[pos + 8 + length:])
    result = worker.run(path)
    assert result["outcome"] == "refused", result
    assert result["stderr_lines"] == 1 and not result["stderr_ctrl"]
    assert result["stderr_chars"] < MAX_MESSAGE_CHARS + 100
    with pytest.raises(UserError) as info:
        open_cine(path)
    assert len(str(info.value)) <= MAX_MESSAGE_CHARS and "\x1b" not in str(info.value)


def test_pydicom_warnings_stay_off_the_terminal(worker, native, tmp_path):
    # An invalid UI value: pydicom warns (and logs) about it; the file itself is fine.
    path = _edit(native, tmp_path / "warn.dcm", SeriesInstanceUID="1.2.x.3!")
    result = worker.run(path)
    assert result["outcome"] == "opened", result
    assert result["inspect_rc"] == 0 and result["stderr_chars"] == 0, result


def test_pydicom_warnings_still_reach_the_debug_log(native, tmp_path, caplog):
    path = _edit(native, tmp_path / "warn.dcm", SeriesInstanceUID="1.2.x.3!")
    with caplog.at_level("DEBUG"):
        open_cine(path).close()
    assert any("Invalid value for VR UI" in r.getMessage() and r.levelname == "DEBUG" for r in caplog.records)


# -- 5. decoder chosen up front: no fall-through noise --------------------------------
def test_12bit_jpeg_extended_and_fragmented_jpeg_decode_quietly(worker, tmp_path):
    g16 = (speckle_frames(2, 32, 48, color=False, seed=13).astype(np.uint16) * 16)
    native16 = write_dicom(tmp_path / "g12.dcm", g16, bits_stored=12)
    ext = tmp_path / "g12_ext.dcm"
    subprocess.run(["dcmcjpeg", "+ee", str(native16), str(ext)], check=True)
    frag = write_dicom(tmp_path / "frag.dcm", speckle_frames(2, 32, 48, color=True, seed=14),
                       transfer_syntax=JPEGBaseline8Bit, offset_table="none", fragments_per_frame=3)
    for path in (ext, frag):
        result = worker.run(path)
        assert result["outcome"] == "opened", result
        assert result["stderr_chars"] == 0, result["stderr_head"]
    ref = pydicom.dcmread(ext).pixel_array
    with open_cine(ext) as cine:
        img = cine.frame(1)
    expected = np.clip(np.rint(ref[1] * 255.0 / 4095), 0, 255)
    assert np.abs(img.astype(int) - expected).max() <= 1


# -- 6. Modality LUT and VOI at 8 bits ------------------------------------------------
def _gray8(tmp_path: Path, name: str, **extra) -> tuple[Path, np.ndarray]:
    frames = speckle_frames(1, 24, 32, color=False, seed=15)
    return write_dicom(tmp_path / f"{name}.dcm", frames, extra=extra), frames[0].astype(float)


def test_8bit_rescale_and_window_are_applied(tmp_path):
    path, v = _gray8(tmp_path, "win", RescaleSlope="2", RescaleIntercept="-10",
                     WindowCenter="150", WindowWidth="200")
    with open_cine(path) as cine:
        img = cine.frame(0)
        assert "VOI window C=150 W=200" in cine.metadata["display"]
        assert "rescale" in cine.metadata["display"]
    x = v * 2 - 10
    expected = np.clip(np.rint(((x - 149.5) / 199 + 0.5) * 255), 0, 255)  # PS3.3 C.11.2.1.2.1
    assert np.array_equal(img, expected.astype(np.uint8))
    assert not np.array_equal(img, v.astype(np.uint8))


def test_8bit_voi_lut_sequence_and_sigmoid(tmp_path):
    item = Dataset()
    item.LUTDescriptor = [256, 0, 8]
    item.add_new(0x00283006, "US", [255 - i for i in range(256)])  # LUTData: an inverting LUT
    path, v = _gray8(tmp_path, "voilut", VOILUTSequence=Sequence([item]))
    with open_cine(path) as cine:
        assert np.array_equal(cine.frame(0), (255 - v).astype(np.uint8))
        assert cine.metadata["display"] == "VOI LUT"
    path, v = _gray8(tmp_path, "sigmoid", WindowCenter="128", WindowWidth="64", VOILUTFunction="SIGMOID")
    with open_cine(path) as cine:
        expected = np.rint(255 / (1 + np.exp(-4 * (v - 128) / 64)))
        assert np.abs(cine.frame(0).astype(int) - expected).max() <= 1


def test_8bit_without_luts_stays_as_stored(tmp_path):
    path, v = _gray8(tmp_path, "plain")
    with open_cine(path) as cine:
        assert np.array_equal(cine.frame(0), v.astype(np.uint8))
        assert cine.metadata["display"] == "as stored"


def test_non_finite_rescale_is_refused(tmp_path):
    path, _ = _gray8(tmp_path, "nan", RescaleSlope="NaN")
    with pytest.raises(UserError, match="RescaleSlope"):
        open_cine(path)


# -- 7. big-endian PALETTE COLOR ------------------------------------------------------
def test_big_endian_palette_matches_dcmtk(dicom_samples, tmp_path, capsys):
    src = dicom_samples / "examples_palette.dcm"
    be = tmp_path / "palette_be.dcm"
    subprocess.run(["dcmconv", "+tb", str(src), str(be)], check=True)
    assert pydicom.dcmread(be).file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRBigEndian
    ref_png = tmp_path / "dcmtk.png"
    subprocess.run(["dcm2pnm", "--write-png", str(be), str(ref_png)], check=True)
    ref = cv2.cvtColor(cv2.imread(str(ref_png)), cv2.COLOR_BGR2RGB)
    assert ref.mean() > 10  # dcmtk's rendering is not black
    with open_cine(be) as cine:
        ours = cine.frame(0)
    assert np.array_equal(ours, ref)
    out = tmp_path / "inspect.png"
    assert cli.main(["inspect", str(be), "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["written"]["frame"] == 0
    assert np.array_equal(cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB), ref)


def test_dcmtk_tools_are_installed():
    for tool in ("dcmconv", "dcm2pnm", "dcmcjpeg"):
        assert shutil.which(tool), f"{tool} (Debian package dcmtk) is needed by these tests"


def test_deflate_bomb_is_refused_before_inflating(native, tmp_path, monkeypatch):
    """A deflated dataset that inflates beyond the cap is refused by a streaming count."""
    import zlib

    from ultrasound_reader.dicom import header

    data = native.read_bytes()
    glen = struct.unpack_from("<L", data, 140)[0]
    pos = data.index(b"\x02\x00\x10\x00UI")
    length = struct.unpack_from("<H", data, pos + 6)[0]
    uid = str(DeflatedExplicitVRLittleEndian).encode()
    meta = data[132:pos + 6] + struct.pack("<H", len(uid)) + uid + data[pos + 8 + length:144 + glen]
    meta = meta[:8] + struct.pack("<L", len(meta) - 12) + meta[12:]
    body = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    bomb = body.compress(b"\x00" * (8 << 20)) + body.flush()  # 8 MiB of zeros in a few KiB
    path = tmp_path / "bomb.dcm"
    path.write_bytes(data[:132] + meta + bomb)
    assert path.stat().st_size < 64 << 10
    monkeypatch.setattr(header, "MAX_INFLATED_BYTES", 4 << 20)
    with pytest.raises(UserError, match="inflates to more than 4 MiB"):
        open_cine(path)
