import json
import math

import numpy as np
import pytest

from ultrasound_reader.case import (
    AnalysisResult, Case, CamMap, ClinicalFactors, ImageRef, Roi, Truth, size_band,
)
from ultrasound_reader.errors import UserError


def _case(tmp_path):
    return Case(
        task="liver-fll",
        case_id="PHANTOM-001",
        images=[ImageRef("cine.dcm", frame=3), ImageRef("cdfi.dcm", role="cdfi")],
        rois=[
            Roi("lesion", "ellipse", [(10, 20), (50, 60)], frame=3),
            Roi("background", "polygon", [(0, 0), (5, 0), (5, 5)], image=1),
        ],
        factors=ClinicalFactors(age=61, sex="M", hepatitis=1, halo=True),
        root=tmp_path,
    )


def test_case_json_round_trip_is_exact(tmp_path):
    case = _case(tmp_path)
    path = case.save(tmp_path)
    again = Case.load(tmp_path)
    assert path.name == "case.json"
    assert again == case
    assert again.image_path(0) == tmp_path / "cine.dcm"
    assert json.loads(path.read_text())["factors"] == {"age": 61, "sex": "M", "hepatitis": 1, "halo": True}


def test_roi_geometry():
    rect = Roi("lesion", "rectangle", [(10, 10), (20, 30)])
    assert rect.area_px() == 200
    assert rect.max_diameter() == pytest.approx(math.hypot(10, 20))
    assert rect.max_diameter((0.5, 0.5)) == pytest.approx(math.hypot(5, 10))
    ell = Roi("lesion", "ellipse", [(0, 0), (40, 20)])
    assert ell.area_px() == pytest.approx(math.pi * 20 * 10)
    assert ell.max_diameter() == pytest.approx(40, rel=1e-3)
    m = ell.mask(30, 50)
    assert abs(m.sum() - ell.area_px()) / ell.area_px() < 0.05
    poly = Roi("lesion", "polygon", [(0, 0), (10, 0), (0, 10)])
    assert poly.area_px() == 50


def test_bad_input_names_the_field(tmp_path):
    with pytest.raises(UserError, match="age"):
        ClinicalFactors(age=300)
    with pytest.raises(UserError, match="needs at least 3 points"):
        Roi("lesion", "polygon", [(0, 0), (1, 1)])
    with pytest.raises(UserError, match="task"):
        Case(task="brain", case_id="x")
    (tmp_path / "case.json").write_text("{not json")
    with pytest.raises(UserError, match="case.json"):
        Case.load(tmp_path)
    (tmp_path / "case.json").write_text(json.dumps({"task": "liver-fll"}))
    with pytest.raises(UserError, match="case_id"):
        Case.load(tmp_path)


def test_size_bands():
    assert size_band(0.9) == "<=1.0 cm"
    assert size_band(2.0) == "1.1-2.0 cm"
    assert size_band(2.05) == "2.1-5.0 cm"
    assert size_band(7.2) == ">5.0 cm"


def test_truth_csv_round_trip(tmp_path):
    truths = [Truth("a", True, lb_type="fibrosis", lesion_size_cm=3.2, centre="C1"), Truth("b", False)]
    Truth.write_csv(tmp_path / "truth.csv", truths)
    back = Truth.read_csv(tmp_path / "truth.csv")
    assert back == {"a": truths[0], "b": truths[1]}


def test_analysis_result_serialises_without_arrays():
    r = AnalysisResult("c", "liver-fll", "demo", "1", probabilities={"L": 0.7},
                       cams=[CamMap("r1", "L", 0, 0, (0, 0, 4, 3), np.zeros((3, 4), np.float32))])
    d = json.loads(json.dumps(r.to_dict()))
    assert d["cams"][0]["shape"] == [3, 4] and "heat" not in d["cams"][0]
