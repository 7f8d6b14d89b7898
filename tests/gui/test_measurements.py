"""Calipers beyond the ruler (issue 14, item 13): ellipse area, several at once, saved in the case, listed."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pydicom
import pytest
from PySide6.QtCore import Qt

pytestmark = pytest.mark.gui

LEFT = Qt.MouseButton.LeftButton


def _drag(ui, window, p0, p1) -> None:  # noqa: ANN001
    view = window.image_view
    ui.mouse_drag(view.viewport(), view.map_to_widget(*p0), view.map_to_widget(*p1), LEFT)


def test_area_and_rulers_are_saved_listed_and_frame_bound(ui, qtbot, window, ybr_cine, tmp_path: Path) -> None:  # noqa: ANN001
    ui.open_and_wait(qtbot, window, ybr_cine)
    ds = pydicom.dcmread(ybr_cine, stop_before_pixels=True)
    mm = float(ds.SequenceOfUltrasoundRegions[0].PhysicalDeltaX) * 10.0
    ctl, doc = window.measurements, window.case_ctl.doc
    assert doc.case is not None and doc.case.measurements == [] and not doc.dirty

    qtbot.keyClick(window, Qt.Key.Key_M, Qt.KeyboardModifier.ShiftModifier)
    assert window.image_view.tool is ctl.area
    _drag(ui, window, (120, 100), (200, 160))
    _drag(ui, window, (230, 60), (280, 100))  # several calipers at once
    window.set_tool("ruler")
    _drag(ui, window, (100, 180), (220, 180))
    assert [m.kind for m in doc.case.measurements] == ["ellipse", "ellipse", "distance"]
    assert doc.dirty
    big = ctl.area.measurements[0]
    (x0, y0), (x1, y1) = big.endpoints()
    assert abs(x0 - 120) < 0.6 and abs(y1 - 160) < 0.6
    area = big.area()
    assert area.mm2 == pytest.approx(math.pi * (x1 - x0) * (y1 - y0) * mm * mm / 4, rel=1e-9)
    assert big.label.toPlainText() == area.label() and "mm²" in area.label()
    rows = ctl.panel.texts()
    assert len(rows) == 3 and rows[0].startswith("M1  Ellipse area: ") and "mm²" in rows[0]
    assert rows[2].startswith("M3  Distance: ") and rows[2].endswith("img 1 · fr 1") and " mm" in rows[2]

    # Dragging a handle edits the saved caliper.
    handle = big.roi.getHandles()[0]  # bottom-right corner
    corner = big.roi.mapToParent(handle.pos())
    _drag(ui, window, (corner.x(), corner.y()), (corner.x() + 20, corner.y()))
    assert doc.case.measurements[0].points[1][0] == pytest.approx(x1 + 20, abs=0.6)

    # Bound to their frame: gone on another frame, back on theirs.
    window.show_frame(5)
    ui.wait_frame(qtbot, window, 5)
    assert not any(m.roi.isVisible() for m in ctl.items())
    window.show_frame(0)
    ui.wait_frame(qtbot, window, 0)
    assert all(m.roi.isVisible() for m in ctl.items())

    # Saved in case.json, and drawn again when the case is opened.
    folder = tmp_path / "case"
    listed = ctl.panel.texts()
    doc.save(folder)
    saved = json.loads((folder / "case.json").read_text())["measurements"]
    assert [m["kind"] for m in saved] == ["ellipse", "ellipse", "distance"]
    window.close_all()
    qtbot.waitUntil(lambda: window.cine is None, timeout=5000)
    window.open_paths([folder])
    qtbot.waitUntil(lambda: window.cine is not None and window.image_view.frame_index is not None
                    and len(ctl.items()) == 3, timeout=20000)
    assert ctl.panel.texts() == listed  # same calipers, same values
    assert not doc.dirty

    # A caliper removed by the reader leaves the case.
    victim = ctl.ruler.measurements[0]
    victim.removeRequested.emit(victim)
    assert [m.kind for m in doc.case.measurements] == ["ellipse", "ellipse"] and doc.dirty
    assert len(ctl.panel.texts()) == 2

    # A double-click on a row shows its caliper's frame.
    window.show_frame(7)
    ui.wait_frame(qtbot, window, 7)
    assert not any(m.roi.isVisible() for m in ctl.items())
    ctl.panel.list.itemDoubleClicked.emit(ctl.panel.list.item(0))
    ui.wait_frame(qtbot, window, 0)
    assert all(m.roi.isVisible() for m in ctl.items())

    # Tools ▸ Clear Measurements (Shift+Del): this image's calipers leave the screen and the case.
    assert window.actions["clear_measurements"] in window.menus["tools"].actions()
    qtbot.keyClick(window, Qt.Key.Key_Delete, Qt.KeyboardModifier.ShiftModifier)
    assert doc.case.measurements == [] and ctl.items() == [] and ctl.panel.texts() == []


def test_uncalibrated_area_says_so(ui, qtbot, window, dicom_samples: Path) -> None:  # noqa: ANN001
    ui.open_and_wait(qtbot, window, dicom_samples / ui.RGB_STILL)
    window.set_tool("area")
    _drag(ui, window, (20, 20), (60, 50))
    label = window.measurements.area.measurements[0].label.toPlainText()
    assert "px²" in label and "uncalibrated" in label and "mm" not in label
    assert "uncalibrated" in window.measurements.panel.texts()[0]
