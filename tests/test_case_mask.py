"""``Roi.mask`` without matplotlib: the same pixels as matplotlib's ``Path.contains_points``.

The old mask asked matplotlib (``contains_points(radius=1e-9)``), whose result on the
outline depends on the way the outline runs: a rectangle dragged from its top-right
corner lost its whole border. The new scanline fill counts outline pixels as inside
whatever the orientation, and equals matplotlib's answer for positively oriented
(counter-clockwise in x-right, y-down pixel terms: positive shoelace area) outlines.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.path import Path as MplPath

from ultrasound_reader.case import Roi


def _matplotlib_mask(outline: np.ndarray, height: int, width: int) -> np.ndarray:
    """What ``Roi.mask`` computed before (over the whole image, pixel centres at integers)."""
    yy, xx = np.mgrid[0:height, 0:width]
    inside = MplPath(outline).contains_points(np.stack([xx.ravel(), yy.ravel()], axis=1), radius=1e-9)
    return inside.reshape(height, width)


def _signed_area(o: np.ndarray) -> float:
    return float(np.dot(o[:, 0], np.roll(o[:, 1], -1)) - np.dot(o[:, 1], np.roll(o[:, 0], -1))) / 2


def _star(rng: np.random.Generator, n: int, integer: bool) -> list[tuple[float, float]]:
    """A simple (star-shaped about its centre) polygon, counter-clockwise, maybe on integer vertices."""
    ang = np.sort(rng.uniform(0, 2 * np.pi, n))
    ang = ang[np.concatenate([[True], np.diff(ang) > 1e-3])]
    rad = rng.uniform(5, 30, ang.size)
    pts = np.stack([50.3 + rad * np.cos(ang), 40.6 + rad * np.sin(ang)], axis=1)
    return [tuple(p) for p in (np.round(pts * 4) / 4 if integer else pts)]


SHAPES = [
    Roi("lesion", "rectangle", [(2, 2), (6, 5)]),  # integer corners: the border is on pixel centres
    Roi("lesion", "rectangle", [(2.5, 1.2), (40.7, 33.1)]),
    Roi("lesion", "rectangle", [(-5, -5), (20, 10)]),  # partly outside the image
    Roi("lesion", "ellipse", [(0, 0), (40, 20)]),
    Roi("lesion", "ellipse", [(3.3, 5.1), (77.9, 61.2)]),
    Roi("lesion", "ellipse", [(50, 40), (130, 95)]),  # runs off the right and bottom edges
    Roi("lesion", "polygon", [(1, 1), (6, 1), (1, 6)]),
    Roi("lesion", "polygon", [(10, 10), (60, 12), (35, 30), (62, 55), (8, 50)]),  # concave
    Roi("lesion", "polygon", [(10, 10), (20, 10), (20, 20), (10, 20), (10, 15)]),  # collinear vertex
]


@pytest.mark.parametrize("roi", SHAPES + [Roi("lesion", "freehand", _star(np.random.default_rng(k), 6 + 3 * k, k % 2 == 1))
                                          for k in range(8)], ids=lambda r: r.shape)
def test_mask_equals_the_matplotlib_result(roi):
    outline = roi.outline()
    assert _signed_area(outline) > 0  # the orientation matplotlib and the new fill agree on
    assert np.array_equal(roi.mask(80, 100), _matplotlib_mask(outline, 80, 100))


@pytest.mark.parametrize("points", [
    [(6, 2), (2, 5)],  # rectangle dragged from top-right to bottom-left
    [(6, 5), (2, 2)],
])
def test_rectangle_mask_does_not_depend_on_the_drag_direction(points):
    reference = Roi("lesion", "rectangle", [(2, 2), (6, 5)]).mask(8, 9)
    assert reference.sum() == 5 * 4  # 5 columns x 4 rows of centres, border included
    assert np.array_equal(Roi("lesion", "rectangle", points).mask(8, 9), reference)


def test_polygon_mask_does_not_depend_on_the_drawing_direction():
    ccw = [(10, 10), (60, 12), (35, 30), (62, 55), (8, 50)]
    a = Roi("lesion", "polygon", ccw).mask(80, 100)
    b = Roi("lesion", "polygon", ccw[::-1]).mask(80, 100)
    assert np.array_equal(a, b)


def test_mask_outside_the_image_is_empty():
    assert not Roi("lesion", "rectangle", [(200, 200), (300, 250)]).mask(80, 100).any()
    assert not Roi("lesion", "ellipse", [(-50, -40), (-10, -5)]).mask(80, 100).any()


def test_mask_area_matches_the_geometry():
    ell = Roi("lesion", "ellipse", [(100.2, 80.7), (500.9, 400.1)])
    assert abs(ell.mask(600, 800).sum() - ell.area_px()) / ell.area_px() < 0.01
    rect = Roi("lesion", "rectangle", [(10, 10), (90, 70)])
    assert rect.mask(600, 800).sum() == 81 * 61


def test_the_domain_model_does_not_import_matplotlib():
    code = ("import sys\nfrom ultrasound_reader.case import Roi\n"
            "Roi('lesion', 'ellipse', [(1, 1), (20, 9)]).mask(30, 30)\n"
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported'\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr[-1000:]
