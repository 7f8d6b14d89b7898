"""Distances and cursor positions in millimetres through a :class:`Calibration` (Qt-free).

Coordinates are image pixels ``(x, y)``, x right, y down, pixel centres at integers
(as in case.py). Ultrasound calibration is per screen region: a distance is given in
mm only when both ends lie in the same spatial (B-mode / colour-flow) region, since
a line from the image into a Doppler strip or the screen surround has no physical
length. Otherwise it is given in pixels and labelled uncalibrated, with the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ultrasound_reader.dicom.calibration import Calibration

Point = tuple[float, float]


@dataclass(frozen=True)
class Distance:
    px: float
    mm: float | None
    reason: str | None = None  # why mm is None

    def label(self) -> str:
        if self.mm is not None:
            return f"{self.mm:.1f} mm" if self.mm >= 10 else f"{self.mm:.2f} mm"
        return f"{self.px:.1f} px ({self.reason or 'uncalibrated'})"


def distance(p0: Point, p1: Point, calibration: Calibration | None) -> Distance:
    """Length of the segment p0-p1, in mm where the calibration allows it."""
    dx_px, dy_px = p1[0] - p0[0], p1[1] - p0[1]
    px = math.hypot(dx_px, dy_px)
    if calibration is None:
        return Distance(px, None, "uncalibrated")
    if calibration.spacing_mm is not None:
        sx, sy = calibration.spacing_mm
        return Distance(px, math.hypot(dx_px * sx, dy_px * sy))
    r0, r1 = calibration.region_at(*p0), calibration.region_at(*p1)
    if r0 is None or r1 is None:
        return Distance(px, None, "outside the calibrated region")
    if r0 != r1:
        return Distance(px, None, "ends in different regions")
    mm = r0.mm_per_pixel()
    assert mm is not None  # region_at only returns spatial regions
    return Distance(px, math.hypot(dx_px * mm[0], dy_px * mm[1]))


def _spacing_for(p0: Point, p1: Point, calibration: Calibration | None) -> tuple[tuple[float, float] | None, str | None]:
    """(mm per pixel, None) when both points share a calibration, else (None, why not) (the ruler's rule)."""
    if calibration is None:
        return None, "uncalibrated"
    if calibration.spacing_mm is not None:
        return calibration.spacing_mm, None
    r0, r1 = calibration.region_at(*p0), calibration.region_at(*p1)
    if r0 is None or r1 is None:
        return None, "outside the calibrated region"
    if r0 != r1:
        return None, "corners in different regions"
    return r0.mm_per_pixel(), None


@dataclass(frozen=True)
class Area:
    """An ellipse caliper: area and the two axes, in mm where calibrated."""

    px2: float
    axes_px: tuple[float, float]  # horizontal, vertical diameters
    mm2: float | None
    axes_mm: tuple[float, float] | None
    reason: str | None = None  # why mm is None

    def label(self) -> str:
        if self.mm2 is not None and self.axes_mm is not None:
            a, b = self.axes_mm
            return f"{self.mm2:.1f} mm² ({a:.1f} × {b:.1f} mm)"
        a, b = self.axes_px
        return f"{self.px2:.0f} px² ({a:.0f} × {b:.0f} px, {self.reason or 'uncalibrated'})"


def ellipse_area(p0: Point, p1: Point, calibration: Calibration | None) -> Area:
    """The axis-aligned ellipse inscribed in the box with corners p0, p1 (its edge through the outer pixel centres)."""
    w, h = abs(p1[0] - p0[0]), abs(p1[1] - p0[1])
    px2 = math.pi * w * h / 4
    mm, reason = _spacing_for(p0, p1, calibration)
    if mm is None:
        return Area(px2, (w, h), None, None, reason)
    a, b = w * mm[0], h * mm[1]
    return Area(px2, (w, h), math.pi * a * b / 4, (a, b))


def measurement_value(kind: str, p0: Point, p1: Point, calibration: Calibration | None) -> Distance | Area:
    """What a saved caliper (case.Measurement) measures on an image with this calibration."""
    if kind == "ellipse":
        return ellipse_area(p0, p1, calibration)
    return distance(p0, p1, calibration)


def position_mm(x: float, y: float, calibration: Calibration | None) -> Point | None:
    """(x, y) in mm from the calibrated area's top-left corner, or None where uncalibrated.

    For a region this is the region's corner, so y reads as depth below the top of
    the B-mode sector; for pixel spacing it is the image's corner.
    """
    if calibration is None:
        return None
    if calibration.spacing_mm is not None:
        sx, sy = calibration.spacing_mm
        return x * sx, y * sy
    region = calibration.region_at(x, y)
    if region is None:
        return None
    mm = region.mm_per_pixel()
    assert mm is not None
    return (x - region.x0) * mm[0], (y - region.y0) * mm[1]


def pixel_value_text(frame: np.ndarray, x: float, y: float) -> str | None:
    """The value of the pixel whose centre is nearest (x, y), or None outside the frame."""
    col, row = int(round(x)), int(round(y))
    h, w = frame.shape[:2]
    if not (0 <= row < h and 0 <= col < w):
        return None
    value = frame[row, col]
    if frame.ndim == 2:
        return f"{int(value)}"
    r, g, b = (int(v) for v in value[:3])
    return f"RGB {r},{g},{b}"


def readout(frame: np.ndarray | None, x: float, y: float, calibration: Calibration | None) -> str:
    """The status-bar text for the cursor at image point (x, y)."""
    if frame is None:
        return ""
    value = pixel_value_text(frame, x, y)
    if value is None:
        return ""
    text = f"x {int(round(x))}  y {int(round(y))}  ·  {value}"
    pos = position_mm(round(x), round(y), calibration)
    if pos is not None:
        text += f"  ·  {pos[0]:.1f}, {pos[1]:.1f} mm"
    elif calibration is None:
        text += "  ·  uncalibrated"
    else:
        text += "  ·  outside calibrated region"
    return text
