"""Decode one frame's bytes into a display-ready uint8 image.

Two steps, kept apart so tests can check each against pydicom:

1. :meth:`FrameDecoder.decode_stored` gives what ``pydicom``'s ``pixel_array`` gives
   for that frame (YBR converted to RGB as pydicom does, planar configuration
   resolved, byte order fixed). Fast paths avoid pydicom where the result is the
   same: 8-bit native data is a reshape of the bytes; 8-bit JPEG baseline in
   YBR_FULL_422 / YBR_FULL / MONOCHROME goes to Pillow's libjpeg-turbo
   (:func:`decode_jpeg_frame`; tests compare it with pydicom's output and with
   OpenCV's decoder, which this path used before: same pixels). Everything else
   (JPEG-LS, JPEG 2000, RLE, JPEG lossless, 16-bit, native YBR) is decoded by
   pydicom one frame at a time,
   with a plugin chosen up front (:func:`decoding_plugins`: never GDCM while
   another plugin can do the job, since GDCM's codecs abort the process on
   inconsistent files), after the frame's codestream was checked against the
   header (:mod:`ultrasound_reader.dicom.codestream`).
2. :func:`to_display` maps stored values to uint8 gray or RGB — the documented
   display conversion (PS3.3 C.11), whatever the bit depth:

   * gray: Modality LUT (ModalityLUTSequence, else RescaleSlope/Intercept), then the
     VOI: the file's first window (WindowCenter/Width with its VOILUTFunction:
     LINEAR, LINEAR_EXACT or SIGMOID, C.11.2.1.2) if usable, else the first
     VOILUTSequence item; without a VOI, the range SmallestImagePixelValue..
     LargestImagePixelValue if present, else the full range of the modality
     output (BitsStored for >8-bit data). MONOCHROME1 is inverted after the VOI.
     8-bit data without any of these is shown as stored (ultrasound scanners write
     display values); signed 8-bit is then shifted by +128.
   * PALETTE COLOR: the file's palette LUTs, read in the file's byte order; 16-bit
     LUT entries are shifted right by 8 (segmented palettes: pydicom's
     ``apply_color_lut``).
   * RGB with more than 8 bits stored: shifted right by (BitsStored - 8).
"""

from __future__ import annotations

import io
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.pixels import as_pixel_options, get_decoder
from pydicom.uid import UID, JPEGBaseline8Bit, JPEGExtended12Bit

from ultrasound_reader.dicom.codestream import CodestreamError, check_frame
from ultrasound_reader.dicom.guard import quote
from ultrasound_reader.errors import UserError

log = logging.getLogger(__name__)

_FAST_JPEG_PHOTOMETRICS = {"YBR_FULL_422", "YBR_FULL", "MONOCHROME1", "MONOCHROME2"}
_GRAY = {"MONOCHROME1", "MONOCHROME2"}
_PHOTOMETRIC_SAMPLES = {"MONOCHROME1": 1, "MONOCHROME2": 1, "PALETTE COLOR": 1, "RGB": 3, "YBR_FULL": 3,
                        "YBR_FULL_422": 3, "YBR_ICT": 3, "YBR_RCT": 3}
# Largest decoded frame we agree to allocate (a header can ask for 65535 x 65535 x 3 x 4 bytes).
MAX_FRAME_BYTES = 1 << 30
# Plugins in the order we ask them; GDCM last, and only when nothing else can decode.
_PLUGIN_ORDER = ("pylibjpeg", "pyjpegls", "pydicom", "pillow")
_UNSAFE_PLUGINS = ("gdcm",)


def decoding_plugins(decoder: Any) -> list[str]:
    """The pydicom plugins to try for one transfer syntax, best first, GDCM only as a last resort."""
    available = list(decoder.available_plugins)
    safe = [p for p in _PLUGIN_ORDER if p in available]
    safe += [p for p in available if p not in safe and p not in _UNSAFE_PLUGINS]
    return safe or [p for p in available if p in _UNSAFE_PLUGINS]


def _int(ds: Dataset, path: Path, key: str, default: int) -> int:
    value = ds.get(key)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise UserError(f"{path}: {key} {quote(value)} is not a number") from None


def _float(ds: Dataset, path: Path, key: str, default: float) -> float:
    value = ds.get(key)
    if value is None or value == "":
        return default
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        raise UserError(f"{path}: {key} {quote(value)} is not a number") from None
    if not math.isfinite(v):
        raise UserError(f"{path}: {key} {quote(value)} is not a finite number")
    return v


def decode_jpeg_frame(data: bytes, samples: int, rows: int, columns: int) -> np.ndarray | None:
    """An 8-bit JPEG codestream as gray (samples 1) or RGB (samples 3) through Pillow's libjpeg-turbo.

    None when Pillow refuses it or it is not the expected size and colour layout (the
    caller then asks pydicom's plugins). The plugin class is used directly: ``Image.open``
    would run Pillow's decompression-bomb check (a warning from 89 Mpixel), while the frame
    size was already checked against :data:`MAX_FRAME_BYTES` and the codestream against the
    header; no MPO detection, no EXIF orientation (as OpenCV's IMREAD_IGNORE_ORIENTATION).
    """
    from PIL import JpegImagePlugin

    try:
        with JpegImagePlugin.JpegImageFile(io.BytesIO(data)) as im:
            if im.mode != ("RGB" if samples == 3 else "L") or im.size != (columns, rows):
                return None
            im.load()
            arr = np.asarray(im)
    except MemoryError:
        raise
    except Exception as exc:  # Pillow raises several kinds for corrupt or truncated data
        log.debug("Pillow refused a JPEG frame: %s: %s", type(exc).__name__, exc)
        return None
    return arr


class FrameDecoder:
    """Turns one frame's bytes into an array, for one file's pixel description."""

    def __init__(self, path: Path, ds: Dataset, ts: UID, pixel_vr: str | None = None) -> None:
        self.path = path
        self.ts = ts
        self.rows = _int(ds, path, "Rows", 0)
        self.columns = _int(ds, path, "Columns", 0)
        self.samples = _int(ds, path, "SamplesPerPixel", 1) or 1
        self.bits_allocated = _int(ds, path, "BitsAllocated", 8) or 8
        self.bits_stored = _int(ds, path, "BitsStored", self.bits_allocated) or self.bits_allocated
        self.signed = _int(ds, path, "PixelRepresentation", 0) == 1
        self.photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
        self.planar = _int(ds, path, "PlanarConfiguration", 0)
        if self.samples not in (1, 3):
            raise UserError(f"{path}: SamplesPerPixel {self.samples} is not supported (1 or 3 expected)")
        if self.bits_allocated not in (8, 16, 32):
            raise UserError(f"{path}: BitsAllocated {self.bits_allocated} is not supported")
        if not 1 <= self.bits_stored <= self.bits_allocated:
            raise UserError(f"{path}: BitsStored {self.bits_stored} does not fit BitsAllocated "
                            f"{self.bits_allocated}")
        if self.rows <= 0 or self.columns <= 0:
            raise UserError(f"{path}: image size {self.rows}x{self.columns} is empty")
        expected = _PHOTOMETRIC_SAMPLES.get(self.photometric)
        if expected is None:
            raise UserError(f"{path}: PhotometricInterpretation {quote(self.photometric)} is not supported")
        if expected != self.samples:
            raise UserError(f"{path}: PhotometricInterpretation {self.photometric} needs SamplesPerPixel "
                            f"{expected}, the header says {self.samples}")
        if self.samples == 3 and self.planar not in (0, 1):
            raise UserError(f"{path}: PlanarConfiguration {self.planar} is not 0 or 1")
        frame_bytes = self.rows * self.columns * self.samples * max(self.bits_allocated // 8, 1)
        if frame_bytes > MAX_FRAME_BYTES:
            raise UserError(f"{path}: one {self.columns}x{self.rows} frame would take "
                            f"{frame_bytes / 2**30:.1f} GiB decoded (more than {MAX_FRAME_BYTES >> 30} GiB)")
        try:
            self._decoder = get_decoder(ts)
        except NotImplementedError:
            raise UserError(f"{path}: transfer syntax {ts.name} ({ts}) is not supported") from None
        if ts.is_encapsulated and not self._decoder.is_available:
            missing = "; ".join(self._decoder.missing_dependencies) or "no decoder plugin"
            raise UserError(f"{path}: cannot decode transfer syntax {ts.name}: {missing}")
        self._plugins = decoding_plugins(self._decoder) if ts.is_encapsulated else [""]
        if "ExtendedOffsetTable" in ds and "ExtendedOffsetTableLengths" not in ds:
            # Not used for decoding (frames.py locates frames); pydicom would trip over it.
            ds = ds.copy()
            del ds.ExtendedOffsetTable
        self._opts: dict[str, Any] = as_pixel_options(ds)
        self._opts["number_of_frames"] = 1
        self._opts["transfer_syntax_uid"] = ts
        self._opts.pop("extended_offsets", None)
        self._opts["pixel_keyword"] = "PixelData"
        if not ts.is_encapsulated:
            self._opts["pixel_vr"] = "OB" if self.bits_allocated == 8 else "OW"
        # 8-bit samples in an OW value of a big-endian file are byte-swapped in pairs (PS3.5 A.3):
        # we swap them back first, then treat the frame as OB.
        self._swap_pairs = (not ts.is_encapsulated and not ts.is_little_endian
                            and self.bits_allocated == 8 and pixel_vr == "OW")
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

    def check_codestream(self, data: bytes, index: int = 0) -> None:
        """Refuse a compressed frame whose codestream disagrees with the header (before decoding)."""
        try:
            check_frame(self.ts, data, rows=self.rows, columns=self.columns, samples=self.samples,
                        bits_allocated=self.bits_allocated, bits_stored=self.bits_stored)
        except CodestreamError as exc:
            raise UserError(f"{self.path}: cannot decode frame {index} ({self.ts.name}): {exc}") from None

    def decode_stored(self, data: bytes, index: int = 0) -> np.ndarray:
        """The frame as pydicom's pixel_array gives it (RGB for YBR data)."""
        if self.ts.is_encapsulated:
            self.check_codestream(data, index)
        elif self._swap_pairs:
            if len(data) % 2:
                raise UserError(f"{self.path}: frame {index} of 8-bit big-endian OW pixel data has an odd "
                                "number of bytes")
            data = np.frombuffer(data, np.uint8).reshape(-1, 2)[:, ::-1].tobytes()
        if self._fast_native:
            arr = np.frombuffer(data, np.uint8)
            if self.samples == 1:
                return arr.reshape(self.rows, self.columns)
            if self.planar == 1:
                return np.ascontiguousarray(arr.reshape(3, self.rows, self.columns).transpose(1, 2, 0))
            return arr.reshape(self.rows, self.columns, 3)
        if self._fast_jpeg:
            img = decode_jpeg_frame(data, self.samples, self.rows, self.columns)
            if img is not None:
                return img
            # Pillow refused (truncated data, unusual markers, wrong size): let pydicom try.
        src = encapsulate([data]) if self.ts.is_encapsulated else data
        failure: Exception | None = None
        for plugin in self._plugins:
            try:
                arr, _ = self._decoder.as_array(src, index=None, validate=True, decoding_plugin=plugin,
                                                **self._opts)
                return arr
            except MemoryError:
                raise
            except Exception as exc:  # pydicom/plugins raise many kinds for corrupt data
                # Quiet fall-through: the next plugin may do it; the last failure is the answer.
                log.debug("%s: frame %d: plugin %r failed: %s: %s", self.path, index, plugin or "native",
                          type(exc).__name__, exc)
                failure = exc
        assert failure is not None
        raise UserError(f"{self.path}: cannot decode frame {index} ({self.ts.name}): "
                        f"{type(failure).__name__}: {quote(failure, 200)}")

    def decode(self, data: bytes, index: int = 0) -> np.ndarray:
        return to_display(self.decode_stored(data, index), self.display)


class DisplayMap:
    """Precomputed stored-value -> uint8 display mapping for one file (see module doc)."""

    def __init__(self, ds: Dataset, decoder: FrameDecoder) -> None:
        self.path = decoder.path
        self.photometric = decoder.photometric
        self.samples = decoder.samples
        self.bits_stored = decoder.bits_stored
        self.signed = decoder.signed
        self.little_endian = decoder.ts.is_little_endian
        self.invert = self.photometric == "MONOCHROME1"
        self.description = "as stored"
        self._lut: np.ndarray | None = None  # indexed by stored value (+ offset if signed)
        self._lut_offset = 0
        self._palette: np.ndarray | None = None
        if self.photometric == "PALETTE COLOR":
            self._palette = _palette_table(ds, decoder)
            self.description = "palette colour LUT"
        elif self.photometric in _GRAY and (decoder.bits_stored > 8 or decoder.bits_allocated > 8
                                            or _has_modality_lut(ds) or _has_voi(ds)):
            self._build_gray_lut(ds, decoder)
        elif self.samples == 1 and self.signed:
            self.description = "signed 8-bit shifted by +128"
        if self.invert:
            self.description += ", MONOCHROME1 inverted"

    def _build_gray_lut(self, ds: Dataset, dec: FrameDecoder) -> None:
        bits = min(dec.bits_stored, 16)
        if self.signed:
            values = np.arange(-(1 << (bits - 1)), 1 << (bits - 1), dtype=np.float64)
            self._lut_offset = 1 << (bits - 1)
        else:
            values = np.arange(0, 1 << bits, dtype=np.float64)
        stored = values
        steps = []
        # Modality LUT (PS3.3 C.11.1): the sequence if present, else the rescale.
        mod_seq = ds.get("ModalityLUTSequence")
        if mod_seq:
            values = _lut_sequence_item(mod_seq[0], values, self, "ModalityLUTSequence")[0]
            steps.append("modality LUT")
        else:
            slope = _float(ds, self.path, "RescaleSlope", 1.0)
            intercept = _float(ds, self.path, "RescaleIntercept", 0.0)
            if slope == 0:
                raise UserError(f"{self.path}: RescaleSlope is 0 (every pixel would map to one value)")
            if (slope, intercept) != (1.0, 0.0):
                values = values * slope + intercept
                steps.append(f"rescale {slope:g}x{intercept:+g}")
        # VOI (C.11.2): the first usable window, else the first VOI LUT.
        center, width = _first_window(ds)
        function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").strip().upper()
        voi_seq = ds.get("VOILUTSequence")
        if function not in ("LINEAR", "LINEAR_EXACT", "SIGMOID"):
            function = "LINEAR"
        usable = center is not None and width is not None and (width >= 1 if function == "LINEAR" else width > 0)
        if usable:
            assert center is not None and width is not None
            out = _window(values, center, width, function)
            steps.append(f"VOI window C={center:g} W={width:g}" + ("" if function == "LINEAR" else f" {function}"))
        elif voi_seq:
            entries, lut_bits = _lut_sequence_item(voi_seq[0], values, self, "VOILUTSequence")
            out = entries * (255.0 / ((1 << lut_bits) - 1))
            steps.append("VOI LUT")
        else:
            lo = ds.get("SmallestImagePixelValue")
            hi = ds.get("LargestImagePixelValue")
            if isinstance(lo, int) and isinstance(hi, int) and hi > lo:
                lo_v, hi_v = np.interp([lo, hi], stored, values) if len(stored) > 1 else (lo, hi)
                steps.append(f"range {lo_v:g}..{hi_v:g} (Smallest/LargestImagePixelValue)")
            else:
                lo_v, hi_v = float(values.min()), float(values.max())
                steps.append(f"full {bits}-bit range {lo_v:g}..{hi_v:g}")
            out = (values - lo_v) / max(hi_v - lo_v, 1e-9) * 255.0
        self.description = ", ".join([steps[-1], *steps[:-1]])  # the VOI first, then the modality step
        self._lut = np.clip(np.rint(np.nan_to_num(out)), 0, 255).astype(np.uint8)

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


def _window(x: np.ndarray, c: float, w: float, function: str) -> np.ndarray:
    """VOI window to 0..255 (PS3.3 C.11.2.1.2 LINEAR, C.11.2.1.3.2 LINEAR_EXACT, C.11.2.1.3.1 SIGMOID)."""
    if function == "SIGMOID":
        with np.errstate(over="ignore"):
            return 255.0 / (1.0 + np.exp(-4.0 * (x - c) / w))
    if function == "LINEAR_EXACT":
        return ((x - c) / w + 0.5) * 255.0
    if w == 1:
        return np.where(x < c - 0.5, 0.0, 255.0)
    return ((x - (c - 0.5)) / (w - 1) + 0.5) * 255.0


def _has_modality_lut(ds: Dataset) -> bool:
    """A Modality LUT that changes values (an unreadable rescale counts: it is refused later)."""
    if ds.get("ModalityLUTSequence"):
        return True
    values = [ds.get(k) for k in ("RescaleSlope", "RescaleIntercept")]
    try:
        slope, intercept = (default if v in (None, "") else float(v) for v, default in zip(values, (1.0, 0.0)))
    except (TypeError, ValueError, OverflowError):
        return True
    return (slope, intercept) != (1.0, 0.0)


def _has_voi(ds: Dataset) -> bool:
    return bool(ds.get("VOILUTSequence")) or _first_window(ds) != (None, None)


def _first_window(ds: Dataset) -> tuple[float | None, float | None]:
    c, w = ds.get("WindowCenter"), ds.get("WindowWidth")
    if c is None or w is None:
        return None, None
    try:
        c = float(c[0] if not isinstance(c, (int, float)) else c)
        w = float(w[0] if not isinstance(w, (int, float)) else w)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None, None
    if not (math.isfinite(c) and math.isfinite(w)):
        return None, None
    return c, w


def _lut_words(raw: Any, n: int, bits: int, little_endian: bool) -> np.ndarray:
    """LUT entries from an element value: a list of ints (US/SS) or OW bytes in the file's byte order."""
    if isinstance(raw, (bytes, bytearray, memoryview)):
        raw = bytes(raw)
        if bits <= 8 and len(raw) == n:  # 8-bit entries packed one per byte
            return np.frombuffer(raw, np.uint8).astype(np.int64)
        return np.frombuffer(raw[: len(raw) // 2 * 2], "<u2" if little_endian else ">u2").astype(np.int64)
    if isinstance(raw, (int, float)):
        raw = [raw]
    return np.asarray([int(v) for v in raw], dtype=np.int64)


def _descriptor(value: Any, path: Path, name: str) -> tuple[int, int, int]:
    try:
        n, first, bits = (int(v) for v in list(value)[:3])
    except (TypeError, ValueError):
        raise UserError(f"{path}: {name} {quote(value)} is not three numbers") from None
    n = n or 65536  # 0 means 2^16 entries
    if not 1 <= n <= 65536 or not 1 <= bits <= 16:
        raise UserError(f"{path}: {name} {quote(value)} is out of range (entries 1..65536, bits 1..16)")
    return n, first, bits


def _lut_sequence_item(item: Dataset, x: np.ndarray, dm: DisplayMap, name: str) -> tuple[np.ndarray, int]:
    """Apply one Modality/VOI LUT Sequence item (LUTDescriptor + LUTData) to ``x``."""
    n, first, bits = _descriptor(item.get("LUTDescriptor"), dm.path, f"{name} LUTDescriptor")
    raw = item.get("LUTData")
    entries = _lut_words(raw if raw is not None else [], n, bits, dm.little_endian)
    if len(entries) < n:
        raise UserError(f"{dm.path}: {name} LUTData holds {len(entries)} entries, its descriptor says {n}")
    if bits < 16 and name == "VOILUTSequence" and entries[:n].max(initial=0) >= (1 << bits):
        bits = 16  # descriptor under-states the entries (seen in the wild): scale by what they hold
    idx = np.clip(np.rint(np.nan_to_num(x)).astype(np.int64) - first, 0, n - 1)
    return entries[:n][idx].astype(np.float64), bits


def _palette_table(ds: Dataset, dec: FrameDecoder) -> np.ndarray:
    """(N, 3) uint8 table indexed by stored value, the LUT data read in the file's byte order."""
    path = dec.path
    if ds.get("RedPaletteColorLookupTableDescriptor") is None:
        raise UserError(f"{path}: PALETTE COLOR image without a palette (RedPaletteColorLookupTableDescriptor)")
    if any(f"Segmented{c}PaletteColorLookupTableData" in ds for c in ("Red", "Green", "Blue")):
        return _segmented_palette(ds, dec)
    n_index = 1 << min(dec.bits_stored, 16)
    stored = np.arange(n_index, dtype=np.int64)
    channels = []
    for colour in ("Red", "Green", "Blue"):
        n, first, bits = _descriptor(ds.get(f"{colour}PaletteColorLookupTableDescriptor"), path,
                                     f"{colour}PaletteColorLookupTableDescriptor")
        raw = ds.get(f"{colour}PaletteColorLookupTableData")
        if raw is None:
            raise UserError(f"{path}: PALETTE COLOR image without {colour}PaletteColorLookupTableData")
        entries = _lut_words(raw, n, bits, dec.ts.is_little_endian)
        if len(entries) < n:
            raise UserError(f"{path}: {colour}PaletteColorLookupTableData holds {len(entries)} entries, "
                            f"its descriptor says {n}")
        entries = entries[:n]
        if bits > 8:
            entries = entries >> (bits - 8)
        channels.append(np.clip(entries, 0, 255).astype(np.uint8)[np.clip(stored - first, 0, n - 1)])
    return np.stack(channels, axis=1)


def _segmented_palette(ds: Dataset, dec: FrameDecoder) -> np.ndarray:
    from pydicom.pixels import apply_color_lut

    n_index = 1 << min(dec.bits_stored, 16)
    try:
        table = apply_color_lut(np.arange(n_index, dtype=np.uint16 if n_index > 256 else np.uint8), ds)
    except Exception as exc:
        raise UserError(f"{dec.path}: unreadable segmented palette colour LUT ({quote(exc, 120)})") from None
    table = np.asarray(table).reshape(n_index, 3)
    if table.dtype != np.uint8:
        table = (table.astype(np.uint32) >> 8).astype(np.uint8)
    return table


def to_display(arr: np.ndarray, display: DisplayMap) -> np.ndarray:
    out = display.apply(arr)
    if not out.flags.c_contiguous:
        out = np.ascontiguousarray(out)
    return out
