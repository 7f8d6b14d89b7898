"""MainWindow(deferred=True): the shell first, then build() makes the same window as the eager one."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QDockWidget, QMenu, QToolBar


def _shape(window) -> dict:  # noqa: ANN001
    """What a reader finds in the window: docks, menus with their actions, toolbar, tools."""
    menus = {key: [a.objectName() or a.text() for a in menu.actions()] for key, menu in window.menus.items()}
    return {
        "docks": sorted(d.objectName() for d in window.findChildren(QDockWidget)),
        "menus": menus,
        "menubar": [a.text() for a in window.menuBar().actions()],
        "submenus": sorted(m.objectName() for m in window.findChildren(QMenu) if m.objectName()),
        "toolbars": sorted((t.objectName(), len(t.actions())) for t in window.findChildren(QToolBar)),
        "actions": sorted(window.actions),
        "tools": sorted(window.tools),
    }


def test_the_shell_then_build_is_the_eager_window(qtbot, qapp, tmp_path: Path):  # noqa: ANN001
    from ultrasound_reader.gui import theme
    from ultrasound_reader.gui.main_window import APP_TITLE, MainWindow

    theme.apply(qapp)
    eager = MainWindow(QSettings(str(tmp_path / "eager.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(eager)
    shell = MainWindow(QSettings(str(tmp_path / "shell.ini"), QSettings.Format.IniFormat), deferred=True)
    qtbot.addWidget(shell)
    eager.case_ctl.ask_unsaved = lambda _m: "discard"
    # The shell: title, menu bar titles and a status line, nothing of the viewer yet.
    assert not shell.built and shell.windowTitle() == APP_TITLE
    assert not hasattr(shell, "image_view") and not shell.findChildren(QDockWidget)
    assert [a.text() for a in shell.menuBar().actions()] == [a.text() for a in eager.menuBar().actions()]
    shell.resize(1100, 760)
    shell.show()
    qtbot.waitExposed(shell)
    shell.build()
    shell.case_ctl.ask_unsaved = lambda _m: "discard"
    shell.build()  # once only
    assert shell.built
    assert _shape(shell) == _shape(eager)
    # Built behind the shown shell, it still gets the first-show layout (docks placed, none crushed).
    qtbot.waitUntil(lambda: shell.dock("resultsDock") is not None and shell.dock("resultsDock").isVisible())
    qtbot.waitUntil(lambda: not shell.layout_problems(), timeout=5000)
    assert shell.centralWidget().findChild(type(shell.image_view)) is shell.image_view
    for w in (eager, shell):
        w.close()


def test_the_shell_closes_and_refuses_drops_before_it_is_built(qtbot, qapp, tmp_path: Path):  # noqa: ANN001
    from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent

    from ultrasound_reader.gui.main_window import MainWindow

    shell = MainWindow(QSettings(str(tmp_path / "shell.ini"), QSettings.Format.IniFormat), deferred=True)
    qtbot.addWidget(shell)
    shell.show()
    qtbot.waitExposed(shell)
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(tmp_path / "x.dcm"))])
    enter = QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, data, Qt.MouseButton.NoButton,
                            Qt.KeyboardModifier.NoModifier)
    shell.dragEnterEvent(enter)
    assert not enter.isAccepted()  # nothing to open it with yet
    assert shell.close() and not shell.isVisible()
