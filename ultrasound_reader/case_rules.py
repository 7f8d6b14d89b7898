"""The reading rules for a case's ROIs, Qt-free: what may be drawn, how big it is, when a case is ready.

The GUI asks these functions before it changes a :class:`~ultrasound_reader.case.Case`
and shows their one-line messages, so the rules are tested without a display and
the same words reach the user whatever gesture triggered them.

Rules (Yang et al. 2020 for the liver, Long et al. 2023 for soft tissue):

* liver (``liver-fll``): ROIs are ``lesion`` or ``background`` (liver background);
  up to 4 lesion ROIs per lesion, each on a different frame (Model^L averages the 4
  image scores), and at least one background ROI (Model^LB), at most 4;
* soft tissue: ROIs are ``mass``; one on the grayscale (B-mode) image and one on the
  colour-Doppler (CDFI) image, which the models take as a pair.

Sizes follow the analyser: the maximal diameter of the outline in mm at the
calibration of the ROI's centre, and the paper's size band of the largest lesion.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ultrasound_reader.case import MIN_ROI_PX, ROI_KINDS, TASKS, Case, ImageRef, Roi, size_band
from ultrasound_reader.dicom.calibration import Calibration
from ultrasound_reader.errors import UserError

MAX_LESION_ROIS = 4  # Model^L averages the scores of 4 lesion ROIs
MAX_BACKGROUND_ROIS = 4  # the FLL bundles pair at most one background ROI per lesion ROI
FREEHAND_TOLERANCE_PX = 0.5  # freehand traces are thinned to within half a pixel of the hand

KINDS_BY_TASK: dict[str, tuple[str, ...]] = {"liver-fll": ("lesion", "background"), "soft-tissue": ("mass",)}
KIND_LABELS = {"lesion": "lesion", "background": "liver background", "mass": "mass"}
KIND_PREFIX = {"lesion": "L", "background": "B", "mass": "M"}
TASK_LABELS = {"liver-fll": "Liver (FLL)", "soft-tissue": "Soft-tissue mass"}
ROLE_LABELS = {"bmode": "B-mode", "cdfi": "CDFI"}
COLOUR_FLOW = 2  # DICOM Region Data Type of a colour-flow region
CASE_FILE = "case.json"


class RoiRuleError(UserError):
    """An edit the reading rules refuse; the message says which rule and what to do."""


# ----------------------------------------------------------------------------- kinds and tasks
def kinds_for(task: str) -> tuple[str, ...]:
    """The ROI kinds a case of ``task`` is drawn with (the first is the default)."""
    if task not in KINDS_BY_TASK:
        raise UserError(f"task {task!r} is not one of {TASKS}")
    return KINDS_BY_TASK[task]


def check_task_change(case: Case, task: str) -> None:
    """Refuse a task whose ROI kinds do not fit the ROIs already drawn."""
    allowed = kinds_for(task)
    wrong = sorted({r.kind for r in case.rois if r.kind not in allowed})
    if wrong:
        n = sum(r.kind in wrong for r in case.rois)
        raise RoiRuleError(
            f"cannot switch case {case.case_id} to {TASK_LABELS[task]}: it has {n} "
            f"{'/'.join(KIND_LABELS[k] for k in wrong)} ROI(s), which that task does not use; delete them first")


# ----------------------------------------------------------------------------- adding ROIs
def _where(case: Case, roi: Roi) -> str:
    image = case.images[roi.image].file if 0 <= roi.image < len(case.images) else f"image {roi.image}"
    return f"frame {roi.frame + 1} of {Path(image).name}"


def check_add(case: Case, roi: Roi) -> None:
    """Raise :class:`RoiRuleError` if ``roi`` may not join ``case`` (ROIs with its id excepted)."""
    others = [r for r in case.rois if r.id != roi.id]
    allowed = kinds_for(case.task)
    if roi.kind not in allowed:
        raise RoiRuleError(f"a {TASK_LABELS[case.task]} case takes {' or '.join(KIND_LABELS[k] for k in allowed)} "
                           f"ROIs, not {KIND_LABELS.get(roi.kind, roi.kind)}")
    if not 0 <= roi.image < len(case.images):
        raise RoiRuleError(f"ROI refers to image {roi.image}, but case {case.case_id} has {len(case.images)} image(s)")
    if roi.kind == "lesion":
        lesions = [r for r in others if r.kind == "lesion"]
        if len(lesions) >= MAX_LESION_ROIS:
            frames = ", ".join(str(r.frame + 1) for r in sorted(lesions, key=lambda r: (r.image, r.frame)))
            raise RoiRuleError(
                f"this lesion already has {MAX_LESION_ROIS} lesion ROIs (frames {frames}): the model averages "
                f"{MAX_LESION_ROIS} views per lesion; delete one before adding another")
        if any(r.image == roi.image and r.frame == roi.frame for r in lesions):
            raise RoiRuleError(f"{_where(case, roi)} already carries a lesion ROI: each of the "
                               f"{MAX_LESION_ROIS} lesion ROIs goes on a different frame")
    elif roi.kind == "background":
        n = sum(r.kind == "background" for r in others)
        if n >= MAX_BACKGROUND_ROIS:
            raise RoiRuleError(f"this case already has {MAX_BACKGROUND_ROIS} liver-background ROIs, the most "
                               "the model pairs with the lesion ROIs; delete one before adding another")
    elif roi.kind == "mass":
        role = case.images[roi.image].role
        same = [r for r in others if r.kind == "mass" and case.images[r.image].role == role]
        if same:
            raise RoiRuleError(
                f"this case already has a mass ROI on the {ROLE_LABELS[role]} image ({_where(case, same[0])}): "
                "soft tissue takes one mass ROI on the B-mode image and one on the CDFI image")


def check_geometry(roi: Roi, width: int | None = None, height: int | None = None) -> None:
    """Refuse an ROI too small to be meant, or lying wholly outside a ``width`` x ``height`` image."""
    x0, y0, x1, y1 = roi.bbox()
    if x1 - x0 < MIN_ROI_PX or y1 - y0 < MIN_ROI_PX or roi.area_px() <= 0:
        raise RoiRuleError(f"ROI too small ({x1 - x0:.1f} x {y1 - y0:.1f} px): draw at least "
                           f"{MIN_ROI_PX:g} px across")
    if width is not None and height is not None:
        if x1 < -0.5 or y1 < -0.5 or x0 > width - 0.5 or y0 > height - 0.5:
            raise RoiRuleError(f"ROI lies outside the {width} x {height} image")


def check_frame(frame: int, n_frames: int | None) -> None:
    if frame < 0 or (n_frames is not None and frame >= n_frames):
        have = f"frames 1-{n_frames}" if n_frames else "no frames"
        raise RoiRuleError(f"frame {frame + 1} does not exist (the image has {have})")


def copy_roi(case: Case, roi_id: str, frame: int, image: int | None = None,
             n_frames: int | None = None) -> Roi:
    """A copy of ROI ``roi_id`` on ``frame`` (of ``image``, default its own), with a new id, checked."""
    source = find_roi(case, roi_id)
    copy = replace(source, frame=int(frame), image=source.image if image is None else int(image),
                   points=list(source.points), id=uuid.uuid4().hex[:12])
    if copy.image == source.image and copy.frame == source.frame:
        raise RoiRuleError(f"the ROI is already on frame {frame + 1}: pick another frame to copy it to")
    check_frame(copy.frame, n_frames)
    check_add(case, copy)
    return copy


def find_roi(case: Case, roi_id: str) -> Roi:
    for r in case.rois:
        if r.id == roi_id:
            return r
    raise KeyError(roi_id)


# ----------------------------------------------------------------------------- shapes from gestures
def box_points(p0: Sequence[float], p1: Sequence[float]) -> list[tuple[float, float]]:
    """Rectangle/ellipse points from two drag corners: top-left then bottom-right."""
    return [(float(min(p0[0], p1[0])), float(min(p0[1], p1[1]))),
            (float(max(p0[0], p1[0])), float(max(p0[1], p1[1])))]


def clip_points(points: Iterable[Sequence[float]], width: int, height: int) -> list[tuple[float, float]]:
    """Points pulled inside the image's pixel area (-0.5 .. size-0.5): a drag past the edge stops at it."""
    return [(float(min(max(x, -0.5), width - 0.5)), float(min(max(y, -0.5), height - 0.5))) for x, y in points]


def simplify_freehand(points: Sequence[Sequence[float]], tolerance: float = FREEHAND_TOLERANCE_PX) -> list[tuple[float, float]]:
    """A freehand trace thinned (Douglas-Peucker, closed) to vertices within ``tolerance`` px of it.

    Mouse moves come many per pixel; keeping them all makes an outline heavy to edit
    without making it any more exact.
    """
    pts = np.asarray(points, dtype=np.float32).reshape(-1, 1, 2)
    # Drop consecutive duplicates first: they carry no shape.
    if len(pts) > 1:
        keep = np.ones(len(pts), bool)
        keep[1:] = np.any(np.abs(np.diff(pts[:, 0, :], axis=0)) > 1e-6, axis=1)
        pts = pts[keep]
    if len(pts) <= 3:
        return [(float(x), float(y)) for x, y in pts[:, 0, :]]
    approx = approx_closed_polygon(pts[:, 0, :], float(tolerance))
    if len(approx) < 3:
        approx = pts[:, 0, :]
    # Return the hand's own coordinates (float64), not their float32 copies.
    src = np.asarray(points, dtype=float)
    out = []
    for x, y in approx:
        i = int(np.argmin(np.abs(src[:, 0] - x) + np.abs(src[:, 1] - y)))
        out.append((float(src[i, 0]), float(src[i, 1])))
    return out


def approx_closed_polygon(points: np.ndarray, epsilon: float) -> np.ndarray:
    """Douglas-Peucker simplification of a closed polygon: cv2.approxPolyDP(points, epsilon, True), ported.

    ``points`` is (N, 2) float32; the result, (M, 2) float32, is the vertices OpenCV
    returns, in its order (tests compare with OpenCV 5.0 on random outlines): the split
    starts from the approximately farthest pair of vertices (three passes of "farthest
    from the last"), each slice is split at its vertex farthest from its chord (the
    segment, not its line, as OpenCV measures since 5.0) until all lie within
    ``epsilon``, then vertices on almost straight runs are dropped. Differences are
    taken in float32 and products in float64, as OpenCV does. Where OpenCV would stop
    on a slice whose ends coincide (a trace through its own vertex), the distance to
    that vertex is used.
    """
    src = np.ascontiguousarray(points, dtype=np.float32).reshape(-1, 2)
    count = len(src)
    if count == 0:
        return src.copy()
    xs, ys = src[:, 0], src[:, 1]
    eps = float(epsilon) ** 2
    # 1. approximately the two farthest vertices
    pos, far = 0, 0
    le_eps = False
    for _ in range(3):
        pos = (pos + far) % count
        idx = (pos + np.arange(1, count)) % count
        dx = (xs[idx] - xs[pos]).astype(np.float64)
        dy = (ys[idx] - ys[pos]).astype(np.float64)
        dist = dx * dx + dy * dy
        k = int(np.argmax(dist)) if len(dist) else 0
        max_dist = float(dist[k]) if len(dist) else 0.0
        if max_dist > 0:
            far = k + 1
        le_eps = max_dist <= eps
    out: list[int] = []
    stack: list[tuple[int, int]] = []
    if le_eps:
        out.append(pos)
    else:
        end = (far + pos) % count
        stack += [(end, pos), (pos, end)]
    # 2. split each slice at its vertex farthest from the chord
    while stack:
        start, end = stack.pop()
        n_inner = (end - start - 1) % count
        if n_inner == 0:
            out.append(start)
            continue
        idx = (start + 1 + np.arange(n_inner)) % count
        sx, sy = xs[start], ys[start]
        dx = float(xs[end] - sx)
        dy = float(ys[end] - sy)
        seg2 = dx * dx + dy * dy
        ax, ay = xs[idx] - sx, ys[idx] - sy  # float32, as OpenCV's Point2f differences
        bx, by = xs[idx] - xs[end], ys[idx] - ys[end]
        if seg2 == 0:  # OpenCV asserts here (a trace through its own vertex): distance to that vertex
            dist2 = (ax * ax + ay * ay).astype(np.float64)
            k = int(np.argmax(dist2))
            le_eps = float(dist2[k]) <= eps
        else:
            # squared distance to the segment (not its line), times the segment's squared length
            proj = ax.astype(np.float64) * dx + ay.astype(np.float64) * dy
            cross = ay.astype(np.float64) * dx - ax.astype(np.float64) * dy
            dist2 = np.where(proj < 0, (ax * ax + ay * ay).astype(np.float64) * seg2,
                             np.where(proj > seg2, (bx * bx + by * by).astype(np.float64) * seg2, cross * cross))
            k = int(np.argmax(dist2))
            le_eps = float(dist2[k]) <= eps * seg2
        if le_eps:
            out.append(start)
        else:
            split = int(idx[k])
            stack += [(split, end), (start, split)]
    # 3. drop vertices on almost straight runs (in place over the result, as OpenCV does)
    dst = src[out].copy()
    n = new_count = len(dst)
    pos = n - 1
    start_pt = dst[pos].copy()
    pos = 0
    wpos = 0
    pt = dst[pos].copy()
    pos = 1 % n
    i = 0
    while i < n and new_count > 2:
        end_pt = dst[pos].copy()
        pos = (pos + 1) % n
        dx = float(end_pt[0] - start_pt[0])
        dy = float(end_pt[1] - start_pt[1])
        ax = float(pt[0] - start_pt[0])
        ay = float(pt[1] - start_pt[1])
        dist = abs(ax * dy - ay * dx)
        inner = ax * float(end_pt[0] - pt[0]) + ay * float(end_pt[1] - pt[1])
        if dist * dist <= 0.5 * eps * (dx * dx + dy * dy) and dx != 0 and dy != 0 and inner >= 0:
            new_count -= 1
            dst[wpos] = end_pt
            start_pt = end_pt
            wpos = (wpos + 1) % n
            pt = dst[pos].copy()
            pos = (pos + 1) % n
            i += 2
            continue
        dst[wpos] = pt
        start_pt = pt
        wpos = (wpos + 1) % n
        pt = end_pt
        i += 1
    return dst[:new_count]


def translated(points: Sequence[tuple[float, float]], dx: float, dy: float) -> list[tuple[float, float]]:
    return [(x + dx, y + dy) for x, y in points]


def same_points(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]], tol: float = 1e-7) -> bool:
    """Equal within ``tol`` px (graphics transforms add round-off; a click is not an edit)."""
    return len(a) == len(b) and all(abs(p[0] - q[0]) <= tol and abs(p[1] - q[1]) <= tol for p, q in zip(a, b))


# ----------------------------------------------------------------------------- sizes
@dataclass(frozen=True)
class RoiSize:
    """Maximal diameter and area of one ROI, in mm where its image is calibrated there."""

    diameter_px: float
    area_px: float
    diameter_mm: float | None = None
    area_mm2: float | None = None
    reason: str | None = None  # why there is no mm

    def diameter_text(self) -> str:
        if self.diameter_mm is not None:
            return f"{self.diameter_mm:.1f} mm"
        return f"{self.diameter_px:.1f} px ({self.reason or 'uncalibrated'})"

    def area_text(self) -> str:
        if self.area_mm2 is not None:
            return f"{self.area_mm2:.0f} mm²"
        return f"{self.area_px:.0f} px²"


def mm_per_px_at(roi: Roi, calibration: Calibration | None) -> tuple[float, float] | None:
    """(dx, dy) mm per pixel at the ROI's centre, as the analyser measures it; None if uncalibrated."""
    if calibration is None:
        return None
    x0, y0, x1, y1 = roi.bbox()
    return calibration.mm_per_pixel((x0 + x1) / 2, (y0 + y1) / 2)


def roi_size(roi: Roi, calibration: Calibration | None) -> RoiSize:
    mm = mm_per_px_at(roi, calibration)
    d_px, a_px = roi.max_diameter(), roi.area_px()
    if mm is None:
        reason = "uncalibrated" if calibration is None else "outside the calibrated region"
        return RoiSize(d_px, a_px, reason=reason)
    return RoiSize(d_px, a_px, roi.max_diameter(mm), a_px * mm[0] * mm[1])


@dataclass(frozen=True)
class LesionSize:
    """The lesion's maximal diameter over its calibrated ROIs, and the paper's size band."""

    diameter_mm: float | None
    band: str | None
    measured: int  # ROIs that gave a size in mm
    unmeasured: int  # ROIs on uncalibrated images or outside the calibrated region

    def text(self) -> str:
        if self.diameter_mm is None:
            return ("lesion diameter unknown: no lesion ROI yet" if self.unmeasured == 0
                    else "lesion diameter unknown: uncalibrated image (judge > 1.0 cm by eye)")
        text = f"{self.diameter_mm:.1f} mm ({self.diameter_mm / 10:.2f} cm) · size band {self.band}"
        if self.unmeasured:
            text += f" · {self.unmeasured} ROI(s) not measured (uncalibrated)"
        return text


def lesion_rois(case: Case) -> list[Roi]:
    """The ROIs that outline the lesion: lesion ROIs, or for soft tissue the mass on B-mode (else any mass)."""
    if case.task == "soft-tissue":
        masses = case.rois_of("mass")
        on_bmode = [r for r in masses if 0 <= r.image < len(case.images) and case.images[r.image].role == "bmode"]
        return on_bmode or masses
    return case.rois_of("lesion")


def lesion_size(case: Case, calibrations: Mapping[int, Calibration | None]) -> LesionSize:
    """Largest diameter over the lesion ROIs (the analyser's rule); ``calibrations`` by image index."""
    sizes, unmeasured = [], 0
    for roi in lesion_rois(case):
        mm = roi_size(roi, calibrations.get(roi.image)).diameter_mm
        if mm is None:
            unmeasured += 1
        else:
            sizes.append(mm)
    if not sizes:
        return LesionSize(None, None, 0, unmeasured)
    d = max(sizes)
    return LesionSize(d, size_band(d / 10.0), len(sizes), unmeasured)


# ----------------------------------------------------------------------------- readiness and labels
def readiness(case: Case) -> list[str]:
    """What the case still lacks before an analysis (empty: ready). Advice, not refusal."""
    out = []
    if case.task == "liver-fll":
        n = len(case.rois_of("lesion"))
        if n == 0:
            out.append(f"draw the lesion ROIs ({MAX_LESION_ROIS} frames, one each)")
        elif n < MAX_LESION_ROIS:
            out.append(f"{n} of {MAX_LESION_ROIS} lesion ROIs (the model was validated with {MAX_LESION_ROIS})")
        if not case.rois_of("background"):
            out.append("draw a liver-background ROI")
    else:
        roles = {case.images[r.image].role for r in case.rois_of("mass") if 0 <= r.image < len(case.images)}
        for role in ("bmode", "cdfi"):
            if role not in roles:
                out.append(f"draw the mass ROI on the {ROLE_LABELS[role]} image")
    return out


def roi_labels(case: Case) -> dict[str, str]:
    """Short names by ROI id (L1..L4, B1.., M1..), numbered in image then frame order."""
    out: dict[str, str] = {}
    for kind in ROI_KINDS:
        for k, roi in enumerate(sorted(case.rois_of(kind), key=lambda r: (r.image, r.frame)), start=1):
            out[roi.id] = f"{KIND_PREFIX[kind]}{k}"
    return out


def roi_frames(case: Case, image: int) -> dict[int, list[str]]:
    """For the frame strip: the kinds of ROI on each frame of ``image``."""
    out: dict[int, list[str]] = {}
    for roi in case.rois:
        if roi.image == image:
            kinds = out.setdefault(roi.frame, [])
            if roi.kind not in kinds:
                kinds.append(roi.kind)
    return out


# ----------------------------------------------------------------------------- case files
def case_file_in(paths: Sequence[str | Path]) -> Path | None:
    """The case among opened paths: a folder holding case.json, or a ``*.json`` case file; else None."""
    for p in map(Path, paths):
        if p.is_dir() and (p / CASE_FILE).is_file():
            return p / CASE_FILE
        if p.is_file() and p.suffix.lower() == ".json":
            return p
    return None


def opening_view(case: Case) -> tuple[int, int]:
    """Where an opened case is first shown: (image index, frame): the first image with ROIs at
    its lowest ROI frame, else the first image at its reference frame (gui/case_controller.py,
    and the first frame the window's shell shows before it is built, gui/first_frame.py)."""
    with_rois = sorted({r.image for r in case.rois if 0 <= r.image < len(case.images)})
    index = with_rois[0] if with_rois else 0
    frames = sorted(r.frame for r in case.rois if r.image == index)
    return index, (frames[0] if frames else case.images[index].frame)


def guess_role(calibration: Calibration | None) -> str:
    """``cdfi`` when the image has a colour-flow region, else ``bmode`` (the user can change it)."""
    if calibration is not None and any(r.data_type == COLOUR_FLOW for r in calibration.regions):
        return "cdfi"
    return "bmode"


def new_case(paths: Sequence[str | Path], task: str = "liver-fll") -> Case:
    """An unsaved case over image files (absolute paths until it is saved beside them)."""
    if not paths:
        raise UserError("a new case needs at least one image")
    files = [Path(p).resolve() for p in paths]
    return Case(task=task, case_id=files[0].stem, images=[ImageRef(str(f)) for f in files])


def rebased(case: Case, folder: str | Path) -> Case:
    """The case with image paths relative to ``folder`` (where its case.json goes)."""
    folder = Path(folder).resolve()
    images = []
    for i, ref in enumerate(case.images):
        absolute = case.image_path(i)
        absolute = absolute if absolute.is_absolute() else absolute.resolve()
        try:
            rel = os.path.relpath(absolute, folder)
        except ValueError:  # another drive (Windows): keep it absolute
            rel = str(absolute)
        images.append(replace(ref, file=Path(rel).as_posix()))
    return replace(case, images=images, rois=[replace(r, points=list(r.points)) for r in case.rois],
                   factors=replace(case.factors), root=folder)


def check_images(case: Case, n_frames: Mapping[int, int | None]) -> list[str]:
    """Problems of a loaded case against its images' frame counts (images or ROIs on frames that do not exist)."""
    out = []
    for i, ref in enumerate(case.images):
        n = n_frames.get(i)
        if n is not None and not 0 <= ref.frame < n:
            out.append(f"image {Path(ref.file).name} names frame {ref.frame + 1}, but it has {n} frame(s)")
    for roi in case.rois:
        n = n_frames.get(roi.image)
        if n is not None and not 0 <= roi.frame < n:
            out.append(f"ROI {roi.id} is on frame {roi.frame + 1}, but {Path(case.images[roi.image].file).name} "
                       f"has {n} frame(s)")
    return out


def outline_close(points: Sequence[tuple[float, float]], p: tuple[float, float], radius: float) -> bool:
    """Whether ``p`` is within ``radius`` of the first point (a click there closes a polygon)."""
    return bool(points) and math.hypot(p[0] - points[0][0], p[1] - points[0][1]) <= radius
