"""Read the few header fields of a compressed frame, and check them against the DICOM header.

A codec given a header that disagrees with its codestream (8-bit JPEG declared
as 7 or 32 bits, a 3-component JPEG 2000 declared as one sample) may not fail
politely: GDCM's codecs abort the interpreter on such files. So before any
decoder sees a frame, we parse the frame's own description — JPEG/JPEG-LS SOF,
JPEG 2000 SIZ, RLE header — with plain byte reads (a few dozen bytes, no
decoding) and refuse the frame when it does not match Rows, Columns,
SamplesPerPixel and the bit depth the header declares.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pydicom.uid import (
    UID,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    RLELossless,
)

# JPEG start-of-frame markers (0xC0..0xCF except DHT 0xC4, JPG 0xC8, DAC 0xCC) and JPEG-LS SOF55.
_SOF = {m for m in range(0xC0, 0xD0) if m not in (0xC4, 0xC8, 0xCC)} | {0xF7}
_STANDALONE = {0x01, *range(0xD0, 0xD9)}  # TEM, RSTn, SOI: no length field
_MAX_MARKERS = 2000
_LOSSY_JPEG = {JPEGBaseline8Bit, JPEGExtended12Bit}


@dataclass(frozen=True)
class FrameInfo:
    """What a codestream says about its image."""

    codec: str
    rows: int
    columns: int
    components: int
    precision: int  # bits per sample (the largest, for JPEG 2000)


class CodestreamError(ValueError):
    """The frame's codestream cannot be parsed (message: the reason)."""


def jpeg_info(data: bytes) -> FrameInfo:
    """SOF fields of a JPEG (ISO 10918) or JPEG-LS (ISO 14495) codestream."""
    if not data.startswith(b"\xff\xd8"):
        raise CodestreamError("the frame does not start with a JPEG SOI marker")
    pos, n = 2, len(data)
    for _ in range(_MAX_MARKERS):
        if pos + 2 > n:
            break
        if data[pos] != 0xFF:
            raise CodestreamError(f"no JPEG marker at byte {pos} before the frame header")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _STANDALONE:
            pos += 2
            continue
        if pos + 4 > n:
            break
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if length < 2:
            raise CodestreamError(f"JPEG marker segment 0xFF{marker:02X} has length {length}")
        if marker in _SOF:
            if pos + 10 > n or length < 8:
                raise CodestreamError("the JPEG frame header is truncated")
            precision = data[pos + 4]
            rows, columns = struct.unpack_from(">HH", data, pos + 5)
            components = data[pos + 9]
            return FrameInfo("JPEG-LS" if marker == 0xF7 else "JPEG", rows, columns, components, precision)
        if marker in (0xDA, 0xD9):  # scan or end of image before any frame header
            raise CodestreamError("the JPEG codestream has no frame header (SOF)")
        pos += 2 + length
    raise CodestreamError("the JPEG codestream has no frame header (SOF) in its first markers")


def j2k_info(data: bytes) -> FrameInfo:
    """SIZ fields of a JPEG 2000 codestream (raw, or inside a JP2 file)."""
    pos = 0 if data.startswith(b"\xff\x4f\xff\x51") else data.find(b"\xff\x4f\xff\x51", 0, 1 << 16)
    if pos < 0:
        raise CodestreamError("the frame has no JPEG 2000 SOC/SIZ markers")
    if pos + 40 > len(data):
        raise CodestreamError("the JPEG 2000 SIZ segment is truncated")
    (lsiz,) = struct.unpack_from(">H", data, pos + 4)
    x, y, x0, y0 = struct.unpack_from(">LLLL", data, pos + 8)
    (csiz,) = struct.unpack_from(">H", data, pos + 40)
    if csiz == 0 or pos + 42 + 3 * csiz > len(data) or lsiz != 38 + 3 * csiz:
        raise CodestreamError(f"the JPEG 2000 SIZ segment is malformed ({csiz} components, length {lsiz})")
    precision = max((data[pos + 42 + 3 * k] & 0x7F) + 1 for k in range(csiz))
    for k in range(csiz):
        if data[pos + 43 + 3 * k] != 1 or data[pos + 44 + 3 * k] != 1:
            raise CodestreamError("JPEG 2000 component subsampling is not supported")
    if x <= x0 or y <= y0:
        raise CodestreamError(f"the JPEG 2000 image area is empty ({x}x{y} from {x0},{y0})")
    return FrameInfo("JPEG 2000", y - y0, x - x0, csiz, precision)


def rle_segments(data: bytes) -> int:
    """Number of segments an RLE frame header declares (PS3.5 G.5)."""
    if len(data) < 64:
        raise CodestreamError(f"the RLE frame is {len(data)} bytes, shorter than its 64-byte header")
    count = struct.unpack_from("<L", data)[0]
    offsets = struct.unpack_from("<15L", data, 4)[:min(count, 15)]
    if count > 15 or any(o < 64 or o >= len(data) for o in offsets) or list(offsets) != sorted(offsets):
        raise CodestreamError(f"the RLE frame header is malformed ({count} segments)")
    return count


def frame_info(ts: UID, data: bytes) -> FrameInfo | None:
    """The codestream's own description of one frame; None for RLE and native data."""
    if not data:
        raise CodestreamError("the frame is empty (zero-length fragment)")
    name = ts.name
    if "JPEG 2000" in name:
        return j2k_info(data)
    if name.startswith("JPEG"):
        return jpeg_info(data)
    return None


def check_frame(ts: UID, data: bytes, *, rows: int, columns: int, samples: int,
                bits_allocated: int, bits_stored: int) -> None:
    """Raise CodestreamError unless the frame's codestream matches the DICOM header."""
    if ts == RLELossless:
        expected = samples * bits_allocated // 8
        count = rle_segments(data)
        if count != expected:
            raise CodestreamError(f"the RLE frame has {count} segments, the header's "
                                  f"{samples} sample(s) at {bits_allocated} bits need {expected}")
        return
    info = frame_info(ts, data)
    if info is None:
        return
    if info.columns != columns or (info.rows not in (0, rows)):  # JPEG may give 0 rows (DNL)
        raise CodestreamError(f"the {info.codec} codestream is {info.columns}x{info.rows}, "
                              f"the header says {columns}x{rows}")
    if info.components != samples:
        raise CodestreamError(f"the {info.codec} codestream has {info.components} component(s), "
                              f"the header says SamplesPerPixel {samples}")
    if not 1 <= info.precision <= 16:
        raise CodestreamError(f"the {info.codec} codestream has {info.precision}-bit samples")
    if bits_allocated > 16 or info.precision > bits_allocated:
        raise CodestreamError(f"BitsAllocated {bits_allocated} does not fit the {info.precision}-bit "
                              f"samples of the {info.codec} codestream")
    if ts in _LOSSY_JPEG and bits_stored != info.precision:
        raise CodestreamError(f"BitsStored {bits_stored} does not match the {info.precision}-bit "
                              f"{info.codec} codestream")
