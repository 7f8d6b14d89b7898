"""Grad-CAM without a backward pass through the trunk, plus the reference and overlays.

Grad-CAM (Selvaraju et al. 2017) weighs the channels of the last convolutional map
``A`` (C x h x w) by ``alpha_k = mean_ij dy/dA_kij`` and keeps ``ReLU(sum_k alpha_k A_k)``.
Every network here pools that map by global average pooling before its head, so
``dy/dA_kij = (1/hw) dy/dp_k`` with ``p = GAP(A)``: the weights are the gradient of
the output with respect to the pooled features, divided by ``h*w``. Only the (tiny)
head needs a backward pass, for a whole batch at once; for a purely linear head the
gradient is just its effective weight vector. ``autograd_cam`` is the textbook
version (hooks, full backward) that tests and the benchmark baseline compare with.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported where used: the GUI uses the overlays without torch
    from ultrasound_reader.case import CamMap
    from torch import Tensor, nn

_COLORMAPS = {"jet": "COLORMAP_JET", "turbo": "COLORMAP_TURBO", "inferno": "COLORMAP_INFERNO",
              "viridis": "COLORMAP_VIRIDIS", "hot": "COLORMAP_HOT", "magma": "COLORMAP_MAGMA"}


def head_gradients(head: Callable[..., Tensor], pooled: Sequence[Tensor]) -> tuple[Tensor, list[Tensor]]:
    """Run ``head(*pooled) -> (B,)`` outputs and their gradients w.r.t. each pooled input.

    The batch rows are independent in eval mode (BatchNorm uses running statistics,
    dropout is off), so the gradient of the summed outputs gives every row's own
    gradient in one backward pass through the head alone.
    """
    import torch

    leaves = [p.detach().requires_grad_(True) for p in pooled]
    with torch.enable_grad():
        out = head(*leaves)
        grads = torch.autograd.grad(out.sum(), leaves, allow_unused=True)
    return out.detach(), [torch.zeros_like(p) if g is None else g for p, g in zip(leaves, grads)]


def cam_from_pooled_grad(fmap: Tensor, pooled_grad: Tensor, method: str = "gradcam") -> Tensor:
    """Grad-CAM maps (B, h, w), unnormalised, from the feature map and d output / d GAP(fmap)."""
    import torch

    h, w = fmap.shape[-2:]
    g = pooled_grad / (h * w)  # = dy/dA_kij at every position ij
    if method == "gradcam":
        weights = g
    elif method == "gradcam++":
        # Grad-CAM++ with the usual exponential-output approximation (powers of the first
        # derivative); the gradient is constant over positions after GAP, so it is per channel.
        g2, g3 = g**2, g**3
        denom = 2 * g2 + fmap.sum(dim=(2, 3)) * g3
        alpha = g2 / torch.where(denom != 0, denom, torch.ones_like(denom))
        weights = alpha * torch.relu(g) * (h * w)
    else:
        raise ValueError(f"unknown CAM method {method!r}")
    return torch.relu(torch.einsum("bk,bkhw->bhw", weights, fmap))


def autograd_cam(trunk: nn.Module, head: Callable[[Tensor], Tensor], x: Tensor) -> tuple[Tensor, Tensor]:
    """Textbook Grad-CAM: full forward with a retained feature map, full backward.

    ``head`` maps the feature map (B, C, h, w) to outputs (B,). Returns (outputs, maps).
    """
    import torch

    with torch.enable_grad():
        x = x.detach().requires_grad_(True)  # gradients flow through the whole trunk
        fmap = trunk(x)
        fmap.retain_grad()
        out = head(fmap)
        out.sum().backward()
        alpha = fmap.grad.mean(dim=(2, 3))
        cam = torch.relu((alpha[:, :, None, None] * fmap).sum(1))
    return out.detach(), cam.detach()


def normalise(cams: np.ndarray) -> np.ndarray:
    """Scale each map to [0, 1] by its maximum (an all-zero map stays zero)."""
    cams = np.asarray(cams, dtype=np.float32)
    peak = cams.reshape(len(cams), -1).max(axis=1) if len(cams) else np.zeros(0, np.float32)
    scale = np.where(peak > 0, 1.0 / np.where(peak > 0, peak, 1.0), 0.0).astype(np.float32)
    return np.clip(cams * scale[:, None, None], 0.0, 1.0)


def colorize(heat: np.ndarray, cmap: str = "jet") -> np.ndarray:
    """H x W x 3 uint8 RGB colour-mapped heat (heat in [0, 1])."""
    from ultrasound_reader.imageops import colormap

    if cmap not in _COLORMAPS:
        raise ValueError(f"unknown colour map {cmap!r} (known: {', '.join(_COLORMAPS)})")
    return colormap(np.clip(heat * 255.0 + 0.5, 0, 255).astype(np.uint8), cmap)


def feather_px(outline: np.ndarray) -> float:
    """The default soft-edge width for an ROI: 12 % of its smaller extent, 2 to 12 pixels."""
    pts = np.asarray(outline, dtype=float)
    extent = float(min(np.ptp(pts[:, 0]), np.ptp(pts[:, 1]))) if len(pts) else 0.0
    return float(min(max(0.12 * extent, 2.0), 12.0))


def soft_mask(outline: np.ndarray, height: int, width: int, feather: float | None = None,
              origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Float32 (height, width) weights in [0, 1]: 1 well inside the closed ``outline``, 0 outside.

    ``outline`` is (N, 2) image (x, y) vertices (``Roi.outline()``), pixel centres at
    integers; ``origin`` is the image pixel of element [0, 0]. The weight rises from 0
    at the outline to 1 at ``feather`` pixels inside it (smoothstep of the Euclidean
    distance to the outside), so a map masked by it has no hard edge anywhere: not at
    the outline and not at the map's box, which the outline never crosses.
    """
    from scipy.ndimage import distance_transform_edt

    from ultrasound_reader.case import outline_mask

    pts = np.asarray(outline, dtype=np.float64)
    if height <= 0 or width <= 0 or pts.ndim != 2 or len(pts) < 3 or not np.isfinite(pts).all():
        return np.zeros((max(height, 0), max(width, 0)), np.float32)
    f = feather_px(pts) if feather is None else float(feather)
    pad = int(math.ceil(max(f, 1.0))) + 2  # distances measured past the array's own edge
    # The ROI's own pixels (Roi.mask: centres inside the outline or on it), on a padded array.
    inside = outline_mask(pts, height + 2 * pad, width + 2 * pad, origin=(origin[0] - pad, origin[1] - pad))
    if f <= 0:
        return inside[pad:pad + height, pad:pad + width].astype(np.float32)
    # Exact Euclidean distance to the nearest outside centre. Measured over the ROI's box and a
    # ring of one pixel: that ring is outside, so no centre beyond it can be nearer (exact, cheap).
    dist = np.zeros(inside.shape, np.float64)
    rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
    if len(rows):
        r0, r1 = max(rows[0] - 1, 0), rows[-1] + 2
        c0, c1 = max(cols[0] - 1, 0), cols[-1] + 2
        crop = inside[r0:r1, c0:c1]
        # An outline around the whole padded region leaves no outside centre: full weight everywhere.
        dist[r0:r1, c0:c1] = distance_transform_edt(crop) if not crop.all() else np.inf
    t = np.clip((dist - 1.0) / f, 0.0, 1.0)  # the outermost filled pixels (on the outline) weigh 0
    weight = (t * t * (3.0 - 2.0 * t)).astype(np.float32)
    return np.ascontiguousarray(weight[pad:pad + height, pad:pad + width])


def roi_mask(cams: Sequence[CamMap], outlines: Mapping[str, np.ndarray] | None, height: int, width: int,
             origin: tuple[int, int] = (0, 0)) -> np.ndarray | None:
    """Soft weights over a region for these maps: their ROI's soft mask, or 1 over the box of a map without outline."""
    if not outlines:
        return None
    ox, oy = origin
    mask = np.zeros((height, width), np.float32)
    done: set[str] = set()
    for c in cams:
        outline = outlines.get(c.roi_id)
        if outline is None:
            x0, y0, x1, y1 = (int(v) for v in c.bbox)
            mask[max(y0 - oy, 0):max(y1 - oy, 0), max(x0 - ox, 0):max(x1 - ox, 0)] = 1.0
        elif c.roi_id not in done:
            done.add(c.roi_id)
            weight = soft_mask(outline, height, width, origin=origin)
            # Where the outline reaches past the map's box (an ROI at the image's edge), the box edge
            # fades too: no straight cut anywhere.
            x0, y0, x1, y1 = (float(v) for v in c.bbox)
            box = np.array([[x0 - 0.5, y0 - 0.5], [x1 - 0.5, y0 - 0.5], [x1 - 0.5, y1 - 0.5], [x0 - 0.5, y1 - 0.5]])
            if not _inside_box(outline, box):
                weight *= soft_mask(box, height, width, feather=feather_px(outline), origin=origin)
            np.maximum(mask, weight, out=mask)
    return mask


def _inside_box(outline: np.ndarray, box: np.ndarray) -> bool:
    pts = np.asarray(outline, float)
    return bool((pts.min(axis=0) >= box.min(axis=0)).all() and (pts.max(axis=0) <= box.max(axis=0)).all())


def overlay_rgba(cams: Sequence[object], height: int, width: int, *, cmap: str = "jet",
                 opacity: float = 0.5, alpha_by_heat: bool = True, mask: np.ndarray | None = None) -> np.ndarray:
    """RGBA (H x W x 4 uint8) overlay of CamMaps placed at their boxes in the full image.

    Where maps overlap the larger heat wins. Alpha is ``opacity`` (times the heat with
    ``alpha_by_heat``, so cold areas stay see-through); outside every map it is 0.
    ``mask`` (H x W weights in [0, 1], e.g. :func:`soft_mask` of the ROI outlines)
    multiplies the alpha: the map shown inside the ROI with a soft edge, not as a box.
    """
    heat = np.zeros((height, width), np.float32)
    covered = np.zeros((height, width), bool)
    for c in cams:
        x0, y0, x1, y1 = (int(v) for v in c.bbox)  # type: ignore[attr-defined]
        hm = c.heat  # type: ignore[attr-defined]
        # Clip to this image (analysis maps are inside already; a caller's may not be).
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
        if cx1 <= cx0 or cy1 <= cy0:
            continue
        sub = hm[cy0 - y0: cy1 - y0, cx0 - x0: cx1 - x0]
        heat[cy0:cy1, cx0:cx1] = np.maximum(heat[cy0:cy1, cx0:cx1], sub)
        covered[cy0:cy1, cx0:cx1] = True
    rgba = np.zeros((height, width, 4), np.uint8)
    rgba[:, :, :3] = colorize(heat, cmap)
    alpha = opacity * (heat if alpha_by_heat else np.ones_like(heat))
    if mask is not None:
        if mask.shape != (height, width):
            raise ValueError(f"overlay mask is {mask.shape[1]}x{mask.shape[0]}, the overlay {width}x{height}")
        alpha = alpha * np.clip(mask, 0.0, 1.0)
    rgba[:, :, 3] = np.where(covered, np.clip(alpha * 255.0 + 0.5, 0, 255), 0).astype(np.uint8)
    return rgba


def blend(image: np.ndarray, rgba: np.ndarray) -> np.ndarray:
    """The image (gray or RGB uint8) with an RGBA overlay composited on it, as RGB uint8."""
    rgb = image if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)
    a = rgba[:, :, 3:4].astype(np.float32) / 255.0
    return (rgb[:, :, :3].astype(np.float32) * (1 - a) + rgba[:, :, :3].astype(np.float32) * a + 0.5).astype(np.uint8)
