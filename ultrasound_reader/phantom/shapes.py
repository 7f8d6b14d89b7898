"""Geometry of the synthetic anatomy: lesion outlines, vessels, smooth random fields.

Everything is in probe millimetres (x lateral, z depth). Maps are built on a
Cartesian :class:`Canvas` with OpenCV drawing and filtering (fast, anti-aliased) and
then sampled onto the acquisition grid, or evaluated analytically on the grid's
sample coordinates where exact geometry matters (lesion boundaries, whose measured
size is checked against the truth).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

F32 = np.float32


@dataclass(frozen=True)
class Canvas:
    """A Cartesian raster over [x0, x1] x [z0, z1] mm at ``res`` mm per pixel."""

    x0: float
    z0: float
    x1: float
    z1: float
    res: float

    @property
    def shape(self) -> tuple[int, int]:
        return int(math.ceil((self.z1 - self.z0) / self.res)) + 1, int(math.ceil((self.x1 - self.x0) / self.res)) + 1

    def zeros(self, value: float = 0.0) -> np.ndarray:
        return np.full(self.shape, value, dtype=F32)

    def px(self, x: np.ndarray | float, z: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        return (np.asarray(x) - self.x0) / self.res, (np.asarray(z) - self.z0) / self.res

    def points_px(self, pts_mm: np.ndarray, shift: int = 4) -> np.ndarray:
        """Polyline vertices as fixed-point int32 for cv2 drawing with ``shift`` bits."""
        u, v = self.px(pts_mm[:, 0], pts_mm[:, 1])
        return np.round(np.stack([u, v], axis=1) * (1 << shift)).astype(np.int32)

    def window(self, cx: float, cz: float, half_mm: float) -> tuple[slice, slice, np.ndarray, np.ndarray]:
        """Row/column slices of a square window around (cx, cz), and its (x, z) mm grids."""
        h, w = self.shape
        r0 = int(np.clip((cz - half_mm - self.z0) / self.res, 0, h))
        r1 = int(np.clip((cz + half_mm - self.z0) / self.res + 1, 0, h))
        c0 = int(np.clip((cx - half_mm - self.x0) / self.res, 0, w))
        c1 = int(np.clip((cx + half_mm - self.x0) / self.res + 1, 0, w))
        xs = (np.arange(c0, c1) * self.res + self.x0).astype(F32)
        zs = (np.arange(r0, r1) * self.res + self.z0).astype(F32)
        xx, zz = np.meshgrid(xs, zs)
        return slice(r0, r1), slice(c0, c1), xx, zz

    def sample(self, img: np.ndarray, x: np.ndarray, z: np.ndarray, border: float = 0.0) -> np.ndarray:
        """Bilinear samples of ``img`` at physical points (arrays of any equal shape)."""
        u, v = self.px(x, z)
        shape = np.shape(u)
        # remap wants 2-D maps under 32767 on a side: fold any input into 1024 columns
        flat_u, flat_v = np.asarray(u, F32).ravel(), np.asarray(v, F32).ravel()
        n = flat_u.size
        rows = max(int(math.ceil(n / 1024)), 1)
        pad = rows * 1024 - n
        mu = np.pad(flat_u, (0, pad)).reshape(rows, 1024)
        mv = np.pad(flat_v, (0, pad)).reshape(rows, 1024)
        out = cv2.remap(img, mu, mv, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=border)
        return out.ravel()[:n].reshape(shape)


def smooth_noise(rng: np.random.Generator, canvas: Canvas, scale_mm: float,
                 anisotropy: float = 1.0) -> np.ndarray:
    """Zero-mean, unit-std Gaussian random field with correlation length ``scale_mm``.

    ``anisotropy`` > 1 stretches it laterally (tissue layers parallel to the skin).
    Made on a grid three samples per correlation length and resized up: the field
    is smooth at that scale anyway, and a large-kernel blur of the full canvas
    would cost ten times more.
    """
    h, w = canvas.shape
    res_z = max(canvas.res, scale_mm / 3)
    res_x = max(canvas.res, scale_mm * anisotropy / 3)
    ch, cw = int(math.ceil(h * canvas.res / res_z)) + 1, int(math.ceil(w * canvas.res / res_x)) + 1
    white = rng.standard_normal((ch, cw), dtype=F32)
    f = cv2.GaussianBlur(white, (0, 0), sigmaX=max(scale_mm * anisotropy / res_x, 0.3),
                         sigmaY=max(scale_mm / res_z, 0.3), borderType=cv2.BORDER_REFLECT)
    if (ch, cw) != (h, w):
        f = cv2.resize(f, (w, h), interpolation=cv2.INTER_CUBIC)
    s = float(f.std())
    return (f - float(f.mean())) / (s if s > 0 else 1.0)


def ridges(noise: np.ndarray, width: float) -> np.ndarray:
    """Thin network of lines along the zero set of a smooth field (0..1).

    The zero-level curves of a smooth random field form closed cells; as bright lines
    they look like fibrous septa around regenerative nodules, or fat septa.
    """
    return np.exp(-((noise / width) ** 2)).astype(F32)


# -- star-shaped lesions --------------------------------------------------------------------


@dataclass(frozen=True)
class Blob:
    """A star-shaped region: an ellipse (semi-axes a >= b, rotated) whose radius is
    modulated by Fourier harmonics ``(k, amplitude, phase)``.

    The normalised radius ``s = rho / R(phi)`` is 0 at the centre and 1 on the
    boundary, which places halos, rims and cores by fraction of the radius.
    """

    cx: float
    cz: float
    a: float
    b: float
    angle: float = 0.0
    harmonics: tuple[tuple[int, float, float], ...] = field(default_factory=tuple)

    def boundary_radius(self, phi: np.ndarray) -> np.ndarray:
        c, s = np.cos(phi), np.sin(phi)
        r = self.a * self.b / np.sqrt((self.b * c) ** 2 + (self.a * s) ** 2)
        mod = np.ones_like(phi)
        for k, amp, ph in self.harmonics:
            mod = mod + amp * np.cos(k * phi + ph)
        return r * mod

    def local_polar(self, x: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dx, dz = x - self.cx, z - self.cz
        c, s = math.cos(self.angle), math.sin(self.angle)
        u, v = c * dx + s * dz, -s * dx + c * dz
        return np.hypot(u, v), np.arctan2(v, u)

    def normalised_radius(self, x: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(s, signed distance in mm along the ray: negative inside)."""
        rho, phi = self.local_polar(x, z)
        rb = self.boundary_radius(phi)
        return rho / rb, rho - rb

    def outline(self, n: int = 72) -> np.ndarray:
        """(n, 2) boundary points in mm, counter-clockwise in the local frame."""
        phi = np.linspace(0, 2 * np.pi, n, endpoint=False)
        r = self.boundary_radius(phi)
        u, v = r * np.cos(phi), r * np.sin(phi)
        c, s = math.cos(self.angle), math.sin(self.angle)
        return np.stack([self.cx + c * u - s * v, self.cz + s * u + c * v], axis=1)

    def max_diameter(self, n: int = 360) -> float:
        return max_diameter(self.outline(n))

    def scaled_to(self, diameter_mm: float) -> Blob:
        """The same shape scaled about its centre to a maximal diameter."""
        k = diameter_mm / self.max_diameter()
        return replace(self, a=self.a * k, b=self.b * k)

    def moved_to(self, cx: float, cz: float) -> Blob:
        return replace(self, cx=cx, cz=cz)

    @property
    def max_radius(self) -> float:
        phi = np.linspace(0, 2 * np.pi, 360, endpoint=False)
        return float(self.boundary_radius(phi).max())

    def bbox_mask(self, x: np.ndarray, z: np.ndarray, margin: float = 0.0) -> np.ndarray:
        r = self.max_radius + margin
        return (np.abs(x - self.cx) <= r) & (np.abs(z - self.cz) <= r)


def max_diameter(points: np.ndarray) -> float:
    """Largest distance between two points (they lie on the convex hull)."""
    hull = cv2.convexHull(points.astype(np.float32)).reshape(-1, 2).astype(float)
    d = hull[:, None, :] - hull[None, :, :]
    return float(np.sqrt((d**2).sum(-1)).max())


def random_blob(rng: np.random.Generator, diameter_mm: float, shape: str, margin: str,
                cx: float = 0.0, cz: float = 0.0) -> Blob:
    """A lesion outline of the given FLL descriptors, scaled to ``diameter_mm``.

    round: near-circular; ellipse: axis ratio 0.55-0.8; irregular: strong low-order
    harmonics (lobulated). A not-smooth margin adds fine high-order harmonics
    (microlobulated / angular edge).
    """
    harmonics: list[tuple[int, float, float]] = []
    if shape == "round":
        ratio = rng.uniform(0.9, 1.0)
        harmonics.append((3, rng.uniform(0.0, 0.02), rng.uniform(0, 2 * np.pi)))
    elif shape == "ellipse":
        ratio = rng.uniform(0.55, 0.8)
    else:
        ratio = rng.uniform(0.65, 0.95)
        for k in (2, 3, 4, 5):
            harmonics.append((k, rng.uniform(0.04, 0.14) / math.sqrt(k - 1), rng.uniform(0, 2 * np.pi)))
    if margin == "not_smooth":
        for k in rng.choice(np.arange(8, 19), size=3, replace=False):
            harmonics.append((int(k), rng.uniform(0.02, 0.045), rng.uniform(0, 2 * np.pi)))
    blob = Blob(cx, cz, 1.0, ratio, rng.uniform(-0.5, 0.5) if shape != "round" else 0.0, tuple(harmonics))
    return blob.scaled_to(diameter_mm)


# -- vessels -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Vessel:
    """A tube through the imaging plane: a polyline (mm), lumen radius, flow.

    ``speed_cm_s`` is the peak (centre-line) speed, flowing from the first vertex to
    the last (negative: the other way). ``bmode`` vessels are big enough to show an
    anechoic lumen; ``wall`` is the wall echo factor (portal veins have bright walls,
    hepatic veins none).
    """

    points: np.ndarray
    radius_mm: float
    speed_cm_s: float
    bmode: bool = True
    wall: float = 0.0


def curve(rng: np.random.Generator, start: tuple[float, float], direction: float, length_mm: float,
          step_mm: float, wiggle: float) -> np.ndarray:
    """A smooth random polyline: a random walk of the heading (radians per step)."""
    n = max(int(length_mm / step_mm), 2)
    heading = direction + np.cumsum(rng.normal(0, wiggle, n))
    steps = np.stack([np.cos(heading), np.sin(heading)], axis=1) * step_mm
    return np.vstack([np.asarray(start, float)[None, :], np.asarray(start, float) + np.cumsum(steps, axis=0)])


def draw_vessels(canvas: Canvas, vessels: list[Vessel], base: np.ndarray, lumen_level: float = 0.02,
                 wall_mm: float = 0.8) -> np.ndarray:
    """Multiply ``base`` by vessel lumens (near anechoic) and walls.

    Vessels taper (to 60 % of their radius at the last vertex), drawn segment by
    segment with round caps so branches join smoothly.
    """
    factor = canvas.zeros(1.0)
    shift = 4
    drawn = [v for v in vessels if v.bmode]
    # all walls first, then all lumens, so a crossing never paints a wall into a lumen
    for layer in ("wall", "lumen"):
        for v in drawn:
            if layer == "wall" and not (v.wall > 0 and wall_mm > 0):
                continue
            extra, value = (wall_mm, float(v.wall)) if layer == "wall" else (0.0, lumen_level)
            pts = canvas.points_px(v.points, shift)
            n = len(pts)
            radii = v.radius_mm * np.linspace(1.0, 0.6, max(n - 1, 1))
            for i in range(max(n - 1, 1)):
                a, b = pts[i], pts[min(i + 1, n - 1)]
                t = max(int(round(2 * (radii[i] + extra) / canvas.res)), 1)
                cv2.line(factor, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), value, thickness=t,
                         lineType=cv2.LINE_AA, shift=shift)
    return base * factor
