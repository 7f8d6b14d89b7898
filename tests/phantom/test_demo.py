"""The bundled demo set: complete, readable by the project's loader, ROIs sized to the truth."""

from __future__ import annotations

import pytest

from ultrasound_reader.case import Case, Truth
from ultrasound_reader.dicom import open_cine
from ultrasound_reader.paths import resources_dir

DEMO = resources_dir() / "demo"


@pytest.mark.parametrize("task, folder, n", [("liver-fll", "liver", 3), ("soft-tissue", "soft-tissue", 3)])
def test_demo_cases_open_and_match_their_truth(task, folder, n):
    root = DEMO / folder
    truths = Truth.read_csv(root / "truth.csv")
    cases = [Case.load(p.parent) for p in sorted(root.glob("*/case.json"))]
    assert len(cases) == n and {c.case_id for c in cases} == set(truths)
    assert {t.malignant for t in truths.values()} == {True, False}  # both kinds on show
    for case in cases:
        assert case.task == task
        truth = truths[case.case_id]
        kind = "lesion" if task == "liver-fll" else "mass"
        for roi in case.rois_of(kind):
            with open_cine(case.image_path(roi.image)) as cine:
                assert roi.frame < cine.n_frames
                x0, y0, x1, y1 = roi.bbox()
                mm = cine.calibration.mm_per_pixel((x0 + x1) / 2, (y0 + y1) / 2)
                assert abs(roi.max_diameter(mm) - truth.lesion_size_cm * 10) < 2 * mm[0]
    if task == "liver-fll":
        assert {t.lb_type for t in truths.values()} == {"normal", "steatosis", "fibrosis"}
