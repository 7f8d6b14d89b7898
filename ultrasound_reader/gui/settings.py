"""Preferences and recent files, kept in QSettings.

Everything goes through :class:`Preferences`, built on a QSettings the caller
passes, so tests hand in an ini file under a temporary folder and never touch the
user's settings. ``ULTRASOUND_READER_SETTINGS`` (a path to an ini file) does the
same for scripts and benchmarks.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

ORGANIZATION = "UltrasoundReader"
APPLICATION = "Ultrasound Reader"
MAX_RECENT = 10


def default_settings() -> QSettings:
    """The user's settings, or an ini file named by ULTRASOUND_READER_SETTINGS."""
    path = os.environ.get("ULTRASOUND_READER_SETTINGS")
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)


def _as_bool(value: object, default: bool) -> bool:
    # Ini files give back strings ("true"/"false"); native back-ends give bools.
    if value is None:
        return default
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes", "on")
    return bool(value)


class Preferences:
    """Typed access to the settings the viewer keeps between sessions."""

    def __init__(self, settings: QSettings) -> None:
        self.qsettings = settings

    # -- recent files ---------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        value = self.qsettings.value("recent/files", [])
        if isinstance(value, str):  # a one-element list comes back as a plain string from ini
            value = [value] if value else []
        return [str(v) for v in (value or [])]

    def add_recent(self, path: str | Path) -> list[str]:
        path = str(Path(path).resolve())
        files = [p for p in self.recent_files() if p != path]
        files.insert(0, path)
        files = files[:MAX_RECENT]
        self.qsettings.setValue("recent/files", files)
        return files

    def remove_recent(self, path: str) -> None:
        self.qsettings.setValue("recent/files", [p for p in self.recent_files() if p != path])

    def clear_recent(self) -> None:
        self.qsettings.remove("recent/files")

    # -- simple values ---------------------------------------------------------------------
    def _get_bool(self, key: str, default: bool) -> bool:
        return _as_bool(self.qsettings.value(key), default)

    @property
    def overlay_visible(self) -> bool:
        return self._get_bool("view/overlay", True)

    @overlay_visible.setter
    def overlay_visible(self, value: bool) -> None:
        self.qsettings.setValue("view/overlay", bool(value))

    @property
    def loop(self) -> bool:
        return self._get_bool("playback/loop", True)

    @loop.setter
    def loop(self, value: bool) -> None:
        self.qsettings.setValue("playback/loop", bool(value))

    @property
    def speed(self) -> float:
        try:
            return float(self.qsettings.value("playback/speed", 1.0))
        except (TypeError, ValueError):
            return 1.0

    @speed.setter
    def speed(self, value: float) -> None:
        self.qsettings.setValue("playback/speed", float(value))

    @property
    def last_dir(self) -> str:
        return str(self.qsettings.value("files/last_dir", "") or "")

    @last_dir.setter
    def last_dir(self, value: str) -> None:
        self.qsettings.setValue("files/last_dir", str(value))

    # -- window layout ---------------------------------------------------------------------
    def window_state(self) -> tuple[QByteArray | None, QByteArray | None]:
        geometry = self.qsettings.value("window/geometry")
        state = self.qsettings.value("window/state")
        return (geometry if isinstance(geometry, QByteArray) else None,
                state if isinstance(state, QByteArray) else None)

    def save_window_state(self, geometry: QByteArray, state: QByteArray) -> None:
        self.qsettings.setValue("window/geometry", geometry)
        self.qsettings.setValue("window/state", state)

    def image_margins(self, size: tuple[int, int]) -> tuple[int, int, int, int] | None:
        """Where the image view sat in a window of this ``size`` when it was last closed: its
        distance from the window's left, top, right and bottom edges (None: not saved for this size)."""
        value = str(self.qsettings.value("window/image_margins", "") or "")
        saved_size, _, margins = value.partition(":")
        try:
            w, h = (int(v) for v in saved_size.split("x"))
            left, top, right, bottom = (int(v) for v in margins.split(","))
        except ValueError:
            return None
        if (w, h) != tuple(size) or min(left, top, right, bottom) < 0 or left + right >= w or top + bottom >= h:
            return None
        return left, top, right, bottom

    def save_image_margins(self, size: tuple[int, int], margins: tuple[int, int, int, int]) -> None:
        self.qsettings.setValue("window/image_margins",
                                f"{size[0]}x{size[1]}:" + ",".join(str(int(m)) for m in margins))

    def sync(self) -> None:
        self.qsettings.sync()
