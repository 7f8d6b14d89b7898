"""``study read`` and ``study coordinate``: the reader-study windows, started from the study CLI.

The database and the reader are checked before any window appears (a bad ``--db`` or an
unknown reader: exit 1, one line). ``--screenshot PNG`` opens the window, waits until it
has painted, saves it and exits (works offscreen; used for the README's pictures).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ultrasound_reader.errors import UserError


def _check_shot(path: str | None) -> None:
    if path and not Path(path).parent.exists():
        raise UserError(f"--screenshot: folder {Path(path).parent} does not exist")


def _settle(seconds: float = 0.6) -> None:
    from PySide6.QtWidgets import QApplication

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.01)


def _shoot(window: object, path: str) -> int:
    _settle()
    ok = window.grab().save(path)  # type: ignore[attr-defined]
    window.close()  # type: ignore[attr-defined]
    if not ok:
        raise UserError(f"--screenshot: cannot write {path}")
    print(path)
    return 0


def run_read(args: argparse.Namespace) -> int:
    from ultrasound_reader.study.service import reader_view

    if not args.reader:
        raise UserError("--reader is required")
    _check_shot(args.screenshot)
    reader_view(args.db, args.reader)  # an unknown reader or a bad database: one line, before any window

    from ultrasound_reader.gui.app import application
    from ultrasound_reader.gui.reader_mode import ReaderWindow

    app = application()
    window = ReaderWindow(args.db, args.reader)
    window.resize(1280, 820)
    window.show()
    if args.screenshot:
        return _shoot(window, args.screenshot)
    return app.exec()


def run_coordinate(args: argparse.Namespace) -> int:
    _check_shot(args.screenshot)
    from ultrasound_reader.gui.app import application
    from ultrasound_reader.gui.coordinator import CoordinatorWindow

    app = application()
    window = CoordinatorWindow(args.db)
    window.resize(1200, 820)
    window.show()
    if args.screenshot:
        return _shoot(window, args.screenshot)
    return app.exec()
