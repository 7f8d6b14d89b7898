"""Image formation: speckle statistics, PSF-set correlation, attenuation/TGC, geometry."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ultrasound_reader.phantom import bmode as B
from ultrasound_reader.phantom.motion import FrameMotion, Rigid, still


def _homogeneous(probe: B.Probe, seed: int = 0) -> tuple[B.Grid, np.ndarray]:
    grid = B.Grid.beam(probe)
    rng = np.random.default_rng(seed)
    field = B.apply_psf(B.scatterer_field(rng, np.ones((grid.n_rows, grid.n_cols), np.float32)), grid)
    return grid, field


def test_envelope_is_rayleigh_with_snr_1_91():
    probe = B.linear_probe(30.0, 40.0, 10.0)
    grid, field = _homogeneous(probe)
    env = B.envelope(field, 0.0)[20:-20, 20:-20].astype(np.float64)
    snr = env.mean() / env.std()
    assert abs(snr - math.sqrt(math.pi / (4 - math.pi))) < 0.05  # 1.913 for a Rayleigh envelope
    inten = env**2
    # intensity of fully developed speckle is exponential: <I^2>/<I>^2 = 2
    assert abs((inten**2).mean() / inten.mean() ** 2 - 2.0) < 0.1
    # unit-energy PSF: unit echogenicity gives unit mean intensity
    assert abs(inten.mean() - 1.0) < 0.05


def _lateral_fwhm_mm(env: np.ndarray, step_mm: float) -> float:
    """FWHM of the lateral autocorrelation of intensity, averaged over rows."""
    inten = env.astype(np.float64) ** 2
    inten = inten - inten.mean(axis=1, keepdims=True)
    spec = np.abs(np.fft.rfft(inten, n=2 * inten.shape[1], axis=1)) ** 2
    acf = np.fft.irfft(spec, axis=1)[:, : inten.shape[1]].mean(axis=0)
    acf /= acf[0]
    k = int(np.argmax(acf < 0.5))
    # linear interpolation of the half-maximum crossing
    lag = k - 1 + (acf[k - 1] - 0.5) / (acf[k - 1] - acf[k])
    return 2 * lag * step_mm


@pytest.mark.parametrize("scale", [1.0, 2.0])
def test_speckle_correlation_length_tracks_the_psf(scale):
    base = B.linear_probe(20.0, 40.0, 10.0)
    psf = B.Psf(base.psf.axial_sigma_mm, base.psf.lateral_sigma_mm * scale, base.psf.focus_mm, 1e6)
    probe = B.Probe("linear", "test", 10.0, 20.0, psf, base.axial_step_mm, base.lateral_step, width_mm=40.0)
    grid, field = _homogeneous(probe, seed=3)
    env = B.envelope(field, 0.0)[10:-10, 10:-10]
    fwhm = _lateral_fwhm_mm(env, probe.lateral_step)
    # Gaussian PSF of sigma s: intensity autocorrelation exp(-d^2 / (2 s^2)), FWHM 2.355 s
    expected = 2 * math.sqrt(2 * math.log(2)) * psf.lateral_sigma_mm
    assert abs(fwhm / expected - 1) < 0.15, (fwhm, expected)


def test_elevational_phase_decorrelates_speckle_as_cos_squared():
    probe = B.linear_probe(20.0, 30.0, 10.0)
    grid = B.Grid.tissue(probe, 1.0)
    e = np.ones((grid.n_rows, grid.n_cols), np.float32)
    maps = B.TissueMaps(e, np.zeros_like(e), np.zeros_like(e))
    scene = B.Scene(np.random.default_rng(4), grid, maps, B.Settings(gain_db=10.0, noise_db=-200.0,
                                                                      tgc_db_cm_mhz=0.0))
    i0 = scene.envelope(still(0.0)).ravel() ** 2
    for dphi in (0.3, 0.8, 1.3):
        i1 = scene.envelope(still(dphi)).ravel() ** 2
        r = np.corrcoef(i0, i1)[0, 1]
        assert abs(r - math.cos(dphi) ** 2) < 0.05, (dphi, r)


def test_translation_moves_the_pattern_rigidly():
    probe = B.linear_probe(20.0, 30.0, 10.0)
    grid = B.Grid.tissue(probe, 3.0)
    rng = np.random.default_rng(8)
    e = (1 + rng.random((grid.n_rows, grid.n_cols))).astype(np.float32)
    maps = B.TissueMaps(e, np.zeros_like(e), np.zeros_like(e))
    scene = B.Scene(rng, grid, maps, B.Settings(gain_db=10.0, noise_db=-200.0, tgc_db_cm_mhz=0.0))
    shift_cols = 5
    dx = shift_cols * probe.lateral_step
    moved = FrameMotion(Rigid(), Rigid(shift_x=dx), 0.0)
    a = scene.envelope(still(0.0))
    b = scene.envelope(moved)
    # tissue moved right by 5 lines: b[:, j + 5] == a[:, j]
    r = np.corrcoef(a[:, 20:-20].ravel(), b[:, 20 + shift_cols : -20 + shift_cols].ravel())[0, 1]
    assert r > 0.98


def test_attenuation_beyond_tgc_darkens_depth():
    probe = B.curvilinear_probe(150.0, 3.5)
    grid = B.Grid.beam(probe)
    alpha = np.full((grid.n_rows, grid.n_cols), 0.9, np.float32)
    gain = B.attenuation_gain(alpha, grid)
    tgc = B.tgc_gain(grid, 0.5)[:, None]
    net_db = 20 * np.log10(gain * tgc)[:, grid.n_cols // 2]
    depth = grid.depths
    # 0.4 dB/cm/MHz left uncompensated, two ways, at 3.5 MHz: -2.8 dB per cm
    slope = np.polyfit(depth / 10, net_db, 1)[0]
    assert abs(slope - (-2 * 0.4 * 3.5)) < 0.05
    matched = 20 * np.log10(B.attenuation_gain(np.full_like(alpha, 0.5), grid) * tgc)
    assert np.abs(matched).max() < 0.5  # TGC matched to the tissue: flat


def test_log_compression_maps_the_dynamic_range():
    env = np.array([10 ** (-60 / 20), 10 ** (-30 / 20), 1.0, 10.0], np.float32)
    grey = B.log_compress(env, gain_db=0.0, dynamic_range_db=60.0)
    assert grey.tolist() == [0, 127, 255, 255]


def test_scan_conversion_puts_a_point_where_geometry_says():
    probe = B.curvilinear_probe(120.0, 3.5, half_angle_deg=30)
    grid = B.Grid.beam(probe)
    geom = B.ScreenGeometry(0.3, (320.0, 40.0))
    bounds = B.field_of_view_bounds(probe, geom)
    img = np.zeros((grid.n_rows, grid.n_cols), np.uint8)
    # a bright reflector at depth 70 mm on the line at +10 degrees
    th = math.radians(10)
    r_idx = int(round(70 / probe.axial_step_mm))
    c_idx = int(round((th + probe.half_angle_rad) / probe.lateral_step))
    img[r_idx - 2 : r_idx + 3, c_idx - 2 : c_idx + 3] = 255
    out = B.scan_convert(img, B.scan_conversion_maps(grid, geom, bounds))
    ys, xs = np.nonzero(out > 128)
    u = xs.mean() + bounds[0]
    v = ys.mean() + bounds[1]
    r = probe.radius_mm + r_idx * probe.axial_step_mm
    th_c = -probe.half_angle_rad + c_idx * probe.lateral_step
    eu, ev = geom.to_screen(r * math.sin(th_c), r * math.cos(th_c) - probe.radius_mm)
    assert abs(u - eu) < 1.0 and abs(v - ev) < 1.0
    # outside the sector stays black
    assert out[0, 0] == 0 and out[-1, 0] == 0
