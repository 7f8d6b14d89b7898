"""The narrow shell controllers and panels get instead of the window.

A controller adds its panels and actions, says things on the status line and
reports errors through a :class:`Shell`; what it reads and changes otherwise is the
:class:`~ultrasound_reader.gui.session.ReadingSession`. Menus are found by a stable
key (``"file"``, ``"edit"``, ``"view"``, ``"playback"``, ``"tools"``, ``"analysis"``,
``"help"``), never by their display titles; an action goes before another by that one's
key (``before="panels"``: above View ▸ Panels). The viewer part (``view``, ``show_frame``,
``open_image``, ``pause``, and views beside the image sharing its width) is what a face
that shows images offers; the reader-study window will offer the same.

:func:`make_action` is the one helper that makes an action (key, text, shortcuts,
slot, checkable, tip) for every part of the window.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMenu, QWidget

if TYPE_CHECKING:
    from ultrasound_reader.gui.image_view import ImageView
    from ultrasound_reader.gui.settings import Preferences
    from ultrasound_reader.gui.tools import Tool

Shortcuts = QKeySequence | QKeySequence.StandardKey | str | Sequence[str] | None

MENU_KEYS = ("file", "edit", "view", "playback", "tools", "analysis", "help")


def make_action(owner: QWidget, key: str, text: str, shortcuts: Shortcuts = None, slot: Callable[..., Any] | None = None,
                checkable: bool = False, tip: str = "") -> QAction:
    """An action named ``key`` on ``owner`` (so its shortcuts work whatever has focus)."""
    action = QAction(text, owner)
    action.setObjectName(key)
    if shortcuts is not None:
        if isinstance(shortcuts, (list, tuple)):
            action.setShortcuts([QKeySequence(s) for s in shortcuts])
        else:
            action.setShortcut(QKeySequence(shortcuts))
    action.setCheckable(checkable)
    if tip:
        action.setToolTip(tip)
        action.setStatusTip(tip)
    if slot is not None:
        (action.toggled if checkable else action.triggered).connect(slot)
    owner.addAction(action)
    return action


def plain_title(text: str) -> str:
    """A menu/action text as shown: mnemonic ampersands gone, "&&" a literal "&"."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&")


def escape_mnemonic(text: str) -> str:
    """``text`` for a place where Qt reads "&" as a mnemonic (dock titles, tabs, menus): "&" shown literally."""
    return text.replace("&", "&&")


class Shell(Protocol):
    """What a controller or panel may ask of the window it sits in."""

    prefs: Preferences
    view: ImageView

    def add_panel(self, dock: QDockWidget, area: Qt.DockWidgetArea = ...) -> None: ...
    def add_action(self, key: str, text: str, shortcuts: Shortcuts = None, slot: Callable[..., Any] | None = None, *,
                   menu: str | None = None, before: str | None = None, toolbar: bool | str = False,
                   checkable: bool = False, tip: str = "") -> QAction: ...
    def register_action(self, key: str, action: QAction, menu: str | None = None) -> QAction: ...
    def menu(self, key: str) -> QMenu: ...
    def add_tool(self, tool: Tool, shortcut: str | None = None) -> QAction: ...
    def status(self, message: str, ms: int = 6000) -> None: ...
    def report_error(self, message: str) -> None: ...
    def submit(self, channel: str, fn: Callable[..., Any], *args: Any, **callbacks: Any) -> int: ...
    def cancel(self, channel: str) -> None: ...
    def open_paths(self, paths: Sequence[str]) -> int: ...
    def dialog_parent(self) -> QWidget: ...
    def open_failed(self, message: str) -> None: ...
    # The viewer
    def show_frame(self, index: int) -> None: ...
    def open_image(self, path: str) -> int: ...
    def pause(self) -> None: ...
    def add_under_slider(self, make: Callable[[Any], QWidget]) -> QWidget: ...
    def add_beside_image(self, widget: QWidget) -> None: ...
    def split_beside_evenly(self) -> None: ...
