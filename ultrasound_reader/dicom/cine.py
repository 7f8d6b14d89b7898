"""``open_cine(path) -> Cine``: a lazily decoded ultrasound cine (or a still image).

Opening reads the header only. ``frame(i)`` reads and decodes frame i alone, keeps
it in a byte-bounded LRU cache, and ``prefetch`` decodes ahead of playback on a
daemon thread. Frames are display-ready uint8 arrays (H×W gray or H×W×3 RGB, see
decode.py for the conversion), returned read-only because the cache shares them.
PNG and JPEG images open as one uncalibrated frame.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ultrasound_reader.dicom.cache import DEFAULT_CACHE_MIB, FrameCache, Prefetcher
from ultrasound_reader.dicom.calibration import Calibration, calibration_from_dataset
from ultrasound_reader.dicom.decode import FrameDecoder
from ultrasound_reader.dicom.frames import EncapsulatedFrames, NativeFrames
from ultrasound_reader.dicom.guard import quote, untrusted
from ultrasound_reader.dicom.header import FileReader, read_header, sniff
from ultrasound_reader.dicom.still import decode_still
from ultrasound_reader.dicom.metadata import dicom_metadata
from ultrasound_reader.dicom.timing import FrameTiming, timing_from_dataset
from ultrasound_reader.errors import UserError

_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
_OWNER_IDS = itertools.count(1)  # cache keys: unlike id(), never reused by a later cine


class Cine:
    """One image series file: frames decoded on demand. Use ``open_cine`` to make one."""

    def __init__(self, path: Path, n_frames: int, rows: int, columns: int, color: bool,
                 get_bytes: Callable[[int], Any], decode: Callable[[Any, int], np.ndarray],
                 metadata: dict[str, Any], calibration: Calibration | None, timing: FrameTiming,
                 cache: FrameCache | None = None, cache_mib: float = DEFAULT_CACHE_MIB,
                 closer: Callable[[], None] | None = None) -> None:
        self.path = Path(path)
        self.n_frames = n_frames
        self.rows = rows
        self.columns = columns
        self.is_color = color
        self.metadata = metadata
        self.calibration = calibration
        self.timing = timing
        self.cache = cache if cache is not None else FrameCache(cache_mib)
        self.decode_count = 0  # frames actually decoded (tests check laziness with it)
        self._get_bytes = get_bytes
        self._decode = decode
        self._closer = closer
        self._closed = False
        self._lock = threading.Lock()
        self._inflight: dict[int, threading.Event] = {}
        self._prefetcher: Prefetcher | None = None
        self._key = next(_OWNER_IDS)
        self.patient_key: str | None = None  # a hash, never the patient's ID or name

    # -- facts ---------------------------------------------------------------
    @property
    def fps(self) -> float | None:
        return self.timing.fps

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one display frame."""
        return (self.rows, self.columns, 3) if self.is_color else (self.rows, self.columns)

    @property
    def frame_nbytes(self) -> int:
        return int(np.prod(self.shape))

    def frame_time_ms(self, index: int) -> float | None:
        """Milliseconds from frame 0 to frame ``index`` (None if the file gives no timing)."""
        return self.timing.time_of(index)

    @property
    def closed(self) -> bool:
        return self._closed

    # -- frames --------------------------------------------------------------
    def _check(self, index: int) -> int:
        if self._closed:
            raise ValueError(f"{self.path}: cine is closed")
        index = int(index)
        if not 0 <= index < self.n_frames:
            raise IndexError(f"frame {index} out of range 0..{self.n_frames - 1}")
        return index

    def is_cached(self, index: int) -> bool:
        return (self._key, index) in self.cache

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as display-ready uint8 (read-only; copy it to modify)."""
        index = self._check(index)
        key = (self._key, index)
        arr = self.cache.get(key)
        if arr is not None:
            return arr
        # One decode per frame even when the prefetcher and the caller want it together.
        with self._lock:
            event = self._inflight.get(index)
            owner = event is None
            if owner:
                event = self._inflight[index] = threading.Event()
        if not owner:
            event.wait()
            arr = self.cache.get(key)
            if arr is not None:
                return arr
        try:
            with untrusted(self.path, f"decode frame {index}"):
                arr = self._decode(self._get_bytes(index), index)
            arr.flags.writeable = False
            with self._lock:
                self.decode_count += 1
            self.cache.put(key, arr)
            return arr
        finally:
            if owner:
                with self._lock:
                    self._inflight.pop(index, None)
                event.set()

    def thumbnail(self, max_size: int = 128, index: int | None = None) -> np.ndarray:
        """A small copy of one frame (the middle one by default), decoding only that frame."""
        from ultrasound_reader.imageops import resize

        img = self.frame(self.n_frames // 2 if index is None else index)
        scale = max_size / max(img.shape[0], img.shape[1])
        if scale >= 1:
            return np.array(img)
        size = (max(1, round(img.shape[1] * scale)), max(1, round(img.shape[0] * scale)))
        return resize(img, size, "area")

    # -- prefetch ------------------------------------------------------------
    def prefetch_capacity(self) -> int:
        """How many frames fit in the cache budget."""
        return max(0, self.cache.budget_bytes // max(self.frame_nbytes, 1))

    def prefetch(self, start: int, count: int | None = None, step: int = 1, wrap: bool = True) -> int:
        """Decode frames start, start+step, ... in the background; returns how many were queued.

        Replaces any earlier request. ``count`` defaults to what fits in half the
        cache, and never exceeds what fits in the whole cache. With ``wrap`` the
        indices run on past the end back to 0 (looped playback).
        """
        if self._closed or self.n_frames <= 1:
            return 0
        capacity = self.prefetch_capacity()
        count = capacity // 2 if count is None else min(int(count), capacity)
        count = min(count, self.n_frames)
        indices = []
        for k in range(count):
            i = start + k * step
            if wrap:
                i %= self.n_frames
            elif not 0 <= i < self.n_frames:
                break
            indices.append(i)
        if self._prefetcher is None:
            if not indices:
                return 0
            self._prefetcher = Prefetcher(self.frame, self.is_cached, self.path.name)
        self._prefetcher.request(indices)
        return len(indices)

    def cancel_prefetch(self) -> None:
        if self._prefetcher is not None:
            self._prefetcher.cancel()

    def wait_prefetch(self, timeout: float | None = None) -> bool:
        """Block until queued prefetching is done (for tests and benchmarks)."""
        return True if self._prefetcher is None else self._prefetcher.wait_idle(timeout)

    # -- lifetime ------------------------------------------------------------
    def close(self) -> None:
        if self._closed:
            return
        if self._prefetcher is not None:
            self._prefetcher.stop()
        self._closed = True
        self.cache.discard_owner(self._key)
        if self._closer is not None:
            self._closer()

    def __enter__(self) -> Cine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        # A forgotten close() must not leak the file descriptor or the prefetch thread.
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        return (f"Cine({self.path.name!r}, {self.n_frames} frame(s), {self.columns}x{self.rows}, "
                f"{'RGB' if self.is_color else 'gray'}, fps={self.fps})")


def open_cine(path: str | Path, cache: FrameCache | None = None,
              cache_mib: float = DEFAULT_CACHE_MIB) -> Cine:
    """Open a DICOM file (lazily) or a PNG/JPEG image.

    ``cache`` lets several cines share one budget; otherwise each gets its own
    ``cache_mib``. Raises UserError naming the file and the reason for anything
    that cannot be shown.
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if path.is_dir():
        raise UserError(f"{path}: is a folder (use scan_folder to open a folder)")
    try:
        kind = sniff(path)
    except OSError as exc:
        raise UserError(f"{path}: cannot read file ({exc.strerror or exc})") from None
    # One choke point for what an untrusted file makes the libraries raise (see guard.py).
    with untrusted(path, "open the file"):
        if kind in ("png", "jpeg") or (kind == "unknown" and path.suffix.lower() in _IMAGE_SUFFIXES):
            return _open_image(path, cache, cache_mib)
        return _open_dicom(path, cache, cache_mib)


def _open_dicom(path: Path, cache: FrameCache | None, cache_mib: float) -> Cine:
    ds, layout = read_header(path)
    for key in ("Rows", "Columns"):
        if ds.get(key) in (None, ""):
            raise UserError(f"{path}: has pixel data but no {key}")
    raw_frames = ds.get("NumberOfFrames")
    try:
        n_frames = 1 if raw_frames in (None, "") else int(raw_frames)
    except (TypeError, ValueError, OverflowError):
        raise UserError(f"{path}: NumberOfFrames {quote(raw_frames)} is not a number") from None
    if n_frames <= 0:
        raise UserError(f"{path}: has zero frames (NumberOfFrames = {n_frames})")
    decoder = FrameDecoder(path, ds, layout.transfer_syntax, layout.vr)
    reader = FileReader(path, layout.in_memory)
    try:
        frames: NativeFrames | EncapsulatedFrames
        if layout.encapsulated:
            frames = EncapsulatedFrames(reader, layout, n_frames,
                                        _bytes_or_none(ds.get("ExtendedOffsetTable")),
                                        _bytes_or_none(ds.get("ExtendedOffsetTableLengths")))
        else:
            frame_bytes = decoder.native_frame_bytes
            needed = frame_bytes * n_frames
            assert layout.value_length is not None
            if layout.value_length < needed:
                raise UserError(
                    f"{path}: pixel data too short: {layout.value_length} bytes, but "
                    f"{decoder.rows}x{decoder.columns}x{decoder.samples} samples x {n_frames} frame(s) "
                    f"at {decoder.bits_allocated} bits need {needed}")
            frames = NativeFrames(reader, layout, frame_bytes, n_frames)
    except BaseException:
        reader.close()
        raise
    timing = timing_from_dataset(ds, n_frames)
    calibration = calibration_from_dataset(ds)
    metadata = dicom_metadata(ds, layout.transfer_syntax, n_frames)
    metadata.update({
        "frame_time_ms": timing.frame_time_ms,
        "fps": timing.fps,
        "timing_source": timing.source,
        "display": decoder.display.description,
        "calibration": calibration.to_dict() if calibration else None,
    })
    color = decoder.samples == 3 or decoder.photometric == "PALETTE COLOR"
    cine = Cine(path, n_frames, decoder.rows, decoder.columns, color, frames.get, decoder.decode,
                metadata, calibration, timing, cache, cache_mib, closer=reader.close)
    # Groups files by patient without keeping the identifier itself.
    ident = f"{ds.get('PatientID', '')}|{ds.get('PatientName', '')}"
    cine.patient_key = hashlib.sha256(ident.encode("utf-8", "replace")).hexdigest()[:16]
    return cine


def _bytes_or_none(value: Any) -> bytes | None:
    return bytes(value) if value else None


def _open_image(path: Path, cache: FrameCache | None, cache_mib: float) -> Cine:
    """A PNG/JPEG as a one-frame, uncalibrated cine (decoded once here: it is one frame)."""
    data = path.read_bytes()
    img = decode_still(path, data)
    fmt = "PNG" if data[:4] == b"\x89PNG" else "JPEG"
    metadata: dict[str, Any] = {
        "format": fmt, "modality": None, "sop_class": None, "transfer_syntax": None,
        "photometric": "RGB" if img.ndim == 3 else "MONOCHROME2",
        "rows": img.shape[0], "columns": img.shape[1], "frames": 1, "bits": 8,
        "frame_time_ms": None, "fps": None, "timing_source": None, "display": "as stored",
        "calibration": None, "patient_sex": None, "patient_age": None,
        "study_uid": None, "series_uid": None, "study_description": None, "series_description": None,
    }
    return Cine(path, 1, img.shape[0], img.shape[1], img.ndim == 3, lambda i: img,
                lambda a, i: a.copy(), metadata, None, FrameTiming(None, None, None), cache, cache_mib)
