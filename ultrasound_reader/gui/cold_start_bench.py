"""``ultrasound-reader bench gui-startup``: the GUI's cold start vs a bare PySide6 window.

Every figure is a fresh interpreter, offscreen Qt, timed from spawn (the parent reads
:func:`time.monotonic` just before it starts the child; the child writes the same
system-wide clock when things are painted), medians of interleaved runs so all see the
same load:

* ``bare_window_s``: a bare PySide6 ``QMainWindow``: spawn -> its first paint (the floor);
* ``window_s``: ``ultrasound-reader`` (the demo): spawn -> the main window's first
  paint, and ``window_over_bare`` (goal <= 3);
* ``image_s``: spawn -> the demo case's first frame painted (in the shell, by its preview of the
  frame decoded early: gui/first_frame.py; else by the image view), and ``image_over_bare`` (goal <= 5);
* ``eager_window_s`` / ``eager_image_s``: the same app with the whole window built
  before it is shown and no frame decoded ahead, as it was before the shell came first
  (the "before" figures), with their ratios to the bare window;
* ``libraries_s``: ``python -c "import PySide6.QtWidgets, numpy, pyqtgraph, pydicom"``,
  spawn to the imports done, and ``libraries_over_bare``: what the built viewer (a pyqtgraph
  view of a pydicom-decoded frame) cannot come sooner than; the shell's first frame needs
  neither pyqtgraph nor, in the GUI process, pydicom;
* ``frozen_window_s`` / ``frozen_image_s``: the same two figures for the PyInstaller
  application (``packaging/build.sh``), when one is built: ``$ULTRASOUND_READER_FROZEN_APP``
  or ``packaging/dist/ultrasound-reader/ultrasound-reader`` beside the package; the
  shipped start-up, with no CUDA bindings for pyqtgraph to import;
* ``max_stall_ms``: the longest the app's event loop did not turn between the window
  shown and the first image drawn (no goal here; with the frame decoded in a child the
  GUI process mostly waits for it then).

The app's figures come from its start-up probe (``ULTRASOUND_READER_STARTUP_PROBE``,
gui/cold_start.py): the real ``ultrasound-reader`` path, which exits once the first
image is drawn. Each run gets a fresh settings file (the default layout, as a first start).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ultrasound_reader.errors import UserError

GOAL_WINDOW = 3.0
GOAL_IMAGE = 5.0
TIMEOUT_S = 120

_LIBRARIES = ("import os, time, PySide6.QtWidgets, numpy, pyqtgraph, pydicom\n"
              "with open(os.environ['ULTRASOUND_READER_STARTUP_PROBE'], 'a') as f:\n"
              "    f.write(f'imported {time.monotonic():.6f}\\n')\n")

_BARE = """
import os, sys, time
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow

class Probe(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint:
            with open(os.environ["ULTRASOUND_READER_STARTUP_PROBE"], "a") as f:
                f.write(f"window_shown {time.monotonic():.6f}\\n")
            obj.removeEventFilter(self)
            QTimer.singleShot(0, app.quit)
        return False

app = QApplication(sys.argv[:1])
window = QMainWindow()
window.setWindowTitle("bare")
window.resize(1024, 700)
probe = Probe()
window.installEventFilter(probe)
window.show()
sys.exit(app.exec())
"""

# The window built whole before it is shown (MainWindow without deferred=True), then the
# same start: the order before the shell came first.
_EAGER = """
import sys
from ultrasound_reader.gui import main_window
_init = main_window.MainWindow.__init__
def _eager(self, settings=None, parent=None, *, deferred=False):
    _init(self, settings, parent, deferred=False)
main_window.MainWindow.__init__ = _eager
from ultrasound_reader.gui import first_frame
first_frame.EarlyDecode.start = staticmethod(lambda paths: None)  # no first frame decoded ahead either
from ultrasound_reader.cli import main
sys.exit(main(sys.argv[1:]))
"""


def frozen_app() -> Path | None:
    """The PyInstaller build to time as well, if there is one (see the module docstring)."""
    given = os.environ.get("ULTRASOUND_READER_FROZEN_APP")
    if given:
        path = Path(given)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise UserError(f"{given} (ULTRASOUND_READER_FROZEN_APP): not an executable file")
        return path
    path = Path(__file__).resolve().parents[2] / "packaging" / "dist" / "ultrasound-reader" / "ultrasound-reader"
    return path if path.is_file() and os.access(path, os.X_OK) else None


def _probe_run(argv: list[str], env: dict[str, str], folder: Path, tag: str, k: int) -> dict[str, float]:
    """Spawn ``argv`` with the probe; the seconds from spawn to each probe line."""
    probe = folder / f"{tag}-{k}.txt"
    run_env = {**env, "ULTRASOUND_READER_STARTUP_PROBE": str(probe)}
    t0 = time.monotonic()
    p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=run_env,
                       timeout=TIMEOUT_S, cwd=folder)
    if p.returncode != 0:
        raise RuntimeError(f"{tag}: exited {p.returncode}: {p.stderr.decode(errors='replace')[-400:]}")
    out: dict[str, float] = {}
    for line in probe.read_text().splitlines():
        what, _, value = line.partition(" ")
        out.setdefault(what, float(value) if what == "max_stall_ms" else float(value) - t0)
    return out


def run(quick: bool) -> dict:
    from ultrasound_reader.gui.app import demo_paths

    if not demo_paths():
        raise UserError("no bundled demo case: the GUI start-up benchmark times opening it")
    py = sys.executable
    env = dict(os.environ)
    env["QT_QPA_PLATFORM"] = "offscreen"
    package_root = str(Path(__file__).resolve().parents[2])  # the same ultrasound_reader as this process
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    repeats = 3 if quick else 7
    with tempfile.TemporaryDirectory(prefix="ur-gui-startup-") as tmp:
        folder = Path(tmp)

        def app_argv(k: int, tag: str) -> list[str]:
            settings = str(folder / f"{tag}-{k}.ini")  # a first start: no saved layout
            if tag == "eager":
                return [py, "-c", _EAGER, "--settings", settings]
            return [py, "-m", "ultrasound_reader", "--settings", settings]

        cases = {
            "bare": lambda k: [py, "-c", _BARE],
            "app": lambda k: app_argv(k, "app"),
            "eager": lambda k: app_argv(k, "eager"),
            "libraries": lambda k: [py, "-c", _LIBRARIES],
        }
        frozen = frozen_app()
        if frozen is not None:
            cases["frozen"] = lambda k: [str(frozen), "--settings", str(folder / f"frozen-{k}.ini")]
        for tag, argv in cases.items():  # warm the file cache and .pyc files once
            _probe_run(argv(-1), env, folder, tag, -1)
        runs: dict[str, list[dict[str, float]]] = {tag: [] for tag in cases}
        for k in range(repeats):
            for tag, argv in cases.items():
                runs[tag].append(_probe_run(argv(k), env, folder, tag, k))

    def median(tag: str, what: str) -> float:
        values = [r[what] for r in runs[tag] if what in r]
        if len(values) != repeats:
            raise RuntimeError(f"{tag}: no '{what}' from {repeats - len(values)} of {repeats} runs")
        return round(statistics.median(values), 4)

    bare = median("bare", "window_shown")
    out: dict = {"repeats": repeats, "bare_window_s": bare}
    out["window_s"] = median("app", "window_shown")
    out["image_s"] = median("app", "image_drawn")
    out["window_over_bare"] = round(out["window_s"] / bare, 2)
    out["image_over_bare"] = round(out["image_s"] / bare, 2)
    out["goal_window_over_bare"] = GOAL_WINDOW
    out["goal_image_over_bare"] = GOAL_IMAGE
    out["eager_window_s"] = median("eager", "window_shown")
    out["eager_image_s"] = median("eager", "image_drawn")
    out["eager_window_over_bare"] = round(out["eager_window_s"] / bare, 2)
    out["eager_image_over_bare"] = round(out["eager_image_s"] / bare, 2)
    if "frozen" in runs:
        out["frozen_app"] = str(frozen)
        out["frozen_window_s"] = median("frozen", "window_shown")
        out["frozen_image_s"] = median("frozen", "image_drawn")
        out["frozen_window_over_bare"] = round(out["frozen_window_s"] / bare, 2)
        out["frozen_image_over_bare"] = round(out["frozen_image_s"] / bare, 2)
    out["max_stall_ms"] = median("app", "max_stall_ms")
    out["libraries_s"] = median("libraries", "imported")
    out["libraries_over_bare"] = round(out["libraries_s"] / bare, 2)
    return out
