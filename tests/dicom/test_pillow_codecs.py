"""The reading path's image codecs (Pillow) give the pixels OpenCV gave before (OpenCV as oracle).

The reading path no longer imports OpenCV (the frozen application leaves it out); these
tests keep it as the reference: every JPEG frame of the real samples and of the demo
cases, synthetic gray / YBR_FULL files, and PNG/JPEG stills in every colour layout.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.encaps import generate_frames
from pydicom.uid import JPEGBaseline8Bit

from ultrasound_reader.dicom import open_cine
from ultrasound_reader.dicom.decode import decode_jpeg_frame
from ultrasound_reader.errors import UserError
from ultrasound_reader.paths import resources_dir


def _jpeg_dicoms(dicom_samples: Path) -> list[Path]:
    demo = sorted((resources_dir() / "demo").glob("*/*/*.dcm"))
    assert demo, "the demo cases are missing"
    return [dicom_samples / "examples_ybr_color.dcm", *demo]


def _cv2_frame(data: bytes, samples: int) -> np.ndarray:
    flag = cv2.IMREAD_COLOR if samples == 3 else cv2.IMREAD_GRAYSCALE
    img = cv2.imdecode(np.frombuffer(data, np.uint8), flag | cv2.IMREAD_IGNORE_ORIENTATION)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if samples == 3 else img


def test_every_jpeg_frame_of_samples_and_demo_matches_opencv(dicom_samples):
    count = 0
    for path in _jpeg_dicoms(dicom_samples):
        ds = pydicom.dcmread(path)
        assert ds.file_meta.TransferSyntaxUID == JPEGBaseline8Bit
        n = int(ds.get("NumberOfFrames", 1) or 1)
        samples = int(ds.SamplesPerPixel)
        with open_cine(path) as cine:
            for i, data in enumerate(generate_frames(ds.PixelData, number_of_frames=n)):
                ours = cine.frame(i)
                ref = _cv2_frame(data, samples)
                assert ours.shape == ref.shape and np.array_equal(ours, ref), f"{path.name} frame {i}"
                count += 1
    assert count >= 40


@pytest.mark.parametrize("photometric", ["YBR_FULL_422", "YBR_FULL", "MONOCHROME2", "MONOCHROME1"])
def test_synthetic_jpeg_matches_opencv(make, gray, color, photometric):
    frames = gray if photometric.startswith("MONO") else color
    path = make(f"jpeg_{photometric}", frames, transfer_syntax=JPEGBaseline8Bit, photometric=photometric)
    ds = pydicom.dcmread(path)
    samples = int(ds.SamplesPerPixel)
    with open_cine(path) as cine:
        for i, data in enumerate(generate_frames(ds.PixelData, number_of_frames=len(frames))):
            ref = _cv2_frame(data, samples)
            stored = decode_jpeg_frame(data, samples, *ref.shape[:2])
            assert stored is not None and np.array_equal(stored, ref)
            shown = cine.frame(i)
            assert np.array_equal(shown, 255 - ref if photometric == "MONOCHROME1" else ref)


def test_jpeg_frame_of_the_wrong_layout_or_corrupt_is_left_to_pydicom(color):
    ok, buf = cv2.imencode(".jpg", color[0])
    data = buf.tobytes()
    assert decode_jpeg_frame(data, 3, *color.shape[1:3]) is not None
    assert decode_jpeg_frame(data, 1, *color.shape[1:3]) is None          # 3 components, gray expected
    assert decode_jpeg_frame(data, 3, color.shape[1] + 1, color.shape[2]) is None  # other size
    assert decode_jpeg_frame(data[: len(data) // 2], 3, *color.shape[1:3]) is None  # truncated
    assert decode_jpeg_frame(b"\xff\xd8\xff\xe0garbage" + bytes(64), 3, 4, 4) is None


# -- PNG / JPEG stills ---------------------------------------------------------------------------

def _cv2_still(path: Path) -> np.ndarray:
    """What the reading path gave with OpenCV (imdecode UNCHANGED, then to gray / RGB)."""
    img = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB if img.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    return img


def _stills(folder: Path) -> dict[str, Path]:
    rng = np.random.default_rng(7)
    h, w = 37, 53
    g = rng.integers(0, 256, (h, w), dtype=np.uint8)
    a = rng.integers(0, 256, (h, w), dtype=np.uint8)
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    g16 = rng.integers(0, 65536, (h, w), dtype=np.uint16)
    rgb16 = rng.integers(0, 65536, (h, w, 3), dtype=np.uint16)
    rgba16 = rng.integers(0, 65536, (h, w, 4), dtype=np.uint16)
    out: dict[str, Path] = {}

    def pil(name: str, im: Image.Image, fmt: str = "PNG", **kw) -> None:
        out[name] = folder / f"{name}.{'png' if fmt == 'PNG' else 'jpg'}"
        im.save(out[name], fmt, **kw)

    def ocv(name: str, arr: np.ndarray, ext: str = "png") -> None:
        out[name] = folder / f"{name}.{ext}"
        assert cv2.imwrite(str(out[name]), arr)

    ocv("gray8", g)
    ocv("gray16", g16)
    ocv("bgr8", rgb)
    ocv("bgr16", rgb16)
    ocv("bgra8", np.dstack([rgb, a]))
    ocv("bgra16", rgba16)
    pil("bilevel", Image.fromarray(g > 128).convert("1"))
    pil("gray4bit", Image.fromarray(g), bits=4)
    pil("gray_alpha", Image.fromarray(np.dstack([g, a]), "LA"))
    pil("gray_trns", Image.fromarray(g), transparency=5)
    pil("rgb_trns", Image.fromarray(rgb), transparency=(1, 2, 3))
    pil("palette", Image.fromarray(rgb).convert("P"))
    pil("palette_trns", Image.fromarray(rgb).convert("P"), transparency=3)
    pil("palette_trns_table", Image.fromarray(rgb).convert("P"), transparency=bytes([0, 128, 255, 7]))
    pil("palette4bit", Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=16), bits=4)
    ocv("jpeg_gray", g, "jpg")
    ocv("jpeg_rgb", rgb, "jpg")
    pil("jpeg_cmyk", Image.fromarray(np.dstack([rgb, a])).convert("CMYK"), "JPEG")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: OpenCV's UNCHANGED ignored it, so do we
    pil("jpeg_exif_rotated", Image.fromarray(rgb), "JPEG", exif=exif)
    return out


def test_png_and_jpeg_stills_match_opencv_in_every_layout(tmp_path):
    stills = _stills(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name, path in stills.items():
            ref = _cv2_still(path)
            with open_cine(path) as cine:
                ours = cine.frame(0)
                assert ours.dtype == np.uint8 and ours.shape == ref.shape, name
                assert np.array_equal(ours, ref), name
                assert cine.is_color == (ref.ndim == 3), name


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(width: int, height: int, extra: bytes = b"", colour_type: int = 2) -> bytes:
    import struct
    import zlib

    ihdr = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0))
    channels = {0: 1, 2: 3, 6: 4}[colour_type]
    rows = b"".join(b"\x00" + bytes(width * channels) for _ in range(min(height, 4)))
    return b"\x89PNG\r\n\x1a\n" + ihdr + extra + _png_chunk(b"IDAT", zlib.compress(rows)) + _png_chunk(b"IEND", b"")


def test_huge_still_refused_from_its_header_before_decoding(tmp_path, monkeypatch):
    from PIL import ImageFile

    path = tmp_path / "huge.png"
    path.write_bytes(_png(60000, 60000, colour_type=6))  # 13 GiB of RGBA, from a file of ~200 bytes
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("decoded before the size check"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UserError, match=r"huge\.png: the 60000x60000 image would take 13\.4 GiB"):
            open_cine(path)


def test_still_over_pillows_bomb_threshold_but_within_ours_opens_quietly(tmp_path, monkeypatch):
    from PIL import Image as PILImage

    path = tmp_path / "wide.png"
    cv2.imwrite(str(path), np.full((40, 60), 7, np.uint8))
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 100)  # Image.open would raise: 2400 px > 2 x 100
    with pytest.raises(PILImage.DecompressionBombError):
        PILImage.open(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with open_cine(path) as cine:
            assert cine.frame(0).shape == (40, 60) and int(cine.frame(0).max()) == 7


def test_still_with_a_large_compressed_text_chunk_opens(tmp_path):
    # Metadata the app never reads (a big compressed XMP, say) must not make a valid PNG "corrupt".
    import zlib

    text = _png_chunk(b"zTXt", b"XML:com.adobe.xmp\x00\x00" + zlib.compress(b" " * (2 << 20)))
    path = tmp_path / "big_text.png"
    path.write_bytes(_png(16, 4, extra=text))
    ref = _cv2_still(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with open_cine(path) as cine:
            assert np.array_equal(cine.frame(0), ref)


@pytest.mark.parametrize("damage", ["truncated", "bad_crc", "not_an_image", "invalid_apng"])
def test_corrupt_still_is_one_user_error_naming_the_file_without_warnings(tmp_path, damage):
    good = _png(16, 8)
    data = {
        "truncated": good[:40],
        "bad_crc": good[:-20] + bytes(20),
        "not_an_image": b"\x89PNG\r\n\x1a\n" + b"garbage" * 10,
        "invalid_apng": _png(16, 8, extra=_png_chunk(b"acTL", bytes(8))),  # 0 frames: Pillow warns
    }[damage]
    path = tmp_path / f"{damage}.png"
    path.write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if damage == "invalid_apng":  # Pillow shows the default image: so do we, quietly
            with open_cine(path) as cine:
                assert cine.frame(0).shape == (8, 16, 3)
            return
        with pytest.raises(UserError, match=rf"{damage}\.png: cannot decode the image"):
            open_cine(path)


# -- JPEG encoding (synthetic files, phantom cases) ------------------------------------------------

@pytest.mark.parametrize("quality", [60, 90, 97])
def test_jpeg_frame_bytes_equal_opencvs_422_encoder(color, gray, quality):
    from ultrasound_reader.dicom.writing import jpeg_frame

    params = [cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
              cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422]
    for frame in (color[0], gray[0], np.ascontiguousarray(color[1][5:, 3:])):
        img = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR) if frame.ndim == 3 else frame
        ok, ref = cv2.imencode(".jpg", img, params)
        assert ok and jpeg_frame(frame, quality) == ref.tobytes()
    ours = jpeg_frame(color[0], quality)
    sof = ours.index(b"\xff\xc0")
    assert ours[sof + 11: sof + 12] == b"\x21"  # luma sampled 2x1: 4:2:2


def test_write_png_round_trips_through_opencv_and_refuses_an_unwritable_path(tmp_path, color, gray):
    from ultrasound_reader.dicom.still import write_png

    for name, img in (("rgb", color[0]), ("gray", gray[0])):
        write_png(tmp_path / f"{name}.png", img)
        back = cv2.imread(str(tmp_path / f"{name}.png"), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(cv2.cvtColor(back, cv2.COLOR_BGR2RGB) if img.ndim == 3 else back, img)
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(UserError, match=r"folder\.png: cannot write the PNG"):
        write_png(tmp_path / "folder.png", gray[0])
