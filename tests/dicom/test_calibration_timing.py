"""Calibration (ultrasound regions, pixel spacing) and frame timing from the header."""

from __future__ import annotations

import pytest

from ultrasound_reader.dicom import open_cine
from ultrasound_reader.dicom.calibration import describe


def test_palette_sample_regions(dicom_samples):
    with open_cine(dicom_samples / "examples_palette.dcm") as cine:
        cal = cine.calibration
    assert cal is not None and cal.source == "ultrasound_regions"
    tissue, ecg = cal.regions
    assert tissue.data_type_name == "tissue" and tissue.is_spatial
    assert tissue.physical_delta_x == pytest.approx(0.0262288, abs=1e-7)  # cm
    assert cal.mm_per_pixel(300, 200) == pytest.approx((0.262288, 0.262288), abs=1e-6)
    assert ecg.data_type_name == "ECG trace" and not ecg.is_spatial
    assert cal.mm_per_pixel(300, 550) is None  # on the ECG trace: no length scale
    assert cal.mm_per_pixel(10, 10) is None  # outside every region


def test_ybr_sample_region_and_timing(dicom_samples):
    with open_cine(dicom_samples / "examples_ybr_color.dcm") as cine:
        assert cine.calibration.mm_per_pixel(300, 200) == pytest.approx((0.510497, 0.510497), abs=1e-6)
        assert cine.timing.source == "FrameTime"
        assert cine.frame_time_ms(3) == pytest.approx(100.0, abs=0.01)


def test_uncalibrated_is_none_and_said(dicom_samples):
    with open_cine(dicom_samples / "examples_rgb_color.dcm") as cine:
        assert cine.calibration is None
        assert cine.metadata["calibration"] is None
    assert describe(None).startswith("uncalibrated")


def test_bmode_and_doppler_regions_told_apart(make, color):
    regions = [dict(x0=0, y0=0, x1=63, y1=29, data_type=1, delta_x=0.01, delta_y=0.02),
               dict(x0=10, y0=5, x1=40, y1=20, data_type=2, delta_x=0.01, delta_y=0.02),  # colour flow box
               dict(x0=0, y0=30, x1=63, y1=47, data_type=3, spatial_format=3, units_x=4, units_y=7,
                    delta_x=0.005, delta_y=1.5)]  # PW spectrum: seconds x cm/s
    path = make("regions", color, regions=regions)
    with open_cine(path) as cine:
        cal = cine.calibration
    assert cal.region_at(20, 10).data_type_name == "color flow"  # smallest region wins
    assert cal.region_at(2, 2).data_type_name == "tissue"
    assert cal.mm_per_pixel(2, 2) == pytest.approx((0.1, 0.2))
    assert cal.region_at(5, 40) is None and cal.mm_per_pixel(5, 40) is None
    assert cal.regions[2].data_type_name == "PW spectral Doppler"
    assert "non-spatial" in describe(cal)


def test_pixel_spacing_and_imager_pixel_spacing(make, gray):
    with open_cine(make("ps", gray, pixel_spacing=(0.25, 0.5))) as cine:
        assert cine.calibration.source == "pixel_spacing"
        assert cine.calibration.mm_per_pixel(0, 0) == pytest.approx((0.25, 0.5))
    with open_cine(make("ips", gray, extra={"ImagerPixelSpacing": ["0.4", "0.1"]})) as cine:
        assert cine.calibration.source == "imager_pixel_spacing"
        assert cine.calibration.mm_per_pixel(5, 5) == pytest.approx((0.1, 0.4))


def test_frame_time_vector(make, gray):
    path = make("ftv", gray, frame_time_vector=[0, 40, 60])
    with open_cine(path) as cine:
        assert cine.timing.source == "FrameTimeVector"
        assert cine.fps == pytest.approx(1000 / 50)
        assert [cine.frame_time_ms(i) for i in range(3)] == pytest.approx([0, 40, 100])
        assert cine.metadata["fps"] == pytest.approx(20.0)


@pytest.mark.parametrize("key,value", [("CineRate", 25), ("RecommendedDisplayFrameRate", 15)])
def test_rates(make, gray, key, value):
    with open_cine(make(key, gray, extra={key: value})) as cine:
        assert cine.fps == pytest.approx(value) and cine.timing.source == key
        assert cine.frame_time_ms(2) == pytest.approx(2000 / value)


def test_no_timing(make, gray):
    with open_cine(make("notime", gray)) as cine:
        assert cine.fps is None and cine.frame_time_ms(1) is None
