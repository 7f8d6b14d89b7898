"""Decode one frame's bytes into a display-ready uint8 image.

Two steps, kept apart so tests can check each against pydicom:

1. :meth:`FrameDecoder.decode_stored` gives what ``pydicom``'s ``pixel_array`` gives
   for that frame (YBR converted to RGB as pydicom does, planar configuration
   resolved, byte order fixed). Fast paths avoid pydicom where the result is the
   same: 8-bit native data is a reshape of the bytes; 8-bit JPEG baseline in
   YBR_FULL_422 / YBR_FULL / MONOCHROME goes to OpenCV's libjpeg-turbo (tests
   compare it with pydicom's output). Everything else (JPEG-LS, JPEG 2000, RLE,
   JPEG lossless, 16-bit, native YBR) is decoded by pydicom one frame at a time.
2. :func:`to_display` maps stored values to uint8 gray or RGB — the documented
   display conversion:

   * 8-bit gray: as stored (ultrasound scanners write display values); MONOCHROME1
     is inverted (255 - v). Signed 8-bit is shifted by +128.
   * >8-bit gray: Modality LUT (RescaleSlope/Intercept), then the file's first VOI
     window (WindowCenter/Width, linear, PS3.3 C.11.2.1.2) if present; else the
     range SmallestImagePixelValue..LargestImagePixelValue if present; else the
     full range of BitsStored. MONOCHROME1 is inverted after windowing.
   * PALETTE COLOR: the file's palette LUTs (pydicom's ``apply_color_lut``); 16-bit
     LUT entries are shifted right by 8.
   * RGB with more than 8 bits stored: shifted right by (BitsStored - 8).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.pixels import as_pixel_options, get_decoder
from pydicom.uid import UID, JPEGBaseline8Bit, JPEGExtended12Bit

from ultrasound_reader.errors import UserError

_FAST_JPEG_PHOTOMETRICS = {"YBR_FULL_422", "YBR_FULL", "MONOCHROME1", "MONOCHROME2"}


def _cv2():
    import cv2

    return cv2


class FrameDecoder:
    """Turns one frame's bytes into an array, for one file's pixel description."""

    def __init__(self, path: Path, ds: Dataset, ts: UID) -> None:
        self.path = path
        self.ts = ts
        self.rows = int(ds.Rows)
        self.columns = int(ds.Columns)
        self.samples = int(ds.get("SamplesPerPixel", 1) or 1)
        self.bits_allocated = int(ds.get("BitsAllocated", 8) or 8)
        self.bits_stored = int(ds.get("BitsStored", self.bits_allocated) or self.bits_allocated)
        self.signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
        self.photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
        self.planar = int(ds.get("PlanarConfiguration", 0) or 0)
        if self.samples not in (1, 3):
            raise UserError(f"{path}: SamplesPerPixel {self.samples} is not supported (1 or 3 expected)")
        if self.bits_allocated not in (8, 16, 32):
            raise UserError(f"{path}: BitsAllocated {self.bits_allocated} is not supported")
        if self.rows <= 0 or self.columns <= 0:
            raise UserError(f"{path}: image size {self.rows}x{self.columns} is empty")
        try:
            self._decoder = get_decoder(ts)
        except NotImplementedError:
            raise UserError(f"{path}: transfer syntax {ts.name} ({ts}) is not supported") from None
        if ts.is_encapsulated and not self._decoder.is_available:
            missing = "; ".join(self._decoder.missing_dependencies) or "no decoder plugin"
            raise UserError(f"{path}: cannot decode transfer syntax {ts.name}: {missing}")
        self._opts: dict[str, Any] = as_pixel_options(ds)
        self._opts["number_of_frames"] = 1
        self._opts["transfer_syntax_uid"] = ts
        self._opts.pop("extended_offsets", None)
        self._opts["pixel_keyword"] = "PixelData"
        if not ts.is_encapsulated:
            self._opts["pixel_vr"] = "OB" if self.bits_allocated == 8 else "OW"
        self._fast_jpeg = (
            ts in (JPEGBaseline8Bit, JPEGExtended12Bit)
            and self.bits_allocated == 8 and self.bits_stored == 8 and not self.signed
            and self.photometric in _FAST_JPEG_PHOTOMETRICS
            and (self.samples == 3) == self.photometric.startswith("YBR")
        )
        self._fast_native = (
            not ts.is_encapsulated and self.bits_allocated == 8 and not self.signed
            and self.photometric in ("MONOCHROME1", "MONOCHROME2", "RGB", "PALETTE COLOR")
        )
        self.display = DisplayMap(ds, self)

    @property
    def native_frame_bytes(self) -> int:
        """Bytes per frame of uncompressed data (YBR_FULL_422 is subsampled: 2 bytes/pixel)."""
        pixels = self.rows * self.columns
        if self.photometric == "YBR_FULL_422" and self.samples == 3:
            return pixels * 2 * self.bits_allocated // 8
        return pixels * self.samples * self.bits_allocated // 8

    def decode_stored(self, data: bytes, index: int = 0) -> np.ndarray:
        """The frame as pydicom's pixel_array gives it (RGB for YBR data)."""
        if self._fast_native:
            arr = np.frombuffer(data, np.uint8)
            if self.samples == 1:
                return arr.reshape(self.rows, self.columns)
            if self.planar == 1:
                return np.ascontiguousarray(arr.reshape(3, self.rows, self.columns).transpose(1, 2, 0))
            return arr.reshape(self.rows, self.columns, 3)
        if self._fast_jpeg:
            cv2 = _cv2()
            flag = cv2.IMREAD_COLOR if self.samples == 3 else cv2.IMREAD_GRAYSCALE
            img = cv2.imdecode(np.frombuffer(data, np.uint8), flag | cv2.IMREAD_IGNORE_ORIENTATION)
            if img is not None and img.shape[:2] == (self.rows, self.columns):
                if self.samples == 3:
                    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
                return img
            # OpenCV refused (unusual markers, wrong size): let pydicom try.
        src = encapsulate([data]) if self.ts.is_encapsulated else data
        try:
            arr, _ = self._decoder.as_array(src, index=None, validate=True, **self._opts)
        except UserError:
            raise
        except Exception as exc:  # pydicom/plugins raise many kinds for corrupt data
            raise UserError(f"{self.path}: cannot decode frame {index} "
                            f"({self.ts.name}): {type(exc).__name__}: {exc}") from None
        return arr

    def decode(self, data: bytes, index: int = 0) -> np.ndarray:
        return to_display(self.decode_stored(data, index), self.display)


class DisplayMap:
    """Precomputed stored-value -> uint8 display mapping for one file (see module doc)."""

    def __init__(self, ds: Dataset, decoder: FrameDecoder) -> None:
        self.photometric = decoder.photometric
        self.samples = decoder.samples
        self.bits_stored = decoder.bits_stored
        self.signed = decoder.signed
        self.invert = self.photometric == "MONOCHROME1"
        self.description = "as stored"
        self._lut: np.ndarray | None = None  # indexed by stored value (+ offset if signed)
        self._lut_offset = 0
        self._palette: np.ndarray | None = None
        if self.photometric == "PALETTE COLOR":
            self._palette = _palette_table(ds, decoder)
            self.description = "palette colour LUT"
        elif self.samples == 1 and (decoder.bits_stored > 8 or decoder.bits_allocated > 8):
            self._build_gray_lut(ds, decoder)
        elif self.samples == 1 and self.signed:
            self.description = "signed 8-bit shifted by +128"
        if self.invert:
            self.description += ", MONOCHROME1 inverted"

    def _build_gray_lut(self, ds: Dataset, dec: FrameDecoder) -> None:
        bits = min(dec.bits_stored, 16) if dec.bits_allocated <= 16 else 16
        if self.signed:
            values = np.arange(-(1 << (bits - 1)), 1 << (bits - 1), dtype=np.float64)
            self._lut_offset = 1 << (bits - 1)
        else:
            values = np.arange(0, 1 << bits, dtype=np.float64)
        slope = float(ds.get("RescaleSlope", 1) or 1)
        intercept = float(ds.get("RescaleIntercept", 0) or 0)
        values = values * slope + intercept
        center, width = _first_window(ds)
        if center is not None and width is not None and width >= 1:
            # PS3.3 C.11.2.1.2.1 linear VOI function, output 0..255.
            if width == 1:
                out = np.where(values < center - 0.5, 0.0, 255.0)
            else:
                out = ((values - (center - 0.5)) / (width - 1) + 0.5) * 255.0
            self.description = f"VOI window C={center:g} W={width:g}"
        else:
            lo = ds.get("SmallestImagePixelValue")
            hi = ds.get("LargestImagePixelValue")
            if isinstance(lo, int) and isinstance(hi, int) and hi > lo:
                lo, hi = lo * slope + intercept, hi * slope + intercept
                self.description = f"range {lo:g}..{hi:g} (Smallest/LargestImagePixelValue)"
            else:
                lo, hi = values[0], values[-1]
                self.description = f"full {bits}-bit range {lo:g}..{hi:g}"
            out = (values - lo) / max(hi - lo, 1e-9) * 255.0
        self._lut = np.clip(np.rint(out), 0, 255).astype(np.uint8)

    def apply(self, arr: np.ndarray) -> np.ndarray:
        if self._palette is not None:
            idx = np.clip(arr.astype(np.intp, copy=False), 0, len(self._palette) - 1)
            return self._palette[idx]
        if self._lut is not None:
            idx = arr.astype(np.int64, copy=False) + self._lut_offset
            out = self._lut[np.clip(idx, 0, len(self._lut) - 1)]
        elif arr.dtype == np.uint8:
            out = arr
        elif arr.dtype == np.int8:
            out = (arr.astype(np.int16) + 128).astype(np.uint8)
        else:  # multi-sample data with more than 8 bits
            shift = max(self.bits_stored - 8, 0)
            out = np.clip(arr.astype(np.int64) >> shift, 0, 255).astype(np.uint8)
        if self.invert:
            out = 255 - out
        return out


def _first_window(ds: Dataset) -> tuple[float | None, float | None]:
    c, w = ds.get("WindowCenter"), ds.get("WindowWidth")
    if c is None or w is None:
        return None, None
    try:
        c = float(c[0] if not isinstance(c, (int, float)) else c)
        w = float(w[0] if not isinstance(w, (int, float)) else w)
    except (TypeError, ValueError, IndexError):
        return None, None
    return c, w


def _palette_table(ds: Dataset, dec: FrameDecoder) -> np.ndarray:
    """(N, 3) uint8 table indexed by stored value, from pydicom's own LUT handling."""
    from pydicom.pixels import apply_color_lut

    desc = ds.get("RedPaletteColorLookupTableDescriptor")
    if desc is None:
        raise UserError(f"{dec.path}: PALETTE COLOR image without a palette (RedPaletteColorLookupTableDescriptor)")
    n_index = 1 << min(dec.bits_stored, 16)
    try:
        table = apply_color_lut(np.arange(n_index, dtype=np.uint16 if n_index > 256 else np.uint8), ds)
    except Exception as exc:
        raise UserError(f"{dec.path}: unreadable palette colour LUT ({exc})") from None
    table = np.asarray(table).reshape(n_index, 3)
    if table.dtype != np.uint8:
        table = (table.astype(np.uint32) >> 8).astype(np.uint8)
    return table


def to_display(arr: np.ndarray, display: DisplayMap) -> np.ndarray:
    out = display.apply(arr)
    if not out.flags.c_contiguous:
        out = np.ascontiguousarray(out)
    return out
