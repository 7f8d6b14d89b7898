"""``ultrasound-reader export CASE [--bundle DIR] [--sr FILE] [--sc FILE] [--pdf FILE] [--no-deid]``.

Analyses the case with the bundle (default: the bundled demo of the case's task) and
writes the asked outputs, de-identified unless ``--no-deid``. ``--sc FILE`` writes the
overlay picture there and the nomogram beside it (``<stem>_nomogram.dcm``).
``--images DIR`` also writes (de-identified) copies of the case's images, which the
SR references. Send the files with ``ultrasound-reader pacs send``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ultrasound_reader.errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("case", metavar="CASE", help="case folder (holding case.json) or a .json case file")
    p.add_argument("--bundle", metavar="DIR", help="model bundle (default: the bundled demo of the case's task)")
    p.add_argument("--sr", metavar="FILE", help="write a DICOM Comprehensive SR (TID 1500 measurement report)")
    p.add_argument("--sc", metavar="FILE", help="write secondary captures (overlay; nomogram beside it)")
    p.add_argument("--pdf", metavar="FILE", help="write the one-page PDF report")
    p.add_argument("--images", metavar="DIR", help="also write copies of the case's DICOM images here")
    p.add_argument("--no-deid", action="store_true", help="keep patient identity (default: de-identify, PS3.15)")
    p.add_argument("--remove-dates", action="store_true", help="de-identify by removing dates instead of shifting")
    p.add_argument("--threads", type=int, default=2, metavar="N", help="torch CPU threads (default 2)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from ultrasound_reader.ai.cli import default_bundle
    from ultrasound_reader.ai.onnx_runtime import load_for_runtime
    from ultrasound_reader.case import Case
    from ultrasound_reader.export.core import Export

    if not (args.sr or args.sc or args.pdf or args.images):
        raise UserError("nothing to export: give --sr, --sc, --pdf and/or --images")
    if args.threads < 1:
        raise UserError(f"--threads: must be >= 1, got {args.threads}")
    for opt in ("sr", "sc", "pdf"):
        v = getattr(args, opt)
        if v and Path(v).is_dir():
            raise UserError(f"--{opt} {v}: is a folder; give a file name")
    case = Case.load(args.case)
    bundle = load_for_runtime(Path(args.bundle) if args.bundle else default_bundle(case.task), case.task,
                              threads=args.threads)
    from ultrasound_reader.ai.analyzer import Analyzer

    result = Analyzer(bundle, threads=args.threads, cam=bool(args.sc or args.pdf)).run(case)
    job = Export(case, result, bundle, deid=not args.no_deid, dates="remove" if args.remove_dates else "shift")
    if args.sr:
        job.sr(Path(args.sr))
    if args.sc:
        job.sc(Path(args.sc))
    if args.pdf:
        job.pdf(Path(args.pdf))
    if args.images:
        job.images(Path(args.images))
    out = job.outputs.to_dict()
    if args.json:
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        lines = [f"exported case {job.case_label} ({'de-identified' if job.deid else 'IDENTIFIED'})"
                 + (" - NOT FOR CLINICAL USE (demo model)" if job.demo else "")]
        for label, value in (("SR", out["sr"]), ("PDF", out["pdf"])):
            if value:
                lines.append(f"  {label}: {value}")
        lines += [f"  SC: {p}" for p in out["sc"]] + [f"  image: {p}" for p in out["images"]]
        lines += [f"  warning: {w}" for w in out["warnings"]]
        print("\n".join(lines))
    return 0
