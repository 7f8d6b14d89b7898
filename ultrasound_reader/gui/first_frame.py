"""The first frame, decoded before the window is built (no Qt in this module).

``ultrasound-reader`` shows the window's shell first (gui/cold_start.py); the first image
it will open (:func:`first_view`: the case's opening image and frame, as
:meth:`~.main_window.MainWindow.open_paths` and the case controller choose them, or the one
file given) is decoded here through the same loader as everywhere else
(:func:`~ultrasound_reader.dicom.open_cine`: the header validated before any pixel is
decoded) and shown in the shell until the viewer is built and paints it.

On Linux the decoding starts in a forked child (:meth:`EarlyDecode.start`) before Qt is
even imported, so the work it needs (numpy, pydicom, the case file's checks, the decoding:
about 0.2 s here) runs on another core while the parent starts Qt; the pixels come back
through a pipe. The child only
reads: whatever goes wrong there (a bad file, a decoder that aborts the process) just
means no early frame, and the viewer then opens the file and reports the problem as it
always did. Elsewhere (no ``fork``), :func:`decode_first` runs in the GUI process once
the shell is on screen.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# A first frame larger than this (decoded) waits for the viewer instead (64 MiB: 4096 x 5461 RGB).
MAX_FRAME_BYTES = 64 << 20
# What the child leaves out (it exits after one frame, so the GUI process is not affected): pydicom
# imports them to offer them, the decoding never needs them, and they cost some 0.06-0.1 s of its
# start here. GDCM is the decoder of last resort (dicom/decode.py; its codecs can abort the
# process): a file only GDCM decodes gets no early frame, and the viewer opens it as before.
# requests is pydicom's downloader of its own test files.
CHILD_LEAVES_OUT = ("gdcm", "requests")
# The child yields to the GUI process (and its window) where the two share a core.
CHILD_NICENESS = 5
_CHUNK = 1 << 20


@dataclass(frozen=True)
class FirstFrame:
    """One decoded display frame: uint8 rows of ``width * channels`` bytes (1: gray, 3: RGB)."""

    index: int
    width: int
    height: int
    channels: int
    pixels: bytes

    def encode(self) -> bytes:
        return f"{self.index} {self.width} {self.height} {self.channels}\n".encode() + self.pixels

    @classmethod
    def decode(cls, data: bytes) -> FirstFrame | None:
        """The frame ``data`` holds (as :meth:`encode` wrote it), or None if it is not a whole one."""
        head, sep, pixels = data.partition(b"\n")
        try:
            index, width, height, channels = (int(v) for v in head.split())
        except ValueError:
            return None
        if not sep or channels not in (1, 3) or width <= 0 or height <= 0 or index < 0:
            return None
        if len(pixels) != width * height * channels:
            return None
        return cls(index, width, height, channels, pixels)


def first_view(paths: Sequence[str | Path]) -> tuple[Path, int] | None:
    """The image file and frame index the window shows first for ``paths``, or None where that is
    only known later (a folder to scan, several files, a report, a case without images)."""
    from ultrasound_reader import case_rules

    case_file = case_rules.case_file_in(paths)
    if case_file is not None:
        from ultrasound_reader.case import Case

        case = Case.load(case_file)
        if not case.images:
            return None
        case.root = (case.root or case_file.parent).resolve()
        index, frame = case_rules.opening_view(case)
        return case.image_path(index), frame
    if len(paths) != 1 or not Path(paths[0]).is_file():
        return None
    from ultrasound_reader.dicom.sr import is_sr_file

    return None if is_sr_file(str(paths[0])) else (Path(paths[0]), 0)


def decode_first(paths: Sequence[str | Path]) -> FirstFrame | None:
    """The first frame the window will show for ``paths`` (None: none known yet, or too large).

    Raises what opening the image raises (:class:`~ultrasound_reader.errors.UserError` for a bad file)."""
    view = first_view(paths)
    if view is None:
        return None
    path, index = view
    import numpy as np

    from ultrasound_reader.dicom import open_cine

    with open_cine(path) as cine:
        if not 0 <= index < cine.n_frames or cine.rows * cine.columns * 3 > MAX_FRAME_BYTES:
            return None
        frame = np.ascontiguousarray(cine.frame(index), dtype=np.uint8)
    if frame.ndim not in (2, 3) or (frame.ndim == 3 and frame.shape[2] != 3):
        return None
    return FirstFrame(index, frame.shape[1], frame.shape[0], 1 if frame.ndim == 2 else 3, frame.tobytes())


def _die_with(parent: int) -> None:
    """The child ends when the GUI process does, however it ends (killed included): a read stuck on
    a FIFO or a stalled network share must not outlive the app."""
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent went before the request took effect
        os._exit(1)


class EarlyDecode:
    """:func:`decode_first` in a forked child; the parent collects the frame from a pipe."""

    def __init__(self, pid: int, fd: int) -> None:
        self.pid = pid
        self.fd = fd
        self.done = False
        self._data = bytearray()

    @classmethod
    def start(cls, paths: Sequence[str | Path]) -> EarlyDecode | None:
        """Fork the decoding child (Linux, before Qt or any thread starts); None where it cannot."""
        if not sys.platform.startswith("linux") or not hasattr(os, "fork"):
            return None
        read_fd, write_fd = os.pipe()
        parent = os.getpid()
        try:
            pid = os.fork()
        except OSError:
            os.close(read_fd)
            os.close(write_fd)
            return None
        if pid == 0:  # the child: decode, send, leave without running the parent's exit handlers
            code = 1
            try:
                os.close(read_fd)
                _die_with(parent)
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)  # the viewer reports the file's problems, not this child
                os.dup2(devnull, 2)
                with contextlib.suppress(OSError):
                    os.nice(CHILD_NICENESS)  # on a busy machine the window comes first
                # No BLAS work here: numpy's OpenBLAS then starts no thread pool (some 0.03-0.06 s of its import).
                os.environ["OPENBLAS_NUM_THREADS"] = "1"
                for name in CHILD_LEAVES_OUT:
                    sys.modules.setdefault(name, None)  # type: ignore[arg-type]  # import fails: not offered
                frame = decode_first(paths)
                if frame is not None:
                    view = memoryview(frame.encode())
                    while view:
                        view = view[os.write(write_fd, view):]
                code = 0
            except BaseException:  # noqa: BLE001 - no early frame; the viewer says what is wrong
                pass
            finally:
                os._exit(code)
        os.close(write_fd)
        os.set_blocking(read_fd, False)
        return cls(pid, read_fd)

    def read(self) -> bool:
        """Take what the child has written so far; True once it is done (the pipe closed)."""
        while not self.done:
            try:
                chunk = os.read(self.fd, _CHUNK)
            except BlockingIOError:
                return False
            except OSError:
                chunk = b""
            if not chunk:
                self._finish()
                break
            self._data.extend(chunk)
        return self.done

    def result(self) -> FirstFrame | None:
        """The frame, once :meth:`read` said done (None: no frame, or the child failed)."""
        return FirstFrame.decode(bytes(self._data)) if self.done else None

    def _finish(self) -> None:
        self.done = True
        with contextlib.suppress(OSError):
            os.close(self.fd)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(self.pid, 0)  # it closed the pipe in _exit: this returns at once

    def cancel(self) -> None:
        """Stop the child if it still runs (the viewer is built; its frame is not needed now)."""
        if self.done:
            return
        with contextlib.suppress(ProcessLookupError, OSError):
            os.kill(self.pid, signal.SIGKILL)
        self._data.clear()
        self._finish()
