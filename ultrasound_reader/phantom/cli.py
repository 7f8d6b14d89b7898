"""``ultrasound-reader phantom``: generate synthetic ultrasound phantom cases.

    ultrasound-reader phantom --task liver --cases 100 --seed 1 --out DIR [--json]

Writes one folder per case (DICOM files + case.json), ``truth.csv`` (kept apart
from the cases so a reader study stays blind) and ``phantom.json`` (what made
them). The same seed writes the same bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter

from ultrasound_reader.cliargs import int_arg as _int
from ultrasound_reader.errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    # Values are checked in run(), not by argparse, so that every bad argument gives
    # one clear line (argparse would print its usage block as well).
    p.add_argument("--task", metavar="TASK", help="liver (focal liver lesion cines) or soft-tissue "
                   "(superficial mass: grayscale + CDFI)")
    p.add_argument("--cases", metavar="N", help="number of cases")
    p.add_argument("--seed", default="0", metavar="S", help="random seed (default 0)")
    p.add_argument("--out", metavar="DIR", help="output folder (created if missing)")
    p.add_argument("--first", default="0", metavar="K",
                   help="index of the first case (cases K..K+N-1; a case depends only on seed and index)")
    p.add_argument("--frames", default="24", metavar="F", help="liver cine length (default 24)")
    p.add_argument("--compression", default="jpeg", metavar="C",
                   help="jpeg (YBR_FULL_422 baseline, default), rle or none")
    p.add_argument("--quality", default=None, metavar="Q",
                   help="JPEG quality 30-100 (default: each centre's scanner setting)")
    p.add_argument("--workers", default=None, metavar="W",
                   help="parallel processes (default: the number of CPUs, at most 8)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from ultrasound_reader.phantom.generate import Options, default_workers, generate

    if args.task not in ("liver", "soft-tissue"):
        raise UserError("--task is required: liver or soft-tissue" if args.task is None
                        else f"--task: {args.task!r} is not liver or soft-tissue")
    if not args.out:
        raise UserError("--out is required (the folder to write the cases to)")
    n, seed, first = _int("cases", args.cases), _int("seed", args.seed), _int("first", args.first)
    frames = _int("frames", args.frames)
    quality = _int("quality", args.quality, required=False)
    workers = _int("workers", args.workers, required=False)
    if first < 0:
        raise UserError(f"--first: {first} must be >= 0")
    workers = default_workers() if workers is None else workers
    if workers < 1:
        raise UserError(f"--workers: {workers} must be at least 1")
    options = Options(frames=frames, compression=args.compression, quality=quality)
    t0 = time.perf_counter()
    show = None if args.json or not sys.stderr.isatty() else _progress
    cases, truths = generate(args.task, n, seed, args.out, first=first, workers=min(workers, max(n, 1)),
                             options=options, progress=show)
    seconds = time.perf_counter() - t0
    summary = {
        "task": args.task,
        "out": str(args.out),
        "cases": len(cases),
        "seed": seed,
        "first": first,
        "seconds": round(seconds, 2),
        "malignant": sum(t.malignant for t in truths),
        "subtypes": dict(sorted(Counter(t.subtype for t in truths).items())),
        "centres": dict(sorted(Counter(t.centre for t in truths).items())),
        "truth": str(args.out).rstrip("/") + "/truth.csv",
        "case_ids": [c.case_id for c in cases],
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{len(cases)} {args.task} phantom case(s) in {args.out} ({seconds:.1f} s), "
              f"{summary['malignant']} malignant; truth in {summary['truth']}")
    return 0


def _progress(done: int, total: int) -> None:
    print(f"\r{done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)
