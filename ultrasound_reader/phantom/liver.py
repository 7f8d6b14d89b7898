"""Synthetic liver anatomy with one focal lesion, seen by a convex abdominal probe.

Layers from the skin: skin (bright entry echo), subcutaneous fat with echogenic
septa, rectus/intercostal muscle with fibrillar striations between fascia lines,
the liver capsule, parenchyma with portal veins (bright walls) and hepatic veins
(no walls), sometimes the right kidney (cortex darker than liver), and the
diaphragm (a bright curved line) with the mirror image of the liver beyond it.

Liver background (LB): normal (fine homogeneous), steatosis (brighter, higher
attenuation so the deep liver and diaphragm fade, vessel walls blurred) and
fibrosis (coarse nodular texture from fibrous septa around regenerative nodules,
nodular capsule). The lesion follows its FLL descriptors (size, shape, margin,
echogenicity, halo, posterior enhancement, satellites) plus its diagnosis's
textbook signs (metastasis: target; HCC: mosaic with a thin capsule; hemangioma:
echogenic rim; FNH: central scar and spoke-wheel vessels; abscess: debris).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ultrasound_reader.phantom.bmode import Grid, Probe, Settings, TissueMaps, curvilinear_probe
from ultrasound_reader.phantom.labels import LiverLabels
from ultrasound_reader.phantom.screen import CentreStyle
from ultrasound_reader.phantom.shapes import Blob, Canvas, Vessel, curve, draw_vessels, random_blob, ridges, smooth_noise

F32 = np.float32
MOTION_MARGIN_MM = 12.0  # the tissue grid extends this far beyond the view


@dataclass
class LiverAnatomy:
    probe: Probe
    grid: Grid  # tissue grid (rest pose)
    maps: TissueMaps
    settings: Settings
    lesion: Blob
    satellites: list[Blob]
    vessels: list[Vessel]  # hepatic and portal veins (B-mode and flow)
    tumour_vessels: list[Vessel]  # intra/peritumoural flow (too small for B-mode)
    capsule_mm: float  # deepest capsule depth: the organ moves below it
    canvas: Canvas
    parenchyma: np.ndarray  # canvas mask: plain liver far from vessels and lesion
    flow_scale_cm_s: float


def _profile(rng: np.random.Generator, x: np.ndarray, scale_mm: float, amp_mm: float) -> np.ndarray:
    """A smooth random 1-D curve over x (interface undulation)."""
    knots = np.arange(x.min() - scale_mm, x.max() + 2 * scale_mm, scale_mm)
    vals = rng.normal(0, amp_mm, knots.size)
    return np.interp(x, knots, vals)


def build_liver(rng: np.random.Generator, labels: LiverLabels, style: CentreStyle) -> LiverAnatomy:
    f = labels.factors
    size_mm = labels.size_cm * 10
    # the lesion outline first: its size sets how deep the sonographer images
    lesion = random_blob(rng, size_mm, f.shape or "round", f.margin or "smooth")
    rmax = lesion.max_radius
    depth = float(np.clip(120 + 1.1 * rmax * 2 + rng.normal(0, 8), 130, 200))
    depth = round(depth / 5) * 5
    probe = curvilinear_probe(depth, frequency_mhz=style.liver_frequency_mhz, half_angle_deg=30.0,
                              radius_mm=50.0, focus_mm=None)
    grid = Grid.tissue(probe, MOTION_MARGIN_MM)
    X, Z = grid.xz()
    canvas = Canvas(float(X.min()) - 2, -2.0, float(X.max()) + 2, float(Z.max()) + 2, 0.4)
    cz_canvas = (np.arange(canvas.shape[0]) * canvas.res + canvas.z0).astype(F32)
    cx_canvas = (np.arange(canvas.shape[1]) * canvas.res + canvas.x0).astype(F32)
    zz = cz_canvas[:, None]
    lb = labels.lb_type

    # -- interfaces, as depth functions of x --------------------------------------------
    fat_mm = rng.uniform(8, 22) + (6 if lb == "steatosis" else 0)
    skin_bottom = 1.8
    fat_bottom = skin_bottom + fat_mm + _profile(rng, cx_canvas, 30, 1.2)
    muscle_bottom = fat_bottom + rng.uniform(6, 12) + _profile(rng, cx_canvas, 25, 1.0)
    capsule = muscle_bottom + rng.uniform(1.5, 3.5) + _profile(rng, cx_canvas, 40, 1.0)
    if lb == "fibrosis":  # nodular surface
        capsule = capsule + np.abs(_profile(rng, cx_canvas, 5, 1.0))
    dia_centre = rng.uniform(-40, 40)
    dia_depth = depth - rng.uniform(8, 30)
    # room for the lesion between capsule and diaphragm (wall at most ~48 mm deep)
    dia_depth = float(min(max(dia_depth, float(capsule.max()) + 2 * rmax + 24), depth - 4))
    diaphragm = dia_depth - 0.0025 * (cx_canvas - dia_centre) ** 2 + rng.uniform(-0.15, 0.15) * cx_canvas
    capsule_mm = float(capsule.max())

    # -- liver background and what lies beyond the diaphragm ----------------------------
    tex = smooth_noise(rng, canvas, 1.5)
    if lb == "normal":
        echo, liver_alpha, wall = 1.0 + 0.08 * tex, 0.5, 6.0
    elif lb == "steatosis":
        sev = rng.uniform(0.0, 1.0)
        echo, liver_alpha, wall = (2.4 + 1.2 * sev) * (1 + 0.05 * tex), 0.68 + 0.2 * sev, 1.6
    else:  # coarse nodular: fibrous septa (zero set of a smooth field) around nodules
        septum = ridges(smooth_noise(rng, canvas, rng.uniform(1.8, 2.6)), rng.uniform(0.18, 0.25))
        echo = np.exp(0.35 * smooth_noise(rng, canvas, 3.0)) * (0.55 + 3.2 * septum)
        liver_alpha, wall = 0.62, 4.0
    echo = echo.astype(F32)
    alpha = canvas.zeros(liver_alpha)
    below = zz >= diaphragm[None, :]
    echo = np.where(below, F32(0.55) * (1 + 0.1 * tex), echo)  # mirror image of the liver

    # -- abdominal wall: only the top band of the canvas -----------------------------------
    top = int(math.ceil((capsule_mm + 2 - canvas.z0) / canvas.res))
    wz = zz[:top]
    wall_echo = np.full((top, canvas.shape[1]), 0.35, F32)  # preperitoneal fat
    wall_alpha = np.full_like(wall_echo, 0.6)
    septa = ridges(smooth_noise(rng, canvas, 2.0, anisotropy=3.5)[:top], 0.1)
    fat = wz < fat_bottom[None, :]
    wall_echo = np.where(fat, 0.2 * (1 + 10 * septa), wall_echo)
    muscle = (~fat) & (wz < muscle_bottom[None, :])
    beta = rng.uniform(-0.3, 0.3)
    phase = (cx_canvas[None, :] * math.sin(beta) + wz * math.cos(beta)) / rng.uniform(1.0, 1.6)
    stri = np.clip(np.cos(2 * np.pi * (phase + 0.25 * smooth_noise(rng, canvas, 3.0, 4.0)[:top])), 0, 1) ** 8
    wall_echo = np.where(muscle, 0.3 * (1 + 6 * stri), wall_echo)
    wall_alpha = np.where(muscle, 1.0, wall_alpha)
    wall_echo = np.where(wz < skin_bottom, 2.0, wall_echo)
    in_wall = wz < capsule[None, :]
    echo[:top] = np.where(in_wall, wall_echo, echo[:top])
    alpha[:top] = np.where(in_wall, wall_alpha, alpha[:top])
    liver = (zz >= capsule[None, :]) & ~below

    # -- specular interfaces: thin, beaded, fading where the beam meets them obliquely --
    spec = canvas.zeros()
    bead = smooth_noise(rng, canvas, 1.2)

    def line(z_of_x: np.ndarray, amp: float, width: float = 0.25) -> None:
        r0 = max(int((z_of_x.min() - 4 * width - canvas.z0) / canvas.res), 0)
        r1 = min(int((z_of_x.max() + 4 * width - canvas.z0) / canvas.res) + 2, canvas.shape[0])
        band = zz[r0:r1]
        slope = np.gradient(z_of_x, canvas.res)
        bz = band + probe.radius_mm
        cos = np.abs(-slope[None, :] * cx_canvas[None, :] + bz) / (
            np.sqrt(1 + slope**2)[None, :] * np.hypot(cx_canvas[None, :], bz))
        prof = np.exp(-0.5 * ((band - z_of_x[None, :]) / width) ** 2)
        spec[r0:r1] += (amp * cos**8 * prof * np.clip(1 + 0.4 * bead[r0:r1], 0.2, None)).astype(F32)

    line(np.full_like(cx_canvas, 0.3), 2.0)
    line(fat_bottom, 0.9)
    line(muscle_bottom, 1.1)
    line(capsule, 1.3 if lb != "steatosis" else 0.8)
    line(diaphragm, 3.0, 0.6)

    # -- kidney (hepatorenal contrast: darker than normal liver, far darker than fatty)
    lesion_side = rng.choice([-1.0, 1.0])
    kidney: Blob | None = None
    if rng.random() < 0.3:
        # the right kidney in the deep corner, elongated and partly out of view
        kz = dia_depth - rng.uniform(5, 15)
        kx = -lesion_side * (kz + 50) * math.sin(math.radians(30)) * rng.uniform(0.75, 0.95)
        kidney = Blob(kx, kz, rng.uniform(45, 55), rng.uniform(20, 25), -lesion_side * rng.uniform(0.3, 0.6))
        rs, cs, xx, zk = canvas.window(kidney.cx, kidney.cz, kidney.max_radius * 1.15)
        sk, _ = kidney.normalised_radius(xx, zk)
        cur = echo[rs, cs]
        val = np.where(sk < 0.45, 3.5 * (1 + 0.3 * tex[rs, cs]), np.where(sk < 1.0, 0.45, cur))
        echo[rs, cs] = np.where((sk >= 1.0) & (sk < 1.12), 1.8, val)  # perirenal fat

    # -- vessels -----------------------------------------------------------------------
    vessels: list[Vessel] = []
    for _ in range(int(rng.integers(2, 4))):  # portal branches, bright walls
        start = (rng.uniform(-60, 60), rng.uniform(capsule_mm + 20, dia_depth - 25))
        pts = curve(rng, start, rng.uniform(-math.pi, math.pi), rng.uniform(25, 80), 4.0, 0.06)
        vessels.append(Vessel(pts, rng.uniform(2.0, 5.0), rng.uniform(15, 25) * rng.choice([-1, 1]), True, wall))
    for _ in range(int(rng.integers(1, 3))):  # hepatic veins, no walls, toward the top
        start = (rng.uniform(-50, 50), rng.uniform(dia_depth - 50, dia_depth - 15))
        pts = curve(rng, start, -math.pi / 2 + rng.uniform(-0.8, 0.8), rng.uniform(40, 90), 4.0, 0.04)
        vessels.append(Vessel(pts, rng.uniform(2.5, 5.5), rng.uniform(15, 30), True, 0.0))
    for _ in range(int(rng.integers(2, 5))):  # vessels cut across: round lumens
        c = np.array([rng.uniform(-55, 55), rng.uniform(capsule_mm + 15, dia_depth - 15)])
        d = rng.normal(0, 1, 2)
        pts = np.stack([c, c + d / np.linalg.norm(d) * rng.uniform(0.5, 3)])
        vessels.append(Vessel(pts, rng.uniform(1.5, 4.0), rng.uniform(10, 20) * rng.choice([-1, 1]), True,
                              wall if rng.random() < 0.5 else 0.0))

    # -- lesion placement: inside the sector with room for motion ------------------------
    half = probe.half_angle_rad
    lo, hi = capsule_mm + rmax + 8, min(dia_depth - rmax - 6, depth - rmax - 12)
    for _ in range(200):
        cz = rng.uniform(lo, hi) if hi > lo else (lo + hi) / 2
        r = cz + probe.radius_mm
        lat_room = r * math.sin(half) - rmax - 14
        if lat_room <= 0:
            continue
        cx = lesion_side * rng.uniform(0, 0.8) * lat_room
        if kidney is not None and math.hypot(cx - kidney.cx, cz - kidney.cz) < rmax + kidney.a + 8:
            continue
        break
    else:  # very large lesion: centre it
        cx, cz = 0.0, capsule_mm + (dia_depth - capsule_mm) / 2
    lesion = lesion.moved_to(cx, cz)
    satellites: list[Blob] = []
    if f.satellite:
        for _ in range(int(rng.integers(1, 4))):
            ang = rng.uniform(0, 2 * np.pi)
            dist = lesion.max_radius + rng.uniform(5, 14)
            sat = random_blob(rng, rng.uniform(4, 10), "round", "smooth",
                              cx + dist * math.cos(ang), cz + dist * math.sin(ang))
            satellites.append(sat)

    # vessels avoid the lesion (cut the polyline where it enters)
    vessels = _clip_vessels(vessels, [lesion, *satellites], pad=4.0)
    echo = draw_vessels(canvas, vessels, echo)
    # Blood attenuates less than liver, but the tubes cross the beam obliquely in 3-D;
    # a beam-aligned 2-D tube would cast a long false enhancement band, so keep alpha.

    # sample the canvas maps onto the tissue grid
    e = canvas.sample(echo, X, Z, border=0.5)
    a = canvas.sample(alpha, X, Z, border=0.5)
    s = canvas.sample(spec, X, Z)

    tumour_vessels = _lesion_maps(rng, labels, lesion, satellites, X, Z, canvas, e, a, s, liver_echo_mean(lb))

    # parenchyma mask for the background ROI: liver, away from vessels, lesion, kidney
    par = liver.copy()
    near_vessel = draw_vessels(canvas, [Vessel(v.points, v.radius_mm + 4, 0) for v in vessels],
                               canvas.zeros(1.0), lumen_level=0.0) < 0.5
    par &= ~near_vessel
    for b in [lesion, *satellites] + ([kidney] if kidney is not None else []):
        rs, cs, xx, zk = canvas.window(b.cx, b.cz, b.max_radius + 15)
        _, sd = b.normalised_radius(xx, zk)
        par[rs, cs] &= sd > 12.0
    par &= (zz > capsule[None, :] + 6) & (zz < diaphragm[None, :] - 6)

    # gain: as a sonographer sets it for a normal liver under this wall
    ref_alpha = np.where(np.arange(0, depth, probe.axial_step_mm) < capsule_mm, 0.75, 0.5)
    ref_db = -2 * probe.frequency_mhz / 10 * np.sum(ref_alpha[: int((capsule_mm + 30) / probe.axial_step_mm)]) * probe.axial_step_mm
    tgc_alpha = 0.5 if lb != "steatosis" else 0.6  # the sonographer turns the far gain up a little
    ref_db += 2 * tgc_alpha * probe.frequency_mhz * (capsule_mm + 30) / 10
    settings = Settings(gain_db=ref_db + 36.0 - style.gain_offset_db + (style.dynamic_range_db - 60) * 0.6,
                        dynamic_range_db=style.dynamic_range_db, tgc_db_cm_mhz=tgc_alpha, noise_db=-80.0)
    maps = TissueMaps(e.astype(F32), a.astype(F32), s.astype(F32))
    return LiverAnatomy(probe, grid, maps, settings, lesion, satellites, vessels, tumour_vessels, capsule_mm,
                        canvas, par, flow_scale_cm_s=float(rng.choice([15.0, 20.0, 25.0])))


def liver_echo_mean(lb: str) -> float:
    return {"normal": 1.0, "steatosis": 3.0, "fibrosis": 1.1}[lb]


def _clip_vessels(vessels: list[Vessel], blobs: list[Blob], pad: float) -> list[Vessel]:
    out = []
    for v in vessels:
        inside = np.zeros(len(v.points), bool)
        for b in blobs:
            s, sd = b.normalised_radius(v.points[:, 0], v.points[:, 1])
            inside |= sd < pad + v.radius_mm
        run: list[np.ndarray] = []
        for p, bad in zip(v.points, inside):
            if bad:
                if len(run) >= 2:
                    out.append(Vessel(np.array(run), v.radius_mm, v.speed_cm_s, v.bmode, v.wall))
                run = []
            else:
                run.append(p)
        if len(run) >= 2:
            out.append(Vessel(np.array(run), v.radius_mm, v.speed_cm_s, v.bmode, v.wall))
    return out


def _lesion_maps(rng: np.random.Generator, labels: LiverLabels, lesion: Blob, satellites: list[Blob],
                 X: np.ndarray, Z: np.ndarray, canvas: Canvas, echo: np.ndarray, alpha: np.ndarray,
                 spec: np.ndarray, bg: float) -> list[Vessel]:
    """Paint the lesion (and satellites) into the grid maps; return its flow vessels."""
    f = labels.factors
    kind = labels.subtype
    # Levels relative to a normal liver (1.0); descriptors are relative to the
    # surrounding liver, so in a bright fatty liver a hyperechoic lesion is brighter still.
    echo_kind = f.echogenicity or "hypo"
    base = {"hypo": 0.08, "iso": bg, "hyper": 5.5 * bg, "heterogeneous": 0.9 * bg}[echo_kind]
    coarse = smooth_noise(rng, canvas, rng.uniform(2.0, 4.0))
    fine = smooth_noise(rng, canvas, 1.0)
    # A fuzzy (not smooth) margin blends over 2 mm; with a halo the blend must stay
    # thinner than the halo or it would wash the halo out.
    edge = 0.5 if f.margin == "smooth" else (0.8 if f.halo else 2.2)
    a_in = 0.22 if f.posterior_enhancement else (0.55 if kind != "hemangioma" else 0.4)
    halo_mm = rng.uniform(1.5, 3.0)
    spokes = rng.uniform(0, 2 * np.pi, int(rng.integers(3, 6)))

    for idx, b in enumerate([lesion, *satellites]):
        sel = b.bbox_mask(X, Z, edge * 3 + 1)
        if not sel.any():
            continue
        x, z = X[sel], Z[sel]
        s, sd = b.normalised_radius(x, z)
        rb = b.max_radius
        if f.margin == "not_smooth":
            sd = sd + (0.5 if f.halo else 1.2) * canvas.sample(fine, x, z)
        w_in = np.clip(0.5 - sd / (2 * edge), 0, 1)
        tex_c = canvas.sample(coarse, x, z)
        tex_f = canvas.sample(fine, x, z)
        inner = np.full_like(x, base)
        if f.echogenicity == "iso":
            inner = base * np.exp(0.35 * tex_c)  # same mean, coarser texture
        elif f.echogenicity == "heterogeneous":
            inner = bg * np.exp(1.6 * np.tanh(1.5 * tex_c))  # mosaic of hypo- and hyperechoic patches
        # diagnosis-specific signs
        if kind == "metastasis" and idx == 0:
            inner = np.where(s < 0.4, inner * 2.5, inner)  # target / bull's eye core
        elif kind == "HCC":
            inner = inner * (0.7 + 1.6 * ridges(tex_c, 0.15))  # mosaic, nodule-in-nodule
        elif kind == "hemangioma":
            inner = np.where(s > 0.85, inner * 1.8, inner * (1 + 0.3 * tex_f))  # echogenic rim
        elif kind == "FNH" and idx == 0:
            rho, phi = b.local_polar(x, z)
            scar = np.zeros_like(x)
            for sp in spokes:
                d_ang = np.abs(np.angle(np.exp(1j * (phi - sp))))
                scar = np.maximum(scar, (d_ang * rho < 0.8) & (s < 0.7))
            inner = np.where((scar > 0) | (s < 0.12), inner * 3.0, inner)
        elif kind == "abscess":
            inner = inner * np.where(tex_f > 1.6, 6.0, 0.5)  # debris in a fluid-poor cavity
        if f.halo:
            h = max(halo_mm / rb, 0.08) if idx == 0 else 0.25
            inner = np.where(s > 1 - h, 0.03, inner)
        echo[sel] = echo[sel] * (1 - w_in) + inner * w_in
        alpha[sel] = alpha[sel] * (1 - w_in) + a_in * w_in
        if kind in ("HCC", "hemangioma") or f.halo:
            # thin pseudo-capsule / rim as a weak coherent reflector
            spec[sel] += 1.0 * np.exp(-0.5 * (sd / 0.4) ** 2) * (0.6 if f.halo else 0.4)

    return _tumour_vessels(rng, labels, lesion)


def _tumour_vessels(rng: np.random.Generator, labels: LiverLabels, lesion: Blob) -> list[Vessel]:
    """Flow only (CDFI): intratumoural vessels when ``vascularity``, by pattern."""
    out: list[Vessel] = []
    r = lesion.max_radius
    kind = labels.subtype
    # a feeding/peripheral vessel around many lesions, whatever the vascularity
    if rng.random() < 0.6:
        phi0 = rng.uniform(0, 2 * np.pi)
        arc = np.linspace(phi0, phi0 + rng.uniform(1.0, 2.5), 14)
        rad = lesion.boundary_radius(arc - lesion.angle) + rng.uniform(1.5, 3.5)
        pts = np.stack([lesion.cx + rad * np.cos(arc), lesion.cz + rad * np.sin(arc)], axis=1)
        out.append(Vessel(pts, rng.uniform(0.4, 0.8), rng.uniform(10, 25) * rng.choice([-1, 1]), False))
    if not labels.factors.vascularity:
        return out
    n = int(rng.integers(2, 5)) + (2 if r > 20 else 0)
    for i in range(n):
        if kind == "FNH":  # spoke wheel: from the centre outwards
            ang = 2 * np.pi * i / n + rng.uniform(-0.3, 0.3)
            pts = curve(rng, (lesion.cx, lesion.cz), ang, 0.8 * r, max(r / 8, 0.8), 0.05)
        elif kind == "HCC":  # basket: peripheral arcs with branches penetrating inwards
            ang = rng.uniform(0, 2 * np.pi)
            start = (lesion.cx + 0.85 * r * math.cos(ang), lesion.cz + 0.85 * r * math.sin(ang))
            pts = curve(rng, start, ang + math.pi + rng.uniform(-0.6, 0.6), 0.9 * r, max(r / 8, 0.8), 0.25)
        else:  # chaotic tortuous vessels
            ang = rng.uniform(0, 2 * np.pi)
            rr = rng.uniform(0, 0.6) * r
            start = (lesion.cx + rr * math.cos(ang), lesion.cz + rr * math.sin(ang))
            pts = curve(rng, start, rng.uniform(0, 2 * np.pi), rng.uniform(0.5, 1.2) * r, max(r / 8, 0.8), 0.4)
        s, _ = lesion.normalised_radius(pts[:, 0], pts[:, 1])
        pts = pts[s < 0.95]
        if len(pts) >= 2:
            out.append(Vessel(pts, rng.uniform(0.35, 0.9), rng.uniform(12, 40) * rng.choice([-1, 1]), False))
    return out
