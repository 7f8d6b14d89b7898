"""Fault campaign for the DICOM reader: mutated files through ``open_cine`` and ``inspect``.

``python -m ultrasound_reader.dicom.fuzz --files N --seed S [--jobs J] [--code-root DIR]``

Each mutated file goes through what a reader does with it: ``open_cine(path)``, the
first and the last frame, then ``inspect FILE --out PNG`` (header and frame 0) in the same process
(stderr captured at the file-descriptor level, so C libraries and logging handlers
are seen too). The work runs in persistent worker subprocesses (one interpreter
start per crash, not per file) with an address-space limit (``resource.setrlimit``),
a wall-clock limit per file, and crash detection by the signal that ended the worker.

Outcomes, one per file:

* ``refused``  – the project's :class:`UserError` (the clean answer to bad input)
* ``opened``   – opened and both frames decoded
* ``crash``    – the worker died (signal or abnormal exit)
* ``hang``     – no answer within the time limit (the worker is killed and restarted)
* ``memory``   – ``MemoryError`` under the address-space limit
* ``foreign``  – any other exception type, or ``inspect`` answering "internal error"

A refusal or an answer is also checked for *noise* (counted apart, see
:func:`is_noisy`): Python warnings or log lines beside the CLI's one line, more
than 600 characters, or control characters.

Mutators (one or two per file, chosen by a seeded RNG per file index, so file k of
seed S is always the same): byte flips, truncation, length fields of elements and
pixel data items, header values (hostile BitsStored, NumberOfFrames, photometric,
palette descriptors, VOI/modality values...), transfer syntax swaps and unknown VRs.
Seeds: ../shared/dicom-samples, resources/demo and files written with
:mod:`ultrasound_reader.dicom.synth` into the cache folder (what the tests write).

``--code-root DIR`` runs another checkout's code in the workers (e.g. an old commit,
for a before/after table); the harness itself and the seed files come from here.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

OUTCOMES = ("refused", "opened", "crash", "hang", "memory", "foreign")
BAD = ("crash", "hang", "memory", "foreign")
_REPO = Path(__file__).resolve().parents[2]
_SHARED = next((d for d in (_REPO.parent / "shared" / "dicom-samples", _REPO / "shared" / "dicom-samples")
                if d.is_dir()), _REPO.parent / "shared" / "dicom-samples")
_DEMO = _REPO / "resources" / "demo"


# --------------------------------------------------------------------------- seeds
def _synth_seeds(folder: Path) -> list[Path]:
    """Small files of every layout the reader handles, written like the tests write them."""
    import numpy as np
    from pydicom.uid import (
        RLELossless,
        DeflatedExplicitVRLittleEndian,
        ExplicitVRBigEndian,
        ExplicitVRLittleEndian,
        ImplicitVRLittleEndian,
        JPEG2000Lossless,
        JPEGBaseline8Bit,
        JPEGLosslessSV1,
        JPEGLSLossless,
    )

    from ultrasound_reader.dicom.synth import speckle_frames, write_dicom

    folder.mkdir(parents=True, exist_ok=True)
    gray = speckle_frames(3, 24, 32, color=False, seed=1)
    rgb = speckle_frames(3, 24, 32, color=True, seed=2)
    g16 = (gray.astype(np.uint16) * 16).astype(np.uint16)
    big_rgb = speckle_frames(2, 64, 64, color=True, seed=5)  # openjpeg needs room for its resolutions
    big16 = (speckle_frames(2, 64, 64, color=False, seed=6).astype(np.uint16) * 16).astype(np.uint16)
    region = [{"x0": 0, "y0": 0, "x1": 31, "y1": 23, "data_type": 1, "delta_x": 0.01, "delta_y": 0.01}]
    specs = {
        "native_gray": (gray, dict(frame_time_ms=33.3, regions=region)),
        "native_rgb": (rgb, dict(cine_rate=25)),
        "native_gray_win": (gray, dict(window=(100, 150), extra={"RescaleSlope": "1", "RescaleIntercept": "0"})),
        "gray16": (g16, dict(bits_stored=12, window=(2048, 4096))),
        "bigendian16": (g16, dict(transfer_syntax=ExplicitVRBigEndian, bits_stored=12)),
        "bigendian_rgb": (rgb, dict(transfer_syntax=ExplicitVRBigEndian)),
        "implicit": (gray, dict(transfer_syntax=ImplicitVRLittleEndian, frame_time_vector=[0, 30, 30])),
        "deflate": (gray, dict(transfer_syntax=DeflatedExplicitVRLittleEndian)),
        "jpeg_bot": (rgb, dict(transfer_syntax=JPEGBaseline8Bit, frame_time_ms=40)),
        "jpeg_nobot": (rgb, dict(transfer_syntax=JPEGBaseline8Bit, offset_table="none", fragments_per_frame=2)),
        "jpeg_eot": (gray, dict(transfer_syntax=JPEGBaseline8Bit, offset_table="extended")),
        "j2k": (big_rgb, dict(transfer_syntax=JPEG2000Lossless, photometric="YBR_RCT")),
        "j2k_gray16": (big16, dict(transfer_syntax=JPEG2000Lossless, bits_stored=12)),
        "jpegls": (gray, dict(transfer_syntax=JPEGLSLossless)),
        "rle": (rgb, dict(transfer_syntax=RLELossless)),
        "jpeg_lossless": (gray, dict(transfer_syntax=JPEGLosslessSV1)),
    }
    pal = (np.linspace(0, 65535, 256).astype(np.uint16), np.linspace(65535, 0, 256).astype(np.uint16),
           np.full(256, 30000, np.uint16))
    specs["palette"] = (gray, dict(photometric="PALETTE COLOR", palette=pal))
    out = []
    for name, (frames, kw) in specs.items():
        path = folder / f"{name}.dcm"
        if not path.exists():
            try:
                write_dicom(path, frames, **kw)
            except Exception as exc:  # an encoder missing here: use the others
                print(f"fuzz: seed {name} not written ({type(exc).__name__}: {exc})", file=sys.stderr)
                continue
        out.append(path)
    return out


def seed_files(cache: Path) -> list[Path]:
    seeds = sorted(_SHARED.glob("*.dcm")) + sorted(_DEMO.glob("**/*.dcm"))
    return seeds + _synth_seeds(cache / "synth")


# --------------------------------------------------------------------------- mutators
_VRS = [v.encode() for v in ("AE AS AT CS DA DS DT FL FD IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM "
                             "UC UI UL UN UR US UT UV").split()]
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT", b"SV", b"UV"}
_TS_CHOICES = ["1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1",
               "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57",
               "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.90",
               "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.201", "1.2.3.4",
               "1.2.840.10008.1.2.4.100", "", "\x01\x02garbage\x1b[31m"]
_INTERESTING_LEN = [0, 1, 2, 3, 4, 7, 8, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFE, 0xFFFFFFFF, 0x10000]


def _element_positions(data: bytes, limit: int) -> list[tuple[int, bytes]]:
    """Offsets of explicit-VR element headers (tag + 2-letter VR) in the first ``limit`` bytes."""
    out = []
    for pos in range(0, min(len(data), limit) - 8, 2):
        vr = data[pos + 4:pos + 6]
        if vr in _VRS and data[pos + 1] in (0x00, 0x08, 0x18, 0x28, 0x20, 0x10, 0x7F, 0x60, 0x50, 0x54, 0x02, 0x00):
            out.append((pos, vr))
    return out


def mut_flip(data: bytearray, rng: random.Random) -> str:
    n = rng.choice((1, 1, 2, 4, 8, 32))
    head = min(len(data), 4096)
    for _ in range(n):
        pos = rng.randrange(head) if rng.random() < 0.7 or len(data) <= head else rng.randrange(len(data))
        data[pos] ^= 1 << rng.randrange(8) if rng.random() < 0.7 else rng.randrange(1, 256)
    return f"flip{n}"


def mut_truncate(data: bytearray, rng: random.Random) -> str:
    cut = rng.randrange(1, len(data))
    del data[cut:]
    return f"truncate@{cut}"


def mut_length(data: bytearray, rng: random.Random) -> str:
    items = [i for i in range(len(data) - 8) if data[i:i + 4] == b"\xfe\xff\x00\xe0"]
    if items and rng.random() < 0.35:
        pos = rng.choice(items)
        old = struct.unpack_from("<L", data, pos + 4)[0]
        new = rng.choice(_INTERESTING_LEN + [old + 1, max(old - 1, 0), old * 2])
        struct.pack_into("<L", data, pos + 4, new & 0xFFFFFFFF)
        return f"itemlen@{pos}={new}"
    elems = _element_positions(bytes(data), 65536)
    if not elems:
        return mut_flip(data, rng)
    pos, vr = rng.choice(elems)
    if vr in _LONG_VRS:
        new = rng.choice(_INTERESTING_LEN)
        struct.pack_into("<L", data, pos + 8, new & 0xFFFFFFFF) if pos + 12 <= len(data) else None
    else:
        new = rng.choice([0, 1, 3, 0xFF, 0xFFFF, 0x8000])
        struct.pack_into("<H", data, pos + 6, new)
    return f"len@{pos}{vr.decode()}={new}"


def mut_vr(data: bytearray, rng: random.Random) -> str:
    elems = [e for e in _element_positions(bytes(data), 65536) if e[0] > 132]
    if not elems:
        return mut_flip(data, rng)
    pos, vr = rng.choice(elems)
    new = rng.choice([b"ZZ", b"XX", b"\x00\x00", b"UN", b"SQ", b"OB", b"US", b"DS"] + _VRS)
    data[pos + 4:pos + 6] = new
    return f"vr@{pos}{vr.decode()}->{new!r}"


def mut_transfer_syntax(data: bytearray, rng: random.Random) -> str:
    pos = bytes(data[:1024]).find(b"\x02\x00\x10\x00UI")
    if pos < 0:
        return mut_flip(data, rng)
    old_len = struct.unpack_from("<H", data, pos + 6)[0]
    value = rng.choice(_TS_CHOICES).encode("latin-1")
    if len(value) % 2:
        value += b"\x00"
    data[pos + 8:pos + 8 + old_len] = value
    struct.pack_into("<H", data, pos + 6, len(value))
    gl = bytes(data[:1024]).find(b"\x02\x00\x00\x00UL")
    if gl >= 0 and rng.random() < 0.8:
        old_gl = struct.unpack_from("<L", data, gl + 8)[0]
        struct.pack_into("<L", data, gl + 8, max(0, old_gl + len(value) - old_len))
    return f"ts={value!r}"


_HEADER_VALUES: dict[str, list] = {
    "BitsStored": [0, 1, 7, 9, 12, 15, 16, 17, 32, 255],
    "BitsAllocated": [0, 1, 7, 12, 16, 32, 64],
    "HighBit": [0, 6, 15, 31, 200],
    "SamplesPerPixel": [0, 1, 2, 3, 4, 255],
    "PhotometricInterpretation": ["CMYK", "ARGB", "YBR_FULL", "YBR_FULL_422", "RGB", "MONOCHROME1",
                                  "PALETTE COLOR", "YBR_ICT", "YBR_RCT", "HSV", "", "X" * 16],
    "NumberOfFrames": [0, -1, 2, 3, 31, 2**31, 2**31 - 1, 10**9, "x", "1e3"],
    "Rows": [0, 1, 2, 65535, 4097],
    "Columns": [0, 1, 3, 65535, 4097],
    "PixelRepresentation": [1, 2],
    "PlanarConfiguration": [1, 2],
    "FrameTime": ["0", "-1", "1e-300", "NaN", "Inf", "1e308"],
    "FrameTimeVector": [["0", "1e-300"], ["0"] * 3, ["NaN"] * 3],
    "CineRate": [0, 65535],
    "RescaleSlope": ["0", "NaN", "1e308", "-1", "2"],
    "RescaleIntercept": ["-1024", "NaN", "1e308", "100"],
    "WindowCenter": ["0", "NaN", "-1e308", "128", "40"],
    "WindowWidth": ["0", "-5", "NaN", "1", "1e-30", "60"],
    "VOILUTFunction": ["SIGMOID", "LINEAR_EXACT", "BOGUS"],
    "RedPaletteColorLookupTableDescriptor": [[0, 0, 16], [65535, 0, 16], [256, 0, 7], [256, 255, 8], [4, 0, 16]],
    "GreenPaletteColorLookupTableDescriptor": [[0, 0, 16], [256, 0, 8], [2, 0, 16]],
    "RedPaletteColorLookupTableData": [b"", b"\x00\x01", b"\xff" * 7],
    "SequenceOfUltrasoundRegions": ["regions"],
    "ExtendedOffsetTable": [b"\x00" * 8, b"\xff" * 24],
    "ModalityLUTSequence": ["lut"],
    "VOILUTSequence": ["lut"],
}


def mut_header(data: bytearray, rng: random.Random) -> str:
    import io

    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    try:
        ds = pydicom.dcmread(io.BytesIO(bytes(data)), force=True)
        ds.PixelData  # noqa: B018 - loads it so that save_as writes it back
    except Exception:
        return mut_flip(data, rng)
    done = []
    for _ in range(rng.choice((1, 1, 2, 3))):
        key = rng.choice(list(_HEADER_VALUES))
        value = rng.choice(_HEADER_VALUES[key])
        try:
            if value == "regions":
                it = Dataset()
                it.RegionSpatialFormat = rng.choice([1, 0, 9])
                it.RegionDataType = rng.choice([1, 2, 99])
                it.RegionLocationMinX0, it.RegionLocationMinY0 = rng.choice([(0, 0), (4000000000, 5), (9, 9)])
                it.RegionLocationMaxX1, it.RegionLocationMaxY1 = rng.choice([(0, 0), (1, 1), (70000, 70000)])
                it.PhysicalUnitsXDirection = rng.choice([3, 0, 99])
                it.PhysicalUnitsYDirection = 3
                it.PhysicalDeltaX = rng.choice([0.0, -1.0, float("nan"), 1e308, 0.01])
                it.PhysicalDeltaY = rng.choice([0.0, float("inf"), 0.01])
                value = Sequence([it] * rng.choice([1, 2, 50]))
            elif value == "lut":
                it = Dataset()
                it.LUTDescriptor = rng.choice([[256, 0, 8], [0, 0, 16], [4096, 0, 16], [2, 65535, 8]])
                it.LUTData = rng.choice([list(range(256)), [0], []])
                if key == "ModalityLUTSequence":
                    it.ModalityLUTType = "US"
                value = Sequence([it])
            setattr(ds, key, value)
            done.append(f"{key}={str(value)[:20]}")
        except Exception:
            continue
    try:
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=False)
    except Exception:
        return mut_flip(data, rng)
    data[:] = buf.getvalue()
    return "hdr:" + ",".join(done)


def mut_splice(data: bytearray, rng: random.Random) -> str:
    a = rng.randrange(len(data))
    n = rng.choice((1, 4, 16, 256))
    chunk = bytes(data[a:a + n]) if rng.random() < 0.5 else bytes(rng.randrange(256) for _ in range(n))
    b = rng.randrange(len(data))
    data[b:b] = chunk
    return f"splice{n}@{b}"


MUTATORS = {"flip": mut_flip, "truncate": mut_truncate, "length": mut_length, "vr": mut_vr,
            "ts": mut_transfer_syntax, "header": mut_header, "splice": mut_splice}
_WEIGHTS = {"flip": 3, "truncate": 1, "length": 2, "vr": 1, "ts": 1, "header": 4, "splice": 1}


def mutate(seed_bytes: bytes, rng: random.Random) -> tuple[bytes, str]:
    data = bytearray(seed_bytes)
    names = list(_WEIGHTS)
    steps = []
    for _ in range(1 if rng.random() < 0.7 else 2):
        name = rng.choices(names, weights=[_WEIGHTS[n] for n in names])[0]
        if len(data) < 16:
            break
        steps.append(MUTATORS[name](data, rng))
    return bytes(data), "+".join(steps)


# --------------------------------------------------------------------------- worker side
_WORKER_BOOT = (
    "import sys, importlib.util as u; sys.path.insert(0, sys.argv[1]); "
    "s = u.spec_from_file_location('_dicom_fuzz_worker', sys.argv[2]); m = u.module_from_spec(s); "
    "sys.modules[s.name] = m; s.loader.exec_module(m); m."
)


def worker_main(mem_mib: int) -> None:
    """Answer one JSON line per path read from stdin (runs in the subprocess)."""
    import io
    import logging
    import resource

    out = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    from ultrasound_reader import cli
    from ultrasound_reader.dicom import open_cine
    from ultrasound_reader.errors import UserError

    limit = mem_mib * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    err_file = tempfile.TemporaryFile()
    png_dir = tempfile.TemporaryDirectory(prefix="dicom-fuzz-png-")
    png = os.path.join(png_dir.name, "frame.png")
    saved_err = os.dup(2)
    out.write("ready\n")
    for line in sys.stdin:
        path = line.strip()
        if not path:
            continue
        result: dict = {}
        err_file.seek(0)
        err_file.truncate()
        sys.stderr.flush()
        os.dup2(err_file.fileno(), 2)
        try:
            try:
                with open_cine(path) as cine:
                    cine.frame(0)
                    cine.frame(cine.n_frames - 1)
                result["outcome"] = "opened"
            except UserError as exc:
                result["outcome"] = "refused"
                result["detail"] = str(exc)[:300]
            except MemoryError:
                result["outcome"] = "memory"
            except Exception as exc:
                tb = exc.__traceback__
                while tb is not None and tb.tb_next is not None:
                    tb = tb.tb_next
                where = f"{Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}" if tb else "?"
                result["outcome"] = "foreign"
                result["detail"] = f"{type(exc).__module__}.{type(exc).__name__} at {where}: {str(exc)[:200]}"
            # The CLI: its own answer (exit 0/1, never 2) and its stderr.
            try:
                rc = cli.main(["inspect", path, "--out", png])  # header and frame 0, as a user would
            except MemoryError:
                rc = -1
            result["inspect_rc"] = rc
            if result["outcome"] in ("opened", "refused") and rc not in (0, 1):
                result["outcome"] = "memory" if rc == -1 else "foreign"
                result["detail"] = f"inspect exit {rc}"
        finally:
            sys.stderr.flush()
            os.dup2(saved_err, 2)
        err_file.seek(0)
        err = err_file.read(100_000).decode("utf-8", "replace")
        result["stderr_lines"] = err.count("\n")
        result["stderr_chars"] = err_file.seek(0, io.SEEK_END)
        result["stderr_ctrl"] = any(ord(c) < 32 and c not in "\n" for c in err)
        result["stderr_head"] = err[:300]
        out.write(json.dumps(result) + "\n")


# --------------------------------------------------------------------------- supervisor side
class Worker:
    """One persistent worker subprocess; restarted after a crash or a hang."""

    def __init__(self, code_root: Path, mem_mib: int, timeout: float) -> None:
        self.code_root = code_root
        self.mem_mib = mem_mib
        self.timeout = timeout
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def _start(self) -> None:
        env = dict(os.environ, PYTHONPATH=str(self.code_root), QT_QPA_PLATFORM="offscreen",
                   OMP_NUM_THREADS="1", OPENCV_FOR_THREADS_NUM="1")
        cmd = [sys.executable, "-c", _WORKER_BOOT + f"worker_main({self.mem_mib})",
               str(self.code_root), str(Path(__file__).resolve())]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=env, text=True, bufsize=1)
        self.starts += 1
        line = self._readline(120)
        if line != "ready":
            raise RuntimeError(f"fuzz worker did not start (got {line!r})")

    def _readline(self, timeout: float) -> str | None:
        assert self.proc is not None and self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return None
        return self.proc.stdout.readline().strip()

    def _kill(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc = None

    def run(self, path: Path) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(str(path) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        line = self._readline(self.timeout)
        if line is None and self.proc.poll() is None:
            self._kill()
            return {"outcome": "hang", "detail": f"no answer in {self.timeout:g} s"}
        if not line:
            self.proc.wait()
            rc = self.proc.returncode
            self.proc = None
            sig = signal.Signals(-rc).name if rc is not None and rc < 0 else f"exit {rc}"
            return {"outcome": "crash", "detail": sig}
        return json.loads(line)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self._kill()


_CHATTER = ("Warning", "WARNING", "ERROR", "Traceback", "error")


def is_noisy(result: dict) -> bool:
    """Stderr beyond the CLI's one line for a refusal: Python warnings/log lines, long or control text.

    libjpeg's own one-line remarks on corrupt entropy data ("Corrupt JPEG data: ...", printed
    by a C library that offers no switch; OpenCV's did, Pillow's is quiet) are not counted.
    """
    if result.get("stderr_ctrl") or result.get("stderr_chars", 0) > 600:
        return True
    others = [line for line in result.get("stderr_head", "").splitlines()
              if not line.startswith("ultrasound-reader inspect: error: ")]
    return any(w in line for line in others for w in _CHATTER)


@dataclass
class Campaign:
    tried: int = 0
    outcomes: Counter = field(default_factory=Counter)
    noisy: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)
    foreign_types: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    def add(self, index: int, how: str, seed: Path, result: dict) -> None:
        self.tried += 1
        outcome = result["outcome"]
        self.outcomes[outcome] += 1
        if is_noisy(result):
            self.noisy += 1
            self.examples.setdefault("noisy", [])
            if len(self.examples["noisy"]) < 5:
                self.examples["noisy"].append(f"#{index} {seed.name} {how}: "
                                              f"{result.get('stderr_lines')} lines, "
                                              f"{result.get('stderr_chars')} chars: "
                                              f"{result.get('stderr_head', '')[:160]!r}")
        if outcome == "foreign":
            self.foreign_types[result.get("detail", "?").split(" at ")[0]] += 1
        if outcome in BAD:
            self.examples.setdefault(outcome, [])
            if len(self.examples[outcome]) < 8:
                self.examples[outcome].append(f"#{index} {seed.name} {how}: {result.get('detail', '')[:200]}")

    def table(self) -> str:
        head = ["tried"] + list(OUTCOMES) + ["noisy"]
        row = [self.tried] + [self.outcomes.get(o, 0) for o in OUTCOMES] + [self.noisy]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
                 "| " + " | ".join(str(v) for v in row) + " |"]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"tried": self.tried, **{o: self.outcomes.get(o, 0) for o in OUTCOMES}, "noisy": self.noisy,
                "seconds": round(self.seconds, 1), "examples": self.examples,
                "foreign_types": dict(self.foreign_types)}


def run_campaign(n_files: int, seed: int, *, jobs: int = 1, code_root: Path | None = None,
                 timeout: float = 20.0, mem_mib: int = 3072, work: Path | None = None,
                 keep: Path | None = None, start: int = 0, progress: bool = False) -> Campaign:
    """Mutate ``n_files`` files (indices start..start+n-1 of ``seed``) and run them supervised."""
    import warnings

    warnings.simplefilter("ignore")  # pydicom's remarks on the files the mutators write
    code_root = Path(code_root or _REPO).resolve()
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ultrasound-reader" / "fuzz"
    seeds = seed_files(cache)
    seed_bytes = [p.read_bytes() for p in seeds]
    own_tmp = None
    if work is None:
        own_tmp = tempfile.TemporaryDirectory(prefix="dicom-fuzz-")
        work = Path(own_tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    campaign = Campaign()
    lock = threading.Lock()
    local = threading.local()
    workers: list[Worker] = []
    t0 = time.monotonic()

    def one(index: int) -> None:
        if not hasattr(local, "worker"):
            local.worker = Worker(code_root, mem_mib, timeout)
            with lock:
                workers.append(local.worker)
        rng = random.Random(seed * 1_000_003 + index)
        k = rng.randrange(len(seeds))
        data, how = mutate(seed_bytes[k], rng)
        path = work / f"f{index:06d}{seeds[k].suffix}"
        path.write_bytes(data)
        result = local.worker.run(path)
        with lock:
            campaign.add(index, how, seeds[k], result)
            if keep is not None and result["outcome"] in BAD:
                keep.mkdir(parents=True, exist_ok=True)
                (keep / f"{result['outcome']}-{seed}-{index}-{seeds[k].stem}.dcm").write_bytes(data)
            if progress and campaign.tried % 500 == 0:
                print(f"fuzz: {campaign.tried}/{n_files} in {time.monotonic() - t0:.0f} s "
                      f"{dict(campaign.outcomes)}", file=sys.stderr, flush=True)
        path.unlink(missing_ok=True)

    try:
        with ThreadPoolExecutor(max(1, jobs)) as pool:
            for fut in [pool.submit(one, i) for i in range(start, start + n_files)]:
                fut.result()
    finally:
        for w in workers:
            w.close()
        if own_tmp is not None:
            own_tmp.cleanup()
    campaign.seconds = time.monotonic() - t0
    return campaign


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ultrasound_reader.dicom.fuzz", description=__doc__.split("\n")[0])
    p.add_argument("--files", type=int, default=300, help="how many mutated files (default 300)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--start", type=int, default=0, help="first file index (to reproduce one file)")
    p.add_argument("--jobs", type=int, default=1, help="worker processes")
    p.add_argument("--timeout", type=float, default=20.0, help="seconds per file before it counts as a hang")
    p.add_argument("--mem-mib", type=int, default=3072, help="address-space limit of a worker")
    p.add_argument("--code-root", type=Path, default=None, help="checkout whose code the workers run")
    p.add_argument("--keep", type=Path, default=None, help="folder to keep the files with a bad outcome")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    c = run_campaign(args.files, args.seed, jobs=args.jobs, code_root=args.code_root, timeout=args.timeout,
                     mem_mib=args.mem_mib, keep=args.keep, start=args.start, progress=not args.json)
    if args.json:
        print(json.dumps(c.to_dict()))
    else:
        print(c.table())
        print(f"{c.seconds:.0f} s")
        for kind, ex in c.examples.items():
            print(f"{kind}:")
            for e in ex:
                print(f"  {e}")
        if c.foreign_types:
            print("foreign exception types:", dict(c.foreign_types.most_common()))
    return 1 if any(c.outcomes.get(o) for o in BAD) else 0


if __name__ == "__main__":
    sys.exit(main())
