"""The 1x2 viewport layout (issue 14, item 12): a second case image beside the first, zoom and pan linked."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QPointF, QRectF, Qt

pytestmark = pytest.mark.gui

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo"


@pytest.fixture
def window(make_window, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # noqa: ANN001, ANN201
    monkeypatch.setenv("ULTRASOUND_READER_MODELS", str(tmp_path / "no-models"))  # no bundle: no torch here
    return make_window()


def _open_case(qtbot, window, name: str, tmp_path: Path):  # noqa: ANN001, ANN202
    src = next(p for p in sorted((DEMO / name).iterdir()) if p.is_dir())
    folder = tmp_path / src.name
    shutil.copytree(src, folder)
    window.open_paths([folder])
    qtbot.waitUntil(lambda: window.case_ctl.doc.case is not None and window.cine is not None
                    and window.image_view.frame_index is not None and not window.runner.busy, timeout=20000)
    return window.case_ctl.doc.case


def _centre(rect: QRectF) -> tuple[float, float]:
    return rect.center().x(), rect.center().y()


def test_grayscale_and_cdfi_side_by_side_with_linked_zoom(qtbot, window, tmp_path: Path) -> None:  # noqa: ANN001
    case = _open_case(qtbot, window, "soft-tissue", tmp_path)
    assert [i.role for i in case.images] == ["bmode", "cdfi"] or len(case.images) == 2
    dual = window.dual_view
    assert not dual.second.isVisible() and window.menus["view"].actions().count(dual.action) == 1
    qtbot.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert dual.enabled and dual.second.isVisible()
    qtbot.waitUntil(lambda: dual.view.raw is not None, timeout=10000)
    assert window.case_ctl.image_index == 0 and dual.image == 1  # B-mode left, CDFI right
    assert dual.second.chooser.currentData() == 1 and dual.second.chooser.count() == 2
    # The CDFI image's ROIs are drawn on the right (outline + label each), read-only.
    on_right = [r for r in case.rois if r.image == 1 and r.frame == dual.frame]
    assert on_right and len(dual._roi_items) == 2 * len(on_right)
    curve = dual._roi_items[0]
    xs, ys = curve.getData()
    assert xs.min() == pytest.approx(on_right[0].bbox()[0]) and ys.max() == pytest.approx(on_right[0].bbox()[3])

    # Zoom on the left: the right shows the same field; pan on the right: the left follows.
    left, right = window.image_view, dual.view
    assert left.raw.shape[:2] == right.raw.shape[:2]
    left.set_zoom(3.0, QPointF(300, 200))
    qtbot.wait(10)
    a, b = left.view.viewRect(), right.view.viewRect()
    assert _centre(a) == pytest.approx(_centre(b), abs=1.0)
    assert min(a.width(), b.width()) / max(a.width(), b.width()) > 0.6  # about the same scale (view sizes differ)
    right.view.translateBy(x=40, y=-25)
    qtbot.wait(10)
    a, b = left.view.viewRect(), right.view.viewRect()
    assert _centre(a) == pytest.approx(_centre(b), abs=1.0) and _centre(a)[0] == pytest.approx(340, abs=1.0)

    qtbot.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert not dual.enabled and not dual.second.isVisible()


def test_one_image_shows_two_frames(ui, qtbot, window, ybr_cine) -> None:  # noqa: ANN001
    ui.open_and_wait(qtbot, window, ybr_cine)
    case = window.case_ctl.doc.case
    assert case is not None and len(case.images) == 1 and window.n_frames == 30
    dual = window.dual_view
    dual.set_enabled(True)
    qtbot.waitUntil(lambda: dual.view.raw is not None, timeout=10000)
    assert dual.image == 0 and dual.frame == 0
    window.show_frame(3)
    ui.wait_frame(qtbot, window, 3)
    dual.second.slider.setValue(12)
    qtbot.waitUntil(lambda: dual.view.frame_index == 12, timeout=5000)
    assert window.image_view.frame_index == 3  # each viewport keeps its own frame
    assert dual.second.frame_label.text() == "Frame 13 / 30"
    assert (dual.view.raw != window.image_view.raw).any()  # really another frame
    assert dual.view.calibration is not None  # the file's calibration, for its own corner text and calipers


def test_map_rect_keeps_the_same_field_across_sizes() -> None:
    from ultrasound_reader.gui.dual_view import map_rect

    full = QRectF(-0.5, -0.5, 640, 480)
    assert map_rect(full, (480, 640), (240, 320)) == QRectF(-0.5, -0.5, 320, 240)
    part = map_rect(QRectF(99.5, 49.5, 100, 50), (480, 640), (240, 320))
    assert (part.x(), part.y(), part.width(), part.height()) == (49.5, 24.5, 50, 25)


def test_the_right_viewport_draws_the_maps_as_the_left_does(qtbot, make_window, tiny_models: Path,  # noqa: ANN001
                                                           monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The maps on the right come from the session (its analysis, staleness and map settings), not the CAM panel."""
    from ultrasound_reader.gui.cam_view import make_overlay

    monkeypatch.setenv("ULTRASOUND_READER_MODELS", str(tiny_models))
    window = make_window(tmp_path / "cam-settings.ini")
    window.reading.analysis.threads = 1
    session, dual, cam = window.session, window.dual_view, window.reading.cam
    case = _open_case(qtbot, window, "soft-tissue", tmp_path)
    qtbot.waitUntil(lambda: session.bundle is not None and session.bundle.task == "soft-tissue", timeout=60000)
    with qtbot.waitSignal(session.stallMeasured, timeout=60000):
        assert session.analyse() is not None
    dual.set_enabled(True)
    qtbot.waitUntil(lambda: dual.view.raw is not None and dual.image == 1, timeout=10000)
    assert dual.cam_layer.overlay is None  # the maps are off on the left: off on the right
    cam.toggle.setChecked(True)
    shown = dual.cam_layer.overlay
    assert shown is not None and session.cam_settings.enabled
    h, w = dual.view.raw.shape[:2]
    expected = make_overlay(session.run.result.cams, h, w, cam.settings(), image=1, frame=dual.frame,
                            outlines={r.id: r.outline() for r in case.rois})
    assert (shown.x0, shown.y0) == (expected.x0, expected.y0) and (shown.rgba == expected.rgba).all()
    roi = next(r for r in case.rois if r.image == 1)
    x0, y0, x1, y1 = roi.bbox()
    assert x0 - 8 <= shown.x0 <= x1 and y0 - 8 <= shown.y0 <= y1  # the CDFI image's own ROI's map
    cam.opacity.setValue(20)  # restyled on the left: the same on the right
    assert dual.cam_layer.overlay.rgba[..., 3].max() == round(0.2 * 255)
    # An ROI moved: the maps would mislead, on both sides; moved back: shown again.
    points = list(roi.points)
    session.doc.set_points(roi.id, [(x + 15, y) for x, y in points])
    assert session.maps_stale and dual.cam_layer.overlay is None and window.reading.cams.layer.overlay is None
    session.doc.undo_stack.undo()
    assert not session.maps_stale and dual.cam_layer.overlay is not None
