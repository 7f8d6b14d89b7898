"""``ultrasound-reader study ...``: reader studies from the command line (a contract for scripts).

    study create  --db URL --name NAME --cases DIR --truth CSV --bundle DIR
                  [--design sequential|crossover] [--seed N] [--questions liver|soft-tissue] [--washout-days D]
    study reader add --db URL --id R1 [--name ...] --years 8
    study answer  --db URL --reader R1 --case N --phase pre|post --malignant yes|no --likelihood 0-100
                  [--subtype NAME] [--confidence 1-5] [--comment TEXT] [--concern x0,y0,x1,y1]
    study reveal  --db URL --reader R1 --case N      (locks the pre-AI answer; prints the AI output as JSON)
    study status  --db URL [--json]
    study export  --db URL --format long|imrmc|mrmcaov --out CSV
    study analyze --db URL [--json] [--plots DIR]
    study demo    --out DIR
    study read    --db URL --reader R1 [--screenshot PNG]    (the GUI reader mode)
    study coordinate [--db URL] [--screenshot PNG]          (the GUI coordinator window)

``--db`` is a SQLAlchemy URL; a plain path means a SQLite file. Values are checked
here rather than by argparse so every bad argument gives one clear line (exit 1).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ultrasound_reader.cliargs import int_arg as _int, float_arg as _float, required_arg as _required
from ultrasound_reader.errors import UserError


def _db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="URL", help="SQLAlchemy URL of the study database, or a SQLite file path")


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="study_command", metavar="ACTION")

    c = sub.add_parser("create", help="make a study: cases, truth, and the AI output of every case")
    _db(c)
    c.add_argument("--name", metavar="NAME", help="study name")
    c.add_argument("--cases", metavar="DIR", help="folder of case folders (as 'phantom' writes)")
    c.add_argument("--truth", metavar="CSV", help="truth CSV (case_id, malignant, subtype, ...): stored, never shown")
    c.add_argument("--bundle", metavar="DIR", help="model bundle whose output the readers see")
    c.add_argument("--design", default="sequential", metavar="D", help="sequential (default) or crossover")
    c.add_argument("--seed", default="0", metavar="N", help="seed of the readers' case orders (default 0)")
    c.add_argument("--questions", default=None, metavar="Q", help="liver or soft-tissue (default: the cases' task)")
    c.add_argument("--washout-days", default=None, metavar="D",
                   help="crossover: days between the two sessions (default 28)")
    c.add_argument("--json", action="store_true", help="print one JSON object")

    r = sub.add_parser("reader", help="manage readers")
    rsub = r.add_subparsers(dest="reader_command", metavar="ACTION")
    ra = rsub.add_parser("add", help="add a reader")
    _db(ra)
    ra.add_argument("--id", dest="reader_id", metavar="R1", help="reader id")
    ra.add_argument("--name", metavar="NAME", help="reader name (optional)")
    ra.add_argument("--years", metavar="Y", help="experience in years")
    ra.add_argument("--json", action="store_true", help="print one JSON object")

    a = sub.add_parser("answer", help="commit one answer (headless reading)")
    _db(a)
    a.add_argument("--reader", metavar="R1", help="reader id")
    a.add_argument("--case", metavar="N", help="case position in the reader's order (1-based)")
    a.add_argument("--phase", metavar="P", help="pre (before the AI) or post (after the AI)")
    a.add_argument("--malignant", metavar="yes|no", help="the reader's call")
    a.add_argument("--likelihood", metavar="0-100", help="likelihood of malignancy, 0-100")
    a.add_argument("--subtype", metavar="NAME", help="benign subtype (soft tissue)")
    a.add_argument("--confidence", metavar="1-5", help="confidence 1-5 (optional)")
    a.add_argument("--comment", metavar="TEXT", help="free-text comment (optional)")
    a.add_argument("--concern", metavar="x0,y0,x1,y1", help="area of concern on the first image, pixels")
    a.add_argument("--json", action="store_true", help="print one JSON object")

    v = sub.add_parser("reveal", help="lock the pre-AI answer and print the AI output as JSON")
    _db(v)
    v.add_argument("--reader", metavar="R1", help="reader id")
    v.add_argument("--case", metavar="N", help="case position in the reader's order (1-based)")

    s = sub.add_parser("status", help="progress per reader")
    _db(s)
    s.add_argument("--json", action="store_true", help="print one JSON object")

    e = sub.add_parser("export", help="write the answers as CSV (long, iMRMC or MRMCaov layout)")
    _db(e)
    e.add_argument("--format", metavar="F", help="long, imrmc or mrmcaov")
    e.add_argument("--out", metavar="CSV", help="output file")
    e.add_argument("--json", action="store_true", help="print one JSON object")

    n = sub.add_parser("analyze", help="the study's statistics (pre vs post AI, MRMC, experience groups)")
    _db(n)
    n.add_argument("--plots", metavar="DIR", help="write PNG plots here")
    n.add_argument("--json", action="store_true", help="print one JSON object")

    rd = sub.add_parser("read", help="open the GUI reader mode for one reader (blinded reads, then the AI)")
    _db(rd)
    rd.add_argument("--reader", metavar="R1", help="reader id")
    rd.add_argument("--screenshot", metavar="PNG", help="save a picture of the window to PNG and exit")

    co = sub.add_parser("coordinate", help="open the GUI coordinator window (create, readers, progress, export, "
                        "analysis)")
    _db(co)
    co.add_argument("--screenshot", metavar="PNG", help="save a picture of the window to PNG and exit")

    d = sub.add_parser("demo", help="a ready study on phantom cases with SIMULATED readers")
    d.add_argument("--out", metavar="DIR", help="output folder (created)")
    d.add_argument("--json", action="store_true", help="print one JSON object")


def _yes_no(value: str | None) -> bool:
    v = _required("malignant", value).strip().lower()
    if v in ("yes", "y", "1", "true"):
        return True
    if v in ("no", "n", "0", "false"):
        return False
    raise UserError(f"--malignant: {value!r} is not yes or no")


def _emit(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, default=str))
    else:
        print(text)


def run(args: argparse.Namespace) -> int:
    cmd = args.study_command
    if cmd is None:
        raise UserError("study: give an action (create, reader add, answer, reveal, status, export, analyze, demo, "
                        "read, coordinate)")
    if cmd == "demo":
        return _demo(args)
    if cmd == "coordinate":
        from ultrasound_reader.gui.study_cli import run_coordinate

        return run_coordinate(args)
    _required("db", args.db)
    if cmd == "create":
        return _create(args)
    if cmd == "reader":
        if args.reader_command != "add":
            raise UserError("study reader: give an action (add)")
        return _reader_add(args)
    if cmd == "answer":
        return _answer(args)
    if cmd == "reveal":
        return _reveal(args)
    if cmd == "status":
        return _status(args)
    if cmd == "export":
        return _export(args)
    if cmd == "analyze":
        return _analyze(args)
    if cmd == "read":
        from ultrasound_reader.gui.study_cli import run_read

        return run_read(args)
    raise UserError(f"study: unknown action {cmd!r}")


def _create(args: argparse.Namespace) -> int:
    from ultrasound_reader.study.service import create_study

    show = None
    if not args.json and sys.stderr.isatty():
        def show(i: int, n: int) -> None:
            print(f"\ranalysing case {i}/{n}", end="" if i < n else "\n", file=sys.stderr, flush=True)

    out = create_study(args.db, _required("name", args.name), _required("cases", args.cases),
                       _required("truth", args.truth), _required("bundle", args.bundle),
                       design=args.design, seed=_int("seed", args.seed), questions=args.questions,
                       washout_days=_float("washout-days", args.washout_days, required=False), progress=show)
    _emit(args, out, f"study {out['study']!r} ({out['task']}, {out['design']}): {out['cases']} cases, AI output of "
          f"{out['bundle']} {out['bundle_version']} stored; database {out['db']}")
    return 0


def _reader_add(args: argparse.Namespace) -> int:
    from ultrasound_reader.study.service import add_reader

    out = add_reader(args.db, _required("id", args.reader_id), _float("years", args.years), name=args.name)
    _emit(args, out, f"reader {out['reader']} added ({out['years']:g} years, group {out['group']}), "
          f"{out['cases']} cases in a randomised order (seed {out['order_seed']})")
    return 0


def _answer(args: argparse.Namespace) -> int:
    from ultrasound_reader.study.service import AnswerInput, answer, parse_concern

    phase = _required("phase", args.phase)
    if phase not in ("pre", "post"):
        raise UserError(f"--phase: {phase!r} is not pre or post")
    a = AnswerInput(phase=phase, malignant=_yes_no(args.malignant), likelihood=_int("likelihood", args.likelihood),
                    subtype=args.subtype or None, confidence=_int("confidence", args.confidence, required=False),
                    comment=args.comment, concern=parse_concern(args.concern))
    out = answer(args.db, _required("reader", args.reader), _int("case", args.case), a)
    nxt = out["next"]
    tail = "all cases done" if nxt is None else f"next: case {nxt['case']} {nxt['step']}"
    _emit(args, out, f"reader {out['reader']} case {out['case']}: {out['phase']}-AI answer committed; {tail}")
    return 0


def _reveal(args: argparse.Namespace) -> int:
    from ultrasound_reader.study.service import reveal

    out = reveal(args.db, _required("reader", args.reader), _int("case", args.case))
    print(json.dumps(out, indent=2, default=str))
    return 0


def _status(args: argparse.Namespace) -> int:
    from ultrasound_reader.study.service import status

    out = status(args.db)
    lines = [f"study {out['study']!r}: {out['task']}, {out['design']}, {out['cases']} cases, "
             f"bundle {out['bundle']['name']} {out['bundle']['version']}"
             + (" - SIMULATED demo study" if out["simulated"] else "")]
    if not out["readers"]:
        lines.append("  no readers yet (add one with 'study reader add')")
    for r in out["readers"]:
        nxt = r["next"]
        where = "complete" if nxt is None else f"next case {nxt['case']} {nxt['step']}"
        if r.get("waiting"):
            where += f" ({r['waiting']})"
        sim = " [SIMULATED reader]" if r["simulated"] else ""
        lines.append(f"  {r['reader']}{sim} ({r['years']:g} y, {r['group']}): pre {r['pre']}/{out['cases']}, "
                     f"revealed {r['revealed']}, post {r['post']}/{out['cases']}; {where}")
    lines.append(f"  audit: {out['audit_events']} events, {out['refused_attempts']} refused attempts")
    _emit(args, out, "\n".join(lines))
    return 0


def _export(args: argparse.Namespace) -> int:
    from ultrasound_reader.study.export import export

    out = export(args.db, _required("format", args.format), _required("out", args.out))
    _emit(args, out, f"{out['rows']} rows ({out['format']} layout) written to {out['out']}")
    return 0


def _analyze(args: argparse.Namespace) -> int:
    from ultrasound_reader.study.analysis import analyze, format_report

    out = analyze(args.db, plots=args.plots)
    if args.json:
        from ultrasound_reader.stats.jsonutil import jsonable

        print(json.dumps(jsonable(out), indent=2))
    else:
        print(format_report(out))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from ultrasound_reader.study.demo import make_demo

    out = make_demo(_required("out", args.out))
    _emit(args, out, "\n".join([
        f"SIMULATED demo study in {out['out']}: {out['cases']} phantom cases, "
        f"{len(out['readers'])} simulated readers ({', '.join(out['readers'])})",
        f"  database: {out['db']}",
        f"  try: ultrasound-reader study status --db {out['db']}",
        f"       ultrasound-reader study analyze --db {out['db']} --plots {out['out']}/plots",
    ]))
    return 0
