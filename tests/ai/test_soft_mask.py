"""Grad-CAM masked to the ROI outline with a soft edge (issue 14, item 5): the Qt-free maths."""

from __future__ import annotations

import numpy as np
import pytest

from ultrasound_reader.ai.gradcam import feather_px, overlay_rgba, soft_mask
from ultrasound_reader.case import CamMap, Roi

ELLIPSE = Roi("lesion", "ellipse", [(30.0, 40.0), (90.0, 80.0)])  # 60 x 40 px, centre (60, 60)


def test_soft_mask_is_one_inside_zero_outside_and_rises_smoothly() -> None:
    h, w = 120, 140
    m = soft_mask(ELLIPSE.outline(), h, w, feather=8.0)
    assert m.shape == (h, w) and m.dtype == np.float32
    assert m.min() == 0.0 and m.max() == 1.0
    hard = ELLIPSE.mask(h, w)  # case.py's own pixel-centre mask
    assert (m[~hard] == 0).mean() > 0.995  # outside the outline: nothing (a few boundary pixels differ)
    assert m[60, 60] == 1.0 and m[60, 45] == 1.0  # 15 px inside: full weight
    row = m[60, 25:61]  # from outside the left edge (x=30) to the centre
    assert (np.diff(row) >= -1e-6).all()  # never falls going inwards
    assert row[0] == 0 and 0 < m[60, 33] < 0.5 < m[60, 36] < 1.0  # the ramp lies inside the outline
    # without feathering it is the hard mask
    crisp = soft_mask(ELLIPSE.outline(), h, w, feather=0.0)
    assert set(np.unique(crisp)) <= {0.0, 1.0}
    assert (crisp.astype(bool) == hard).mean() > 0.99  # they differ only on the outline itself


def test_soft_mask_origin_and_bad_outlines() -> None:
    full = soft_mask(ELLIPSE.outline(), 120, 140)
    part = soft_mask(ELLIPSE.outline(), 50, 70, origin=(25, 35))  # a region of the image
    assert np.allclose(part, full[35:85, 25:95], atol=1e-6)
    assert soft_mask(np.zeros((2, 2)), 10, 10).max() == 0  # not a polygon
    assert soft_mask(np.array([[0, 0], [np.nan, 1], [1, 1]]), 10, 10).max() == 0
    assert feather_px(ELLIPSE.outline()) == pytest.approx(0.12 * 40)
    assert feather_px(np.array([[0, 0], [5, 0], [5, 5]])) == 2.0  # small ROI: at least 2 px
    assert feather_px(np.array([[0, 0], [500, 0], [500, 500]])) == 12.0  # big ROI: at most 12 px


def test_masked_overlay_has_no_hard_edge() -> None:
    """A map that is hot up to its box edge: the box view shows a step, the ROI view none."""
    x0, y0, x1, y1 = (int(v) for v in (30, 40, 91, 81))
    heat = np.ones((y1 - y0, x1 - x0), np.float32)
    cam = CamMap(ELLIPSE.id, "L", 0, 0, (x0, y0, x1, y1), heat)
    box = overlay_rgba([cam], 120, 140, opacity=0.8)
    mask = soft_mask(ELLIPSE.outline(), 120, 140)
    soft = overlay_rgba([cam], 120, 140, opacity=0.8, mask=mask)
    assert np.array_equal(soft[..., :3], box[..., :3])  # same colours, only the alpha differs
    a_box, a_soft = box[..., 3].astype(int), soft[..., 3].astype(int)
    step = max(np.abs(np.diff(a, axis=ax)).max() for a in [a_box] for ax in (0, 1))
    smooth = max(np.abs(np.diff(a_soft, axis=ax)).max() for ax in (0, 1))
    assert step == round(0.8 * 255)  # the box: 0 to full opacity between two pixels
    assert smooth <= 0.8 * 255 / feather_px(ELLIPSE.outline()) * 1.6  # the ROI view: a ramp
    assert a_soft[y0, x0] == 0 and a_soft[y1 - 1, x1 - 1] == 0  # box corners, outside the ellipse
    assert a_soft[60, 60] == a_box[60, 60]  # full strength well inside
    with pytest.raises(ValueError, match="mask"):
        overlay_rgba([cam], 120, 140, mask=np.ones((10, 10), np.float32))
