"""The ROI reading rules, sizes and case-file helpers (no Qt)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from ultrasound_reader import case_rules as cr
from ultrasound_reader.case import Case, ImageRef, Roi
from ultrasound_reader.dicom.calibration import Calibration, UltrasoundRegion


def _liver(n_images: int = 1) -> Case:
    return Case(task="liver-fll", case_id="c1", images=[ImageRef(f"img{i}.dcm") for i in range(n_images)])


def _rect(kind: str = "lesion", frame: int = 0, image: int = 0, x: float = 10, w: float = 40, h: float = 30) -> Roi:
    return Roi(kind=kind, shape="rectangle", points=[(x, 10), (x + w, 10 + h)], image=image, frame=frame)


def test_kinds_follow_the_task():
    assert cr.kinds_for("liver-fll") == ("lesion", "background")
    assert cr.kinds_for("soft-tissue") == ("mass",)
    case = _liver()
    with pytest.raises(cr.RoiRuleError, match="takes lesion or liver background ROIs, not mass"):
        cr.check_add(case, _rect("mass"))


def test_up_to_four_lesion_rois_each_on_its_own_frame():
    case = _liver(2)
    for frame in range(4):
        cr.check_add(case, roi := _rect(frame=frame))
        case.rois.append(roi)
    with pytest.raises(cr.RoiRuleError) as info:
        cr.check_add(case, _rect(frame=9))
    assert "already has 4 lesion ROIs (frames 1, 2, 3, 4)" in str(info.value)
    assert "delete one" in str(info.value)
    case.rois.pop()
    with pytest.raises(cr.RoiRuleError, match="frame 2 of img0.dcm already carries a lesion ROI"):
        cr.check_add(case, _rect(frame=1))
    cr.check_add(case, _rect(frame=1, image=1))  # the same frame number of another image is another view
    existing = case.rois[0]
    cr.check_add(case, Roi(**{**existing.__dict__, "points": [(0, 0), (50, 50)]}))  # itself, edited


def test_background_rois_at_least_one_at_most_four():
    case = _liver()
    case.rois.append(_rect(frame=0))
    assert cr.readiness(case) == ["1 of 4 lesion ROIs (the model was validated with 4)", "draw a liver-background ROI"]
    for frame in range(4):
        cr.check_add(case, roi := _rect("background", frame=0, x=60 + frame))
        case.rois.append(roi)
    with pytest.raises(cr.RoiRuleError, match="already has 4 liver-background ROIs"):
        cr.check_add(case, _rect("background", frame=3))
    assert cr.readiness(case) == ["1 of 4 lesion ROIs (the model was validated with 4)"]


def test_soft_tissue_one_mass_on_bmode_and_one_on_cdfi():
    case = Case(task="soft-tissue", case_id="s", images=[ImageRef("b.dcm"), ImageRef("c.dcm", role="cdfi")])
    assert cr.readiness(case) == ["draw the mass ROI on the B-mode image", "draw the mass ROI on the CDFI image"]
    case.rois.append(_rect("mass", image=0))
    with pytest.raises(cr.RoiRuleError, match="already has a mass ROI on the B-mode image"):
        cr.check_add(case, _rect("mass", image=0, frame=3))
    cr.check_add(case, m2 := _rect("mass", image=1))
    case.rois.append(m2)
    assert cr.readiness(case) == []
    with pytest.raises(cr.RoiRuleError, match="takes mass ROIs, not lesion"):
        cr.check_add(case, _rect("lesion"))
    with pytest.raises(cr.RoiRuleError, match="it has 2 mass ROI"):
        cr.check_task_change(case, "liver-fll")
    cr.check_task_change(case, "soft-tissue")


def test_geometry_and_frames():
    with pytest.raises(cr.RoiRuleError, match="too small"):
        cr.check_geometry(Roi(kind="lesion", shape="rectangle", points=[(5, 5), (7, 40)]))
    with pytest.raises(cr.RoiRuleError, match="too small"):  # collinear polygon has no area
        cr.check_geometry(Roi(kind="lesion", shape="polygon", points=[(0, 0), (10, 10), (20, 20)]))
    with pytest.raises(cr.RoiRuleError, match="outside the 320 x 240 image"):
        cr.check_geometry(_rect(x=400), 320, 240)
    cr.check_geometry(_rect(x=300), 320, 240)  # partly inside is kept
    with pytest.raises(cr.RoiRuleError, match="frame 31 does not exist .*frames 1-30"):
        cr.check_frame(30, 30)
    assert cr.clip_points([(-5, 3), (400, 250)], 320, 240) == [(-0.5, 3.0), (319.5, 239.5)]
    assert cr.box_points((30, 5), (10, 25)) == [(10.0, 5.0), (30.0, 25.0)]


def test_copy_roi_to_another_frame():
    case = _liver()
    case.rois.append(src := _rect(frame=2))
    copy = cr.copy_roi(case, src.id, 7, n_frames=30)
    assert (copy.frame, copy.points, copy.kind, copy.shape) == (7, src.points, "lesion", "rectangle")
    assert copy.id != src.id and copy.points is not src.points
    with pytest.raises(cr.RoiRuleError, match="already on frame 3"):
        cr.copy_roi(case, src.id, 2)
    with pytest.raises(cr.RoiRuleError, match="does not exist"):
        cr.copy_roi(case, src.id, 30, n_frames=30)
    case.rois.append(copy)
    with pytest.raises(cr.RoiRuleError, match="already carries a lesion ROI"):
        cr.copy_roi(case, src.id, 7)


def test_freehand_is_thinned_within_half_a_pixel_of_the_hand():
    t = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    hand = [(100 + 40 * math.cos(a), 80 + 25 * math.sin(a)) for a in t]
    thin = cr.simplify_freehand(hand)
    assert 10 < len(thin) < 120
    assert set(thin) <= set(hand)  # vertices are points the hand passed through
    # every hand point lies within the tolerance of the thinned closed outline
    poly = np.asarray(thin + thin[:1])
    worst = 0.0
    for p in np.asarray(hand):
        a, b = poly[:-1], poly[1:]
        ab = b - a
        u = np.clip(((p - a) * ab).sum(1) / (ab**2).sum(1), 0, 1)
        worst = max(worst, float(np.min(np.hypot(*(a + ab * u[:, None] - p).T))))
    assert worst <= cr.FREEHAND_TOLERANCE_PX + 1e-3
    assert cr.simplify_freehand([(0, 0), (0, 0), (5, 0), (5, 5)]) == [(0.0, 0.0), (5.0, 0.0), (5.0, 5.0)]


def test_sizes_in_mm_and_the_size_band():
    spacing = Calibration(source="pixel_spacing", spacing_mm=(0.5, 0.5))
    roi = _rect(w=40, h=30)  # diagonal 50 px
    size = cr.roi_size(roi, spacing)
    assert size.diameter_px == pytest.approx(50) and size.diameter_mm == pytest.approx(25)
    assert size.area_mm2 == pytest.approx(1200 * 0.25) and size.diameter_text() == "25.0 mm"
    assert cr.roi_size(roi, None).diameter_text() == "50.0 px (uncalibrated)"
    region = UltrasoundRegion(0, 0, 5, 5, 1, 1, 0.05, 0.05, 3, 3)  # cm/px, far from the ROI
    assert cr.roi_size(roi, Calibration(source="ultrasound_regions", regions=(region,))).reason == \
        "outside the calibrated region"

    case = _liver(2)
    case.rois += [_rect(w=40, h=30), _rect(frame=1, w=80, h=60), _rect(frame=2, image=1, w=200, h=200),
                  _rect("background", w=300, h=300)]
    size = cr.lesion_size(case, {0: spacing, 1: None})
    assert size.diameter_mm == pytest.approx(50) and size.band == "2.1-5.0 cm"  # 100 px * 0.5 mm
    assert size.measured == 2 and size.unmeasured == 1
    assert size.text() == "50.0 mm (5.00 cm) · size band 2.1-5.0 cm · 1 ROI(s) not measured (uncalibrated)"
    assert cr.lesion_size(case, {}).text().startswith("lesion diameter unknown: uncalibrated")
    assert cr.lesion_size(_liver(), {}).text() == "lesion diameter unknown: no lesion ROI yet"


def test_labels_and_frame_marks():
    case = _liver()
    case.rois += [_rect(frame=5), _rect("background", frame=5), _rect(frame=1), _rect("background", frame=5, x=90)]
    labels = cr.roi_labels(case)
    assert [labels[r.id] for r in case.rois] == ["L2", "B1", "L1", "B2"]
    assert cr.roi_frames(case, 0) == {5: ["lesion", "background"], 1: ["lesion"]}
    assert cr.roi_frames(case, 1) == {}


def test_new_case_save_beside_images_and_load_equal(tmp_path, dicom_samples):
    exam = tmp_path / "exam"
    exam.mkdir()
    image = exam / "cine.dcm"
    shutil.copyfile(dicom_samples / "examples_ybr_color.dcm", image)
    case = cr.new_case([image], "soft-tissue")
    assert case.case_id == "cine" and case.images[0].file == str(image.resolve()) and case.root is None
    case.rois.append(Roi(kind="mass", shape="polygon", points=[(1.125, 2.0), (30.5, 4.0), (20.0, 40.25)]))
    on_disk = cr.rebased(case, exam)
    assert on_disk.images[0].file == "cine.dcm" and case.images[0].file == str(image.resolve())
    on_disk.save(exam)
    again = Case.load(exam)
    assert again == on_disk and again.image_path(0).resolve() == image.resolve()
    elsewhere = cr.rebased(again, tmp_path / "cases" / "one")
    assert elsewhere.images[0].file == "../../exam/cine.dcm"
    assert cr.case_file_in([image, exam]) == exam / "case.json"
    assert cr.case_file_in([image]) is None
    assert cr.check_images(again, {0: 1}) == []
    again.rois[0].frame = 3
    assert cr.check_images(again, {0: 2}) == [f"ROI {again.rois[0].id} is on frame 4, but cine.dcm has 2 frame(s)"]
    again.rois[0].frame = 0
    again.images[0].frame = 7  # the frame the image opens on, edited past the end of the cine
    assert cr.check_images(again, {0: 2}) == ["image cine.dcm names frame 8, but it has 2 frame(s)"]


def test_role_guess_from_a_colour_flow_region():
    tissue = UltrasoundRegion(0, 0, 100, 100, 1, 1, 0.05, 0.05, 3, 3)
    flow = UltrasoundRegion(10, 10, 50, 50, 1, 2, 0.05, 0.05, 3, 3)
    assert cr.guess_role(None) == "bmode"
    assert cr.guess_role(Calibration(source="ultrasound_regions", regions=(tissue,))) == "bmode"
    assert cr.guess_role(Calibration(source="ultrasound_regions", regions=(tissue, flow))) == "cdfi"


def test_same_points_tolerates_round_off_only():
    a = [(0.1 + 0.2, 1.0)]
    assert cr.same_points(a, [(0.3, 1.0)]) and not cr.same_points(a, [(0.31, 1.0)])
    assert not cr.same_points(a, a + a)


def test_outline_close_radius():
    assert cr.outline_close([(0.0, 0.0), (5.0, 5.0)], (1.0, 1.0), 2.0)
    assert not cr.outline_close([(0.0, 0.0)], (3.0, 3.0), 2.0)
    assert not cr.outline_close([], (0.0, 0.0), 2.0)


def test_task_labels_cover_every_task():
    from ultrasound_reader.case import TASKS

    assert set(cr.TASK_LABELS) == set(TASKS) == set(cr.KINDS_BY_TASK)
    assert Path(cr.CASE_FILE).suffix == ".json"
