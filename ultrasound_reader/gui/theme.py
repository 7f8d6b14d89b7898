"""The dark reading-room theme.

Reading rooms are dim: the chrome around the image is near black with grey text so
the eye adapts to the image, not to the window. One accent colour (amber) marks what
the user made (measurements, the active tool); selection is a muted blue.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

BACKGROUND = "#151719"
PANEL = "#1d2024"
BASE = "#111315"
BORDER = "#30343a"
TEXT = "#d4d7dc"
TEXT_DIM = "#8c939c"
ACCENT = "#e8a33d"  # measurements, active tool
SELECTION = "#2f5d8a"
ERROR = "#ff6b6b"
IMAGE_BACKGROUND = "#000000"

STYLESHEET = f"""
QMainWindow, QDialog {{ background: {BACKGROUND}; }}
QDockWidget {{ color: {TEXT}; }}
QDockWidget::title {{ background: {PANEL}; padding: 4px 6px; border-bottom: 1px solid {BORDER}; }}
QToolBar {{ background: {PANEL}; border: none; border-bottom: 1px solid {BORDER}; spacing: 2px; padding: 2px; }}
QToolButton {{ color: {TEXT}; padding: 3px 6px; border: 1px solid transparent; border-radius: 3px; }}
QToolButton:hover {{ border-color: {BORDER}; background: #262a30; }}
QToolButton:checked {{ border-color: {ACCENT}; color: {ACCENT}; background: #2a2620; }}
QToolButton:disabled {{ color: #555b63; }}
QStatusBar {{ background: {PANEL}; color: {TEXT_DIM}; border-top: 1px solid {BORDER}; }}
QStatusBar QLabel {{ color: {TEXT_DIM}; padding: 0 6px; }}
QStatusBar QLabel#readout {{ color: {TEXT}; font-family: monospace; }}
QStatusBar QLabel#error {{ color: {ERROR}; }}
QMenuBar {{ background: {PANEL}; color: {TEXT}; }}
QMenuBar::item:selected, QMenu::item:selected {{ background: {SELECTION}; }}
QMenu {{ background: {PANEL}; color: {TEXT}; border: 1px solid {BORDER}; }}
QMenu::item:disabled {{ color: #60666e; }}
QTreeWidget, QListWidget {{ background: {BASE}; color: {TEXT}; border: none; }}
QTreeWidget::item {{ padding: 2px; }}
QTreeWidget::item:selected, QListWidget::item:selected {{ background: {SELECTION}; color: white; }}
QHeaderView::section {{ background: {PANEL}; color: {TEXT_DIM}; border: none; padding: 3px; }}
QSlider::groove:horizontal {{ height: 4px; background: {BORDER}; border-radius: 2px; }}
QSlider::sub-page:horizontal {{ background: #6b7480; border-radius: 2px; }}
QSlider::handle:horizontal {{ background: {TEXT}; width: 12px; margin: -5px 0; border-radius: 6px; }}
QSlider::handle:horizontal:disabled {{ background: #555b63; }}
QComboBox {{ background: {BASE}; color: {TEXT}; border: 1px solid {BORDER}; padding: 1px 6px; border-radius: 3px; }}
QComboBox QAbstractItemView {{ background: {PANEL}; color: {TEXT}; selection-background-color: {SELECTION}; }}
QProgressBar {{ background: {BASE}; border: 1px solid {BORDER}; border-radius: 3px; color: {TEXT}; text-align: center; max-height: 14px; }}
QProgressBar::chunk {{ background: {SELECTION}; }}
QLabel {{ color: {TEXT}; }}
QLabel#frameLabel {{ font-family: monospace; color: {TEXT}; }}
QToolTip {{ background: {PANEL}; color: {TEXT}; border: 1px solid {BORDER}; }}
QMessageBox {{ background: {PANEL}; }}
QSplitter::handle {{ background: {BORDER}; }}
"""


def dark_palette() -> QPalette:
    p = QPalette()
    roles = {
        QPalette.ColorRole.Window: BACKGROUND,
        QPalette.ColorRole.WindowText: TEXT,
        QPalette.ColorRole.Base: BASE,
        QPalette.ColorRole.AlternateBase: PANEL,
        QPalette.ColorRole.ToolTipBase: PANEL,
        QPalette.ColorRole.ToolTipText: TEXT,
        QPalette.ColorRole.Text: TEXT,
        QPalette.ColorRole.Button: PANEL,
        QPalette.ColorRole.ButtonText: TEXT,
        QPalette.ColorRole.BrightText: "#ffffff",
        QPalette.ColorRole.Highlight: SELECTION,
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: ACCENT,
        QPalette.ColorRole.PlaceholderText: TEXT_DIM,
    }
    for role, colour in roles.items():
        p.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor("#60666e"))
    return p


def apply(app: QApplication) -> None:
    """Fusion style (the same on every platform) with the dark palette and stylesheet."""
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    app.setStyleSheet(STYLESHEET)
