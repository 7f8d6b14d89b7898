"""The application has its icon (window, taskbar; the frozen app carries the same file)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.gui


def test_application_sets_the_window_icon(qapp):
    from ultrasound_reader.gui.app import ICON, application

    assert ICON.is_file() and ICON.stat().st_size < 100_000
    app = application()
    icon = app.windowIcon()
    assert not icon.isNull()
    image = icon.pixmap(64, 64).toImage()
    assert image.width() == 64 and len({image.pixel(x, y) for x in range(0, 64, 4) for y in range(0, 64, 4)}) > 8
