"""Slight probe motion and breathing across the frames of a cine.

The organ (everything deeper than the abdominal wall) moves rigidly with breathing,
sliding under the wall; the hand holding the probe adds a small jitter that moves
everything. Out-of-plane drift is the elevational phase that mixes the two
scatterer realisations (see :mod:`bmode`), so speckle decorrelates partially and
comes back when the breath does, as in a real cine. Rigid organ motion keeps
lesion sizes exact, so a ROI drawn on any frame measures the generated size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Rigid:
    """p' = R(angle) (p - pivot) + pivot + shift, in probe millimetres."""

    angle: float = 0.0  # radians
    shift_x: float = 0.0
    shift_z: float = 0.0
    pivot_x: float = 0.0
    pivot_z: float = 0.0

    def forward(self, x: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c, s = math.cos(self.angle), math.sin(self.angle)
        dx, dz = x - self.pivot_x, z - self.pivot_z
        return (c * dx - s * dz + self.pivot_x + self.shift_x, s * dx + c * dz + self.pivot_z + self.shift_z)

    def inverse(self, x: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c, s = math.cos(self.angle), math.sin(self.angle)
        dx, dz = x - self.pivot_x - self.shift_x, z - self.pivot_z - self.shift_z
        return (c * dx + s * dz + self.pivot_x, -s * dx + c * dz + self.pivot_z)


@dataclass(frozen=True)
class FrameMotion:
    """Where the tissue is in one frame, relative to the rest pose."""

    organ: Rigid  # breathing: applies below ``organ_top_mm`` (weight ramps over ``ramp_mm``)
    probe: Rigid  # hand jitter: applies everywhere
    phase: float  # elevational mixing angle of the two scatterer fields (radians)
    organ_top_mm: float = 0.0
    ramp_mm: float = 4.0

    def organ_weight(self, z: np.ndarray) -> np.ndarray:
        t = np.clip((z - (self.organ_top_mm - self.ramp_mm)) / self.ramp_mm, 0.0, 1.0)
        return t * t * (3 - 2 * t)

    def tissue_of(self, x: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rest-pose tissue position seen at probe position (x, z) in this frame."""
        qx, qz = self.probe.inverse(x, z)
        ox, oz = self.organ.inverse(qx, qz)
        w = self.organ_weight(qz)
        return qx + w * (ox - qx), qz + w * (oz - qz)

    def organ_to_probe(self, x: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where a rest-pose organ point (fully below the wall) appears in this frame."""
        return self.probe.forward(*self.organ.forward(x, z))


def breathing_cine(rng: np.random.Generator, n_frames: int, fps: float, organ_top_mm: float,
                   pivot: tuple[float, float], amplitude_mm: float = 5.0,
                   elevational_rad: float = 1.2) -> list[FrameMotion]:
    """A breathing cycle (period 3-5 s) plus a slow random hand drift.

    In-plane organ excursion is mostly lateral and axial translation with a degree or
    so of rotation about ``pivot``; the elevational phase follows the breath (out of
    plane) plus a small random walk.
    """
    period = rng.uniform(3.0, 5.0)
    start = rng.uniform(0, 2 * math.pi)
    direction = rng.uniform(-0.6, 0.6) + (math.pi / 2 if rng.random() < 0.3 else 0.0)
    rot_amp = math.radians(rng.uniform(0.3, 1.2))
    jitter = np.cumsum(rng.normal(0, 0.08, size=(n_frames, 3)), axis=0)  # mm, mm, deg
    walk = np.cumsum(rng.normal(0, 0.04, size=n_frames))
    out = []
    for i in range(n_frames):
        t = i / fps
        b = 0.5 * (1 - math.cos(2 * math.pi * t / period + start))  # 0..1 breath
        organ = Rigid(angle=rot_amp * (b - 0.5), shift_x=amplitude_mm * b * math.cos(direction),
                      shift_z=amplitude_mm * b * math.sin(direction) * 0.6, pivot_x=pivot[0], pivot_z=pivot[1])
        hand = Rigid(angle=math.radians(jitter[i, 2] * 0.5), shift_x=jitter[i, 0], shift_z=0.3 * jitter[i, 1])
        out.append(FrameMotion(organ, hand, elevational_rad * b + walk[i], organ_top_mm))
    return out


def still(phase: float = 0.0) -> FrameMotion:
    """No motion (a still image), with a given elevational phase."""
    return FrameMotion(Rigid(), Rigid(), phase, 0.0)
