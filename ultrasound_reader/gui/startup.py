"""Can Qt start here? Checked before anything imports PySide6 or makes the QApplication.

Without a system library that Qt's platform plugin links against, Qt prints "Could
not load the Qt platform plugin "xcb"" and aborts the interpreter (SIGABRT), and a
missing library of QtGui itself fails the import with a traceback. Both are caught
here first and turned into one line that names the Debian/Ubuntu packages to
install (a :class:`UserError`, exit 1).

No Qt import in this module: it runs before Qt, and is tested without a display.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Mapping, Sequence

from ultrasound_reader.errors import UserError

# (shared library, Debian/Ubuntu package that provides it)
# QtCore/QtGui/QtWidgets link these whatever the platform plugin (readelf -d of the
# PySide6 6.6-6.11 wheels' Qt libraries; ICU, Qt's own libraries and the C/C++
# runtime are left out: the wheel bundles them or every system has them).
QT_GUI_LIBRARIES: tuple[tuple[str, str], ...] = (
    ("libEGL.so.1", "libegl1"),
    ("libGL.so.1", "libgl1"),
    ("libX11.so.6", "libx11-6"),
    ("libdbus-1.so.3", "libdbus-1-3"),
    ("libfontconfig.so.1", "libfontconfig1"),
    ("libfreetype.so.6", "libfreetype6"),
    ("libglib-2.0.so.0", "libglib2.0-0"),
    ("libgthread-2.0.so.0", "libglib2.0-0"),
    ("libxkbcommon.so.0", "libxkbcommon0"),
)
# The X11 platform plugin (plugins/platforms/libqxcb.so and libQt6XcbQpa.so.6);
# libxcb-cursor0 is new with Qt 6.5 and the one most often missing.
QT_XCB_LIBRARIES: tuple[tuple[str, str], ...] = (
    ("libxcb-cursor.so.0", "libxcb-cursor0"),
    ("libxcb-icccm.so.4", "libxcb-icccm4"),
    ("libxcb-image.so.0", "libxcb-image0"),
    ("libxcb-keysyms.so.1", "libxcb-keysyms1"),
    ("libxcb-randr.so.0", "libxcb-randr0"),
    ("libxcb-render-util.so.0", "libxcb-render-util0"),
    ("libxcb-render.so.0", "libxcb-render0"),
    ("libxcb-shape.so.0", "libxcb-shape0"),
    ("libxcb-shm.so.0", "libxcb-shm0"),
    ("libxcb-sync.so.1", "libxcb-sync1"),
    ("libxcb-util.so.1", "libxcb-util1"),
    ("libxcb-xfixes.so.0", "libxcb-xfixes0"),
    ("libxcb-xkb.so.1", "libxcb-xkb1"),
    ("libxcb.so.1", "libxcb1"),
    ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
    ("libX11-xcb.so.1", "libx11-xcb1"),
)

# Test hook: "SONAME=OTHER[,SONAME=OTHER...]" makes the check open OTHER where it
# would open SONAME, so a test can simulate a missing library with a name that
# does not exist; the check itself runs unchanged.
LIBRARY_OVERRIDE_ENV = "ULTRASOUND_READER_QT_LIBRARY_OVERRIDE"


def qt_platform(env: Mapping[str, str]) -> str | None:
    """The platform plugin Qt will pick on Linux: ``xcb``, another name, or None (no display)."""
    wanted = [p.strip().split(":")[0] for p in env.get("QT_QPA_PLATFORM", "").split(";") if p.strip()]
    if wanted:
        # "wayland;xcb" tries wayland first; it only counts when a compositor is there
        for name in wanted:
            if name.startswith("wayland") and not env.get("WAYLAND_DISPLAY"):
                continue
            return name
        return wanted[-1]
    if env.get("WAYLAND_DISPLAY"):
        return "wayland"
    if env.get("DISPLAY"):
        return "xcb"
    return None


def _overrides(env: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in env.get(LIBRARY_OVERRIDE_ENV, "").split(","):
        if "=" in item:
            k, v = item.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def missing_libraries(libraries: Sequence[tuple[str, str]], env: Mapping[str, str] | None = None
                      ) -> list[tuple[str, str]]:
    """The (library, package) pairs whose library the dynamic loader cannot open."""
    renamed = _overrides(os.environ if env is None else env)
    missing = []
    for soname, package in libraries:
        try:
            ctypes.CDLL(renamed.get(soname, soname))
        except OSError:
            missing.append((soname, package))
    return missing


def check_qt_can_start(env: Mapping[str, str] | None = None, platform: str | None = None) -> None:
    """Raise a one-line :class:`UserError` when Qt would fail to start here (Linux only)."""
    env = os.environ if env is None else env
    if not (platform or sys.platform).startswith("linux"):
        return
    qpa = qt_platform(env)
    if qpa is None:
        raise UserError("no display: DISPLAY and WAYLAND_DISPLAY are not set (start it from a desktop session, "
                        "or set QT_QPA_PLATFORM=offscreen for --screenshot without a display)")
    needed = list(QT_GUI_LIBRARIES) + (list(QT_XCB_LIBRARIES) if qpa == "xcb" else [])
    missing = missing_libraries(needed, env)
    if missing:
        packages = list(dict.fromkeys(pkg for _, pkg in missing))
        what = "the X11 (xcb) platform of Qt" if qpa == "xcb" else "Qt"
        libs = [s for s, _ in missing]
        listed = libs[0] if len(libs) == 1 else ", ".join(libs[:-1]) + " and " + libs[-1]
        verb = "is" if len(libs) == 1 else "are"
        raise UserError(f"{what} needs {listed}, which {verb} not installed; install with: "
                        f"sudo apt-get install {' '.join(packages)} (Debian/Ubuntu package names)")
