"""``ultrasound-reader [gui] [FILE|FOLDER ...]``: open the workstation.

With no paths it opens the bundled demo case (resources/demo/liver/...) and, when
the demo model bundle is there too, analyses it with the Grad-CAM overlay on; with
nothing bundled, an empty window that says how to open a file. A path that does not exist is a user error
(exit 1, one line) before any window appears; a file that exists but cannot be
read opens the window with the reason in a dialog and the status bar.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ultrasound_reader.errors import UserError

if TYPE_CHECKING:
    from ultrasound_reader.gui.first_frame import EarlyDecode


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH", help="DICOM/PNG/JPEG files or folders to open")
    p.add_argument("--settings", metavar="INI",
                   help="keep preferences in this ini file instead of the user's settings")
    p.add_argument("--screenshot", metavar="PNG",
                   help="open the paths, save a picture of the window to PNG and exit (works offscreen)")


def run(args: argparse.Namespace) -> int:
    paths = [Path(p) for p in args.paths]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise UserError(f"{missing[0]}: no such file or folder")
    if args.screenshot and not Path(args.screenshot).parent.exists():
        raise UserError(f"{args.screenshot}: folder does not exist")
    from ultrasound_reader.gui.startup import check_qt_can_start

    check_qt_can_start()  # before Qt: a missing system library would abort the interpreter

    from ultrasound_reader.gui.app import demo_paths
    from ultrasound_reader.gui.first_frame import EarlyDecode

    # The first image (the demo's, or the file given) starts decoding in a forked child now, before
    # Qt is imported: it is shown in the shell as soon as it is there (first_frame.py, cold_start.py).
    first_paths = [str(p) for p in (paths or demo_paths())]
    early = EarlyDecode.start(first_paths) if first_paths else None
    try:
        return _run_window(args, paths, first_paths, early)
    finally:
        if early is not None:
            early.cancel()  # closed (or failed) before the first frame came: the child goes too


def _run_window(args: argparse.Namespace, paths: list[Path], first_paths: list[str],
                early: EarlyDecode | None) -> int:
    from PySide6.QtCore import QSettings

    from ultrasound_reader.gui.app import demo_paths

    from ultrasound_reader.gui.app import application
    from ultrasound_reader.gui.cold_start import (
        LIBRARIES,
        FramePreview,
        after_next_paint,
        hand_over,
        import_then,
        show_first_frame,
        startup_probe,
    )
    from ultrasound_reader.gui.crash import install as install_crash_handler
    from ultrasound_reader.gui.main_window import BUILD_IMPORTS, MainWindow

    app = application()
    install_crash_handler(app)  # an uncaught exception: a dialog and a log file, the window stays
    settings = QSettings(args.settings, QSettings.Format.IniFormat) if args.settings else None
    # The shell first (title, size, menus): on screen before numpy, pyqtgraph and pydicom are
    # imported (behind it, in a few turns of the event loop); then the viewer, panels and the
    # demo (cold_start.py).
    window = MainWindow(settings, deferred=True)
    # The image's area, then the first frame in it, until the viewer is built (not when the window
    # was built whole at once: the bench's "before", see cold_start_bench.py).
    preview = None if window.built else FramePreview(window)
    if preview is not None:
        window.setCentralWidget(preview)
    elif early is not None:
        early.cancel()
    probe = startup_probe(window)
    if probe is not None and preview is not None:
        probe.watch_image(preview.framePainted)
    window.show()

    def build() -> None:
        if window.isHidden():
            return  # closed while still the shell: the application is quitting
        fresh = not window.built  # (built already: the bench's "before", see cold_start_bench.py)
        if early is not None:
            early.cancel()  # still decoding (it took too long): the viewer opens the file itself
        if preview is not None:
            window.takeCentralWidget()  # kept for hand_over, not deleted by build()
        window.build()
        if preview is not None:
            hand_over(preview, window.image_view)
        if probe is not None:
            probe.watch_image(window.image_view.framePainted)
        if fresh:
            # Open once the built window is painted: the opening worker would otherwise hold the
            # GIL against that first layout and paint (measured: the first image ~0.1 s later).
            after_next_paint(window, open_paths)
        else:
            open_paths()

    opened: list[bool] = []  # set once the opening has been asked for (--screenshot waits for it)

    def open_paths() -> None:
        opened.append(True)
        todo = paths
        if not todo:
            todo = demo_paths()
            if not todo:
                window.statusBar().showMessage("No bundled demo found: open a DICOM file or folder (Ctrl+O)")
            else:
                # The newcomer sees the whole workflow: the demo case analysed (when its demo
                # bundle is there) with the Grad-CAM overlay on.
                window.reading.show_demo()
        if todo:
            window.open_paths(todo)

    build_later = lambda: import_then(window, (*LIBRARIES, BUILD_IMPORTS), build)  # noqa: E731
    if preview is not None:
        show_first_frame(preview, early, first_paths, build_later)
    else:
        after_next_paint(window, build_later)
    if args.screenshot:
        return _screenshot(app, window, Path(args.screenshot), started=lambda: bool(opened))
    return app.exec()


def _screenshot(app: object, window: object, out: Path, started: Callable[[], bool] = lambda: True) -> int:
    """Wait until loading (once ``started()``) is done and the first frame is painted, then save the window."""
    import time

    from PySide6.QtWidgets import QApplication

    deadline = time.monotonic() + float(os.environ.get("ULTRASOUND_READER_SCREENSHOT_TIMEOUT", "30"))
    while time.monotonic() < deadline:
        QApplication.processEvents()
        if (started() and not window.runner.busy  # type: ignore[attr-defined]
                and not window.frame_runner.busy
                and not window.reading.busy):  # type: ignore[attr-defined]
            break
        time.sleep(0.01)
    for _ in range(20):  # let layout and painting settle
        QApplication.processEvents()
        time.sleep(0.01)
    ok = window.grab().save(str(out))  # type: ignore[attr-defined]
    window.close()  # type: ignore[attr-defined]
    if not ok:
        raise UserError(f"{out}: cannot write the screenshot")
    print(out)
    return 0
