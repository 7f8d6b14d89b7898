"""The QApplication, themed, and where the bundled demo is.

Qt is imported here and only here at start-up time, so the other sub-commands never
pay for it; and only inside :func:`application`, so :func:`demo_paths` can be asked
before Qt is loaded (gui/first_frame.py starts decoding the demo's first frame then).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ultrasound_reader.paths import resources_dir

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

_IMAGE_SUFFIXES = {".dcm", ".dicom", ".png", ".jpg", ".jpeg"}
# The window and taskbar icon (drawn by packaging/make_icon.py; package data, also in the frozen app).
ICON = Path(__file__).resolve().parent / "icon.png"


# Qt messages that say nothing to the user: the offscreen platform (tests, --screenshot, the
# benchmarks) prints this once for every dock shown, and the window adds its docks after it is
# shown (gui/cold_start.py). They go to the debug log (-v); every other Qt message to stderr as before.
_QT_NOISE = frozenset({"This plugin does not support propagateSizeHints()"})
_log = logging.getLogger(__name__)


def _qt_message(_mode: Any, _context: Any, message: str) -> None:
    if message in _QT_NOISE:
        _log.debug("Qt: %s", message)
    else:
        sys.stderr.write(message + "\n")


def application(argv: list[str] | None = None) -> QApplication:
    """The running QApplication (created and themed once)."""
    from PySide6.QtCore import qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    from ultrasound_reader.gui import theme
    from ultrasound_reader.gui.settings import APPLICATION, ORGANIZATION

    app = QApplication.instance()
    if app is None:
        qInstallMessageHandler(_qt_message)
        app = QApplication(argv if argv is not None else sys.argv[:1])
        app.setOrganizationName(ORGANIZATION)
        app.setApplicationName(APPLICATION)
    if app.windowIcon().isNull() and ICON.is_file():  # type: ignore[union-attr]
        from PySide6.QtGui import QIcon

        app.setWindowIcon(QIcon(str(ICON)))  # type: ignore[union-attr]
    theme.apply(app)  # type: ignore[arg-type]
    return app  # type: ignore[return-value]


DEMO_CASE = Path("demo") / "liver" / "liver-s136-0000"


def demo_paths() -> list[Path]:
    """What opens when the app starts with no arguments: the bundled demo.

    The demo liver case (resources/demo/liver/liver-s136-0000: its ROIs and factors
    drawn, so the analysis can run at once), else the first case folder (with a
    case.json) under resources/, else the first folder that holds images, else
    resources/ itself if it holds images directly; empty when nothing is bundled.
    """
    root = resources_dir()
    if not root.is_dir():
        return []
    if (root / DEMO_CASE / "case.json").is_file():
        return [root / DEMO_CASE]
    cases = sorted(p.parent for p in root.rglob("case.json"))
    if cases:
        return [cases[0]]

    def has_images(folder: Path) -> bool:
        return any(p.is_file() and (p.suffix.lower() in _IMAGE_SUFFIXES or p.name == "DICOMDIR")
                   for p in folder.rglob("*"))

    for child in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if has_images(child):
            return [child]
    return [root] if has_images(root) else []
