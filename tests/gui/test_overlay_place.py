"""Corner text that avoids the scanner's burned-in text and the image data (issue 14, item 14)."""

from __future__ import annotations

import numpy as np
import pytest

from ultrasound_reader.gui.overlay_place import MARGIN_PX, ViewMap, occupancy, place_labels

pytestmark = pytest.mark.gui


def _scanner_frame() -> np.ndarray:
    """320x240 gray: a sector of 'tissue' in the middle, header text top-left, MI/TIS text bottom-right."""
    f = np.zeros((240, 320), np.uint8)
    yy, xx = np.mgrid[:240, :320]
    f[((xx - 160) ** 2 + (yy - 20) ** 2 < 175 ** 2) & (abs(xx - 160) < (yy - 20) * 0.9)] = 90
    f[4:30:6, 4:70] = 230  # four lines of header text
    f[226:234:4, 230:316] = 230  # two lines of bottom-right text
    return f


def test_occupancy_counts_marked_pixels_and_weighs_regions() -> None:
    f = np.zeros((50, 60), np.uint8)
    f[10, 20] = 200
    occ = occupancy(f, grow=0)
    assert occ.shape == (50, 60)
    assert occ.count(0, 0, 60, 50) == 8  # one bright pixel, content weight 8
    assert occ.count(21, 0, 60, 50) == 0 and occ.count(-100, -100, 0, 0) == 0  # beside it, outside the image
    grown = occupancy(f, grow=2)
    assert grown.count(0, 0, 60, 50) == 8 * 25
    with_region = occupancy(f, regions=[(30, 0, 39, 49)], grow=0)
    assert with_region.count(30, 0, 40, 50) == 10 * 50  # an empty data region counts, lightly
    assert with_region.count(0, 0, 30, 50) == 8
    rgb = np.zeros((5, 5, 3), np.uint8)
    rgb[2, 2, 1] = 100  # any bright channel marks
    assert occupancy(rgb, grow=0).count(0, 0, 5, 5) == 8


def test_labels_move_off_burned_in_text_and_stay_in_free_corners() -> None:
    frame = _scanner_frame()
    occ = occupancy(frame)
    vmap = ViewMap(2.5, 0.0, 2.5, 0.0)  # the frame fills an 800x600 view
    sizes = {"tl": (200.0, 50.0), "tr": (60.0, 24.0), "bl": (170.0, 40.0), "br": (280.0, 40.0)}
    spots = place_labels(sizes, (800.0, 600.0), vmap, occ)
    for corner, (x, y) in spots.items():
        w, h = sizes[corner]
        ix0, iy0 = vmap.to_image(x, y)
        ix1, iy1 = vmap.to_image(x + w, y + h)
        assert occ.count(ix0, iy0, ix1, iy1) <= 2, corner  # covers nothing the frame shows
        assert 0 <= x and x + w <= 800 and 0 <= y and y + h <= 600
    assert spots["tr"] == (800 - 60 - MARGIN_PX, MARGIN_PX)  # a free corner: exactly where it always was
    assert spots["bl"] == (MARGIN_PX, 600 - 40 - MARGIN_PX)
    assert spots["tl"] != (MARGIN_PX, MARGIN_PX) and spots["br"] != (800 - 280 - MARGIN_PX, 600 - 40 - MARGIN_PX)
    # without a frame, every label is in its corner
    plain = place_labels(sizes, (800.0, 600.0), None, None)
    assert plain["tl"] == (MARGIN_PX, MARGIN_PX) and plain["br"] == (800 - 280 - MARGIN_PX, 600 - 40 - MARGIN_PX)


def test_labels_never_overlap_each_other_in_a_narrow_view() -> None:
    sizes = {"tl": (200.0, 50.0), "tr": (180.0, 30.0), "bl": (170.0, 40.0), "br": (190.0, 40.0)}
    spots = place_labels(sizes, (300.0, 500.0), None, None)
    rects = [(x, y, x + sizes[c][0], y + sizes[c][1]) for c, (x, y) in spots.items()]
    for i, a in enumerate(rects):
        for b in rects[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)


def test_image_view_keeps_corner_text_off_the_header(qtbot) -> None:  # noqa: ANN001
    from PySide6.QtWidgets import QVBoxLayout, QWidget

    from ultrasound_reader.gui.image_view import ImageView

    holder = QWidget()  # pytest-qt closes the holder (closing a bare pyqtgraph view at teardown crashes)
    qtbot.addWidget(holder)
    layout = QVBoxLayout(holder)
    layout.setContentsMargins(0, 0, 0, 0)
    view = ImageView()
    layout.addWidget(view)
    holder.resize(640, 480)  # the 320x240 frame fills it: no letterbox to escape into
    holder.show()
    qtbot.waitExposed(holder)
    frame = _scanner_frame()
    view.set_frame(frame, 0)
    view.set_overlay_text(tl="US · Multi-frame\nACME Sono 7\nSe 1 Im 1", tr="Male  53 y",
                          bl="Frame 1/30\nW 256 L 128  Zoom 2.00×", br="320×240 · MONOCHROME2\nUncalibrated (px)")
    qtbot.wait(20)
    vmap = view.view_map()
    assert vmap is not None and vmap.sx == pytest.approx(2.0, rel=0.02)
    occ = view.occupancy
    for name, label in view._corners.items():
        g = label.geometry()
        ix0, iy0 = vmap.to_image(g.left(), g.top())
        ix1, iy1 = vmap.to_image(g.right() + 1, g.bottom() + 1)
        assert occ.count(ix0, iy0, ix1, iy1) <= 2, name
    assert view._corners["tl"].geometry().topLeft().toTuple() != (MARGIN_PX, MARGIN_PX)
    assert view._corners["tr"].geometry().topLeft().toTuple() == (640 - view._corners["tr"].width() - MARGIN_PX,
                                                                  MARGIN_PX)
    # a black frame: every label in its corner
    view.set_frame(np.zeros((240, 320), np.uint8), 0)
    qtbot.wait(10)
    assert view._corners["tl"].geometry().topLeft().toTuple() == (MARGIN_PX, MARGIN_PX)
