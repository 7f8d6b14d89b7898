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


def _region_from_item(item: Any) -> UltrasoundRegion | None:
    try:
        return UltrasoundRegion(
            x0=int(item.RegionLocationMinX0), y0=int(item.RegionLocationMinY0),
            x1=int(item.RegionLocationMaxX1), y1=int(item.RegionLocationMaxY1),
            spatial_format=int(item.get("RegionSpatialFormat", 0) or 0),
            data_type=int(item.get("RegionDataType", 0) or 0),
            physical_delta_x=float(item.get("PhysicalDeltaX", 0.0) or 0.0),
            physical_delta_y=float(item.get("PhysicalDeltaY", 0.0) or 0.0),
            units_x=int(item.get("PhysicalUnitsXDirection", 0) or 0),
            units_y=int(item.get("PhysicalUnitsYDirection", 0) or 0),
        )
    except (AttributeError, TypeError, ValueError):
        return None  # a region without bounds cannot be placed on the image


def _spacing(value: Any) -> tuple[float, float] | None:
    """DICOM PixelSpacing is (row spacing, column spacing) = (dy, dx) in mm."""
    try:
        dy, dx = float(value[0]), float(value[1])
    except (TypeError, ValueError, IndexError):
        return None
    if dx <= 0 or dy <= 0:
        return None
    return (dx, dy)


def calibration_from_dataset(ds: Any) -> Calibration | None:
    """The image's calibration, or None when the file states none.

    Order: SequenceOfUltrasoundRegions (regions with physical units), then
    PixelSpacing, then the shared functional groups' PixelSpacing (Enhanced US
    Volume), then ImagerPixelSpacing. Regions whose axes are not lengths (Doppler
    spectra: cm/s against seconds) are kept so the caller can tell them apart, but
    they give no mm per pixel.
    """
    regions = tuple(r for r in (_region_from_item(it) for it in ds.get("SequenceOfUltrasoundRegions", []) or [])
                    if r is not None)
    if regions:
        return Calibration(source="ultrasound_regions", regions=regions)
    spacing = _spacing(ds.get("PixelSpacing"))
    if spacing:
        return Calibration(source="pixel_spacing", spacing_mm=spacing)
    for group in ds.get("SharedFunctionalGroupsSequence", []) or []:
        for measures in group.get("PixelMeasuresSequence", []) or []:
            spacing = _spacing(measures.get("PixelSpacing"))
            if spacing:
                return Calibration(source="pixel_spacing", spacing_mm=spacing)
    spacing = _spacing(ds.get("ImagerPixelSpacing"))
    if spacing:
        return Calibration(source="imager_pixel_spacing", spacing_mm=spacing)
    return None


def describe(calibration: Calibration | None) -> str:
    """One line for people: where the calibration comes from, or that there is none."""
    if calibration is None:
        return "uncalibrated (no ultrasound regions or pixel spacing in the file): distances are not shown in mm"
    if calibration.spacing_mm is not None:
        dx, dy = calibration.spacing_mm
        return f"{calibration.source}: {dx:.4g} x {dy:.4g} mm/px"
    spatial = [r for r in calibration.regions if r.is_spatial]
    parts = []
    for r in spatial:
        mm = r.mm_per_pixel()
        assert mm is not None
        parts.append(f"{r.data_type_name} [{r.x0},{r.y0}]-[{r.x1},{r.y1}] {mm[0]:.4g} x {mm[1]:.4g} mm/px")
    other = len(calibration.regions) - len(spatial)
    text = "; ".join(parts) if parts else "no region with lengths on both axes"
    if other:
        text += f"; {other} non-spatial region(s)"
    return f"{calibration.source}: {text}"
