"""The one entry point, ``ultrasound-reader``.

``ultrasound-reader`` alone opens the GUI on the bundled demo; ``ultrasound-reader
FILE...`` opens files in the GUI; ``ultrasound-reader COMMAND ...`` runs a
sub-command. This module holds no logic of its own: each sub-command lives in the
layer it belongs to, as a module with ``add_arguments(parser)`` and
``run(args) -> int``, and is imported only when called (so ``inspect`` never pays
for torch or Qt).

Exit codes: 0 ok, 1 user error (one line on stderr, no traceback), 2 internal error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from ultrasound_reader import __version__
from ultrasound_reader.errors import UserError, left_out_of_packaged_app

# name -> (module implementing it, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "gui": ("ultrasound_reader.gui.cli", "open the workstation (default when no command is given)"),
    "inspect": ("ultrasound_reader.dicom.cli", "print a DICOM file's metadata, calibration and frames"),
    "phantom": ("ultrasound_reader.phantom.cli", "generate synthetic ultrasound phantom cases"),
    "analyze": ("ultrasound_reader.ai.cli", "analyse a case with a model bundle"),
    "evaluate": ("ultrasound_reader.stats.cli_evaluate", "ROC/DeLong/cut-off/calibration statistics of scores"),
    "nomogram": ("ultrasound_reader.stats.cli_nomogram", "fit a logistic model and its nomogram"),
    "train": ("ultrasound_reader.training.cli", "train and export a model bundle from a config"),
    "bench": ("ultrasound_reader.bench", "run the speed benchmarks"),
    "pacs": ("ultrasound_reader.dicom.pacs.cli", "talk to a PACS: echo, query, retrieve, send (DIMSE or DICOMweb)"),
    "export": ("ultrasound_reader.export.cli", "export a case's results as DICOM SR, secondary capture and PDF"),
    "bundle": ("ultrasound_reader.ai.bundle_cli", "sign a model bundle or check its signature"),
    "study": ("ultrasound_reader.study.cli", "reader studies: create, readers, answers, export, analysis"),
    "self-test": ("ultrasound_reader.selftest", "check this installation: analyse the demo cases against the "
                  "build's reference (also --self-test)"),
}


class OneLineErrorParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line, ``prog: error: msg`` (exit 2).

    ``add_subparsers`` uses the parent's class by default, so every nested
    sub-command parser (``pacs nodes add``, ``study readers add``) inherits it;
    ``main`` maps the exit status 2 to 1 (user error).
    """

    def error(self, message: str):  # type: ignore[override]
        message = " ".join(str(message).split())
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; ``only`` names the one sub-command whose module is imported.

    Importing a sub-command's module is what costs (``phantom`` pulls scipy.stats,
    ``analyze`` torch), so ``main`` imports only the one being run; the others are
    listed from ``COMMANDS`` without their options. ``only=None`` imports all of
    them (``--help``, which also names the ones that cannot be imported).
    """
    parser = OneLineErrorParser(
        prog="ultrasound-reader",
        description="Ultrasound DICOM reading workstation with AI decision support. "
        "Research software, not for clinical use.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineErrorParser)
    for name, (module_name, help_text) in COMMANDS.items():
        if only is not None and name != only:
            sub.add_parser(name, help=help_text, description=help_text)
            continue
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            # A registered command whose module cannot be imported is a broken
            # installation or a bug, never "not built yet": keep the command in
            # the parser so that calling it reports why (exit 2), and let the
            # other commands run. It takes whatever follows (no option prefix, so
            # "--x" is not a usage error before the reason is given).
            p = sub.add_parser(name, help=f"{help_text} [unavailable: {_import_failure(module_name, exc)}]",
                               description=help_text, prefix_chars="\0", add_help=False)
            p.add_argument("_ignored", nargs="*", help=argparse.SUPPRESS)
            p.set_defaults(_run=_broken_command(module_name, exc))
            continue
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


class CommandUnavailable(RuntimeError):
    """A registered sub-command's module failed to import (an internal error, exit 2)."""


def _import_failure(module_name: str, exc: ImportError) -> str:
    left_out = left_out_of_packaged_app(exc)
    if left_out is not None:
        return str(left_out)
    missing = getattr(exc, "name", None)
    if isinstance(exc, ModuleNotFoundError) and missing:
        if missing.split(".")[0] == "ultrasound_reader":
            return f"{module_name} cannot be imported: the module {missing} is missing from this installation"
        return (f"{module_name} cannot be imported: the package {missing.split('.')[0]!r} is not installed "
                "(reinstall ultrasound-reader with its dependencies)")
    return f"{module_name} cannot be imported: {type(exc).__name__}: {' '.join(str(exc).split())}"


def _broken_command(module_name: str, exc: ImportError):
    reason = _import_failure(module_name, exc)
    left_out = left_out_of_packaged_app(exc)  # its package is left out of the packaged app: a user error

    def run(args: argparse.Namespace) -> int:
        if left_out is not None:
            raise left_out from exc
        raise CommandUnavailable(reason) from exc

    return run



def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Without a command, everything after the global options goes to the GUI
    # (files to open, GUI options such as --screenshot).
    i = 0
    while i < len(argv) and argv[i] in ("-v", "--verbose"):
        i += 1
    if i < len(argv) and argv[i] == "--self-test":  # the packaged application's documented spelling
        argv[i] = "self-test"
    if i == len(argv) or (argv[i] not in COMMANDS and argv[i] not in ("-h", "--help", "--version")):
        argv.insert(i, "gui")
    # Import only the command being run; a bare --help lists (and imports) them all.
    parser = build_parser(None if argv[i] in ("-h", "--help") else argv[i] if argv[i] in COMMANDS else "")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed its one-line usage error
        return 0 if exc.code in (0, None) else 1
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    run = getattr(args, "_run", None)
    if run is None:
        parser.print_help()
        return 1
    try:
        return int(run(args) or 0)
    except UserError as exc:
        print(f"ultrasound-reader {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ultrasound-reader: interrupted", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    except CommandUnavailable as exc:
        logging.getLogger("ultrasound_reader").debug("command unavailable", exc_info=True)
        print(f"ultrasound-reader {args.command}: internal error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # internal error: one line, details only with -v
        left_out = left_out_of_packaged_app(exc)
        if left_out is not None:  # unless the packaged application leaves out the package it needs
            print(f"ultrasound-reader {args.command}: error: {left_out}", file=sys.stderr)
            return 1
        logging.getLogger("ultrasound_reader").debug("internal error", exc_info=True)
        print(
            f"ultrasound-reader {args.command}: internal error: {type(exc).__name__}: {exc} "
            "(run with -v for details)",
            file=sys.stderr,
        )
        return 2
