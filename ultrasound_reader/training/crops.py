"""ROI crops for training: cut once with the analysis pipeline's own function, cached on disk.

Decoding a DICOM frame costs far more than a training step on a small crop, so each
ROI is cut once per input spec and kept (``.npz`` per case, keyed by a hash of the
image files, ROIs and spec) under the cache folder. Two crops per ROI:

* ``eval``: exactly what :func:`ultrasound_reader.ai.preprocess.crop_roi` gives the
  network at analysis time (stored as uint8 before normalisation, which is lossless:
  the resize output is uint8), used for validation, cut-offs and metrics;
* ``context``: the same ROI with enough surrounding image for random scaling and
  shifting, at a resolution that keeps full detail at the largest zoom; training
  augmentation samples its window from it (:func:`augment`).

Grayscale inputs (``gray3``) are stored as one channel.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ultrasound_reader.ai.preprocess import crop_roi
from ultrasound_reader.case import Case, Roi
from ultrasound_reader.errors import UserError
from ultrasound_reader.training.config import AugmentConfig

CACHE_VERSION = 2


@dataclass(frozen=True)
class ContextGeometry:
    """How much context the augmentation needs around the evaluation box."""

    factor: float  # context crop size / evaluation box size
    resolution: float  # context pixels per input pixel

    @classmethod
    def for_augment(cls, scale: tuple[float, float], shift: float) -> ContextGeometry:
        # The widest window is box / scale_min, displaced by up to shift * box each way.
        # Enough pixels that the largest zoom still samples the context at input resolution.
        return cls(factor=1.0 / scale[0] + 2.0 * shift, resolution=max(1.0, scale[1]))


def _uint8_spec(spec: dict[str, Any], width: int, height: int, margin: float) -> dict[str, Any]:
    # mean 0 / std 1 turns crop_roi's normalisation into a plain /255, which *255 undoes exactly.
    return {**spec, "width": width, "height": height, "roi_margin": margin,
            "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}


def _to_uint8(pixels: np.ndarray, gray: bool) -> np.ndarray:
    arr = np.rint(pixels * 255.0).clip(0, 255).astype(np.uint8)  # (3, H, W)
    return arr[:1] if gray else arr


def cut(frame: np.ndarray, roi: Roi, spec: dict[str, Any], role: str, geometry: ContextGeometry,
        where: str = "") -> tuple[np.ndarray, np.ndarray]:
    """(eval crop, context crop) of one ROI as uint8 (C, H, W); C = 1 for gray3 inputs."""
    gray = spec["color"].get(role, "gray3") == "gray3"
    w, h = int(spec["width"]), int(spec["height"])
    margin = float(spec.get("roi_margin", 0.0))
    ev = crop_roi(frame, roi, _uint8_spec(spec, w, h, margin), role, where)
    cw = int(math.ceil(w * geometry.factor * geometry.resolution))
    ch = int(math.ceil(h * geometry.factor * geometry.resolution))
    ctx_margin = (1.0 + margin) * geometry.factor - 1.0
    cx = crop_roi(frame, roi, _uint8_spec(spec, cw, ch, ctx_margin), role, where)
    return _to_uint8(ev.pixels, gray), _to_uint8(cx.pixels, gray)


def augment(context: np.ndarray, out_size: tuple[int, int], geometry: ContextGeometry, rng: np.random.Generator,
            aug: AugmentConfig, pad_value: int = 0, border: str = "constant") -> np.ndarray:
    """A random view (C, H, W) uint8 of a context crop: scaled, shifted, flipped, then
    gain, contrast and blur changed (what differs between scanners and their settings).

    With scale 1, no shift, no flips and no intensity changes the window is exactly
    the evaluation box.
    """
    c, hc, wc = context.shape
    w, h = out_size
    bw, bh = wc / geometry.factor, hc / geometry.factor  # evaluation box in context pixels
    s = rng.uniform(*aug.scale)
    ww, wh = bw / s, bh / s
    cx = wc / 2 + rng.uniform(-aug.shift, aug.shift) * bw
    cy = hc / 2 + rng.uniform(-aug.shift, aug.shift) * bh
    x0, y0 = cx - ww / 2, cy - wh / 2
    sx, sy = w / ww, h / wh
    # Pixel i covers [i, i + 1): dst + 0.5 = (src + 0.5 - x0) * sx.
    m = np.array([[sx, 0.0, (0.5 - x0) * sx - 0.5], [0.0, sy, (0.5 - y0) * sy - 0.5]])
    if aug.hflip and rng.random() < 0.5:
        m[0] = [-m[0, 0], 0.0, w - 1 - m[0, 2]]
    if aug.vflip and rng.random() < 0.5:
        m[1] = [0.0, -m[1, 1], h - 1 - m[1, 2]]
    img = np.ascontiguousarray(context.transpose(1, 2, 0))
    mode = cv2.BORDER_REPLICATE if border == "edge" else cv2.BORDER_CONSTANT
    out = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=mode,
                         borderValue=(pad_value,) * 3)
    if out.ndim == 2:
        out = out[:, :, None]
    if aug.blur:
        sigma = rng.uniform(0.0, aug.blur)
        if sigma > 0.2:
            out = cv2.GaussianBlur(out, (0, 0), sigma)
            if out.ndim == 2:
                out = out[:, :, None]
    if aug.brightness or aug.contrast:
        x = out.astype(np.float32)
        gain = 1.0 + rng.uniform(-aug.brightness, aug.brightness)
        k = 1.0 + rng.uniform(-aug.contrast, aug.contrast)
        mean = float(x.mean())
        out = np.clip((mean + k * (x - mean)) * gain, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(out.transpose(2, 0, 1))


def normalise(batch: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    """uint8 (..., C, H, W) -> float32 (..., 3, H, W) normalised as crop_roi does."""
    x = batch.astype(np.float32) * (1.0 / 255.0)
    if x.shape[-3] == 1:
        x = np.repeat(x, 3, axis=-3)
    mean = np.asarray(spec["mean"], np.float32)[:, None, None]
    std = np.asarray(spec["std"], np.float32)[:, None, None]
    return (x - mean) / std


def _case_key(case: Case, spec: dict[str, Any], geometry: ContextGeometry) -> str:
    h = hashlib.sha256()
    stats = []
    for i in range(len(case.images)):
        p = case.image_path(i)
        st = p.stat() if p.exists() else None
        stats.append([str(p.resolve()), st.st_size if st else -1, st.st_mtime_ns if st else -1])
    h.update(json.dumps({"v": CACHE_VERSION, "case": case.to_dict(), "files": stats, "spec": spec,
                         "geometry": [geometry.factor, geometry.resolution]}, sort_keys=True,
                        default=str).encode())
    return h.hexdigest()[:32]


@dataclass
class CaseCrops:
    """All crops of one case, by ROI kind, in the case's ROI order."""

    rois: dict[str, list[Roi]]
    eval: dict[str, list[np.ndarray]]
    context: dict[str, list[np.ndarray]]


def _frames_needed(case: Case) -> dict[tuple[int, int], list[Roi]]:
    out: dict[tuple[int, int], list[Roi]] = {}
    for r in case.rois:
        out.setdefault((r.image, r.frame), []).append(r)
    return out


def case_crops(case: Case, spec: dict[str, Any], geometry: ContextGeometry, cache: Path | None) -> CaseCrops:
    """The crops of every ROI of ``case``, from the cache or cut now (and stored)."""
    from ultrasound_reader.dicom import open_cine

    key = _case_key(case, spec, geometry)
    path = cache / key[:2] / f"{key}.npz" if cache else None
    by_kind: dict[str, list[Roi]] = {}
    for r in case.rois:
        by_kind.setdefault(r.kind, []).append(r)
    if path is not None and path.is_file():
        try:
            with np.load(path) as z:
                ev = {k: [z[f"eval/{k}/{i}"] for i in range(len(v))] for k, v in by_kind.items()}
                cx = {k: [z[f"context/{k}/{i}"] for i in range(len(v))] for k, v in by_kind.items()}
            return CaseCrops(by_kind, ev, cx)
        except (KeyError, OSError, ValueError):
            pass  # a stale or truncated entry: cut again
    cut_by_id: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for (image, frame), rois in _frames_needed(case).items():
        file = case.image_path(image)
        if not file.is_file():
            raise UserError(f"case {case.case_id}: image file {file} not found")
        with open_cine(file) as cine:
            if frame >= cine.n_frames:
                raise UserError(f"case {case.case_id}: ROI on frame {frame}, but {file.name} has {cine.n_frames}")
            pixels = cine.frame(frame)
        role = case.images[image].role
        for r in rois:
            cut_by_id[r.id] = cut(pixels, r, spec, role, geometry, where=f"case {case.case_id}")
    ev = {k: [cut_by_id[r.id][0] for r in v] for k, v in by_kind.items()}
    cx = {k: [cut_by_id[r.id][1] for r in v] for k, v in by_kind.items()}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f"eval/{k}/{i}": a for k, v in ev.items() for i, a in enumerate(v)}
        arrays |= {f"context/{k}/{i}": a for k, v in cx.items() for i, a in enumerate(v)}
        tmp = path.with_name(path.stem + ".tmp.npz")
        np.savez(tmp, **arrays)
        tmp.replace(path)  # atomic: parallel ranks or a crash never leave half an entry
    return CaseCrops(by_kind, ev, cx)
