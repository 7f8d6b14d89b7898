"""Physical calibration of ultrasound images: mm per pixel, by region.

Ultrasound scanners describe calibration per region of the screen in
SequenceOfUltrasoundRegions (PS3.3 C.8.5.5): each region has its bounds in pixels,
a data type (tissue B-mode, colour flow, spectral Doppler, …) and PhysicalDeltaX/Y
in physical units (cm for distances, code 3). Other images may carry PixelSpacing or
ImagerPixelSpacing (mm). An image without either is uncalibrated, and we say so
rather than guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# PS3.3 C.8.5.5.1.1 Region Spatial Format, C.8.5.5.1.2 Region Data Type.
SPATIAL_FORMATS = {0: "none", 1: "2D", 2: "M-mode", 3: "spectral", 4: "waveform", 5: "graphics"}
DATA_TYPES = {
    0: "none", 1: "tissue", 2: "color flow", 3: "PW spectral Doppler", 4: "CW spectral Doppler",
    5: "Doppler mean trace", 6: "Doppler mode trace", 7: "Doppler max trace", 8: "volume trace",
    9: "d(volume)/dt trace", 10: "ECG trace", 11: "pulse trace", 12: "phonocardiogram trace",
    13: "gray bar", 14: "color bar", 15: "integrated backscatter", 16: "area trace",
    17: "d(area)/dt", 18: "other physiological input",
}
# PS3.3 C.8.5.5.1.15 Physical Units X/Y Direction; factor to millimetres where a length.
UNITS = {0: "none", 1: "percent", 2: "dB", 3: "cm", 4: "seconds", 5: "hertz", 6: "dB/seconds",
         7: "cm/sec", 8: "cm^2", 9: "cm^2/sec", 10: "cm^3", 11: "cm^3/sec", 12: "degrees"}
_TO_MM = {3: 10.0}


@dataclass(frozen=True)
class UltrasoundRegion:
    """One calibrated region of the screen. Bounds are inclusive pixel coordinates."""

    x0: int
    y0: int
    x1: int
    y1: int
    spatial_format: int
    data_type: int
    physical_delta_x: float
    physical_delta_y: float
    units_x: int
    units_y: int

    @property
    def data_type_name(self) -> str:
        return DATA_TYPES.get(self.data_type, f"code {self.data_type}")

    @property
    def spatial_format_name(self) -> str:
        return SPATIAL_FORMATS.get(self.spatial_format, f"code {self.spatial_format}")

    @property
    def is_spatial(self) -> bool:
        """A 2D image region whose both axes are lengths (B-mode, colour flow)."""
        return self.spatial_format == 1 and self.units_x in _TO_MM and self.units_y in _TO_MM

    def mm_per_pixel(self) -> tuple[float, float] | None:
        if not self.is_spatial:
            return None
        return (abs(self.physical_delta_x) * _TO_MM[self.units_x],
                abs(self.physical_delta_y) * _TO_MM[self.units_y])

    def contains(self, x: float, y: float) -> bool:
        return self.x0 <= x <= self.x1 and self.y0 <= y <= self.y1

    def to_dict(self) -> dict[str, Any]:
        mm = self.mm_per_pixel()
        return {
            "bounds": [self.x0, self.y0, self.x1, self.y1],
            "spatial_format": self.spatial_format_name,
            "data_type": self.data_type_name,
            "physical_delta_x": self.physical_delta_x,
            "physical_delta_y": self.physical_delta_y,
            "units_x": UNITS.get(self.units_x, str(self.units_x)),
            "units_y": UNITS.get(self.units_y, str(self.units_y)),
            "mm_per_pixel": list(mm) if mm else None,
        }


@dataclass(frozen=True)
class Calibration:
    """How pixels map to millimetres in an image.

    ``source`` is ``"ultrasound_regions"``, ``"pixel_spacing"`` or
    ``"imager_pixel_spacing"``. For region calibration, a point outside every spatial
    region has no calibration (it is on the screen's surround or a Doppler trace).
    """

    source: str
    regions: tuple[UltrasoundRegion, ...] = field(default_factory=tuple)
    spacing_mm: tuple[float, float] | None = None  # (dx, dy) for the whole image

    def region_at(self, x: float, y: float) -> UltrasoundRegion | None:
        """The spatial region containing (x, y); the smallest if regions overlap."""
        hits = [r for r in self.regions if r.is_spatial and r.contains(x, y)]
        if not hits:
            return None
        return min(hits, key=lambda r: (r.x1 - r.x0) * (r.y1 - r.y0))

    def mm_per_pixel(self, x: float, y: float) -> tuple[float, float] | None:
        """(dx, dy) in mm per pixel at image point (x, y), or None where uncalibrated."""
        if self.spacing_mm is not None:
            return self.spacing_mm
        region = self.region_at(x, y)
        return region.mm_per_pixel() if region else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "spacing_mm": list(self.spacing_mm) if self.spacing_mm else None,
            "regions": [r.to_dict() for r in self.regions],
        }
