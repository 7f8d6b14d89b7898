"""Window/level maths for display-ready uint8 frames (Qt-free, unit tested).

Frames arrive from the loader already in display space (uint8 gray or RGB), so
window/level is a 256-entry lookup table: values below ``level - window/2`` go
black, above ``level + window/2`` white, linear in between (PS3.3 C.11.2.1.2,
the "LINEAR" VOI function, simplified to uint8). Inversion flips the table. RGB
frames use the same table on every channel, which keeps hues while changing
contrast, as reading stations do for colour Doppler.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_WINDOW = 1.0
MAX_WINDOW = 512.0


@dataclass(frozen=True)
class WindowLevel:
    """A display window: ``window`` is its width, ``level`` its centre (both in uint8 units)."""

    window: float = 256.0
    level: float = 127.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "window", float(min(max(self.window, MIN_WINDOW), MAX_WINDOW)))
        object.__setattr__(self, "level", float(min(max(self.level, -128.0), 383.0)))

    @property
    def low(self) -> float:
        return self.level - self.window / 2

    @property
    def high(self) -> float:
        return self.level + self.window / 2

    @property
    def is_identity(self) -> bool:
        """True when the table maps every value to itself (no work needed per frame)."""
        return abs(self.low + 0.5) < 1e-9 and abs(self.high - 255.5) < 1e-9

    def label(self) -> str:
        return f"W {self.window:.0f} L {self.level:.0f}"


# 0..255 maps onto itself: the window spans the 256 bins [-0.5, 255.5).
IDENTITY = WindowLevel(256.0, 127.5)

# Ultrasound has no Hounsfield-style tissue presets; these are contrast choices a
# sonographer reaches for: the scanner's own rendering, more or less contrast, and
# brighter or darker for a dim room or a dark lesion.
PRESETS: dict[str, WindowLevel] = {
    "Scanner (full range)": IDENTITY,
    "High contrast": WindowLevel(160.0, 120.0),
    "Very high contrast": WindowLevel(96.0, 110.0),
    "Low contrast": WindowLevel(360.0, 127.5),
    "Brighten": WindowLevel(200.0, 90.0),
    "Darken": WindowLevel(200.0, 170.0),
}


def build_lut(wl: WindowLevel, invert: bool = False) -> np.ndarray:
    """The uint8 lookup table (256 entries) for a window and an optional inversion."""
    values = np.arange(256, dtype=np.float64)
    out = (values - wl.low) / wl.window * 256.0
    lut = np.clip(np.floor(out), 0, 255).astype(np.uint8)
    if invert:
        lut = 255 - lut
    return lut


def apply_lut(frame: np.ndarray, lut: np.ndarray | None) -> np.ndarray:
    """``frame`` (uint8, any shape) through ``lut``; the frame itself when ``lut`` is None."""
    if lut is None:
        return frame
    from ultrasound_reader.imageops import apply_lut as _lut

    return _lut(frame, lut)


def display_lut(wl: WindowLevel, invert: bool) -> np.ndarray | None:
    """The table to apply, or None when the frame can be drawn as is."""
    if wl.is_identity and not invert:
        return None
    return build_lut(wl, invert)


def drag(wl: WindowLevel, dx: float, dy: float, sensitivity: float = 1.0) -> WindowLevel:
    """New window/level after a right-drag of (dx, dy) screen pixels.

    The convention of most PACS viewers: dragging right widens the window (less
    contrast), dragging down raises the level (darker image). One screen pixel is
    one grey level at sensitivity 1.
    """
    return WindowLevel(wl.window + dx * sensitivity, wl.level + dy * sensitivity)


def auto_window(frame: np.ndarray, lower_pct: float = 1.0, upper_pct: float = 99.0) -> WindowLevel:
    """A window that stretches the frame's [lower, upper] percentile range to full contrast.

    Pure black (0) pixels are ignored: ultrasound frames are mostly black surround
    outside the sector, which would otherwise pin the lower bound at 0.
    """
    gray = frame if frame.ndim == 2 else frame.max(axis=2)
    values = gray[gray > 0]
    if values.size == 0:
        return IDENTITY
    low, high = np.percentile(values, [lower_pct, upper_pct])
    if high - low < MIN_WINDOW:
        return IDENTITY
    return WindowLevel(float(high - low + 1), float((low + high + 1) / 2 - 0.5))
