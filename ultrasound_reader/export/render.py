"""Pictures for the exports: the analysed frame with ROIs, Grad-CAM and the result text, and
the nomogram with the case's points. RGB uint8 arrays, headless (PIL + matplotlib Agg).

Reuses the Grad-CAM overlay (ai.gradcam.overlay_rgba / blend) and the nomogram drawing
(stats.plots.nomogram_figure). Text is drawn with PIL in DejaVu Sans (shipped with
matplotlib), so it looks the same on every machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from ultrasound_reader.case import AnalysisResult, Case, Roi

NOT_FOR_CLINICAL_USE = "NOT FOR CLINICAL USE"
ROI_COLOURS = {"lesion": (255, 215, 0), "mass": (255, 215, 0), "background": (0, 200, 255)}
CAM_PREFERENCE = ("LB", "L", "DLM-1")


@lru_cache(maxsize=8)
def font(size: int, bold: bool = False):  # type: ignore[no-untyped-def]
    from matplotlib import font_manager
    from PIL import ImageFont

    path = font_manager.findfont(font_manager.FontProperties(family="DejaVu Sans",
                                                             weight="bold" if bold else "normal"))
    return ImageFont.truetype(path, size)


def shown_image(case: Case) -> tuple[int, int]:
    """(image, frame) to show: that of the first lesion (or mass) ROI, else image 0 frame of its ref."""
    for kind in ("lesion", "mass"):
        rois = case.rois_of(kind)
        if rois:
            return rois[0].image, rois[0].frame
    if not case.images:
        raise ValueError("the case has no image")
    return 0, case.images[0].frame


def cam_model(result: AnalysisResult, image: int, frame: int) -> str | None:
    """Which output's CAMs to show on (image, frame): the decision model's if it has some, else LB, L, DLM-1."""
    models = [c.model for c in result.cams if (c.image, c.frame) == (image, frame) and c.model != "LB-type"]
    for m in (result.decision_model, *CAM_PREFERENCE):
        if m in models:
            return m
    return models[0] if models else None


def result_lines(result: AnalysisResult | None) -> list[str]:
    if result is None:
        return ["no analysis"]
    lines = [f"{result.bundle_name} {result.bundle_version}"]
    probs = "  ".join(f"{k} {v:.3f}" for k, v in result.probabilities.items())
    lines.append(f"P(malignant): {probs}" if result.task == "liver-fll" else f"scores: {probs}")
    if result.decision:
        lines.append(f"decision: {result.decision.upper()} ({result.decision_model} "
                     f"{'>=' if result.decision == 'malignant' else '<'} cut-off {result.cutoff:.3f})")
    if result.subtype:
        lines.append(f"benign subtype: {result.subtype}")
    if result.lesion_size_cm is not None:
        lines.append(f"lesion size {result.lesion_size_cm:.2f} cm ({result.size_band})")
    return lines


_OUTLINE_WIDTH = 3  # pixels: what OpenCV's anti-aliased thickness-2 line covered
_SUPERSAMPLE = 4  # the outline is drawn 4x larger, then averaged down: anti-aliased edges


def _draw_rois(rgb: np.ndarray, rois: Sequence[Roi]) -> np.ndarray:
    """Each ROI's closed outline, 3 pixels wide, anti-aliased (coverage from a 4x supersampled drawing)."""
    from PIL import Image, ImageDraw

    out = rgb.copy()
    h, w = out.shape[:2]
    s = _SUPERSAMPLE
    for r in rois:
        pts = np.asarray(r.outline(), dtype=np.float64).reshape(-1, 2)
        if len(pts) < 2:
            continue
        margin = _OUTLINE_WIDTH + 1
        x0, y0 = np.maximum(np.floor(pts.min(axis=0)).astype(int) - margin, 0)
        x1, y1 = np.minimum(np.ceil(pts.max(axis=0)).astype(int) + margin + 1, (w, h))
        if x1 <= x0 or y1 <= y0:
            continue
        mask = Image.new("L", (int(x1 - x0) * s, int(y1 - y0) * s), 0)
        # Pixel centre x of the picture is the centre of supersampled pixels x*s .. x*s+s-1.
        ss = (pts - (x0, y0)) * s + (s - 1) / 2
        path = [(float(x), float(y)) for x, y in ss]
        ImageDraw.Draw(mask).line(path + path[:1], fill=255, width=_OUTLINE_WIDTH * s, joint="curve")
        alpha = np.asarray(mask.reduce(s), dtype=np.float32)[:, :, None] / 255.0
        colour = np.asarray(ROI_COLOURS.get(r.kind, (255, 255, 255)), dtype=np.float32)
        region = out[y0:y1, x0:x1].astype(np.float32)
        out[y0:y1, x0:x1] = np.rint(region + (colour - region) * alpha).astype(np.uint8)
    return out


def _banner(width: int, lines: Sequence[str], demo: bool, scale: float) -> np.ndarray:
    from PIL import Image, ImageDraw

    size = max(12, int(15 * scale))
    big = max(16, int(26 * scale))
    pad = int(8 * scale)
    heights = [big + pad] if demo else []
    heights += [size + 4] * len(lines)
    h = sum(heights) + 2 * pad
    img = Image.new("RGB", (width, h), (16, 16, 16))
    d = ImageDraw.Draw(img)
    y = pad
    if demo:
        d.text((pad, y), NOT_FOR_CLINICAL_USE + " (demo model)", fill=(255, 60, 60), font=font(big, True))
        y += big + pad
    for line in lines:
        d.text((pad, y), line, fill=(235, 235, 235), font=font(size))
        y += size + 4
    return np.asarray(img)


def stamp(rgb: np.ndarray, demo: bool) -> np.ndarray:
    """'NOT FOR CLINICAL USE' burned diagonally-free into the top-left corner of a picture."""
    if not demo:
        return rgb
    from PIL import Image, ImageDraw

    img = Image.fromarray(rgb)
    d = ImageDraw.Draw(img)
    size = max(14, rgb.shape[1] // 30)
    f = font(size, True)
    box = d.textbbox((0, 0), NOT_FOR_CLINICAL_USE, font=f)
    d.rectangle((4, 4, box[2] + 16, box[3] + 14), fill=(0, 0, 0))
    d.text((10, 8), NOT_FOR_CLINICAL_USE, fill=(255, 60, 60), font=f)
    return np.asarray(img)


def overlay_picture(case: Case, result: AnalysisResult | None, demo: bool,
                    image: int | None = None, frame: int | None = None) -> tuple[np.ndarray, int, int]:
    """The frame with ROIs and the Grad-CAM, NOT FOR CLINICAL USE stamped when ``demo``, and
    the result text in a band below. Returns (RGB, image index, frame)."""
    from ultrasound_reader.ai.gradcam import blend, overlay_rgba, roi_mask
    from ultrasound_reader.dicom import open_cine

    if image is None or frame is None:
        image, frame = shown_image(case)
    with open_cine(case.image_path(image)) as cine:
        px = np.array(cine.frame(frame))
    rgb = px if px.ndim == 3 else np.repeat(px[:, :, None], 3, axis=2)
    h, w = rgb.shape[:2]
    if result is not None:
        model = cam_model(result, image, frame)
        cams = [c for c in result.cams if (c.image, c.frame, c.model) == (image, frame, model)]
        if cams:
            # As the reading window shows it by default: inside the ROI outline, soft edge.
            outlines = {r.id: r.outline() for r in case.rois if (r.image, r.frame) == (image, frame)}
            rgb = blend(rgb, overlay_rgba(cams, h, w, mask=roi_mask(cams, outlines, h, w)))
    rgb = _draw_rois(rgb, [r for r in case.rois if (r.image, r.frame) == (image, frame)])
    rgb = stamp(rgb, demo)
    lines = result_lines(result)
    if result is not None and result.cams:
        m = cam_model(result, image, frame)
        if m:
            lines.append(f"Grad-CAM of {m}; yellow: lesion ROI, blue: background ROI")
    band = _banner(w, lines, demo, scale=max(w / 640, 0.6))
    return np.ascontiguousarray(np.vstack([rgb, band])), image, frame


def nomogram_picture(spec: dict, result: AnalysisResult, demo: bool, dpi: int = 110) -> np.ndarray:
    """The bundle's nomogram with the case's points, as RGB."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from ultrasound_reader.stats.plots import nomogram_figure

    title = f"Nomogram ({result.decision_model or 'LBC'}): total {result.total_points:.1f} points" \
        if result.total_points is not None else "Nomogram"
    p = result.probabilities.get(result.decision_model or "LBC")
    fig = nomogram_figure(spec, title, {"points": result.nomogram_points, "total": result.total_points,
                                        "label": None if p is None else f"p = {p:.3f}"})
    if demo:
        fig.text(0.01, 0.99, NOT_FOR_CLINICAL_USE, color="#d62728", fontsize=12, weight="bold", va="top")
    canvas = FigureCanvasAgg(fig)
    fig.set_dpi(dpi)
    canvas.draw()
    return np.ascontiguousarray(np.asarray(canvas.buffer_rgba())[:, :, :3])
