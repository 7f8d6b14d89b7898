"""Colour Doppler flow imaging (CDFI) overlaid on B-mode inside a colour box.

Each vessel segment shows the Doppler velocity, the flow speed projected on the
beam (toward the probe positive, red; away negative, blue), with a parabolic
profile across the lumen (fast centre, slow wall). What a scanner adds is added
too: a wall filter hides slow flow (segments nearly perpendicular to the beam
vanish), velocities beyond the scale alias, and the colour fill is patchy
(dropouts) with a little blooming beyond the lumen.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from ultrasound_reader.phantom.bmode import Probe, ScreenGeometry
from ultrasound_reader.phantom.screen import colour_ramp
from ultrasound_reader.phantom.shapes import Vessel

F32 = np.float32
Transform = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class ColourBox:
    """The colour box in probe millimetres: depths ``d0..d1`` along the beam and a
    lateral span (radians for a sector probe, mm for a linear one)."""

    probe: Probe
    lat0: float
    lat1: float
    d0: float
    d1: float

    @classmethod
    def around(cls, probe: Probe, cx: float, cz: float, half_mm: float) -> ColourBox:
        """A box centred on (cx, cz) reaching ``half_mm`` each way, kept in the view."""
        d0 = max(cz - half_mm, 1.0)
        d1 = min(cz + half_mm, probe.depth_mm - 1.0)
        if probe.kind == "curvilinear":
            r = probe.radius_mm + cz
            th = math.atan2(cx, cz + probe.radius_mm)
            half = half_mm / r
            lim = probe.half_angle_rad - 0.01
            d_c = math.hypot(cx, cz + probe.radius_mm) - probe.radius_mm
            d0, d1 = max(d_c - half_mm, 1.0), min(d_c + half_mm, probe.depth_mm - 1.0)
            return cls(probe, max(th - half, -lim), min(th + half, lim), d0, d1)
        lim = probe.width_mm / 2 - 0.5
        return cls(probe, max(cx - half_mm, -lim), min(cx + half_mm, lim), d0, d1)

    def contains(self, x: np.ndarray, z: np.ndarray) -> np.ndarray:
        if self.probe.kind == "curvilinear":
            zr = z + self.probe.radius_mm
            d = np.hypot(x, zr) - self.probe.radius_mm
            lat = np.arctan2(x, zr)
        else:
            d, lat = z, x
        return (d >= self.d0) & (d <= self.d1) & (lat >= self.lat0) & (lat <= self.lat1)

    def outline_mm(self, n: int = 48) -> np.ndarray:
        """Closed outline (N, 2) in probe mm."""
        t = np.linspace(self.lat0, self.lat1, n)
        if self.probe.kind == "curvilinear":
            R = self.probe.radius_mm
            near = np.stack([(R + self.d0) * np.sin(t), (R + self.d0) * np.cos(t) - R], 1)
            far = np.stack([(R + self.d1) * np.sin(t[::-1]), (R + self.d1) * np.cos(t[::-1]) - R], 1)
            return np.vstack([near, far])
        return np.array([[self.lat0, self.d0], [self.lat1, self.d0], [self.lat1, self.d1], [self.lat0, self.d1]])

    def bounds_px(self, geom: ScreenGeometry) -> tuple[int, int, int, int]:
        o = self.outline_mm(96)
        u, v = geom.to_screen(o[:, 0], o[:, 1])
        return int(math.floor(u.min())), int(math.floor(v.min())), int(math.ceil(u.max())), int(math.ceil(v.max()))


def beam_unit(probe: Probe, x: float, z: float) -> tuple[float, float]:
    if probe.kind == "linear":
        return 0.0, 1.0
    zr = z + probe.radius_mm
    n = math.hypot(x, zr)
    return x / n, zr / n


def velocity_map(vessels: list[Vessel], box: ColourBox, geom: ScreenGeometry,
                 bounds: tuple[int, int, int, int], to_probe: Transform,
                 rng: np.random.Generator | None = None) -> np.ndarray:
    """Doppler velocity (cm/s, toward the probe positive) on the screen box ``bounds``.

    Small vessels (radius < 0.6 mm) are detected only in part: each segment shows
    with a probability growing with the radius, so they appear as dots and dashes.
    """
    x0, y0, x1, y1 = bounds
    vel = np.zeros((y1 - y0 + 1, x1 - x0 + 1), F32)
    shift = 4
    for v in vessels:
        px, pz = to_probe(v.points[:, 0], v.points[:, 1])
        u, w = geom.to_screen(np.asarray(px), np.asarray(pz))
        pts = np.round(np.stack([u - x0, w - y0], 1) * (1 << shift)).astype(np.int64)
        for i in range(len(px) - 1):
            dx, dz = px[i + 1] - px[i], pz[i + 1] - pz[i]
            n = math.hypot(dx, dz)
            if n < 1e-6:
                continue
            bx, bz = beam_unit(box.probe, (px[i] + px[i + 1]) / 2, (pz[i] + pz[i + 1]) / 2)
            # flow along +segment when speed > 0; toward the probe = against the beam
            vd = -v.speed_cm_s * (dx * bx + dz * bz) / n
            if rng is not None and v.radius_mm < 0.6 and rng.random() > 0.35 + v.radius_mm:
                continue
            for k, frac in ((1.0, 0.45), (0.7, 0.75), (0.4, 1.0)):  # parabolic-ish profile
                t = max(int(round(2 * v.radius_mm * k / geom.mm_per_px)), 2 if k == 1.0 else 1)
                cv2.line(vel, (int(pts[i, 0]), int(pts[i, 1])), (int(pts[i + 1, 0]), int(pts[i + 1, 1])),
                         float(vd * frac), thickness=t, lineType=cv2.LINE_8, shift=shift)
    return vel


def colour_overlay(rng: np.random.Generator, bmode_rgb: np.ndarray, bounds_fov: tuple[int, int, int, int],
                   vessels: list[Vessel], box: ColourBox, geom: ScreenGeometry, to_probe: Transform,
                   scale_cm_s: float) -> tuple[np.ndarray, int]:
    """Paint colour flow into the screen image (RGB, whole screen). Returns the image
    and the number of coloured pixels."""
    out = bmode_rgb.copy()
    b = box.bounds_px(geom)
    vel = velocity_map(vessels, box, geom, b, to_probe, rng)
    # patchy fill and a little speed noise, as real colour flow
    h, w = vel.shape
    patch = cv2.GaussianBlur(rng.standard_normal((h, w), dtype=F32), (0, 0), 1.5)
    patch /= max(float(patch.std()), 1e-6)
    vel = vel * (1 + 0.2 * patch)
    vel = np.where(patch > -1.1, vel, 0)
    bloom = cv2.dilate(np.abs(vel), np.ones((3, 3), np.uint8))
    sign = np.sign(cv2.GaussianBlur(vel, (3, 3), 0))
    vel = np.where((vel == 0) & (bloom > 0.5 * scale_cm_s), sign * bloom * 0.8, vel)
    aliased = (vel + scale_cm_s) % (2 * scale_cm_s) - scale_cm_s
    aliased = np.where(np.abs(vel) > 0, aliased, 0)
    uu, vv = np.meshgrid(np.arange(b[0], b[2] + 1, dtype=F32), np.arange(b[1], b[3] + 1, dtype=F32))
    xx, zz = geom.to_physical(uu, vv)
    inside = box.contains(xx, zz)
    show = inside & (np.abs(vel) > 0.12 * scale_cm_s)  # wall filter / colour threshold
    ramp = colour_ramp(256)
    idx = np.clip(np.round((aliased / scale_cm_s + 1) * 127.5), 0, 255).astype(np.int32)
    region = out[b[1] : b[3] + 1, b[0] : b[2] + 1]
    region[show] = ramp[idx[show]]
    # the colour box outline
    o = box.outline_mm(48)
    u, v = geom.to_screen(o[:, 0], o[:, 1])
    cv2.polylines(out, [np.round(np.stack([u, v], 1)).astype(np.int32)], True, (170, 170, 170), 1, cv2.LINE_AA)
    return out, int(show.sum())
