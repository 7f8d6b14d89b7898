"""Find the bytes of one frame in the pixel data, reading nothing else.

Native (uncompressed) data: frame i is a fixed-size slice at a computed offset.
Encapsulated data: frames are items after the Basic Offset Table. We use the
Extended Offset Table or the Basic Offset Table when present; otherwise we scan the
item headers once (8 bytes each, no pixel bytes read) and, when a frame spans
several fragments, find frame starts by their codestream markers.
"""

from __future__ import annotations

import struct
import threading
from pathlib import Path

import numpy as np

from ultrasound_reader.dicom.header import FileReader, PixelLayout
from ultrasound_reader.errors import UserError

_ITEM = 0xE000FFFE  # (FFFE,E000) read as one little-endian uint32
_SEQ_DELIM = 0xE0DDFFFE  # (FFFE,E0DD)
# First bytes of a frame's codestream: JPEG/JPEG-LS SOI, J2K SOC, JP2 signature box.
_FRAME_STARTS = (b"\xff\xd8", b"\xff\x4f\xff\x51", b"\x00\x00\x00\x0cjP")


class NativeFrames:
    """Frames of uncompressed pixel data: fixed size, fixed stride."""

    def __init__(self, reader: FileReader, layout: PixelLayout, frame_bytes: int, n_frames: int) -> None:
        self.reader = reader
        self.layout = layout
        self.frame_bytes = frame_bytes
        self.n_frames = n_frames

    def get(self, index: int) -> bytes:
        data = self.reader.read(self.layout.value_offset + index * self.frame_bytes, self.frame_bytes)
        if len(data) != self.frame_bytes:
            raise UserError(f"{self.reader.path}: file is truncated in frame {index}")
        return data


class EncapsulatedFrames:
    """Frames of encapsulated (compressed) pixel data, located lazily and once."""

    def __init__(self, reader: FileReader, layout: PixelLayout, n_frames: int,
                 extended_offsets: bytes | None = None, extended_lengths: bytes | None = None) -> None:
        self.reader = reader
        self.path: Path = reader.path
        self.n_frames = n_frames
        self._lock = threading.Lock()
        self._end = layout.file_size if layout.in_memory is None else len(layout.in_memory)
        tag, length = self._item_header(layout.value_offset)
        if tag != _ITEM:
            raise UserError(f"{self.path}: encapsulated pixel data does not start with an item")
        if length and layout.value_offset + 8 + length > self._end:
            raise UserError(f"{self.path}: file is truncated in the pixel data offset table")
        self._first = layout.value_offset + 8 + length  # first fragment's item tag
        # Every frame needs at least one item (8-byte header): a NumberOfFrames beyond that is
        # refused now, before anything (timing, prefetch, the GUI) is sized by it.
        most = max(0, self._end - self._first) // 8
        if n_frames > most:
            raise UserError(f"{self.path}: NumberOfFrames {n_frames} is more than the pixel data can hold "
                            f"({most} fragment(s) at most in {max(0, self._end - self._first)} bytes)")
        # Frame i -> (start offset of its first item, end offset or None when unknown yet).
        self._spans: list[tuple[int, int | None]] | None = None
        if extended_offsets and extended_lengths:
            offs = np.frombuffer(extended_offsets, "<u8")
            lens = np.frombuffer(extended_lengths, "<u8")
            if len(offs) == n_frames == len(lens):
                # EOT: one fragment per frame, the length is the fragment's.
                self._spans = [(self._first + int(o), self._first + int(o) + 8 + int(n))
                               for o, n in zip(offs, lens)]
        if self._spans is None and length >= 4:
            bot = reader.read(layout.value_offset + 8, length)
            offs = np.frombuffer(bot[: len(bot) // 4 * 4], "<u4").astype(np.int64)
            if len(offs) == n_frames and np.all(np.diff(offs) > 0):
                starts = [self._first + int(o) for o in offs]
                self._spans = [(s, e) for s, e in zip(starts, starts[1:] + [None])]
            if self._spans and self._spans[-1][0] >= self._end:
                raise UserError(f"{self.path}: file is truncated: frame {n_frames - 1} lies beyond the end")

    def _item_header(self, offset: int) -> tuple[int, int]:
        head = self.reader.read(offset, 8)
        if len(head) < 8:
            raise UserError(f"{self.path}: file is truncated in the encapsulated pixel data")
        return struct.unpack("<LL", head)

    def _scan(self) -> list[tuple[int, int]]:
        """(offset, length) of every fragment item, reading only item headers."""
        items = []
        pos = self._first
        while True:
            if pos + 8 > self._end:
                if items:  # a missing sequence delimiter is common and harmless
                    break
                raise UserError(f"{self.path}: file is truncated in the encapsulated pixel data")
            tag, length = self._item_header(pos)
            if tag == _SEQ_DELIM:
                break
            if tag != _ITEM or length == 0xFFFFFFFF:
                raise UserError(f"{self.path}: corrupt encapsulated pixel data at byte {pos}")
            if pos + 8 + length > self._end:
                raise UserError(f"{self.path}: file is truncated in fragment {len(items)} of the pixel data")
            items.append((pos, length))
            pos += 8 + length
        return items

    def _locate(self) -> list[tuple[int, int | None]]:
        with self._lock:
            if self._spans is not None:
                return self._spans
            items = self._scan()
            if not items:
                raise UserError(f"{self.path}: encapsulated pixel data holds no frames")
            if len(items) == self.n_frames:
                groups = [[it] for it in items]
            elif self.n_frames == 1:
                groups = [items]
            else:
                starts = [k for k, (off, _) in enumerate(items)
                          if self.reader.read(off + 8, 4).startswith(_FRAME_STARTS)]
                if len(starts) < self.n_frames or (starts and starts[0] != 0):
                    raise UserError(f"{self.path}: cannot find {self.n_frames} frames in "
                                    f"{len(items)} pixel data fragments")
                starts = starts[: self.n_frames] + [len(items)]
                groups = [items[a:b] for a, b in zip(starts, starts[1:])]
            self._spans = [(g[0][0], g[-1][0] + 8 + g[-1][1]) for g in groups]
            return self._spans

    def get(self, index: int) -> bytes:
        """The codestream of frame ``index`` (its fragments joined)."""
        start, end = self._locate()[index]
        if end is None:  # last frame with a Basic Offset Table: walk its items to the delimiter
            pos, frags = start, []
            while pos + 8 <= self._end:
                tag, length = self._item_header(pos)
                if tag != _ITEM:
                    break
                if pos + 8 + length > self._end:
                    raise UserError(f"{self.path}: file is truncated in frame {index}")
                frags.append(self.reader.read(pos + 8, length))
                pos += 8 + length
            if not frags:
                raise UserError(f"{self.path}: frame {index} has no data")
            return frags[0] if len(frags) == 1 else b"".join(frags)
        if end > self._end:
            raise UserError(f"{self.path}: file is truncated in frame {index}")
        blob = self.reader.read(start, end - start)
        if len(blob) != end - start:
            raise UserError(f"{self.path}: file is truncated in frame {index}")
        frags, pos = [], 0
        while pos + 8 <= len(blob):
            tag, length = struct.unpack_from("<LL", blob, pos)
            if tag != _ITEM:
                raise UserError(f"{self.path}: corrupt pixel data item in frame {index}")
            frags.append(blob[pos + 8: pos + 8 + length])
            pos += 8 + length
        if not frags:
            raise UserError(f"{self.path}: frame {index} has no data")
        return frags[0] if len(frags) == 1 else b"".join(frags)
