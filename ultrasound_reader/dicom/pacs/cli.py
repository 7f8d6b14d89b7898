"""``ultrasound-reader pacs echo|query|retrieve|send|nodes``.

::

    pacs echo     --node NAME|URL
    pacs query    --node NAME|URL [--patient-id ID] [--name NAME] [--accession A]
                  [--date FROM..TO] [--modality US] [--study UID] [--series] [--json]
    pacs retrieve --node NAME|URL --study UID [--series UID] [--method get|move] [--dest DIR] [--json]
    pacs send     --node NAME|URL FILE_OR_FOLDER... [--json]
    pacs nodes    list | add NAME (--dimse AE@HOST:PORT | --url URL) [...] | remove NAME

A node is a name from the nodes file (see nodes.py) or an address:
``dicom://AE@host:port`` (DIMSE) or an ``http(s)://`` DICOMweb base URL.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ultrasound_reader.errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="pacs_command", metavar="ACTION", required=True)

    def common(sp: argparse.ArgumentParser, json_help: str = "print one JSON object") -> None:
        sp.add_argument("--node", required=True, metavar="NAME|URL",
                        help="a configured node, dicom://AE@host:port or a DICOMweb http(s) URL")
        sp.add_argument("--timeout", type=float, metavar="S", help="network timeout in seconds (default: the node's)")
        sp.add_argument("--json", action="store_true", help=json_help)

    e = sub.add_parser("echo", help="check that the PACS answers (C-ECHO or a QIDO query)")
    common(e)
    q = sub.add_parser("query", help="search studies (modality US by default)")
    common(q, "print the matches as one JSON object")
    q.add_argument("--patient-id", default="", metavar="ID")
    q.add_argument("--name", default="", metavar="NAME", help="patient name (DICOM wildcards * and ?)")
    q.add_argument("--accession", default="", metavar="A")
    q.add_argument("--date", default="", metavar="FROM..TO", help="study date or range (YYYY-MM-DD)")
    q.add_argument("--modality", default="US", help="modality in study (default US; '' for any)")
    q.add_argument("--study", default="", metavar="UID", help="a study instance UID")
    q.add_argument("--series", action="store_true", help="list the series of each study too")
    q.add_argument("--limit", type=int, default=200, help="refuse more matches than this (default 200)")
    r = sub.add_parser("retrieve", help="retrieve a study or a series into the local cache")
    common(r)
    r.add_argument("--study", required=True, metavar="UID")
    r.add_argument("--series", metavar="UID")
    r.add_argument("--method", choices=("get", "move"), help="DIMSE: C-GET (default) or C-MOVE")
    r.add_argument("--dest", metavar="DIR", help="cache folder (default: the user cache, pacs/)")
    s = sub.add_parser("send", help="store files (and exports) on the PACS (C-STORE or STOW-RS)")
    common(s)
    s.add_argument("paths", nargs="+", metavar="FILE_OR_FOLDER")
    n = sub.add_parser("nodes", help="list, add or remove configured PACS nodes")
    nsub = n.add_subparsers(dest="nodes_command", metavar="ACTION", required=True)
    nl = nsub.add_parser("list", help="list the configured nodes")
    nl.add_argument("--json", action="store_true")
    na = nsub.add_parser("add", help="add (or with --replace, change) a node")
    na.add_argument("name")
    where = na.add_mutually_exclusive_group(required=True)
    where.add_argument("--dimse", metavar="AE@HOST:PORT", help="a DIMSE node")
    where.add_argument("--url", help="a DICOMweb base URL")
    na.add_argument("--calling-ae", help="DIMSE: our AE title (default USREADER)")
    na.add_argument("--move-port", type=int, help="DIMSE: port of our C-MOVE storage SCP (default 11112)")
    na.add_argument("--auth", choices=("none", "basic", "bearer"), help="DICOMweb: authentication (default none)")
    na.add_argument("--username", help="DICOMweb: user name for basic auth")
    na.add_argument("--password-stdin", action="store_true",
                    help="read the password or token from stdin (stored in the keyring when there is one)")
    na.add_argument("--timeout", type=float, default=30.0)
    na.add_argument("--replace", action="store_true")
    nr = nsub.add_parser("remove", help="remove a node (and its stored secret)")
    nr.add_argument("name")


def _print(args: argparse.Namespace, data: dict[str, Any], human: str) -> None:
    if getattr(args, "json", False):
        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(human)


def _node(args: argparse.Namespace) -> Any:
    from ultrasound_reader.dicom.pacs.nodes import resolve

    if args.timeout is not None and not 0 < args.timeout <= 3600:
        raise UserError(f"--timeout: {args.timeout} s is outside 0-3600 s")
    return resolve(args.node, args.timeout)


def _progress(enabled: bool) -> Any:
    if not enabled:
        return None

    def show(p: Any) -> None:
        total = f"/{p.total}" if p.total else ""
        print(f"\r{p.message} {p.done}{total} files, {p.bytes / 1e6:.1f} MB", end="", file=sys.stderr, flush=True)

    return show


@contextlib.contextmanager
def _progress_line(enabled: bool) -> Iterator[Any]:
    """The progress callback; the \\r-rewritten line is ended with a newline afterwards
    (also on error), so the next output starts on its own line."""
    show = _progress(enabled)
    shown = False

    def once(p: Any) -> None:
        nonlocal shown
        shown = True
        show(p)

    try:
        yield once if show is not None else None
    finally:
        if shown:
            print(file=sys.stderr, flush=True)


def _is_part10(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:] == b"DICM"


def _files(paths: list[str]) -> list[Path]:
    """Files as given; in a folder, the DICOM files (Part 10) in it, recursively (a case folder
    also holds case.json and PNGs: they are not sent)."""
    out: list[Path] = []
    for s in paths:
        p = Path(s)
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.is_file() and not q.name.startswith(".") and _is_part10(q))
            if not found:
                raise UserError(f"{p}: the folder holds no DICOM file")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise UserError(f"{p}: no such file or folder")
    return out


def run(args: argparse.Namespace) -> int:
    from ultrasound_reader.dicom import pacs

    import logging

    if getattr(args, "verbose", False):
        logging.getLogger("pynetdicom").setLevel(logging.DEBUG)
    cmd = args.pacs_command
    if cmd == "nodes":
        return _nodes(args)
    node = _node(args)
    if cmd == "echo":
        seconds = pacs.echo(node)
        _print(args, {"node": node.name, "address": node.address, "kind": node.kind, "ok": True,
                      "seconds": round(seconds, 4)},
               f"{node.name} ({node.address}): answered in {seconds * 1000:.0f} ms")
        return 0
    if cmd == "query":
        start, end = pacs.parse_date_range(args.date)
        q = pacs.Query(patient_id=args.patient_id, patient_name=args.name, accession=args.accession,
                       date_from=start, date_to=end, modality=args.modality, study_uid=args.study,
                       limit=args.limit)
        studies = pacs.query(node, q, with_series=args.series)
        lines = [f"{len(studies)} stud{'y' if len(studies) == 1 else 'ies'} on {node.name} ({node.address})"]
        for st in studies:
            lines.append(f"  {st.date or '-':8}  {st.patient_id or '-'}  {st.patient_name or '-'}  "
                         f"acc {st.accession or '-'}  {'/'.join(st.modalities) or '-'}  "
                         f"{st.n_series if st.n_series is not None else '?'} series, "
                         f"{st.n_instances if st.n_instances is not None else '?'} instances  {st.description}")
            lines.append(f"      study {st.study_uid}")
            for se in st.series:
                lines.append(f"      series {se.number if se.number is not None else '-'} {se.modality} "
                             f"{se.n_instances if se.n_instances is not None else '?'} instances "
                             f"{se.description}  {se.series_uid}")
        _print(args, {"node": node.name, "studies": [s.to_dict() for s in studies]}, "\n".join(lines))
        return 0
    if cmd == "retrieve":
        with _progress_line(not args.json and sys.stderr.isatty()) as progress:
            res = pacs.retrieve(node, args.study, args.series, method=args.method,
                                root=Path(args.dest) if args.dest else None, progress=progress)
        _print(args, {"node": node.name, **res.to_dict()},
               f"retrieved {len(res.files)} file(s), {res.bytes / 1e6:.2f} MB in {res.seconds:.2f} s "
               f"({res.method}) into " + ", ".join(str(f) for f in res.folders))
        return 0
    if cmd == "send":
        files = _files(args.paths)
        with _progress_line(not args.json and sys.stderr.isatty()) as progress:
            res = pacs.send(node, files, progress=progress)
        human = (f"sent {len(res.sent)} file(s), {res.bytes / 1e6:.2f} MB in {res.seconds:.2f} s ({res.method}) "
                 f"to {node.name}")
        for f, why in res.failed:
            human += f"\n  refused: {f}: {why}"
        _print(args, {"node": node.name, **res.to_dict()}, human)
        if res.failed:
            raise UserError(f"the PACS refused {len(res.failed)} of {len(res.failed) + len(res.sent)} file(s), "
                            f"first {res.failed[0][0]}: {res.failed[0][1]}")
        return 0
    raise UserError(f"unknown pacs action {cmd!r}")


def _nodes(args: argparse.Namespace) -> int:
    from ultrasound_reader.dicom.pacs import nodes as N

    if args.nodes_command == "list":
        all_nodes = N.load_nodes()
        lines = [f"{len(all_nodes)} node(s) in {N.nodes_path()} (secrets: {N.secret_store()})"]
        for n in all_nodes.values():
            extra = f" auth {n.auth}" + (f" user {n.username}" if n.username else "") if n.kind == "dicomweb" else \
                f" as {n.calling_ae}, move port {n.move_port}"
            lines.append(f"  {n.name:<16} {n.kind:<8} {n.address}{extra}")
        _print(args, {"file": str(N.nodes_path()), "nodes": [n.to_dict() for n in all_nodes.values()]},
               "\n".join(lines))
        return 0
    if args.nodes_command == "remove":
        N.remove_node(args.name)
        print(f"removed PACS node {args.name}")
        return 0
    # add
    # options of the other kind of node are refused, not silently dropped
    if args.dimse:
        wrong = [o for o, v in (("--auth", args.auth), ("--username", args.username),
                                ("--password-stdin", args.password_stdin or None)) if v is not None]
    else:
        wrong = [o for o, v in (("--calling-ae", args.calling_ae), ("--move-port", args.move_port)) if v is not None]
    if wrong:
        kind = "a DIMSE (--dimse)" if args.dimse else "a DICOMweb (--url)"
        raise UserError(f"{', '.join(wrong)}: not an option of {kind} node")
    if args.dimse:
        a = N.parse_address(f"dicom://{args.dimse}", option="--dimse")
        node = N.Node(name=args.name, kind="dimse", ae_title=a.ae_title, host=a.host, port=a.port,
                      calling_ae=args.calling_ae or N.DEFAULT_CALLING_AE,
                      move_port=11112 if args.move_port is None else args.move_port, timeout=args.timeout)
    else:
        node = N.Node(name=args.name, kind="dicomweb", url=args.url, auth=args.auth or "none",
                      username=args.username or "", timeout=args.timeout)
    secret = None
    if args.password_stdin:
        secret = sys.stdin.readline().rstrip("\r\n")
        if not secret:
            raise UserError("--password-stdin: read an empty password")
    if node.kind == "dicomweb" and node.auth != "none" and not secret and N.load_secret(node.name) is None:
        raise UserError(f"node {node.name}: {node.auth} auth needs a password/token (--password-stdin)")
    path = N.add_node(node, secret, replace=args.replace)
    print(f"saved PACS node {node.name} ({node.address}) in {path}"
          + (f"; secret stored in {N.secret_store()}" if secret else ""))
    return 0
