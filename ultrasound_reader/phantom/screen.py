"""A scanner-like screen around the image: black surround, depth scale, burned-in text.

Each synthetic centre has its own "scanner" (:class:`CentreStyle`): gain, dynamic
range, probe frequency, text colour and layout differ, the way images from
different hospitals differ, so that validation by centre is a real domain shift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ultrasound_reader.phantom.bmode import Probe, ScreenGeometry

WIDTH, HEIGHT = 640, 480
IMAGE_TOP, IMAGE_BOTTOM = 40, 462  # rows available to the field of view
IMAGE_LEFT, IMAGE_RIGHT = 78, 584  # columns available to the field of view
FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass(frozen=True)
class CentreStyle:
    """The look of one centre's scanner."""

    centre: str
    manufacturer: str
    model: str
    text_rgb: tuple[int, int, int]
    accent_rgb: tuple[int, int, int]
    gain_offset_db: float  # brighter (+) or darker (-) than the reference
    dynamic_range_db: float
    liver_frequency_mhz: float
    soft_frequency_mhz: float
    jpeg_quality: int
    shift_px: int  # horizontal position of the image


STYLES: dict[str, CentreStyle] = {
    "C1": CentreStyle("C1", "PHANTOM", "PH-Sono 7", (235, 235, 235), (255, 214, 0), 0.0, 60.0, 3.5, 12.0, 90, 0),
    "C2": CentreStyle("C2", "PHANTOM", "PH-Echo X", (200, 220, 255), (120, 255, 120), 3.0, 66.0, 3.0, 10.0, 88, 14),
    "C3": CentreStyle("C3", "PHANTOM", "PH-Vista", (255, 240, 190), (255, 255, 255), -2.5, 55.0, 4.0, 14.0, 92, -10),
    "C4": CentreStyle("C4", "PHANTOM", "PH-Ultra 3", (220, 220, 220), (0, 200, 255), 1.5, 72.0, 3.2, 11.0, 85, 6),
}


def screen_geometry(probe: Probe, style: CentreStyle) -> ScreenGeometry:
    """Largest isotropic scale that fits the field of view into the image area."""
    if probe.kind == "curvilinear":
        th = probe.half_angle_rad
        height = probe.depth_mm + probe.radius_mm * (1 - math.cos(th))
        width = 2 * (probe.radius_mm + probe.depth_mm) * math.sin(th)
        top_offset = probe.radius_mm * (1 - math.cos(th))
    else:
        height, width, top_offset = probe.depth_mm, probe.width_mm, 0.0
    mm_per_px = max(height / (IMAGE_BOTTOM - IMAGE_TOP), width / (IMAGE_RIGHT - IMAGE_LEFT))
    mm_per_px = math.ceil(mm_per_px * 1e4) / 1e4  # a tidy value, still fitting
    cx = (IMAGE_LEFT + IMAGE_RIGHT) / 2 + style.shift_px
    return ScreenGeometry(mm_per_px, (cx, IMAGE_TOP + top_offset / mm_per_px))


def _text(img: np.ndarray, text: str, org: tuple[int, int], rgb: tuple[int, int, int], scale: float = 0.38,
          thick: int = 1) -> None:
    cv2.putText(img, text, org, FONT, scale, rgb, thick, cv2.LINE_AA)  # scanners smooth their fonts too


def overlay(probe: Probe, geom: ScreenGeometry, style: CentreStyle, *, patient: str, date_time: str,
            preset: str, gain: int, frame_rate: float | None, colour: dict | None = None) -> np.ndarray:
    """The static part of the screen (RGB uint8): text, depth scale, markers.

    The image is combined with it by a per-pixel maximum, so text never hides
    echoes inside the field of view (it is drawn outside it anyway).
    """
    img = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    t, a = style.text_rgb, style.accent_rgb
    _text(img, "PHANTOM", (8, 16), a, 0.5, 1)
    _text(img, patient, (96, 16), t, 0.42)
    _text(img, f"{style.manufacturer} {style.model}  CENTRE {style.centre}", (8, 33), t, 0.36)
    _text(img, date_time, (WIDTH - 160, 16), t, 0.38)
    _text(img, f"{probe.name}  {preset}", (WIDTH - 160, 33), t, 0.38)
    lines = [f"Frq {probe.frequency_mhz:.1f}MHz", f"Gn {gain}", f"DR {style.dynamic_range_db:.0f}",
             f"D {probe.depth_mm / 10:.1f}cm"]
    if frame_rate:
        lines.append(f"FR {frame_rate:.0f}Hz")
    for i, line in enumerate(lines):
        _text(img, line, (6, 70 + 16 * i), t, 0.36)
    _grey_bar(img, (10, 170), 8, 110)
    # depth ruler right of the field of view: ticks every cm, numbers every 5 cm
    x_right = _fov_right(probe, geom) + 8
    for cm in range(int(probe.depth_mm // 10) + 1):
        y = int(round(geom.origin_px[1] + cm * 10 / geom.mm_per_px))
        major = cm % 5 == 0
        cv2.line(img, (x_right, y), (x_right + (8 if major else 4), y), t, 1)
        if major and cm:
            _text(img, f"{cm}", (x_right + 10, y + 4), t, 0.36)
    # focus marker
    yf = int(round(geom.origin_px[1] + probe.psf.focus_mm / geom.mm_per_px))
    tri = np.array([[x_right - 1, yf], [x_right - 7, yf - 4], [x_right - 7, yf + 4]], np.int32)
    cv2.fillPoly(img, [tri], a)
    # orientation marker at the top left of the field of view
    u0 = int(geom.origin_px[0] - (probe.width_mm / 2 if probe.kind == "linear" else
                                 probe.radius_mm * math.sin(probe.half_angle_rad)) / geom.mm_per_px)
    cv2.circle(img, (u0 - 6, IMAGE_TOP + 2), 3, a, -1, cv2.LINE_AA)
    if colour:
        _colour_panel(img, style, colour)
    return img


def _fov_right(probe: Probe, geom: ScreenGeometry) -> int:
    if probe.kind == "curvilinear":
        half = (probe.radius_mm + probe.depth_mm) * math.sin(probe.half_angle_rad)
    else:
        half = probe.width_mm / 2
    return int(math.ceil(geom.origin_px[0] + half / geom.mm_per_px))


def _grey_bar(img: np.ndarray, org: tuple[int, int], w: int, h: int) -> None:
    ramp = np.linspace(255, 0, h).astype(np.uint8)
    img[org[1] : org[1] + h, org[0] : org[0] + w] = ramp[:, None, None]


def colour_ramp(n: int = 256) -> np.ndarray:
    """(n, 3) RGB velocity colours, index 0 = fastest away (cyan-blue), n-1 = fastest
    toward the probe (yellow-red), the centre black (no flow)."""
    v = np.linspace(-1, 1, n)
    out = np.zeros((n, 3))
    pos, neg = v > 0, v < 0
    s = np.abs(v)
    out[pos, 0] = np.clip(0.35 + 1.4 * s[pos], 0, 1)
    out[pos, 1] = np.clip((s[pos] - 0.55) * 2.0, 0, 1)
    out[pos, 2] = np.clip((s[pos] - 0.85) * 3.0, 0, 1) * 0.5
    out[neg, 2] = np.clip(0.4 + 1.3 * s[neg], 0, 1)
    out[neg, 1] = np.clip((s[neg] - 0.5) * 2.0, 0, 1)
    out[neg, 0] = np.clip((s[neg] - 0.85) * 3.0, 0, 1) * 0.4
    out[np.abs(v) < 1e-9] = 0
    return (out * 255).round().astype(np.uint8)


def _colour_panel(img: np.ndarray, style: CentreStyle, colour: dict) -> None:
    """Colour bar with the velocity scale and the colour-flow settings."""
    x, y, h, w = 10, 300, 100, 10
    ramp = colour_ramp(h)[::-1]
    img[y : y + h, x : x + w] = ramp[:, None, :]
    t = style.text_rgb
    scale = colour["scale_cm_s"]
    _text(img, f"+{scale:.1f}", (x + w + 3, y + 8), t, 0.34)
    _text(img, f"-{scale:.1f}", (x + w + 3, y + h), t, 0.34)
    _text(img, "cm/s", (x + w + 3, y + h // 2 + 4), t, 0.32)
    _text(img, "CF", (6, 290), style.accent_rgb, 0.42)
    _text(img, f"PRF {colour['prf_khz']:.1f}k", (6, 420), t, 0.34)
    _text(img, f"CGn {colour['gain']}", (6, 436), t, 0.34)
    _text(img, f"WF {colour['wall_filter_hz']}Hz", (6, 452), t, 0.34)


def compose(base: np.ndarray, image: np.ndarray, bounds: tuple[int, int, int, int]) -> np.ndarray:
    """Screen = overlay with the scan-converted image (gray or RGB) in ``bounds``."""
    x0, y0, x1, y1 = bounds
    out = base.copy()
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    out[y0 : y1 + 1, x0 : x1 + 1] = np.maximum(out[y0 : y1 + 1, x0 : x1 + 1], image)
    return out
