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
from ultrasound_reader.errors import UserError

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
    "study": ("ultrasound_reader.study.cli", "reader studies: create, readers, answers, export, analysis"),
}


def build_parser(available_only: bool = False) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ultrasound-reader",
        description="Ultrasound DICOM reading workstation with AI decision support. "
        "Research software, not for clinical use.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if not (exc.name or "").startswith("ultrasound_reader"):
                raise
            continue  # not built yet
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser



def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Without a command, everything after the global options goes to the GUI
    # (files to open, GUI options such as --screenshot).
    i = 0
    while i < len(argv) and argv[i] in ("-v", "--verbose"):
        i += 1
    if i == len(argv) or (argv[i] not in COMMANDS and argv[i] not in ("-h", "--help", "--version")):
        argv.insert(i, "gui")
    parser = build_parser()
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
    except Exception as exc:  # internal error: one line, details only with -v
        logging.getLogger("ultrasound_reader").debug("internal error", exc_info=True)
        print(
            f"ultrasound-reader {args.command}: internal error: {type(exc).__name__}: {exc} "
            "(run with -v for details)",
            file=sys.stderr,
        )
        return 2
