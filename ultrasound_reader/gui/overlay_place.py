"""Where the corner text goes so that it covers neither the scanner's burned-in text nor the image data (Qt-free).

Scanner frames carry their own text (site, probe, MI/TIS, depth scale) in the black
surround, usually in the very corners where a viewer puts its own overlay. The
placement here is cheap and done once per cine, not per frame:

* :func:`occupancy` marks the pixels of a frame that carry something: anything
  brighter than a near-black threshold (text, tissue, colour bars), grown by a few
  pixels, plus the image-data rectangles of SequenceOfUltrasoundRegions (a dark
  cyst inside the sector is data, not free space, though covering it is better than
  covering text: it weighs less). A summed-area table makes the
  count of marked pixels under any rectangle four lookups.
* :func:`place_labels` puts each corner's label at the spot nearest its corner
  (within a reach of the view's size) that covers the fewest marked pixels, and
  never over a label placed before it. Pixels outside the image (letterbox bars)
  are free, so a label stays in its corner whenever the corner is free.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

DARK_THRESHOLD = 40  # a pixel brighter than this (any channel) carries something
GROW_PX = 3  # marks grow by this much, so text is not touched
MARGIN_PX = 8  # a label's preferred distance from the view's edge
MIN_MARGIN_PX = 2  # ... and the least it may have when that avoids text
STEP_PX = 4  # candidate positions lie on this grid
CONTENT_WEIGHT = 8  # a marked pixel of text or tissue weighs this much; an empty pixel of a data region 1
REACH = (0.3, 0.35)  # how far (fraction of the view's width, height) a label may move from its corner
CORNERS = ("tl", "tr", "bl", "br")


@dataclass(frozen=True)
class Occupancy:
    """Summed-area table of the marked pixels of one frame (image pixel coordinates), weighted."""

    table: np.ndarray  # (rows + 1, columns + 1) int64

    @property
    def shape(self) -> tuple[int, int]:
        return self.table.shape[0] - 1, self.table.shape[1] - 1

    def count(self, x0: np.ndarray | float, y0: np.ndarray | float, x1: np.ndarray | float,
              y1: np.ndarray | float) -> np.ndarray:
        """Weight of the marked pixels with centres in [x0, x1) x [y0, y1) (arrays broadcast); 0 outside the image."""
        h, w = self.shape
        c0 = np.clip(np.ceil(np.asarray(x0, float) - 0.5), 0, w).astype(np.int64)
        c1 = np.clip(np.ceil(np.asarray(x1, float) - 0.5), 0, w).astype(np.int64)
        r0 = np.clip(np.ceil(np.asarray(y0, float) - 0.5), 0, h).astype(np.int64)
        r1 = np.clip(np.ceil(np.asarray(y1, float) - 0.5), 0, h).astype(np.int64)
        c1, r1 = np.maximum(c1, c0), np.maximum(r1, r0)
        t = self.table
        return t[r1, c1] - t[r0, c1] - t[r1, c0] + t[r0, c0]


def occupancy(frame: np.ndarray, regions: Iterable[tuple[int, int, int, int]] = (),
              threshold: int = DARK_THRESHOLD, grow: int = GROW_PX) -> Occupancy:
    """Mark what a frame (uint8 gray or RGB) carries, plus the given image-data rectangles (x0, y0, x1, y1 inclusive)."""
    gray = frame if frame.ndim == 2 else frame.max(axis=2)
    marked = (np.asarray(gray) > threshold).astype(np.uint8)
    if grow > 0:
        marked = grow_square(marked, grow)
    marked *= CONTENT_WEIGHT
    h, w = marked.shape
    for x0, y0, x1, y1 in regions:
        area = marked[max(int(y0), 0):max(min(int(y1) + 1, h), 0), max(int(x0), 0):max(min(int(x1) + 1, w), 0)]
        np.maximum(area, 1, out=area)
    table = np.zeros((h + 1, w + 1), np.int64)
    table[1:, 1:] = marked.cumsum(axis=0, dtype=np.int64).cumsum(axis=1)
    return Occupancy(table)


def grow_square(marked: np.ndarray, grow: int) -> np.ndarray:
    """Dilation of a 2-D array by a (2 grow + 1)-pixel square, nothing beyond the edges (as cv2.dilate)."""
    from scipy.ndimage import maximum_filter

    return maximum_filter(marked, size=2 * grow + 1, mode="constant", cval=0)


@dataclass(frozen=True)
class ViewMap:
    """Widget pixel = scale * image coordinate + offset (per axis); pixel centres at integer image coordinates."""

    sx: float
    ox: float
    sy: float
    oy: float

    def to_image(self, wx: np.ndarray, wy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (np.asarray(wx, float) - self.ox) / self.sx, (np.asarray(wy, float) - self.oy) / self.sy


def _candidates(corner: str, size: tuple[float, float], view: tuple[float, float],
                margin: float, reach: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-left positions near ``corner`` and their distance from its preferred spot."""
    (lw, lh), (vw, vh) = size, view
    span_x = max(reach[0] * vw, 0.0)
    span_y = max(reach[1] * vh, 0.0)
    offs_x = np.concatenate([np.arange(MIN_MARGIN_PX, margin, STEP_PX / 2), np.arange(margin, margin + span_x + 1, STEP_PX)])
    offs_y = np.concatenate([np.arange(MIN_MARGIN_PX, margin, STEP_PX / 2), np.arange(margin, margin + span_y + 1, STEP_PX)])
    xs = offs_x if corner.endswith("l") else vw - lw - offs_x
    ys = offs_y if corner.startswith("t") else vh - lh - offs_y
    gx, gy = np.meshgrid(xs, ys)
    dist = np.abs(np.meshgrid(offs_x, offs_y)[0] - margin) + np.abs(np.meshgrid(offs_x, offs_y)[1] - margin)
    return gx.ravel(), gy.ravel(), dist.ravel()


def place_labels(sizes: Mapping[str, tuple[float, float]], view: tuple[float, float], vmap: ViewMap | None,
                 occ: Occupancy | None, margin: float = MARGIN_PX,
                 reach: tuple[float, float] = REACH) -> dict[str, tuple[float, float]]:
    """Top-left widget position of each corner's label (``sizes``: corner -> (width, height) in widget pixels).

    Without an occupancy (no frame) or view map, labels sit in their corners. A
    label is never placed over one placed before it (order: tl, tr, bl, br); when no
    spot near its corner is free, the one covering the fewest marked pixels wins.
    """
    vw, vh = view
    out: dict[str, tuple[float, float]] = {}
    taken: list[tuple[float, float, float, float]] = []
    for corner in CORNERS:
        if corner not in sizes:
            continue
        lw, lh = sizes[corner]
        xs, ys, dist = _candidates(corner, (lw, lh), view, margin, reach)
        keep = (xs >= 0) & (ys >= 0) & (xs + lw <= vw + 1e-6) & (ys + lh <= vh + 1e-6)
        if not keep.any():  # a view smaller than the label: the corner, as before
            out[corner] = (max(0.0, margin if corner.endswith("l") else vw - lw - margin),
                           max(0.0, margin if corner.startswith("t") else vh - lh - margin))
            taken.append((*out[corner], out[corner][0] + lw, out[corner][1] + lh))
            continue
        xs, ys, dist = xs[keep], ys[keep], dist[keep]
        cost = dist.astype(float)
        if occ is not None and vmap is not None:
            ix0, iy0 = vmap.to_image(xs, ys)
            ix1, iy1 = vmap.to_image(xs + lw, ys + lh)
            covered = occ.count(np.minimum(ix0, ix1), np.minimum(iy0, iy1), np.maximum(ix0, ix1), np.maximum(iy0, iy1))
            # Covering nothing beats being close (a couple of stray bright pixels are noise).
            cost = cost + np.maximum(covered - 2, 0).astype(float) * 1e4
        for ax0, ay0, ax1, ay1 in taken:
            overlap = (xs < ax1 + 4) & (xs + lw + 4 > ax0) & (ys < ay1 + 4) & (ys + lh + 4 > ay0)
            cost = cost + overlap * 1e12
        best = int(np.argmin(cost))
        out[corner] = (float(xs[best]), float(ys[best]))
        taken.append((xs[best], ys[best], xs[best] + lw, ys[best] + lh))
    return out
