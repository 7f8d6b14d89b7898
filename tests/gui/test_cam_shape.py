"""The Grad-CAM overlay inside the ROI outline with a soft edge, or the whole box (issue 14, item 5)."""

from __future__ import annotations

import numpy as np
import pytest

from ultrasound_reader.case import CamMap, Roi

pytestmark = pytest.mark.gui

ROI = Roi("lesion", "ellipse", [(40.0, 30.0), (100.0, 70.0)], frame=3)
CAM = CamMap(ROI.id, "L", 0, 3, (34, 26, 107, 75), np.ones((49, 73), np.float32))  # box with margin


def test_controls_offer_the_shape_roi_by_default(qtbot) -> None:  # noqa: ANN001
    from ultrasound_reader.gui.cam_controls import SHAPES, CamControls

    ctl = CamControls()
    qtbot.addWidget(ctl)
    ctl.set_cams([CAM])
    assert ctl.shape.isEnabled() and list(SHAPES) == [ctl.shape.itemData(i) for i in range(ctl.shape.count())]
    assert ctl.settings().shape == "roi"
    with qtbot.waitSignal(ctl.settingsChanged) as sig:
        ctl.shape.setCurrentIndex(ctl.shape.findData("box"))
    assert sig.args[0].shape == "box"


def test_overlay_follows_the_outline_softly(qtbot) -> None:  # noqa: ANN001
    from ultrasound_reader.ai.gradcam import overlay_rgba
    from ultrasound_reader.gui.cam_controls import CamSettings
    from ultrasound_reader.gui.cam_view import make_overlay

    outlines = {ROI.id: ROI.outline()}
    roi_view = CamSettings(enabled=True, opacity=0.6, model="L", shape="roi")
    box_view = CamSettings(enabled=True, opacity=0.6, model="L", shape="box")
    soft = make_overlay([CAM], 100, 140, roi_view, image=0, frame=3, outlines=outlines)
    box = make_overlay([CAM], 100, 140, box_view, image=0, frame=3, outlines=outlines)
    assert soft is not None and box is not None and (soft.x0, soft.y0) == (box.x0, box.y0) == (34, 26)
    # the box view is the AI layer's overlay as it was
    assert np.array_equal(box.rgba, overlay_rgba([CAM], 100, 140, opacity=0.6)[26:75, 34:107])
    full = round(0.6 * 255)
    assert box.value_at(35, 27)[3] == full and soft.value_at(35, 27)[3] == 0  # box corner: outside the ROI
    assert soft.value_at(70, 50)[3] == full  # the ROI's centre: the map at full strength
    alpha = soft.rgba[..., 3].astype(int)
    assert max(np.abs(np.diff(alpha, axis=a)).max() for a in (0, 1)) < full / 2  # no hard edge
    inside = ROI.mask(100, 140)[26:75, 34:107]
    assert alpha[~inside].max() <= 0.05 * full  # nothing beyond the outline (pixel-centre rounding aside)
    # without outlines (e.g. an ROI no longer in the case) the box is kept
    kept = make_overlay([CAM], 100, 140, roi_view, image=0, frame=3, outlines=None)
    assert np.array_equal(kept.rgba, box.rgba)


def test_outline_past_the_box_fades_at_the_box_edge() -> None:
    from ultrasound_reader.ai.gradcam import roi_mask

    clipped = CamMap(ROI.id, "L", 0, 3, (60, 26, 107, 75), np.ones((49, 47), np.float32))  # left part cut off
    mask = roi_mask([clipped], {ROI.id: ROI.outline()}, 49, 47, origin=(60, 26))
    assert mask[24, 0] < 0.2 and mask[24, 12] == pytest.approx(1.0)  # the box's left edge is feathered too
