"""The analyzer checks a case against its images: frames that exist, ROIs on the image, honest size warnings."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ai.conftest import MM_PER_PX, speckle
from ultrasound_reader.ai.analyzer import Analyzer
from ultrasound_reader.case import Case, ImageRef, Roi
from ultrasound_reader.errors import UserError


def test_image_frame_beyond_the_cine_is_refused(fll_bundle_dir: Path, fll_case) -> None:
    case = fll_case(n_lesion=1, n_background=1)
    case.images[0].frame = 5  # the file has one frame
    with pytest.raises(UserError, match=r"liver0.dcm: image 0 of case PHANTOM-fll names frame 5, which does not "
                                        r"exist \(the file has 1 frame"):
        Analyzer(fll_bundle_dir, cam=False).run(case)


def test_roi_partly_outside_the_image_is_refused(fll_bundle_dir: Path, fll_case) -> None:
    case = fll_case(n_lesion=1, n_background=1)
    case.rois[0] = Roi("lesion", "rectangle", [(250, 200), (360, 260)], image=0, id="edge")  # image is 320x240
    with pytest.raises(UserError, match=r"ROI edge on image 0 .*: extends outside the 320x240 image "
                                        r"\(x 250.0 to 360.0, y 200.0 to 260.0\)"):
        Analyzer(fll_bundle_dir, cam=False).run(case)
    # Up to the outer pixel edges (-0.5 .. size - 0.5), as the GUI clips a drag, is inside.
    case.rois[0] = Roi("lesion", "rectangle", [(-0.5, -0.5), (319.5, 239.5)], image=0, id="full")
    Analyzer(fll_bundle_dir, cam=False).run(case)


def test_roi_off_the_calibrated_region_is_not_called_uncalibrated(fll_bundle_dir: Path, tmp_path: Path) -> None:
    from ultrasound_reader.dicom.synth import write_dicom

    img = speckle(240, 320, seed=3)
    # Calibrated only on the left half of the image.
    write_dicom(tmp_path / "half.dcm", img[None], regions=[{"x0": 0, "y0": 0, "x1": 150, "y1": 239, "data_type": 1,
                                                             "delta_x": MM_PER_PX / 10, "delta_y": MM_PER_PX / 10}])
    case = Case("liver-fll", "PHANTOM-half", images=[ImageRef("half.dcm")],
                rois=[Roi("lesion", "ellipse", [(200, 60), (300, 160)], id="right"),
                      Roi("background", "rectangle", [(20, 20), (100, 100)])], root=tmp_path)
    result = Analyzer(fll_bundle_dir, cam=False).run(case)
    assert result.lesion_size_cm is None
    assert any("lesion ROI(s) right lie outside the calibrated region" in w for w in result.warnings)
    assert not any("uncalibrated image" in w for w in result.warnings)
