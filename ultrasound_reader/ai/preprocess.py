"""ROI crops as network inputs, and the geometry to map maps back onto the image.

A crop is the ROI's bounding box in image pixels (the pixels whose centres lie in
the box, optionally grown by ``roi_margin``), taken from the displayed frame.
Where the box leaves the image the manifest's padding policy applies: ``constant``
(fill with ``pad_value``, keeps the ROI's aspect and position), ``edge`` (replicate
the border) or ``clip`` (shrink the box to the image). With ``mask_outside`` the
pixels outside a polygon/freehand/ellipse outline are set to ``pad_value`` too.
The crop is then resized to the input size, made 3-channel (grayscale replicated,
or RGB kept for CDFI) and normalised with the manifest's mean/std.

numpy only (imageops: exact ports of the OpenCV calls): training uses the same function, so a model sees at analysis
time exactly what it saw in training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ultrasound_reader import imageops
from ultrasound_reader.case import MIN_ROI_PX, Roi
from ultrasound_reader.errors import UserError


@dataclass(frozen=True)
class Crop:
    """One prepared ROI: the network input and where it came from."""

    roi_id: str
    pixels: np.ndarray  # (3, H, W) float32, normalised
    box: tuple[int, int, int, int]  # (x0, y0, x1, y1) crop box in image pixels, exclusive; may leave the image
    image_size: tuple[int, int]  # (width, height) of the frame


def roi_box(roi: Roi, margin: float = 0.0) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1), x1/y1 exclusive: the pixels whose centres lie in the ROI's bbox.

    ``margin`` grows the box by that fraction of its width/height in total (half on
    each side), to give the network some context around the lesion.
    """
    bx0, by0, bx1, by1 = roi.bbox()
    if margin:
        dx, dy = (bx1 - bx0) * margin / 2, (by1 - by0) * margin / 2
        bx0, by0, bx1, by1 = bx0 - dx, by0 - dy, bx1 + dx, by1 + dy
    x0, y0 = math.ceil(bx0 - 1e-9), math.ceil(by0 - 1e-9)
    x1, y1 = math.floor(bx1 + 1e-9) + 1, math.floor(by1 + 1e-9) + 1
    return x0, y0, x1, y1


def to_color(frame: np.ndarray, mode: str) -> np.ndarray:
    """H x W x 3 uint8: grayscale replicated (``gray3``) or RGB kept (``rgb``)."""
    if frame.ndim == 3 and frame.shape[2] == 4:
        frame = frame[:, :, :3]
    if mode == "gray3":
        gray = imageops.rgb_to_gray(frame) if frame.ndim == 3 else frame
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "rgb":
        return frame if frame.ndim == 3 else np.repeat(frame[:, :, None], 3, axis=2)
    raise ValueError(f"unknown colour mode {mode!r}")


def check_roi(roi: Roi, width: int, height: int, where: str = "") -> tuple[int, int, int, int]:
    """The ROI's pixel box, after refusing zero-area ROIs and ROIs outside the image."""
    x0, y0, x1, y1 = roi_box(roi)
    at = f" on {where}" if where else ""
    bx0, by0, bx1, by1 = roi.bbox()
    # The reading rules' minimum (case.MIN_ROI_PX, on the outline's extent): what the GUI refuses
    # to draw is not analysed either. 3 px of extent always covers >= 3 pixel centres.
    if roi.area_px() <= 0 or bx1 - bx0 < MIN_ROI_PX or by1 - by0 < MIN_ROI_PX:
        raise UserError(f"ROI {roi.id}{at}: zero or near-zero area ({bx1 - bx0:.1f} x {by1 - by0:.1f} px, "
                        f"at least {MIN_ROI_PX:g} px across needed); redraw it")
    if x1 <= 0 or y1 <= 0 or x0 >= width or y0 >= height:
        raise UserError(f"ROI {roi.id}{at}: lies outside the {width}x{height} image")
    return x0, y0, x1, y1


def crop_roi(frame: np.ndarray, roi: Roi, spec: dict[str, Any], role: str = "bmode",
             where: str = "") -> Crop:
    """Prepare one ROI of ``frame`` (uint8 display image) as the manifest's ``input`` spec says."""
    h, w = frame.shape[:2]
    check_roi(roi, w, h, where)
    x0, y0, x1, y1 = roi_box(roi, float(spec.get("roi_margin", 0.0)))
    pad = spec.get("pad", "constant")
    fill = int(spec.get("pad_value", 0))
    if pad == "clip":
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    # colour conversion is per pixel: convert the crop, not the whole frame
    inner = to_color(frame[cy0:cy1, cx0:cx1], spec["color"].get(role, "gray3"))
    if spec.get("mask_outside", False) and roi.shape != "rectangle":
        m = roi.mask(h, w)[cy0:cy1, cx0:cx1]
        inner = np.where(m[:, :, None], inner, np.uint8(fill))
    borders = (cy0 - y0, y1 - cy1, cx0 - x0, x1 - cx1)
    if any(borders):
        if pad == "edge":
            crop = imageops.pad(inner, *borders, mode="edge")
        else:
            crop = imageops.pad(inner, *borders, mode="constant", value=fill)
    else:
        crop = inner
    out_w, out_h = int(spec["width"]), int(spec["height"])
    shrink = crop.shape[1] >= out_w and crop.shape[0] >= out_h
    interp = "area" if spec.get("interpolation", "area") == "area" and shrink else "linear"
    resized = imageops.resize(crop, (out_w, out_h), interp)
    x = resized.astype(np.float32) * (1.0 / 255.0)
    x = (x - np.asarray(spec["mean"], np.float32)) / np.asarray(spec["std"], np.float32)
    return Crop(roi.id, np.ascontiguousarray(x.transpose(2, 0, 1)), (x0, y0, x1, y1), (w, h))


def stack(crops: list[Crop]) -> np.ndarray:
    """(N, 3, H, W) batch of crops."""
    return np.stack([c.pixels for c in crops]) if crops else np.zeros((0, 3, 1, 1), np.float32)


def map_to_box(heat: np.ndarray, crop: Crop) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """Resize a map at network resolution to the crop box and clip it to the image.

    Returns ``(bbox, heat)``: bbox ``(x0, y0, x1, y1)`` exclusive inside the image and
    the float32 map of that size (rows = y1 - y0, columns = x1 - x0).
    """
    x0, y0, x1, y1 = crop.box
    full = imageops.resize(heat.astype(np.float32), (x1 - x0, y1 - y0), "linear")
    w, h = crop.image_size
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    return (cx0, cy0, cx1, cy1), np.ascontiguousarray(full[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0])
