"""PNG and JPEG stills through Pillow: read one as a display array, write one as PNG.

Reading gives what OpenCV's ``imdecode(IMREAD_UNCHANGED)`` followed by the former
conversion to RGB gave (tests compare them): gray stays 2-D, 16-bit samples keep their
high byte, alpha is dropped (not composited), gray+alpha becomes RGB, a palette is
expanded to RGB, CMYK is converted as OpenCV does, EXIF orientation is ignored.

The file is untrusted: its size is checked from the header before any pixel is
decoded (the limit of a DICOM frame, :data:`~ultrasound_reader.dicom.decode.MAX_FRAME_BYTES`),
Pillow's remarks on malformed files go nowhere (the file is then decoded or refused
with one line), and its decompression-bomb check is not used (the plugin classes are
called directly), so it neither warns nor raises on a large image that fits the limit.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np

from ultrasound_reader.dicom.decode import MAX_FRAME_BYTES
from ultrasound_reader.errors import UserError

# Bytes per pixel of the decoded image (a palette or gray+alpha: of its RGB expansion).
_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 3, "LA": 3, "RGB": 3, "RGBA": 4, "CMYK": 4, "I;16": 2, "I;16B": 2,
                    "I;16L": 2, "I": 4}


def _cannot(path: Path) -> UserError:
    return UserError(f"{path}: cannot decode the image (corrupt or unsupported {path.suffix or 'file'})")


def decode_still(path: Path, data: bytes) -> np.ndarray:
    """A PNG/JPEG file's bytes as uint8 gray (H, W) or RGB (H, W, 3); UserError naming the file otherwise."""
    from PIL import JpegImagePlugin, PngImagePlugin

    # Pillow warns about some malformed files (a broken APNG animation) and goes on: not the user's business.
    warnings.filterwarnings("ignore", module=r"PIL\.(Png|Jpeg)ImagePlugin$")
    # Text chunks are never read here; Pillow's 1 MiB cap per chunk would refuse a valid file with big
    # compressed metadata (XMP), which OpenCV opened. Its cap on all text together (64 MiB) stays.
    PngImagePlugin.MAX_TEXT_CHUNK = max(PngImagePlugin.MAX_TEXT_CHUNK, PngImagePlugin.MAX_TEXT_MEMORY)
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        plugin: type = PngImagePlugin.PngImageFile
    elif data[:3] == b"\xff\xd8\xff":
        plugin = JpegImagePlugin.JpegImageFile
    else:
        raise _cannot(path)
    try:
        im = plugin(io.BytesIO(data))
    except MemoryError:
        raise
    except Exception:
        raise _cannot(path) from None
    with im:
        width, height = im.size
        per_pixel = _BYTES_PER_PIXEL.get(im.mode)
        if per_pixel is None:
            raise UserError(f"{path}: image mode {im.mode} is not supported")
        if width * height * per_pixel > MAX_FRAME_BYTES:
            raise UserError(f"{path}: the {width}x{height} image would take "
                            f"{width * height * per_pixel / 2**30:.1f} GiB decoded "
                            f"(more than {MAX_FRAME_BYTES >> 30} GiB)")
        try:
            im.load()
        except MemoryError:
            raise
        except Exception:
            raise _cannot(path) from None
        return _to_array(im)


def _to_array(im: object) -> np.ndarray:
    from PIL import Image

    assert isinstance(im, Image.Image)
    mode = im.mode
    if mode in ("L", "RGB"):
        arr = np.asarray(im)
    elif mode == "1":
        arr = np.asarray(im.convert("L"))  # 0 / 255, as libpng expands 1-bit gray
    elif mode == "P":
        # Through RGBA when the palette has transparency (the same RGB; straight to RGB Pillow warns).
        arr = np.asarray(im.convert("RGBA"))[:, :, :3] if "transparency" in im.info else np.asarray(im.convert("RGB"))
    elif mode == "RGBA":
        arr = np.asarray(im)[:, :, :3]
    elif mode == "LA":
        gray = np.asarray(im)[:, :, 0]
        arr = np.repeat(gray[:, :, None], 3, axis=2)
    elif mode == "CMYK":
        # Pillow inverts CMYK JPEGs (Adobe polarity); OpenCV converts libjpeg's raw values.
        raw = 255 - np.asarray(im).astype(np.int32)
        k = raw[:, :, 3:4]
        arr = (k - (((255 - raw[:, :, :3]) * k) >> 8)).astype(np.uint8)
    else:  # 16-bit (and 32-bit) gray: the high byte of 16-bit samples
        arr = (np.asarray(im).astype(np.uint32) >> 8).clip(0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr)


def write_png(path: str | Path, image: np.ndarray) -> None:
    """Save a uint8 gray (H, W) or RGB (H, W, 3) array as PNG; UserError naming the file if it cannot."""
    from PIL import Image

    path = Path(path)
    try:
        # zlib level 1, as OpenCV's default: 2.5x faster than Pillow's 6 here, files ~2 % larger
        Image.fromarray(np.ascontiguousarray(image)).save(path, format="PNG", compress_level=1)
    except OSError as exc:
        raise UserError(f"{path}: cannot write the PNG ({exc.strerror or exc})") from None
