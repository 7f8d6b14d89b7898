"""Read a DICOM file's header and find its pixel data without reading the pixels.

Opening a 300-frame cine must cost a header parse, not a pixel read: pydicom stops
before (7FE0,0010) and we note where the pixel value starts, how long it is, and
whether it is encapsulated. Everything the decoder needs later is in
:class:`PixelLayout`; the header dataset itself is kept for metadata and
calibration.
"""

from __future__ import annotations

import itertools
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from ultrasound_reader.dicom.guard import quiet_pydicom, quote, untrusted
from ultrasound_reader.errors import UserError

# SOP classes that hold no image (reports, presentation states, waveforms, key objects).
_NON_IMAGE_PREFIXES = ("1.2.840.10008.5.1.4.1.1.88.", "1.2.840.10008.5.1.4.1.1.11.",
                       "1.2.840.10008.5.1.4.1.1.9.", "1.2.840.10008.5.1.4.1.1.104.")
_PIXEL_DATA_TAG = (0x7FE0, 0x0010)
_OTHER_PIXEL_TAGS = {(0x7FE0, 0x0008): "Float Pixel Data", (0x7FE0, 0x0009): "Double Float Pixel Data"}
UNDEFINED_LENGTH = 0xFFFFFFFF


@dataclass(frozen=True)
class PixelLayout:
    """Where the pixel data lives and how it is encoded.

    ``value_offset`` is the file offset of the first byte of the pixel data value
    (for encapsulated data: the Basic Offset Table item tag). ``value_length`` is
    None when encapsulated (undefined length). ``in_memory`` holds the value
    itself for files that cannot be seeked into (deflated transfer syntax).
    """

    transfer_syntax: UID
    value_offset: int
    value_length: int | None
    file_size: int
    in_memory: bytes | None = None
    vr: str | None = None  # the pixel data element's VR when the file states it (explicit VR)

    @property
    def encapsulated(self) -> bool:
        return self.value_length is None


def sniff(path: Path) -> str:
    """'dicom', 'png', 'jpeg' or 'unknown', from the first bytes of the file."""
    with open(path, "rb") as f:
        head = f.read(132)
    if len(head) == 132 and head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    # A DICOM dataset without preamble starts with a group 0002 or 0008 tag.
    if head[:2] in (b"\x02\x00", b"\x08\x00") and len(head) >= 8:
        return "dicom"
    return "unknown"


def read_header(path: Path) -> tuple[Dataset, PixelLayout]:
    """Parse the header of ``path`` and locate its pixel data.

    Raises UserError naming the file for anything that is not an image we can
    decode: not DICOM, truncated header, a report or other non-image object, no
    pixel data, float pixel data.
    """
    path = Path(path)
    try:
        file_size = path.stat().st_size
    except OSError as exc:
        raise UserError(f"{path}: cannot read file ({exc.strerror or exc})") from None
    if path.is_dir():
        raise UserError(f"{path}: is a folder, not a file")
    kind = sniff(path)
    if kind != "dicom":
        raise UserError(f"{path}: not a DICOM file (no 'DICM' marker)")
    quiet_pydicom()
    with untrusted(path, "read the DICOM header"):
        _check_deflated_size(path)  # pydicom inflates the whole dataset to read even the header
    with untrusted(path, "read the DICOM header"):  # zlib.error, BytesLengthException, ...
        try:
            with open(path, "rb") as f:
                ds = pydicom.dcmread(f, stop_before_pixels=True, force=True)
                pixel_pos = f.tell()
                tag_bytes = f.read(12)
        except InvalidDicomError as exc:
            raise UserError(f"{path}: not a valid DICOM file ({quote(exc, 160)})") from None
        except (EOFError, struct.error, OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise UserError(f"{path}: truncated or corrupt DICOM header ({type(exc).__name__})") from None
    # pydicom converts elements lazily and raises for a bad one when it is first read,
    # anywhere; read them all now, so that a malformed header fails here, once.
    with untrusted(path, "read the DICOM header"):
        for elem in itertools.chain(getattr(ds, "file_meta", Dataset()).iterall(), ds.iterall()):
            pass

    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    if not ts:
        # Files without File Meta are implicit VR little endian by the old standard.
        ts = ImplicitVRLittleEndian
    ts = UID(str(ts))
    if not ts.is_transfer_syntax:
        raise UserError(f"{path}: unknown transfer syntax {quote(ts)}")

    sop = str(ds.get("SOPClassUID", ""))
    modality = str(ds.get("Modality", ""))
    if sop.startswith(_NON_IMAGE_PREFIXES) or modality in ("SR", "PR", "KO"):
        what = UID(sop).name if sop else modality
        raise UserError(f"{path}: is a {what} (no image to show)")

    if ts == DeflatedExplicitVRLittleEndian:
        # Deflated data cannot be seeked into: inflate once (these files are rare and small).
        full = _read_full(path)
        if "PixelData" not in full:
            raise UserError(f"{path}: has no pixel data (not an image)")
        data = bytes(full.PixelData)
        return ds, PixelLayout(ts, 0, len(data), len(data), in_memory=data)

    if len(tag_bytes) < 8:
        # pydicom stops silently at the end of a cut file, so say what the header suggests.
        if len(ds) == 0:
            raise UserError(f"{path}: DICOM header is truncated or empty (no data elements after the file meta)")
        if "Rows" in ds and "Columns" in ds:
            raise UserError(f"{path}: has image attributes but no pixel data (the file is truncated "
                            "or holds no image)")
        raise UserError(f"{path}: has no pixel data (not an image)")
    endian = "<" if ts.is_little_endian else ">"
    group, elem = struct.unpack(endian + "HH", tag_bytes[:4])
    if (group, elem) in _OTHER_PIXEL_TAGS:
        raise UserError(f"{path}: holds {_OTHER_PIXEL_TAGS[(group, elem)]}, which is not supported")
    if (group, elem) != _PIXEL_DATA_TAG:
        raise UserError(f"{path}: has no pixel data (not an image)")
    vr: str | None = None
    if ts.is_implicit_VR:
        (length,) = struct.unpack(endian + "L", tag_bytes[4:8])
        value_offset = pixel_pos + 8
    else:
        vr = tag_bytes[4:6].decode("latin-1")
        if vr not in ("OB", "OW"):
            vr = None
        if tag_bytes[4:6] in (b"OB", b"OW", b"UN", b"OV", b"OL", b"OD", b"OF", b"UT", b"SQ", b"UC", b"UR"):
            if len(tag_bytes) < 12:
                raise UserError(f"{path}: truncated at the pixel data element")
            (length,) = struct.unpack(endian + "L", tag_bytes[8:12])
            value_offset = pixel_pos + 12
        else:  # malformed short-form VR for pixel data
            (length,) = struct.unpack(endian + "H", tag_bytes[6:8])
            value_offset = pixel_pos + 8
    if length == UNDEFINED_LENGTH:
        if not ts.is_encapsulated:
            raise UserError(f"{path}: pixel data has undefined length but transfer syntax "
                            f"{ts.name} is not compressed")
        return ds, PixelLayout(ts, value_offset, None, file_size, vr=vr)
    if ts.is_encapsulated:
        raise UserError(f"{path}: compressed transfer syntax {ts.name} but pixel data is not encapsulated")
    if value_offset + length > file_size:
        raise UserError(f"{path}: file is truncated: pixel data needs {length} bytes, "
                        f"only {max(0, file_size - value_offset)} present")
    return ds, PixelLayout(ts, value_offset, length, file_size, vr=vr)


# Largest dataset we agree to inflate from a deflated file (a small file can inflate to many GB).
MAX_INFLATED_BYTES = 1 << 30
_DEFLATED_UID = str(DeflatedExplicitVRLittleEndian).encode()


def _check_deflated_size(path: Path) -> None:
    """For a deflated file, count the inflated size in a streaming pass; refuse a zip bomb."""
    with open(path, "rb") as f:
        head = f.read(144)
        if len(head) < 144 or head[128:132] != b"DICM" or head[132:138] != b"\x02\x00\x00\x00UL":
            return  # no File Meta group length: pydicom copes or refuses; deflate needs the meta
        (group_length,) = struct.unpack_from("<L", head, 140)
        meta = f.read(min(group_length, 1 << 16))
        if _DEFLATED_UID not in meta:
            return
        f.seek(144 + group_length)
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        total = 0
        while not inflater.eof:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            while chunk:
                total += len(inflater.decompress(chunk, 1 << 24))
                if total > MAX_INFLATED_BYTES:
                    raise UserError(f"{path}: deflated data inflates to more than "
                                    f"{MAX_INFLATED_BYTES >> 20} MiB; refused")
                chunk = inflater.unconsumed_tail


def _read_full(path: Path) -> Dataset:
    with untrusted(path, "read the deflated DICOM data"):
        return pydicom.dcmread(path, force=True)


class FileReader:
    """Positional reads from a file, safe to call from several threads at once.

    ``os.pread`` needs no shared file position; where it is missing (Windows) a
    lock guards seek+read. We read frames with syscalls rather than mmap so that
    stepping through a big uncompressed cine does not grow resident memory by the
    pages touched.
    """

    def __init__(self, path: Path, data: bytes | None = None) -> None:
        self.path = Path(path)
        self._data = data
        self._fd: int | None = None
        self._lock = None
        if data is None:
            self._fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
            if not hasattr(os, "pread"):
                import threading

                self._lock = threading.Lock()

    def read(self, offset: int, size: int) -> bytes:
        if self._data is not None:
            return self._data[offset:offset + size]
        if self._fd is None:
            raise ValueError(f"{self.path}: file is closed")
        if self._lock is None:
            chunks = []
            while size > 0:
                chunk = os.pread(self._fd, size, offset)
                if not chunk:
                    break
                chunks.append(chunk)
                offset += len(chunk)
                size -= len(chunk)
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        with self._lock:
            os.lseek(self._fd, offset, os.SEEK_SET)
            return os.read(self._fd, size)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
