"""B-mode image formation from a scatterer model.

The chain follows what a scanner does, in complex baseband (IQ) form:

1. **Scatterers**: every cell of an acquisition-grid tissue map holds a complex
   circular Gaussian amplitude whose variance is the local echogenicity
   (backscatter intensity). Many random sub-resolution scatterers per resolution
   cell sum to exactly such a variable (central limit theorem), which is what makes
   speckle *fully developed*. Specular interfaces (capsule, fascia, diaphragm, skin)
   add a coherent (non-random) amplitude.
2. **Point-spread function**: a Gaussian-modulated pulse axially (its complex
   envelope after demodulation is a Gaussian of the pulse length) times a Gaussian
   lateral beam profile whose width grows away from the focus
   (``sigma(z) = sigma_f * sqrt(1 + ((z - f) / z_R)^2)``). Convolving the complex
   scatterer field with the baseband PSF is the IQ signal; its modulus is the
   envelope that Hilbert-transforming the RF line would give for a narrow-band pulse.
3. **Attenuation** accumulates along each beam (two-way, dB/cm/MHz times the centre
   frequency), so a low-attenuation lesion brightens what lies behind it (posterior
   enhancement) and a calcification shadows it. **TGC** compensates a nominal
   attenuation; tissue attenuating more than that (steatosis) darkens with depth.
   Electronic noise is added before TGC, so deep weak echoes drown in noise.
4. **Log compression** of the envelope to 8 bit over a dynamic range in dB.
5. **Scan conversion** of the beam-line image to a sector (curvilinear probe) or a
   rectangle (linear probe) on the screen, with isotropic screen pixels.

Motion (breathing, probe jitter) moves the tissue, not the scatterer statistics:
each frame samples the same tissue field at moved positions, and out-of-plane
(elevational) motion mixes two independent scatterer fields, ``cos(phi) A +
sin(phi) B``. That keeps the envelope Rayleigh-distributed in every frame while
frame-to-frame correlation falls as ``cos(delta phi)``, as speckle does when the
slice drifts through the elevational beam width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

ProbeKind = Literal["curvilinear", "linear"]

# Speed matters (100 cines in well under a minute): everything here is float32 and
# goes through OpenCV's vectorised filters and remaps.
F32 = np.float32
MAP_STEP = 4  # beam samples between exactly computed motion-map points


@dataclass(frozen=True)
class Psf:
    """Baseband point-spread function: Gaussian pulse envelope x Gaussian beam.

    ``axial_sigma_mm`` is the standard deviation of the two-way pulse envelope;
    ``lateral_sigma_mm`` that of the beam at the focal depth ``focus_mm``;
    ``rayleigh_mm`` the distance over which the beam widens by sqrt(2).
    """

    axial_sigma_mm: float
    lateral_sigma_mm: float
    focus_mm: float
    rayleigh_mm: float

    def lateral_sigma_at(self, depth_mm: np.ndarray | float) -> np.ndarray:
        z = np.asarray(depth_mm, dtype=float)
        return self.lateral_sigma_mm * np.sqrt(1.0 + ((z - self.focus_mm) / self.rayleigh_mm) ** 2)


@dataclass(frozen=True)
class Probe:
    """Transducer geometry and the sampling of its beam lines.

    Probe coordinates: x lateral (mm, right positive), z depth (mm) below the centre
    of the transducer face. A curvilinear probe's lines fan out from a virtual apex
    ``radius_mm`` behind the face; a linear probe's lines are parallel.
    """

    kind: ProbeKind
    name: str
    frequency_mhz: float
    depth_mm: float
    psf: Psf
    axial_step_mm: float
    lateral_step: float  # mm between lines (linear) or radians (curvilinear)
    radius_mm: float = 0.0  # curvilinear only
    half_angle_rad: float = 0.0  # curvilinear only
    width_mm: float = 0.0  # linear only

    @property
    def n_lines(self) -> int:
        span = 2 * self.half_angle_rad if self.kind == "curvilinear" else self.width_mm
        return int(round(span / self.lateral_step)) + 1

    @property
    def n_samples(self) -> int:
        return int(round(self.depth_mm / self.axial_step_mm)) + 1


def curvilinear_probe(depth_mm: float, frequency_mhz: float = 3.5, half_angle_deg: float = 30.0,
                      radius_mm: float = 50.0, focus_mm: float | None = None, name: str = "C5-1") -> Probe:
    """An abdominal convex probe. Resolution scales with wavelength (c = 1540 m/s)."""
    wavelength = 1.54 / frequency_mhz
    # ~2-cycle pulse: envelope sigma about 0.6 wavelength; beam ~ 2 wavelengths at f/2.
    psf = Psf(axial_sigma_mm=0.6 * wavelength, lateral_sigma_mm=1.8 * wavelength,
              focus_mm=focus_mm if focus_mm is not None else 0.5 * depth_mm,
              rayleigh_mm=0.3 * depth_mm)
    axial = psf.axial_sigma_mm * 0.75
    far = radius_mm + depth_mm
    lateral = psf.lateral_sigma_mm * 0.9 / far  # radians: sampled densely enough at the far end
    return Probe("curvilinear", name, frequency_mhz, depth_mm, psf, axial, lateral,
                 radius_mm=radius_mm, half_angle_rad=math.radians(half_angle_deg))


def linear_probe(depth_mm: float, width_mm: float = 40.0, frequency_mhz: float = 12.0,
                 focus_mm: float | None = None, name: str = "L12-5") -> Probe:
    """A superficial linear probe."""
    wavelength = 1.54 / frequency_mhz
    psf = Psf(axial_sigma_mm=0.7 * wavelength, lateral_sigma_mm=1.8 * wavelength,
              focus_mm=focus_mm if focus_mm is not None else 0.45 * depth_mm,
              rayleigh_mm=0.35 * depth_mm)
    return Probe("linear", name, frequency_mhz, depth_mm, psf, psf.axial_sigma_mm * 0.75,
                 psf.lateral_sigma_mm * 0.9, width_mm=width_mm)


@dataclass(frozen=True)
class Grid:
    """A sampling grid in beam space: rows are depths along a line, columns lines.

    ``col0`` is the (possibly negative) index of the first column relative to the
    probe's first line, so a tissue grid can extend beyond the field of view by a
    margin that motion may bring into view.
    """

    probe: Probe
    n_rows: int
    n_cols: int
    col0: int = 0
    row_step: int = 1  # probe axial samples per row (the displayed beam lines may be decimated)

    @classmethod
    def beam(cls, probe: Probe, row_step: int = 1) -> Grid:
        """The beam lines over the field of view, every ``row_step``-th axial sample.

        Decimating to about the screen pixel size is what scanners do before scan
        conversion; the tissue field itself is always sampled finer than the PSF.
        """
        return cls(probe, (probe.n_samples - 1) // row_step + 1, probe.n_lines, 0, row_step)

    @property
    def row_mm(self) -> float:
        return self.probe.axial_step_mm * self.row_step

    @classmethod
    def tissue(cls, probe: Probe, margin_mm: float) -> Grid:
        """The beam grid grown by ``margin_mm`` sideways and in depth."""
        if probe.kind == "curvilinear":
            extra_cols = int(math.ceil(margin_mm / probe.radius_mm / probe.lateral_step))
        else:
            extra_cols = int(math.ceil(margin_mm / probe.lateral_step))
        extra_rows = int(math.ceil(margin_mm / probe.axial_step_mm))
        return cls(probe, probe.n_samples + extra_rows, probe.n_lines + 2 * extra_cols, -extra_cols)

    @property
    def depths(self) -> np.ndarray:
        return (np.arange(self.n_rows) * self.row_mm).astype(F32)

    @property
    def lateral(self) -> np.ndarray:
        """Line positions: angle (rad) for curvilinear, x (mm) for linear."""
        p = self.probe
        start = -p.half_angle_rad if p.kind == "curvilinear" else -p.width_mm / 2
        return (start + (np.arange(self.n_cols) + self.col0) * p.lateral_step).astype(F32)

    def xz(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, z) in mm of every grid sample, each (n_rows, n_cols) float32."""
        return self.xz_at(np.arange(self.n_rows, dtype=F32), np.arange(self.n_cols, dtype=F32))

    def xz_at(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(x, z) in mm at (possibly fractional) row and column indices (outer product)."""
        p = self.probe
        d = (np.asarray(rows, F32) * F32(self.row_mm))[:, None]
        start = -p.half_angle_rad if p.kind == "curvilinear" else -p.width_mm / 2
        lat = (F32(start) + (np.asarray(cols, F32) + F32(self.col0)) * F32(p.lateral_step))[None, :]
        if p.kind == "curvilinear":
            r = p.radius_mm + d
            return (r * np.sin(lat)).astype(F32), (r * np.cos(lat) - p.radius_mm).astype(F32)
        shape = (d.shape[0], lat.shape[1])
        return np.broadcast_to(lat, shape).astype(F32), np.broadcast_to(d, shape).astype(F32)

    def index_of(self, x: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fractional (row, col) of physical points, as float32 maps for cv2.remap."""
        p = self.probe
        if p.kind == "curvilinear":
            zr = z + F32(p.radius_mm)
            depth = np.sqrt(x * x + zr * zr) - F32(p.radius_mm)
            lat = np.arctan2(x, zr)
            start = -p.half_angle_rad
        else:
            depth, lat, start = z, x, -p.width_mm / 2
        row = depth / F32(self.row_mm)
        col = (lat - F32(start)) / F32(p.lateral_step) - F32(self.col0)
        return row.astype(F32), col.astype(F32)

    def beam_direction(self, x: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Unit vector of the beam (pointing away from the probe) at physical points."""
        if self.probe.kind == "linear":
            return np.zeros_like(x), np.ones_like(z)
        zr = z + self.probe.radius_mm
        n = np.maximum(np.hypot(x, zr), 1e-6)
        return x / n, zr / n


# -- 1-2: scatterers and PSF ------------------------------------------------------------


def scatterer_field(rng: np.random.Generator, echogenicity: np.ndarray, n_fields: int = 2) -> np.ndarray:
    """Complex Gaussian scatterer amplitudes with variance ``echogenicity``.

    Returns (H, W, 2 * n_fields) float32: real and imaginary parts of ``n_fields``
    independent realisations (the elevational slices mixed across frames).
    """
    h, w = echogenicity.shape
    z = rng.standard_normal((h, w, 2 * n_fields), dtype=F32)
    z *= (np.sqrt(np.maximum(echogenicity, 0)).astype(F32) * F32(math.sqrt(0.5)))[:, :, None]
    return z


def unit_energy_kernel(sigma_samples: float) -> np.ndarray:
    """Sampled Gaussian scaled to unit energy (sum of squares 1), as a column.

    Unit energy, not unit sum: white scatterers of unit variance then give a field
    of unit variance whatever the PSF width, so echogenicity maps straight to mean
    envelope intensity and the depth bands below blend without a brightness step.
    """
    sigma = max(float(sigma_samples), 0.25)
    half = max(int(math.ceil(3.5 * sigma)), 1)
    t = np.arange(-half, half + 1, dtype=np.float64)
    k = np.exp(-0.5 * (t / sigma) ** 2)
    return (k / np.sqrt((k**2).sum())).astype(F32)[:, None]


def lateral_sigma_columns(grid: Grid, depth_mm: float) -> float:
    """Lateral PSF sigma at a depth, in grid columns."""
    p = grid.probe
    sig_mm = float(p.psf.lateral_sigma_at(depth_mm))
    if p.kind == "curvilinear":
        return sig_mm / ((p.radius_mm + depth_mm) * p.lateral_step)
    return sig_mm / p.lateral_step


def apply_psf(field: np.ndarray, grid: Grid, bands: int = 8) -> np.ndarray:
    """Convolve every channel with the baseband PSF of the grid's probe.

    The lateral kernel width in columns depends on depth (beam widening, and for a
    sector the line spacing growing with range), so the image is filtered in depth
    bands with their own kernel and blended linearly (hat weights summing to one)
    between band centres.
    """
    p = grid.probe
    one = np.ones((1, 1), F32)
    ax = unit_energy_kernel(p.psf.axial_sigma_mm / grid.row_mm)
    out = cv2.sepFilter2D(field, -1, one, ax, borderType=cv2.BORDER_REFLECT)
    depths = grid.depths
    centres = np.linspace(float(depths[0]), float(depths[-1]), max(bands, 2))
    step = float(centres[1] - centres[0])
    result = np.zeros_like(out)
    for c in centres:
        lo = int(np.searchsorted(depths, c - step, side="left"))
        hi = int(np.searchsorted(depths, c + step, side="right"))
        if hi <= lo:
            continue
        lat = unit_energy_kernel(lateral_sigma_columns(grid, float(c)))
        blurred = cv2.sepFilter2D(out[lo:hi], -1, lat, one, borderType=cv2.BORDER_REFLECT)
        wgt = np.clip(1.0 - np.abs(depths[lo:hi] - F32(c)) / F32(step), 0.0, 1.0).astype(F32)
        result[lo:hi] += blurred * (wgt[:, None, None] if blurred.ndim == 3 else wgt[:, None])
    return result


# -- 3: attenuation, TGC and noise -------------------------------------------------------

_DB_TO_NEPER_AMPLITUDE = math.log(10) / 20


def attenuation_gain(alpha_db_cm_mhz: np.ndarray, grid: Grid) -> np.ndarray:
    """Two-way amplitude factor exp(-2 integral alpha f dz) along each beam line."""
    p = grid.probe
    per_sample = alpha_db_cm_mhz.astype(F32) * F32(2 * p.frequency_mhz * grid.row_mm / 10)  # dB
    total_db = np.cumsum(per_sample, axis=0, dtype=F32) - per_sample / 2
    return np.exp(-total_db * F32(_DB_TO_NEPER_AMPLITUDE)).astype(F32)


def tgc_gain(grid: Grid, alpha_db_cm_mhz: float) -> np.ndarray:
    """Time-gain compensation per row for a nominal attenuation (amplitude factor)."""
    db = grid.depths * F32(2 * alpha_db_cm_mhz * grid.probe.frequency_mhz / 10)
    return np.exp(db * F32(_DB_TO_NEPER_AMPLITUDE)).astype(F32)


def envelope(field: np.ndarray, phase: float, coherent: np.ndarray | None = None,
             noise: np.ndarray | None = None) -> np.ndarray:
    """|cos(phase) A + sin(phase) B + coherent + noise| of a 4-channel IQ field.

    ``field`` is (H, W, 4): Re A, Im A, Re B, Im B. ``coherent`` (H, W) is the
    specular part, real and not decorrelating; ``noise`` (H, W, 2) electronic noise.
    """
    c, s = F32(math.cos(phase)), F32(math.sin(phase))
    re = c * field[:, :, 0] + s * field[:, :, 2]
    im = c * field[:, :, 1] + s * field[:, :, 3]
    if coherent is not None:
        re += coherent
    if noise is not None:
        re += noise[:, :, 0]
        im += noise[:, :, 1]
    return cv2.magnitude(re, im)


# -- 4: log compression --------------------------------------------------------------------


def log_compress(env: np.ndarray, gain_db: float, dynamic_range_db: float) -> np.ndarray:
    """8-bit display value: 0 at ``gain_db - dynamic_range_db`` dB, 255 at ``gain_db``."""
    db = F32(20 / math.log(10)) * np.log(np.maximum(env, F32(1e-12)))
    grey = (db - F32(gain_db - dynamic_range_db)) * F32(255 / dynamic_range_db)
    return np.clip(grey, 0, 255).astype(np.uint8)


# -- 5: scan conversion ---------------------------------------------------------------------


@dataclass(frozen=True)
class ScreenGeometry:
    """Where the image lands on the screen: isotropic ``mm_per_px`` and the screen
    pixel of the probe origin (x = 0, z = 0)."""

    mm_per_px: float
    origin_px: tuple[float, float]

    def to_screen(self, x: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return x / self.mm_per_px + self.origin_px[0], z / self.mm_per_px + self.origin_px[1]

    def to_physical(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (u - self.origin_px[0]) * self.mm_per_px, (v - self.origin_px[1]) * self.mm_per_px


def field_of_view_bounds(probe: Probe, geom: ScreenGeometry) -> tuple[int, int, int, int]:
    """Inclusive screen-pixel bounding box (x0, y0, x1, y1) of the field of view."""
    if probe.kind == "curvilinear":
        th = np.linspace(-probe.half_angle_rad, probe.half_angle_rad, 181)
        r = np.concatenate([np.full_like(th, probe.radius_mm), np.full_like(th, probe.radius_mm + probe.depth_mm)])
        th = np.concatenate([th, th])
        x, z = r * np.sin(th), r * np.cos(th) - probe.radius_mm
    else:
        x = np.array([-probe.width_mm / 2, probe.width_mm / 2])
        z = np.array([0.0, probe.depth_mm])
    u, v = geom.to_screen(x, z)
    return int(math.floor(u.min())), int(math.floor(v.min())), int(math.ceil(u.max())), int(math.ceil(v.max()))


def scan_conversion_maps(grid: Grid, geom: ScreenGeometry, bounds: tuple[int, int, int, int]
                         ) -> tuple[np.ndarray, np.ndarray]:
    """cv2.remap maps from the screen box ``bounds`` to beam-grid (col, row).

    Pixels outside the field of view map to -1 so that remap's constant border
    paints them black.
    """
    x0, y0, x1, y1 = bounds
    u, v = np.meshgrid(np.arange(x0, x1 + 1, dtype=F32), np.arange(y0, y1 + 1, dtype=F32))
    x, z = geom.to_physical(u, v)
    row, col = grid.index_of(x.astype(F32), z.astype(F32))
    outside = (row < 0) | (row > grid.n_rows - 1) | (col < 0) | (col > grid.n_cols - 1)
    col[outside] = -1
    row[outside] = -1
    return col, row


def scan_convert(beam_image: np.ndarray, maps: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    return cv2.remap(beam_image, maps[0], maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                     borderValue=0)


# -- the whole chain, frame after frame ------------------------------------------------------


@dataclass
class TissueMaps:
    """Acoustic properties on a tissue grid (rest pose), all (rows, cols) float32.

    ``echogenicity``: mean backscatter intensity of diffuse scatterers (liver = 1).
    ``attenuation``: dB/cm/MHz. ``specular``: amplitude of coherent reflectors.
    """

    echogenicity: np.ndarray
    attenuation: np.ndarray
    specular: np.ndarray


@dataclass(frozen=True)
class Settings:
    """Scanner settings of one acquisition."""

    gain_db: float  # envelope level (dB) shown white
    dynamic_range_db: float = 60.0
    tgc_db_cm_mhz: float = 0.5  # attenuation the TGC curve compensates
    noise_db: float = -78.0  # electronic noise (rms, dB re unit envelope) before TGC


class Scene:
    """A tissue field ready to be imaged under any motion, frame after frame.

    Built once per case (scatterers, PSF, attenuation); each frame then costs two
    remaps, an envelope, a log and a scan conversion.
    """

    def __init__(self, rng: np.random.Generator, tissue_grid: Grid, maps: TissueMaps, settings: Settings,
                 display_mm: float | None = None) -> None:
        self.tissue_grid = tissue_grid
        # beam lines decimated axially to about the screen pixel (display_mm), never coarser
        step = 1 if display_mm is None else max(1, int(round(display_mm / tissue_grid.probe.axial_step_mm)))
        self.beam_grid = Grid.beam(tissue_grid.probe, step)
        self.settings = settings
        gain = attenuation_gain(maps.attenuation, tissue_grid)
        weights = maps.echogenicity * gain * gain  # intensity scales with amplitude squared
        self.field = apply_psf(scatterer_field(rng, weights), tissue_grid)
        # specular echoes are real before the (real, baseband) PSF and stay real after it
        self.coherent = apply_psf((maps.specular * gain).astype(F32), tissue_grid)
        # Motion maps are smooth: compute them every MAP_STEP samples and interpolate
        # (one remap) instead of transforming every beam sample (10x cheaper).
        h, w = self.beam_grid.n_rows, self.beam_grid.n_cols
        rows_c = np.arange(0, h - 1 + MAP_STEP, MAP_STEP, dtype=F32)
        cols_c = np.arange(0, w - 1 + MAP_STEP, MAP_STEP, dtype=F32)
        self.beam_x, self.beam_z = self.beam_grid.xz_at(rows_c, cols_c)
        jj, ii = np.meshgrid(np.arange(w, dtype=F32) / MAP_STEP, np.arange(h, dtype=F32) / MAP_STEP)
        self._upsample = (jj, ii)
        self.tgc = tgc_gain(self.beam_grid, settings.tgc_db_cm_mhz)[:, None]
        # A bank of electronic noise wider than the image: each frame takes a random
        # window, which is as good as fresh noise at a fraction of the cost.
        sigma = F32(10 ** (settings.noise_db / 20) * math.sqrt(0.5))
        self._noise = rng.standard_normal((h, 2 * w, 2), dtype=F32) * sigma
        self._rng = rng

    def beam_maps(self, motion) -> tuple[np.ndarray, np.ndarray]:
        """remap maps (col, row) from the beam grid into the tissue grid for a motion."""
        tx, tz = motion.tissue_of(self.beam_x, self.beam_z)
        row, col = self.tissue_grid.index_of(tx.astype(F32), tz.astype(F32))
        fine = cv2.remap(np.dstack([col, row]), self._upsample[0], self._upsample[1], cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
        return fine[:, :, 0], fine[:, :, 1]

    def envelope(self, motion) -> np.ndarray:
        """Envelope after TGC on the beam grid (float32), noise included."""
        col, row = self.beam_maps(motion)
        f = cv2.remap(self.field, col, row, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        c = cv2.remap(self.coherent, col, row, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        off = int(self._rng.integers(0, self.beam_grid.n_cols))
        noise = self._noise[:, off : off + self.beam_grid.n_cols]
        return envelope(f, motion.phase, c, noise) * self.tgc

    def beam_image(self, motion) -> np.ndarray:
        """8-bit log-compressed beam-line image for a motion."""
        s = self.settings
        return log_compress(self.envelope(motion), s.gain_db, s.dynamic_range_db)
