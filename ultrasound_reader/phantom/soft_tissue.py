"""Synthetic superficial soft-tissue masses seen by a linear probe (grayscale + CDFI).

Layers from the skin: epidermis (bright entry line), dermis (echogenic band),
subcutaneous fat (hypoechoic lobules between echogenic septa roughly parallel to
the skin), superficial fascia, muscle (hypoechoic with echogenic fibrillar
striations), deep fascia and, at some sites, a bone surface with its shadow.

Masses show their textbook signs (Long et al. 2023 and standard MSK ultrasound):

* lipoma: oval, parallel to the skin, iso/hyperechoic to fat with thin echogenic
  lines parallel to the skin, thin capsule, little or no flow;
* hemangioma: ill-defined heterogeneous echogenic stroma with anechoic vascular
  channels (honeycomb), phleboliths with shadows, posterior enhancement, slow flow
  in the channels;
* schwannoma: oval hypoechoic, nerve entering and leaving at the poles (tapering
  "tail"), an echogenic fat cap at each pole ("bright cap"), mild posterior
  enhancement, internal flow;
* epidermal cyst: round in the dermis/subcutis, internal low-level echoes
  (onion-ring laminae), posterior enhancement, lateral edge shadows, a punctum to
  the skin, no internal flow;
* pilomatricoma: superficial, hypoechoic rim with an echogenic calcified centre
  and posterior acoustic shadowing, some flow;
* malignant (sarcoma): large, irregular, lobulated, heterogeneous hypoechoic with
  an infiltrating hyperechoic rim, deep to the fascia, rich chaotic internal flow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ultrasound_reader.phantom.bmode import Grid, Probe, Settings, TissueMaps, linear_probe
from ultrasound_reader.phantom.labels import SoftTissueLabels
from ultrasound_reader.phantom.screen import CentreStyle
from ultrasound_reader.phantom.shapes import Blob, Canvas, Vessel, curve, draw_vessels, random_blob, ridges, smooth_noise

F32 = np.float32
BONY_SITES = ("thigh", "leg", "upper arm", "forearm")


@dataclass
class SoftAnatomy:
    probe: Probe
    grid: Grid
    maps: TissueMaps
    settings: Settings
    mass: Blob
    vessels: list[Vessel]  # all flow (mass and the subcutaneous vessels)
    flow_scale_cm_s: float
    mass_top_mm: float


def _profile(rng: np.random.Generator, x: np.ndarray, scale_mm: float, amp_mm: float) -> np.ndarray:
    knots = np.arange(x.min() - scale_mm, x.max() + 2 * scale_mm, scale_mm)
    return np.interp(x, knots, rng.normal(0, amp_mm, knots.size))


def _mass_outline(rng: np.random.Generator, labels: SoftTissueLabels, size_mm: float) -> Blob:
    st = labels.subtype
    if st == "lipoma":
        b = Blob(0, 0, 1.0, rng.uniform(0.35, 0.55), rng.uniform(-0.08, 0.08), ((3, rng.uniform(0, 0.03), 0.0),))
    elif st == "schwannoma":
        b = Blob(0, 0, 1.0, rng.uniform(0.5, 0.7), rng.uniform(-0.15, 0.15))
    elif st in ("epidermal_cyst", "pilomatricoma"):
        b = Blob(0, 0, 1.0, rng.uniform(0.75, 0.95), rng.uniform(-0.2, 0.2))
    elif st == "hemangioma":
        return random_blob(rng, size_mm, "irregular", "not_smooth")
    else:  # sarcoma
        b = random_blob(rng, size_mm, "irregular", "not_smooth")
        return b
    return b.scaled_to(size_mm)


def build_soft_tissue(rng: np.random.Generator, labels: SoftTissueLabels, style: CentreStyle) -> SoftAnatomy:
    st = labels.subtype
    size_mm = labels.size_cm * 10
    mass = _mass_outline(rng, labels, size_mm)
    rmax = mass.max_radius
    # vertical half-extent of the outline
    o = mass.outline(128)
    half_h = float((o[:, 1].max() - o[:, 1].min()) / 2)
    half_w = float((o[:, 0].max() - o[:, 0].min()) / 2)

    dermis = rng.uniform(1.4, 2.4)
    fat_mm = rng.uniform(5, 16)
    if not labels.deep:
        fat_mm = max(fat_mm, 2 * half_h + 3)  # a subcutaneous mass sits in the fat
    fascia = dermis + fat_mm
    muscle_mm = rng.uniform(12, 30)
    if labels.deep:
        muscle_mm = max(muscle_mm, 2 * half_h + 8)
    if st in ("epidermal_cyst", "pilomatricoma"):
        top = dermis * rng.uniform(0.3, 0.8)
    elif labels.deep:
        top = fascia + rng.uniform(1.0, 5.0) if st != "sarcoma" else fascia - rng.uniform(0.5, 3.0)
    else:
        top = dermis + rng.uniform(0.5, max(fat_mm - 2 * half_h - 0.5, 0.6))
    cz = top + half_h
    depth = float(np.clip(round((cz + half_h + rng.uniform(8, 16)) / 5) * 5, 30, 70))
    width = float(np.clip(round((2 * half_w + rng.uniform(12, 22)) / 5) * 5, 38, 80))
    freq = style.soft_frequency_mhz if depth <= 45 else style.soft_frequency_mhz * 0.75
    probe = linear_probe(depth, width, freq, focus_mm=cz, name="L12-5" if freq >= 10 else "L9-3")
    grid = Grid.tissue(probe, 1.0)
    X, Z = grid.xz()
    mass = mass.moved_to(rng.uniform(-0.2, 0.2) * max(width / 2 - half_w - 3, 0), cz)

    canvas = Canvas(float(X.min()) - 1, -0.5, float(X.max()) + 1, float(Z.max()) + 1, 0.1)
    cx_c = (np.arange(canvas.shape[1]) * canvas.res + canvas.x0).astype(F32)
    zz = (np.arange(canvas.shape[0]) * canvas.res + canvas.z0).astype(F32)[:, None]
    fat_bottom = fascia + _profile(rng, cx_c, 12, 0.4)
    muscle_bottom = fat_bottom + muscle_mm + _profile(rng, cx_c, 15, 0.8)
    bony = labels.factors.site in BONY_SITES and float(muscle_bottom.max()) < depth - 3

    # -- layers --------------------------------------------------------------------------
    septa = ridges(smooth_noise(rng, canvas, 2.2, anisotropy=2.5), 0.07)
    lobule = smooth_noise(rng, canvas, 2.0, anisotropy=2.0)
    echo = (0.1 * (1 + 0.3 * lobule) + 1.4 * septa).astype(F32)  # dark lobules, bright septa
    alpha = canvas.zeros(0.6)
    beta = rng.uniform(-0.35, 0.35)
    phase = (cx_c[None, :] * math.sin(beta) + zz * math.cos(beta)) / rng.uniform(1.2, 2.2)
    stri = np.clip(np.cos(2 * np.pi * (phase + 0.25 * smooth_noise(rng, canvas, 2.0, 5.0))), 0, 1) ** 16
    stri = stri * (smooth_noise(rng, canvas, 1.5, 4.0) > -0.4)  # perimysium lines are broken
    muscle = (zz >= fat_bottom[None, :]) & (zz < muscle_bottom[None, :])
    echo = np.where(muscle, 0.09 + 1.3 * stri, echo)
    alpha = np.where(muscle, 1.0, alpha)
    deep = zz >= muscle_bottom[None, :]
    echo = np.where(deep, 0.1 + 1.0 * septa, echo)
    echo = np.where(zz < dermis, 1.1 * (1 + 0.3 * lobule), echo)
    alpha = np.where(zz < dermis, 0.9, alpha)
    spec = canvas.zeros()

    def line(z_of_x: np.ndarray, amp: float, width_mm: float = 0.08) -> None:
        prof = np.exp(-0.5 * ((zz - z_of_x[None, :]) / width_mm) ** 2)
        spec[:] += (amp * prof * np.clip(1 + 0.4 * lobule, 0.2, None)).astype(F32)

    line(np.full_like(cx_c, 0.1), 1.6)
    line(fat_bottom, 1.1, 0.1)
    line(muscle_bottom, 1.2, 0.12)
    if bony:  # cortical bone: bright line, nothing behind it but shadow
        bone = muscle_bottom + rng.uniform(1.0, 3.0)
        line(bone, 6.0, 0.15)
        behind = zz > bone[None, :] + 0.3
        echo = np.where(behind, 0.05, echo)
        alpha = np.where(behind, 25.0, alpha)

    # subcutaneous veins and a small artery: anechoic tubes with flow
    vessels: list[Vessel] = []
    for _ in range(int(rng.integers(1, 3))):
        z0 = rng.uniform(dermis + 1.5, fascia - 1.0) if fat_mm > 4 else fascia + rng.uniform(2, 6)
        pts = curve(rng, (canvas.x0 + 1, z0), rng.uniform(-0.15, 0.15), width + 4, 2.0, 0.03)
        vessels.append(Vessel(pts, rng.uniform(0.6, 1.4), rng.uniform(4, 12) * rng.choice([-1, 1]), True, 0.0))
    vessels = _clip(vessels, mass, 1.5)
    echo = draw_vessels(canvas, vessels, echo)

    e = canvas.sample(echo, X, Z, border=0.3)
    a = canvas.sample(alpha, X, Z, border=0.6)
    s = canvas.sample(spec, X, Z)
    mass_vessels = _paint_mass(rng, labels, mass, X, Z, canvas, e, a, s)

    tgc = 0.7 + 0.1 * (freq < 10)
    ref_db = -2 * freq * 0.9 * dermis / 10 - 2 * freq * 0.6 * 8 / 10 + 2 * tgc * freq * (dermis + 8) / 10
    settings = Settings(gain_db=ref_db + 17.0 - style.gain_offset_db + (style.dynamic_range_db - 60) * 0.6,
                        dynamic_range_db=style.dynamic_range_db, tgc_db_cm_mhz=tgc, noise_db=-95.0)
    scale = float(rng.choice([4.0, 6.0, 8.0] if st != "sarcoma" else [8.0, 12.0]))
    return SoftAnatomy(probe, grid, TissueMaps(e.astype(F32), a.astype(F32), s.astype(F32)), settings, mass,
                       vessels + mass_vessels, scale, float(top))


def _clip(vessels: list[Vessel], blob: Blob, pad: float) -> list[Vessel]:
    out = []
    for v in vessels:
        _, sd = blob.normalised_radius(v.points[:, 0], v.points[:, 1])
        keep = sd > pad + v.radius_mm
        run: list[np.ndarray] = []
        for p, ok in zip(v.points, keep):
            if ok:
                run.append(p)
            else:
                if len(run) >= 2:
                    out.append(Vessel(np.array(run), v.radius_mm, v.speed_cm_s, v.bmode, v.wall))
                run = []
        if len(run) >= 2:
            out.append(Vessel(np.array(run), v.radius_mm, v.speed_cm_s, v.bmode, v.wall))
    return out


def _paint_mass(rng: np.random.Generator, labels: SoftTissueLabels, m: Blob, X: np.ndarray, Z: np.ndarray,
                canvas: Canvas, echo: np.ndarray, alpha: np.ndarray, spec: np.ndarray) -> list[Vessel]:
    """Paint the mass into the grid maps by subtype; return its flow vessels."""
    st = labels.subtype
    r = m.max_radius
    smooth = st not in ("hemangioma", "sarcoma")
    edge = 0.15 if smooth else 0.8
    # nerve tails, fat caps and edge shadows reach beyond the outline
    sel = m.bbox_mask(X, Z, 3 * r if st == "schwannoma" else r * 0.6 + 2)
    sel |= (np.abs(X - m.cx) <= r + 1) & (Z > m.cz)  # columns behind the mass (shadows, enhancement)
    x, z = X[sel], Z[sel]
    s, sd = m.normalised_radius(x, z)
    fine = canvas.sample(smooth_noise(rng, canvas, 0.3), x, z)
    coarse = canvas.sample(smooth_noise(rng, canvas, 1.2), x, z)
    if not smooth:
        sd = sd + 0.7 * coarse
    w_in = np.clip(0.5 - sd / (2 * edge), 0, 1)
    e0, a0, s0 = echo[sel], alpha[sel], spec[sel]
    inner = np.full_like(x, 0.3)
    a_in = 0.6
    shadow = np.zeros_like(x)  # attenuation of shadowing columns (calcifications, edges)
    vessels: list[Vessel] = []
    rho, phi = m.local_polar(x, z)
    cos_t, sin_t = math.cos(m.angle), math.sin(m.angle)
    u = (x - m.cx) * cos_t + (z - m.cz) * sin_t  # along the long axis
    v = -(x - m.cx) * sin_t + (z - m.cz) * cos_t

    if st == "lipoma":
        lines = np.exp(-0.5 * (np.sin(2 * np.pi * (v + 0.3 * coarse) / rng.uniform(1.2, 2.0)) / 0.12) ** 2)
        inner = 0.25 * (1 + 0.3 * fine) + 1.8 * lines * (coarse > -0.5)
        s0 = s0 + 0.35 * np.exp(-0.5 * (sd / 0.08) ** 2) * (coarse > -0.8)
        a_in = 0.55
    elif st == "hemangioma":
        chan = smooth_noise(rng, canvas, 0.7, anisotropy=1.5)
        cs = canvas.sample(chan, x, z)
        inner = np.where(cs > 0.7, 0.005, 0.8 * (1 + 0.4 * fine))  # anechoic channels in echogenic stroma
        a_in = 0.25
        for _ in range(int(rng.integers(0, 3))):  # phleboliths
            ang, rr = rng.uniform(0, 2 * np.pi), rng.uniform(0, 0.6) * r
            px, pz = m.cx + rr * math.cos(ang), m.cz + rr * math.sin(ang)
            d = np.hypot(x - px, z - pz)
            s0 = s0 + 4.0 * np.exp(-0.5 * (d / 0.35) ** 2)
            shadow = np.where((np.abs(x - px) < 0.6) & (z > pz), 18.0, shadow)
        for _ in range(int(rng.integers(2, 5))):
            ang = rng.uniform(0, 2 * np.pi)
            start = (m.cx + 0.5 * r * math.cos(ang), m.cz + 0.4 * r * math.sin(ang))
            pts = curve(rng, start, rng.uniform(0, 2 * np.pi), 0.6 * r, 0.6, 0.3)
            vessels.append(Vessel(pts, rng.uniform(0.2, 0.45), rng.uniform(2, 5) * rng.choice([-1, 1]), False))
    elif st == "schwannoma":
        inner = 0.05 * (1 + 0.3 * coarse)
        a_in = 0.35
        # the nerve: a hypoechoic fascicular band along the long axis, tapering out of both poles
        a_len = float(m.boundary_radius(np.array([0.0]))[0])
        nerve_half = max(0.12 * r, 0.8) * np.clip(1.6 - np.abs(u) / (a_len * 2.0), 0.3, 1.0)
        fasc = 0.03 + 0.5 * (np.sin(2 * np.pi * v / 0.6) > 0.6)  # fascicles: dark bundles, bright septa
        along = (np.abs(u) > 0.9 * a_len) & (np.abs(u) < 2.8 * a_len)
        nerve = (np.abs(v) < nerve_half) & along
        e0 = np.where(nerve, fasc, e0)
        sheath = along & (np.abs(np.abs(v) - nerve_half) < 0.12)
        s0 = s0 + 0.6 * sheath  # epineurium: echogenic lines bounding the nerve
        cap = (np.abs(u) > 0.75 * a_len) & (s > 1.0) & (s < 1.0 + 1.2 / r) & (np.abs(v) > nerve_half)
        e0 = np.where(cap, 2.0, e0)  # echogenic fat cap over the poles
        for _ in range(int(rng.integers(1, 4))):
            pts = curve(rng, (m.cx - 0.7 * a_len * cos_t, m.cz - 0.7 * a_len * sin_t), m.angle + rng.uniform(-0.3, 0.3),
                        1.4 * a_len, 0.6, 0.25)
            vessels.append(Vessel(pts, rng.uniform(0.2, 0.4), rng.uniform(4, 10) * rng.choice([-1, 1]), False))
    elif st == "epidermal_cyst":
        rings = np.exp(-0.5 * (np.sin(2 * np.pi * s * rng.uniform(3, 5)) / 0.25) ** 2)
        inner = 0.012 * (1 + 8.0 * rings * (fine > -0.3)) * (1 + 0.3 * coarse)
        a_in = 0.3
        s0 = s0 + 0.2 * np.exp(-0.5 * (sd / 0.1) ** 2) * (np.abs(np.cos(phi)) < 0.8)
        # lateral edge shadows: refraction at the curved sides casts thin dark columns
        half_w = float(np.abs(m.outline(96)[:, 0] - m.cx).max())
        for side in (-1, 1):
            col = np.abs(x - (m.cx + side * half_w)) < 0.35
            shadow = np.where(col & (z > m.cz), 8.0, shadow)
        punct = (np.abs(x - m.cx) < 0.25) & (z < m.cz - 0.8 * r)
        e0 = np.where(punct, 0.08, e0)
    elif st == "pilomatricoma":
        inner = np.where(s < 0.7, 0.9 * (1 + 0.6 * fine), 0.03)  # echogenic centre, hypoechoic rim
        a_in = 1.2
        top_cap = (s > 0.5) & (s < 0.66) & (z < m.cz - 0.3 * r)
        if rng.random() < 0.6:  # calcified crescent facing the probe, shadowing what lies behind
            s0 = s0 + 2.5 * top_cap
            half = 0.45 * r
            shadow = np.where((np.abs(x - m.cx) < half) & (z > m.cz - 0.45 * r), 4.0, shadow)
        for _ in range(int(rng.integers(2, 6))):  # calcifications: bright foci, shadows
            ang, rr = rng.uniform(0, 2 * np.pi), rng.uniform(0, 0.5) * r
            px, pz = m.cx + rr * math.cos(ang), m.cz + rr * math.sin(ang)
            d = np.hypot(x - px, z - pz)
            rad = rng.uniform(0.4, 1.0)
            s0 = s0 + 3.0 * np.exp(-0.5 * (d / rad) ** 2)
            shadow = np.where((np.abs(x - px) < rad) & (z > pz), 30.0, shadow)
        for _ in range(int(rng.integers(1, 3))):
            ang = rng.uniform(0, 2 * np.pi)
            arc = np.linspace(ang, ang + 1.5, 10)
            pts = np.stack([m.cx + 0.95 * r * np.cos(arc), m.cz + 0.95 * r * np.sin(arc)], 1)
            vessels.append(Vessel(pts, rng.uniform(0.2, 0.35), rng.uniform(3, 8) * rng.choice([-1, 1]), False))
    else:  # sarcoma
        inner = 0.07 * np.exp(0.8 * coarse) * (1 + 0.3 * fine)
        necrosis = canvas.sample(smooth_noise(rng, canvas, 3.0), x, z) > 1.2
        inner = np.where(necrosis & (s < 0.7), 0.02, inner)
        rim = (s > 0.85) & (s < 1.25)
        e0 = np.where(rim & (sd > 0), e0 * (1 + 3.0 * (coarse > 0)), e0)  # infiltrated echogenic rim
        a_in = 0.7
        for _ in range(int(rng.integers(5, 10))):
            ang = rng.uniform(0, 2 * np.pi)
            rr = rng.uniform(0, 0.8) * r
            start = (m.cx + rr * math.cos(ang), m.cz + rr * math.sin(ang))
            pts = curve(rng, start, rng.uniform(0, 2 * np.pi), rng.uniform(0.6, 1.4) * r, max(r / 10, 0.5), 0.45)
            ss, _ = m.normalised_radius(pts[:, 0], pts[:, 1])
            pts = pts[ss < 1.05]
            if len(pts) >= 2:
                vessels.append(Vessel(pts, rng.uniform(0.25, 0.6), rng.uniform(6, 16) * rng.choice([-1, 1]), False))

    echo[sel] = e0 * (1 - w_in) + inner * w_in
    alpha[sel] = np.maximum(a0 * (1 - w_in) + a_in * w_in, shadow)
    spec[sel] = s0
    return vessels
