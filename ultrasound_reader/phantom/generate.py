"""Generate phantom cases: labels -> anatomy -> frames -> DICOM + case.json + truth.

Case ``index`` of seed ``seed`` depends on nothing else (its random stream is
``SeedSequence([seed, task, index])``), so cases can be made in any order, in
parallel, or extended later, and the same seed always writes the same bytes.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ultrasound_reader import __version__
from ultrasound_reader.case import Case, ImageRef, Roi, Truth
from ultrasound_reader.errors import UserError
from ultrasound_reader.phantom import bmode, doppler, labels as lab, screen
from ultrasound_reader.phantom.motion import FrameMotion, breathing_cine
from ultrasound_reader.phantom.writer import MODE_2D, MODE_COLOUR, COMPRESSIONS, Header, Region, write_us

TASKS = {"liver": "liver-fll", "soft-tissue": "soft-tissue"}
_TASK_CODE = {"liver": 1, "soft-tissue": 2}
MIN_FRAMES, MAX_FRAMES = 2, 120


@dataclass(frozen=True)
class Options:
    frames: int = 24  # liver cine length (the issue asks 20-60; tests use fewer)
    compression: str = "jpeg"
    quality: int | None = None  # JPEG quality; None: the centre's scanner default

    def check(self) -> None:
        if not MIN_FRAMES <= self.frames <= MAX_FRAMES:
            raise UserError(f"--frames: {self.frames} is outside {MIN_FRAMES}-{MAX_FRAMES}")
        if self.compression not in COMPRESSIONS:
            raise UserError(f"--compression: {self.compression!r} is not one of {', '.join(COMPRESSIONS)}")
        if self.quality is not None and not 30 <= self.quality <= 100:
            raise UserError(f"--quality: {self.quality} is outside 30-100")


def case_rng(task: str, seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), _TASK_CODE[task], int(index)]))


def case_id(task: str, seed: int, index: int) -> str:
    return f"{'liver' if task == 'liver' else 'soft'}-s{seed}-{index:04d}"


def _study_datetime(rng: np.random.Generator) -> tuple[str, str, str]:
    day = dt.date(2019, 1, 1) + dt.timedelta(days=int(rng.integers(0, 3 * 365)))
    secs = int(rng.integers(8 * 3600, 17 * 3600))
    hh, mm, ss = secs // 3600, secs // 60 % 60, secs % 60
    return day.strftime("%Y%m%d"), f"{hh:02d}{mm:02d}{ss:02d}", f"{day:%Y/%m/%d} {hh:02d}:{mm:02d}:{ss:02d}"


def _round_points(u: np.ndarray, v: np.ndarray) -> list[tuple[float, float]]:
    return [(round(float(a), 2), round(float(b), 2)) for a, b in zip(u, v)]


def _in_fov(probe: bmode.Probe, x: np.ndarray, z: np.ndarray, inset_mm: float) -> bool:
    if probe.kind == "curvilinear":
        zr = z + probe.radius_mm
        d = np.hypot(x, zr) - probe.radius_mm
        lat = np.abs(np.arctan2(x, zr)) * (probe.radius_mm + d)
        edge = np.sin(probe.half_angle_rad) * (probe.radius_mm + d)
        return bool(np.all(d > inset_mm) and np.all(d < probe.depth_mm - inset_mm) and np.all(lat < edge - inset_mm))
    return bool(np.all(np.abs(x) < probe.width_mm / 2 - inset_mm) and np.all(z > inset_mm)
                and np.all(z < probe.depth_mm - inset_mm))


class _Setup(NamedTuple):
    """What every case starts from: its labels, anatomy, screen and beamformed scene."""

    rng: np.random.Generator
    labels: Any
    style: Any
    anatomy: Any
    probe: bmode.Probe
    geom: bmode.ScreenGeometry
    scene: bmode.Scene
    fov: Any
    sc_maps: Any


def _set_up(task: str, seed: int, index: int, draw: Callable[..., Any], build: Callable[..., Any]) -> _Setup:
    # The order of random draws is part of the output: same seed, same bytes.
    rng = case_rng(task, seed, index)
    labels = draw(rng)
    style = screen.STYLES[labels.centre]
    anatomy = build(rng, labels, style)
    probe = anatomy.probe
    geom = screen.screen_geometry(probe, style)
    scene = bmode.Scene(rng, anatomy.grid, anatomy.maps, anatomy.settings, display_mm=geom.mm_per_px)
    fov = bmode.field_of_view_bounds(probe, geom)
    return _Setup(rng, labels, style, anatomy, probe, geom, scene, fov,
                  bmode.scan_conversion_maps(scene.beam_grid, geom, fov))


# -- liver -----------------------------------------------------------------------------------


def make_liver(seed: int, index: int, out_dir: Path, options: Options = Options()) -> tuple[Case, Truth]:
    from ultrasound_reader.phantom.liver import build_liver

    rng, labels, style, anatomy, probe, geom, scene, fov, sc_maps = _set_up(
        "liver", seed, index, lab.draw_liver, build_liver)
    fps = float(rng.choice([15.0, 18.0, 20.0, 24.0]))

    # breathing that keeps the lesion in view (shrink the excursion if it would not)
    outline = anatomy.lesion.outline(128)
    pivot = (0.0, anatomy.capsule_mm + 40.0)
    motion_seed = int(rng.integers(2**63))
    for amplitude in (6.0, 4.0, 2.5, 1.0, 0.0):
        motions = breathing_cine(np.random.default_rng(motion_seed), options.frames, fps, anatomy.capsule_mm,
                                 pivot, amplitude_mm=amplitude)
        if all(_in_fov(probe, *m.organ_to_probe(outline[:, 0], outline[:, 1]), 3.0) for m in motions):
            break

    date, time_, shown = _study_datetime(rng)
    cid = case_id("liver", seed, index)
    patient = f"PHANTOM^LIVER^{index:04d}"
    gain_text = int(round(50 + style.gain_offset_db * 2))
    base = screen.overlay(probe, geom, style, patient=patient.replace("^", " "), date_time=shown, preset="Abd",
                          gain=gain_text, frame_rate=fps)
    frames = [screen.compose(base, bmode.scan_convert(scene.beam_image(m), sc_maps), fov) for m in motions]

    # -- ROIs: the lesion outline on 4 frames, a background square away from it ----------
    n = options.frames
    picks = sorted({int(round(t * (n - 1))) for t in np.linspace(0.08, 0.92, 4)})
    while len(picks) < 4 and len(picks) < n:
        picks = sorted(set(picks) | {int(rng.integers(0, n))})
    rois = []
    for k, fr in enumerate(picks):
        x, z = motions[fr].organ_to_probe(outline[:, 0], outline[:, 1])
        u, v = geom.to_screen(x, z)
        rois.append(Roi("lesion", "polygon", _round_points(u, v), image=0, frame=fr, id=f"{cid}-lesion-{k + 1}"))
    bg = _background_roi(rng, anatomy, motions[picks[0]], geom, probe)
    if bg is not None:
        rois.append(Roi("background", "rectangle", bg, image=0, frame=picks[0], id=f"{cid}-background"))

    # -- CDFI still: same pose as the first ROI frame, colour box over the lesion -----------
    cm = replace(motions[picks[0]], phase=motions[picks[0]].phase + float(rng.uniform(0.5, 1.5)))
    cdfi_gray = bmode.scan_convert(scene.beam_image(cm), sc_maps)
    cx, cz = cm.organ_to_probe(np.array([anatomy.lesion.cx]), np.array([anatomy.lesion.cz]))
    box = doppler.ColourBox.around(probe, float(cx[0]), float(cz[0]), anatomy.lesion.max_radius + 10.0)
    colour = {"scale_cm_s": anatomy.flow_scale_cm_s, "prf_khz": anatomy.flow_scale_cm_s / 10.0, "gain": 50,
              "wall_filter_hz": 60}
    cbase = screen.overlay(probe, geom, style, patient=patient.replace("^", " "), date_time=shown, preset="Abd",
                           gain=gain_text - 4, frame_rate=None, colour=colour)
    cdfi, _ = doppler.colour_overlay(rng, screen.compose(cbase, cdfi_gray, fov), fov,
                                     anatomy.vessels + anatomy.tumour_vessels, box, geom, cm.organ_to_probe,
                                     anatomy.flow_scale_cm_s)

    # -- DICOM -------------------------------------------------------------------------------
    folder = out_dir / cid
    quality = options.quality or style.jpeg_quality
    f = labels.factors
    common = dict(patient_name=patient, patient_id=f"PH-S{seed}-L{index:04d}", patient_sex=f.sex or "O",
                  patient_age=int(f.age or 0), study_date=date, study_time=time_, accession=f"PHL{seed % 10000:04d}{index:05d}",
                  study_description="PHANTOM liver ultrasound", body_part="LIVER",
                  institution=f"PHANTOM CENTRE {style.centre}", manufacturer=style.manufacturer, model=style.model,
                  transducer=probe.name)
    tissue = Region(fov, 1, geom.mm_per_px, geom.origin_px)
    write_us(folder / "bmode.dcm", frames,
             Header(f"{seed}/liver/{index}/bmode", series_description="PHANTOM B-mode cine", series_number=1, **common),
             [tissue], frame_time_ms=1000.0 / fps, compression=options.compression, quality=quality)
    write_us(folder / "cdfi.dcm", [cdfi],
             Header(f"{seed}/liver/{index}/cdfi", series_description="PHANTOM CDFI", series_number=2,
                    modes=MODE_2D | MODE_COLOUR, **common),
             [tissue, Region(box.bounds_px(geom), 2, geom.mm_per_px, geom.origin_px)],
             compression=options.compression, quality=quality)

    case = Case(task="liver-fll", case_id=cid,
                images=[ImageRef("bmode.dcm", picks[0], "bmode"), ImageRef("cdfi.dcm", 0, "cdfi")],
                rois=rois, factors=f,
                notes=f"PHANTOM (synthetic) case, ultrasound-reader {__version__}, seed {seed}, case {index}")
    case.save(folder)
    truth = Truth(cid, labels.malignant, labels.subtype, labels.lb_type, labels.size_cm, labels.centre, labels.cohort)
    return case, truth


def _background_roi(rng: np.random.Generator, anatomy, motion: FrameMotion, geom: bmode.ScreenGeometry,
                    probe: bmode.Probe) -> list[tuple[float, float]] | None:
    """A liver-background square (12-20 mm) on plain parenchyma, at least 12 mm from
    the lesion, vessels 4 mm away, inside the view."""
    canvas, mask = anatomy.canvas, anatomy.parenchyma
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return None
    for side in (18.0, 15.0, 12.0, 9.0):
        half = side / 2
        k = int(math.ceil(half / canvas.res))
        for _ in range(60):
            i = int(rng.integers(len(ys)))
            r, c = ys[i], xs[i]
            if r - k < 0 or c - k < 0 or r + k >= mask.shape[0] or c + k >= mask.shape[1]:
                continue
            if not mask[r - k : r + k + 1, c - k : c + k + 1].all():
                continue
            x = canvas.x0 + c * canvas.res
            z = canvas.z0 + r * canvas.res
            corners = np.array([[x - half, z - half], [x + half, z - half], [x + half, z + half], [x - half, z + half]])
            px, pz = motion.organ_to_probe(corners[:, 0], corners[:, 1])
            if not _in_fov(probe, px, pz, 3.0):
                continue
            cxp, czp = motion.organ_to_probe(np.array([x]), np.array([z]))
            u, v = geom.to_screen(cxp, czp)
            hp = half / geom.mm_per_px
            return _round_points(np.array([u[0] - hp, u[0] + hp]), np.array([v[0] - hp, v[0] + hp]))
    return None


# -- soft tissue --------------------------------------------------------------------------------


def make_soft_tissue(seed: int, index: int, out_dir: Path, options: Options = Options()) -> tuple[Case, Truth]:
    from ultrasound_reader.phantom.motion import still
    from ultrasound_reader.phantom.soft_tissue import build_soft_tissue

    rng, labels, style, anatomy, probe, geom, scene, fov, sc_maps = _set_up(
        "soft-tissue", seed, index, lab.draw_soft_tissue, build_soft_tissue)
    date, time_, shown = _study_datetime(rng)
    cid = case_id("soft-tissue", seed, index)
    patient = f"PHANTOM^SOFT^{index:04d}"
    gain_text = int(round(50 + style.gain_offset_db * 2))
    preset = "MSK"
    phase = float(rng.uniform(0, 2 * np.pi))
    base = screen.overlay(probe, geom, style, patient=patient.replace("^", " "), date_time=shown, preset=preset,
                          gain=gain_text, frame_rate=None)
    gray = screen.compose(base, bmode.scan_convert(scene.beam_image(still(phase)), sc_maps), fov)
    m = anatomy.mass
    box = doppler.ColourBox.around(probe, m.cx, m.cz, m.max_radius + 3.0)
    colour = {"scale_cm_s": anatomy.flow_scale_cm_s, "prf_khz": anatomy.flow_scale_cm_s / 8.0, "gain": 55,
              "wall_filter_hz": 40}
    cbase = screen.overlay(probe, geom, style, patient=patient.replace("^", " "), date_time=shown, preset=preset,
                           gain=gain_text - 4, frame_rate=None, colour=colour)
    cgray = bmode.scan_convert(scene.beam_image(still(phase + float(rng.uniform(0.4, 1.0)))), sc_maps)
    cdfi, _ = doppler.colour_overlay(rng, screen.compose(cbase, cgray, fov), fov, anatomy.vessels, box, geom,
                                     lambda x, z: (x, z), anatomy.flow_scale_cm_s)

    o = m.outline(128)
    u, v = geom.to_screen(o[:, 0], o[:, 1])
    pts = _round_points(u, v)
    rois = [Roi("mass", "polygon", pts, image=0, frame=0, id=f"{cid}-mass-1"),
            Roi("mass", "polygon", pts, image=1, frame=0, id=f"{cid}-mass-2")]

    folder = out_dir / cid
    quality = options.quality or style.jpeg_quality
    f = replace(labels.factors, depth_mm=round(anatomy.mass_top_mm, 1))
    body = {"trunk": "CHEST", "back": "BACK", "shoulder": "SHOULDER", "upper arm": "ARM", "forearm": "ARM",
            "thigh": "THIGH", "leg": "LEG", "neck": "NECK", "head": "HEAD"}.get(f.site or "", "SKIN")
    common = dict(patient_name=patient, patient_id=f"PH-S{seed}-S{index:04d}", patient_sex=f.sex or "O",
                  patient_age=int(f.age or 0), study_date=date, study_time=time_,
                  accession=f"PHS{seed % 10000:04d}{index:05d}", study_description="PHANTOM soft-tissue ultrasound",
                  body_part=body, institution=f"PHANTOM CENTRE {style.centre}", manufacturer=style.manufacturer,
                  model=style.model, transducer=probe.name,
                  laterality="RL"[index % 2])  # a side for paired body parts (no draw: streams unchanged)
    tissue = Region(fov, 1, geom.mm_per_px, geom.origin_px)
    write_us(folder / "bmode.dcm", [gray],
             Header(f"{seed}/soft/{index}/bmode", series_description="PHANTOM B-mode", series_number=1, **common),
             [tissue], compression=options.compression, quality=quality)
    write_us(folder / "cdfi.dcm", [cdfi],
             Header(f"{seed}/soft/{index}/cdfi", series_description="PHANTOM CDFI", series_number=2,
                    modes=MODE_2D | MODE_COLOUR, **common),
             [tissue, Region(box.bounds_px(geom), 2, geom.mm_per_px, geom.origin_px)],
             compression=options.compression, quality=quality)
    case = Case(task="soft-tissue", case_id=cid,
                images=[ImageRef("bmode.dcm", 0, "bmode"), ImageRef("cdfi.dcm", 0, "cdfi")], rois=rois, factors=f,
                notes=f"PHANTOM (synthetic) case, ultrasound-reader {__version__}, seed {seed}, case {index}")
    case.save(folder)
    truth = Truth(cid, labels.malignant, labels.subtype, None, labels.size_cm, labels.centre, labels.cohort)
    return case, truth


# -- running many ------------------------------------------------------------------------------

def _maker(task: str) -> Callable[[int, int, Path, Options], tuple[Case, Truth]]:
    return make_liver if task == "liver" else make_soft_tissue


def _one(args: tuple[str, int, int, str, Options]) -> tuple[dict, dict]:
    task, seed, index, out, options = args
    import cv2

    cv2.setNumThreads(1)  # the pool already uses the cores
    case, truth = _maker(task)(seed, index, Path(out), options)
    return case.to_dict(), truth.__dict__


def generate(task: str, n: int, seed: int, out: str | Path, *, first: int = 0, workers: int = 1,
             options: Options = Options(), progress: Callable[[int, int], None] | None = None
             ) -> tuple[list[Case], list[Truth]]:
    """Make cases ``first .. first + n - 1`` into ``out``, plus ``truth.csv`` and
    ``phantom.json`` (what made them). Returns the cases and truths in order."""
    if task not in TASKS:
        raise UserError(f"--task: {task!r} is not one of {', '.join(TASKS)}")
    if n < 1:
        raise UserError(f"--cases: {n} must be at least 1")
    if seed < 0:
        raise UserError(f"--seed: {seed} must be >= 0")
    options.check()
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{out}: cannot create the output folder ({exc.strerror})") from None
    jobs = [(task, seed, first + i, str(out), options) for i in range(n)]
    results: list[tuple[dict, dict]] = []
    if workers <= 1 or n == 1:
        for i, job in enumerate(jobs):
            results.append(_one(job))
            if progress:
                progress(i + 1, n)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for i, res in enumerate(pool.map(_one, jobs, chunksize=1)):
                results.append(res)
                if progress:
                    progress(i + 1, n)
    cases = [Case.from_dict(c, root=out / c["case_id"]) for c, _ in results]
    truths = [Truth(**t) for _, t in results]
    Truth.write_csv(out / "truth.csv", truths)
    manifest = {
        "generator": f"ultrasound-reader {__version__} phantom",
        "task": TASKS[task], "seed": seed, "first": first, "cases": n, "frames": options.frames,
        "compression": options.compression, "quality": options.quality,
        "label_model": "see ultrasound_reader/phantom/labels.py",
        "note": "PHANTOM: synthetic data, no patient data",
    }
    (out / "phantom.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return cases, truths


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def iter_case_dirs(out: Path) -> Iterable[Path]:
    return sorted(p for p in Path(out).iterdir() if (p / "case.json").is_file())
