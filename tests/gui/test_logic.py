"""The viewer's Qt-free logic: window/level, playback schedule, mm maths, overlay, scan."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pydicom
import pytest

from ultrasound_reader.dicom.calibration import Calibration, UltrasoundRegion
from ultrasound_reader.gui import overlay_text
from ultrasound_reader.gui.measure import distance, pixel_value_text, position_mm, readout
from ultrasound_reader.gui.playback import PlaybackClock, time_label
from ultrasound_reader.gui.windowing import (
    IDENTITY,
    PRESETS,
    WindowLevel,
    apply_lut,
    auto_window,
    build_lut,
    display_lut,
    drag,
)

# -- window / level -------------------------------------------------------------------------


def test_identity_window_maps_every_value_to_itself():
    assert np.array_equal(build_lut(IDENTITY), np.arange(256, dtype=np.uint8))
    assert IDENTITY.is_identity and display_lut(IDENTITY, False) is None
    assert display_lut(IDENTITY, True) is not None


def test_narrow_window_clips_and_stretches():
    wl = WindowLevel(100, 100)  # 50..150
    lut = build_lut(wl)
    assert lut[40] == 0 and lut[49] == 0
    assert lut[160] == 255 and lut[151] == 255
    assert 120 <= lut[100] <= 135  # the centre lands mid-grey
    assert np.all(np.diff(lut.astype(int)) >= 0)


def test_invert_flips_the_table_and_applies_to_rgb():
    lut = build_lut(IDENTITY, invert=True)
    frame = np.array([[[0, 10, 255]]], np.uint8)
    assert apply_lut(frame, lut).tolist() == [[[255, 245, 0]]]


def test_drag_right_widens_and_down_raises_level():
    wl = drag(IDENTITY, dx=20, dy=-10)
    assert wl.window == IDENTITY.window + 20 and wl.level == IDENTITY.level - 10
    assert drag(WindowLevel(5, 100), dx=-100, dy=0).window == 1.0  # clamped, never zero


def test_presets_are_distinct_windows():
    assert len({(w.window, w.level) for w in PRESETS.values()}) == len(PRESETS)


def test_auto_window_ignores_black_surround():
    frame = np.zeros((100, 100), np.uint8)
    frame[40:60, 40:60] = np.linspace(80, 160, 400).reshape(20, 20).astype(np.uint8)
    wl = auto_window(frame)
    assert 70 <= wl.low <= 90 and 150 <= wl.high <= 170


# -- playback schedule -----------------------------------------------------------------------


def test_clock_shows_the_frame_due_at_the_file_rate():
    clock = PlaybackClock(30, fps=30.0)
    clock.start(10.0, 0)
    assert clock.frame_at(10.0) == 0
    assert clock.frame_at(10.0 + 0.5) == 15
    assert clock.frame_at(10.0 + 1.0 + 1e-4) == 0  # loops
    assert math.isclose(clock.seconds_to_next(10.01), 1 / 30 - 0.01, abs_tol=1e-9)


def test_speed_scales_the_rate_and_display_is_capped_at_60():
    clock = PlaybackClock(300, fps=50.0, speed=2.0)  # 100 frames/s of cine time
    clock.start(0.0, 0)
    assert math.isclose(clock.display_interval, 1 / 60)
    assert clock.frame_at(1.0 + 1e-9) == 100
    shown = [clock.tick(k / 60 + 1e-6) for k in range(1, 61)]
    assert clock.stats.dropped == 0 and clock.stats.shown == 60  # skipping frames above 60 Hz is by design
    assert shown[0] == 1 and shown[1] == 3  # every slot shows the frame due at its time


def test_late_ticks_count_dropped_slots_and_do_not_slow_the_cine():
    clock = PlaybackClock(100, fps=25.0, loop=False)
    clock.start(0.0, 0)
    assert clock.tick(0.0) is None  # the start frame is already on screen
    assert clock.tick(0.041) == 1
    assert clock.tick(0.161) == 4  # slots 2 and 3 missed
    assert clock.stats.dropped == 2
    assert clock.tick(0.165) is None  # early tick: same slot, nothing new to draw
    assert clock.tick(0.2, ready=False) is None and clock.stats.dropped == 3  # frame not decoded yet
    assert clock.stats.not_ready == 1


def test_non_looping_cine_stops_at_the_end_and_restarts_from_zero():
    clock = PlaybackClock(10, fps=10.0, loop=False)
    clock.start(0.0, 5)
    assert clock.tick(0.45) == 9
    assert clock.tick(0.55) is None and not clock.running
    clock.start(1.0, 9)
    assert clock.frame_at(1.0) == 0


def test_frames_ahead_follow_the_schedule_and_wrap():
    clock = PlaybackClock(10, fps=10.0)
    clock.start(0.0, 7)
    assert clock.frames_ahead(0.0, 0.45) == [8, 9, 0, 1, 2]


def test_time_label():
    assert time_label(11, 30, 30.0) == "Frame 12 / 30 · 0.367 s"
    assert time_label(0, 1, None) == "Frame 1 / 1"


# -- millimetres ------------------------------------------------------------------------------


def _region(x0=84, y0=31, x1=595, y1=414, delta=0.05104970559477806, data_type=1, fmt=1, units=3):
    return UltrasoundRegion(x0, y0, x1, y1, fmt, data_type, delta, delta, units, units)


def test_distance_uses_physical_delta_inside_one_region(dicom_samples: Path):
    ds = pydicom.dcmread(dicom_samples / "examples_ybr_color.dcm", stop_before_pixels=True)
    region = ds.SequenceOfUltrasoundRegions[0]
    cal = Calibration("ultrasound_regions", (_region(delta=float(region.PhysicalDeltaX)),))
    d = distance((100, 100), (200, 100), cal)
    assert math.isclose(d.mm, 100 * float(region.PhysicalDeltaX) * 10)  # cm -> mm
    assert d.label() == f"{d.mm:.1f} mm"
    d = distance((100, 100), (130, 140), cal)
    assert math.isclose(d.px, 50) and math.isclose(d.mm, 50 * 0.5104970559477806)


def test_distance_refuses_mm_across_regions_or_outside():
    cal = Calibration("ultrasound_regions", (_region(x1=300), _region(x0=301, x1=595, delta=0.1)))
    across = distance((200, 100), (400, 100), cal)
    assert across.mm is None and "different regions" in across.label() and "px" in across.label()
    outside = distance((10, 10), (200, 100), cal)
    assert outside.mm is None and "outside" in outside.reason
    doppler = Calibration("ultrasound_regions", (_region(fmt=3, units=4),))
    assert distance((100, 100), (200, 100), doppler).mm is None
    none = distance((0, 0), (3, 4), None)
    assert none.px == 5 and none.mm is None and none.label() == "5.0 px (uncalibrated)"


def test_pixel_spacing_calibration_is_anisotropic():
    cal = Calibration("pixel_spacing", spacing_mm=(0.2, 0.5))
    assert math.isclose(distance((0, 0), (10, 0), cal).mm, 2.0)
    assert math.isclose(distance((0, 0), (0, 10), cal).mm, 5.0)
    assert position_mm(10, 4, cal) == (2.0, 2.0)


def test_readout_states_value_position_and_calibration():
    frame = np.zeros((240, 320, 3), np.uint8)
    frame[100, 150] = (10, 20, 30)
    cal = Calibration("ultrasound_regions", (_region(),))
    text = readout(frame, 150.2, 99.8, cal)
    assert text.startswith("x 150  y 100") and "RGB 10,20,30" in text
    assert f"{(150 - 84) * 0.5104970559477806:.1f}, {(100 - 31) * 0.5104970559477806:.1f} mm" in text
    assert "uncalibrated" in readout(frame, 150, 100, None)
    assert "outside calibrated region" in readout(frame, 10, 10, cal)
    assert readout(frame, 400, 10, cal) == "" and pixel_value_text(frame[..., 0], -1, 0) is None


# -- overlay ----------------------------------------------------------------------------------

IDENTIFYING = {"patient_name": "DOE^JANE", "patient_id": "12345", "patient_birth_date": "19700101",
               "study_date": "20160503", "study_uid": "1.2.3", "sop_instance_uid": "1.2.3.4"}


def test_overlay_shows_allowed_facts_and_never_identifiers():
    md = {"modality": "US", "sop_class": "Ultrasound Multi-frame Image Storage", "manufacturer": "ACME",
          "model": "X1", "series_number": 3, "instance_number": 7, "patient_sex": "F", "patient_age": "045Y",
          "photometric": "YBR_FULL_422", "transfer_syntax": "JPEG Baseline (Process 1)", "rows": 240,
          "columns": 320, **IDENTIFYING}
    cal = Calibration("ultrasound_regions", (_region(),))
    text = "\n".join([overlay_text.study_text(md), overlay_text.patient_text(md), overlay_text.image_text(md, cal)])
    assert "US · Multi-frame" in text and "ACME X1" in text and "Se 3 Im 7" in text
    assert "Female  45 y" in text and "0.510 × 0.510 mm/px (tissue)" in text
    for value in IDENTIFYING.values():
        assert value not in text
    assert overlay_text.image_text({}, None) == "Uncalibrated (distances in px)"


def test_frame_overlay():
    text = overlay_text.frame_text(4, 30, 133.332, 30.0, "W 256 L 128", 2.0, True)
    assert text == "Frame 5/30  0.133 s  (30.0 fps)\nW 256 L 128  inverted  Zoom 2.00×"


# -- folder scan for the browser ---------------------------------------------------------------


class _Job:
    cancelled = False

    def __init__(self) -> None:
        self.reports: list[tuple[int, int, str]] = []

    def progress(self, done: int, total: int, message: str = "") -> None:
        self.reports.append((done, total, message))


def test_scan_lists_good_files_and_one_reason_per_bad_file(broken_folder: Path, dicom_samples: Path):
    from ultrasound_reader.gui.scan import scan_paths

    job = _Job()
    loose_bad = broken_folder / "notes.txt"
    result = scan_paths(job, [str(broken_folder), str(dicom_samples / "examples_palette.dcm"), str(loose_bad)])
    names = sorted(Path(p).name for p in result.openable)
    assert names == ["examples_palette.dcm", "examples_rgb_color.dcm", "examples_ybr_color.dcm"]
    bad = {Path(p).name: reason for p, reason in result.problems}
    assert set(bad) == {"truncated.dcm", "notes.txt"}
    assert "truncated" in bad["truncated.dcm"]
    assert all("\n" not in r and r for r in bad.values())
    assert job.reports, "the scan reports progress"
    for series in result.series:  # no identifiers in the labels either
        assert "PLA" not in series.patient and "204" not in series.patient
