"""The start-up check that runs before Qt: a missing system library is one line, not a Qt abort.

The check really asks the dynamic loader; a missing library is simulated by making
it look up a name that does not exist (``ULTRASOUND_READER_QT_LIBRARY_OVERRIDE``).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ultrasound_reader.errors import UserError
from ultrasound_reader.gui import startup

MISSING_CURSOR = {startup.LIBRARY_OVERRIDE_ENV: "libxcb-cursor.so.0=libxcb-cursor-not-installed.so.0"}


@pytest.mark.parametrize("env, platform", [
    ({"DISPLAY": ":0"}, "xcb"),
    ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, "wayland"),
    ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, "offscreen"),
    ({"QT_QPA_PLATFORM": "xcb"}, "xcb"),
    ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "wayland;xcb"}, "xcb"),  # no compositor: falls back to xcb
    ({"WAYLAND_DISPLAY": "w", "QT_QPA_PLATFORM": "wayland;xcb"}, "wayland"),
    ({"QT_QPA_PLATFORM": "vnc:size=800x600"}, "vnc"),
    ({}, None),
])
def test_which_platform_qt_will_pick(env, platform):
    assert startup.qt_platform(env) == platform


def test_the_loader_is_really_asked():
    present, absent = ("libc.so.6", "libc6"), ("libultrasound-reader-absent.so.7", "nothing")
    assert startup.missing_libraries([present, absent], env={}) == [absent]
    renamed = {startup.LIBRARY_OVERRIDE_ENV: "libc.so.6=libultrasound-reader-absent.so.7"}
    assert startup.missing_libraries([present], env=renamed) == [present]


def test_missing_xcb_cursor_names_the_package():
    with pytest.raises(UserError) as err:
        startup.check_qt_can_start({"DISPLAY": ":0", **MISSING_CURSOR}, platform="linux")
    msg = str(err.value)
    assert "libxcb-cursor.so.0" in msg and "sudo apt-get install" in msg
    assert "libxcb-cursor0" in msg.split("sudo apt-get install", 1)[1]
    assert "\n" not in msg


def test_xcb_libraries_are_not_required_off_x11():
    for env in ({"QT_QPA_PLATFORM": "offscreen"}, {"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}):
        startup.check_qt_can_start({**env, **MISSING_CURSOR}, platform="linux")  # no error
    startup.check_qt_can_start({**MISSING_CURSOR}, platform="darwin")  # Linux only


def test_no_display_is_one_line():
    with pytest.raises(UserError, match="no display"):
        startup.check_qt_can_start({}, platform="linux")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the X11 check is Linux-only")
def test_app_without_libxcb_cursor_exits_1_with_one_line_before_qt():
    """The README's first command on an X11 desktop that lacks libxcb-cursor0."""
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env.update(DISPLAY=":97", **MISSING_CURSOR)  # no X server there: Qt would abort if it got that far
    p = subprocess.run([sys.executable, "-m", "ultrasound_reader"], capture_output=True, text=True, env=env,
                       timeout=120)
    assert p.returncode == 1, (p.returncode, p.stderr[-2000:])
    (line,) = p.stderr.strip().splitlines()
    assert line.startswith("ultrasound-reader gui: error: the X11 (xcb) platform of Qt needs")
    assert "libxcb-cursor0" in line and "Could not load the Qt platform plugin" not in p.stderr
