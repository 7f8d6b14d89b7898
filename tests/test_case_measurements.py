"""Calipers saved in the case file (issue 14, item 13): JSON round trip, old files, bad input."""

from __future__ import annotations

import json
import math

import pytest

from ultrasound_reader.case import Case, ImageRef, Measurement
from ultrasound_reader.dicom.calibration import Calibration, UltrasoundRegion
from ultrasound_reader.errors import UserError
from ultrasound_reader.gui.measure import ellipse_area, measurement_value


def _case() -> Case:
    return Case("liver-fll", "c1", images=[ImageRef("a.dcm"), ImageRef("b.dcm")])


def test_measurements_round_trip(tmp_path) -> None:  # noqa: ANN001
    case = _case()
    case.measurements = [Measurement("distance", [(10, 20), (40.5, 60)], image=1, frame=3),
                         Measurement("ellipse", [(5, 5), (25, 15)], image=0, frame=0)]
    path = case.save(tmp_path)
    data = json.loads(path.read_text())
    assert data["measurements"][0] == {"kind": "distance", "points": [[10.0, 20.0], [40.5, 60.0]], "image": 1,
                                       "frame": 3, "id": case.measurements[0].id}
    back = Case.load(tmp_path)
    assert back.measurements == case.measurements


def test_old_case_files_load_without_measurements(tmp_path) -> None:  # noqa: ANN001
    data = _case().to_dict()
    del data["measurements"]
    (tmp_path / "case.json").write_text(json.dumps(data))
    assert Case.load(tmp_path).measurements == []


@pytest.mark.parametrize("bad, message", [
    ({"kind": "angle", "points": [[0, 0], [1, 1]]}, "kind 'angle'"),
    ({"kind": "distance", "points": [[0, 0]]}, "needs 2 points"),
    ({"kind": "distance", "points": [[0, 0], [float("nan"), 1]]}, "finite|NaN"),
    ({"kind": "distance", "points": [[0, 0], ["x", 1]]}, "pairs of numbers"),
    ({"kind": "distance", "points": [[0, 0], [1, 1]], "image": 5}, "refers to image 5"),
    ({"kind": "distance", "points": [[0, 0], [1, 1]], "frame": -1}, ">= 0"),
    ({"kind": "distance", "points": [[0, 0], [1, 1]], "colour": "red"}, "colour"),
])
def test_bad_measurements_are_refused_by_name(tmp_path, bad, message) -> None:  # noqa: ANN001
    data = _case().to_dict()
    data["measurements"] = [bad]
    (tmp_path / "case.json").write_text(json.dumps(data))
    with pytest.raises(UserError, match=message) as exc:
        Case.load(tmp_path)
    assert str(tmp_path) in str(exc.value) or "measurement" in str(exc.value)


def test_measurements_must_be_a_list_of_objects(tmp_path) -> None:  # noqa: ANN001
    data = _case().to_dict()
    data["measurements"] = {"kind": "distance"}
    (tmp_path / "case.json").write_text(json.dumps(data))
    with pytest.raises(UserError, match="measurements must be a list of objects"):
        Case.load(tmp_path)


def _region(x0: int, x1: int, mm: float) -> UltrasoundRegion:
    return UltrasoundRegion(x0=x0, y0=0, x1=x1, y1=200, spatial_format=1, data_type=1,
                            physical_delta_x=mm / 10, physical_delta_y=mm / 10, units_x=3, units_y=3)


def test_ellipse_area_in_mm2_px2_and_refused_across_regions() -> None:
    cal = Calibration("ultrasound_regions", regions=(_region(0, 99, 0.5), _region(100, 199, 0.25)))
    a = ellipse_area((10, 20), (50, 40), cal)  # 40 x 20 px in the 0.5 mm/px region
    assert a.axes_mm == pytest.approx((20.0, 10.0))
    assert a.mm2 == pytest.approx(math.pi * 20 * 10 / 4)
    assert a.label() == f"{math.pi * 50:.1f} mm² (20.0 × 10.0 mm)"
    across = ellipse_area((80, 20), (120, 40), cal)
    assert across.mm2 is None and across.px2 == pytest.approx(math.pi * 40 * 20 / 4)
    assert across.label() == f"{math.pi * 200:.0f} px² (40 × 20 px, corners in different regions)"
    plain = ellipse_area((0, 0), (10, 10), None)
    assert plain.mm2 is None and plain.label().endswith("px, uncalibrated)")
    spacing = Calibration("pixel_spacing", spacing_mm=(0.1, 0.2))
    assert ellipse_area((0, 0), (10, 10), spacing).mm2 == pytest.approx(math.pi * 1.0 * 2.0 / 4)
    assert measurement_value("distance", (10, 0), (40, 0), cal).mm == pytest.approx(15.0)
    assert measurement_value("ellipse", (10, 20), (50, 40), cal).mm2 == pytest.approx(a.mm2)
