"""The reading path's geometry without OpenCV: each port against OpenCV as the oracle.

Douglas-Peucker (case_rules.approx_closed_polygon vs cv2.approxPolyDP: it decides the
stored freehand outlines, so equal vertices are required), the square dilation of the
corner-text placement (vs cv2.dilate), the ROI outlines of the exports (vs
cv2.polylines LINE_AA: same place and about the same weight, not the same pixels).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ultrasound_reader.case import Roi
from ultrasound_reader.case_rules import approx_closed_polygon, simplify_freehand
from ultrasound_reader.gui.overlay_place import grow_square


def _outline(rng: np.random.Generator, kind: int) -> np.ndarray:
    n = int(rng.integers(4, 300))
    if kind == 0:  # a wobbly closed trace, as a hand draws one
        a = np.sort(rng.random(n)) * 2 * np.pi
        r = 50 + rng.normal(0, 5, n).cumsum() * 0.3
        pts = np.c_[100 + r * np.cos(a), 100 + r * np.sin(a)]
    elif kind == 1:  # a random walk
        pts = rng.normal(0, 2, (n, 2)).cumsum(0)
    elif kind == 2:  # on the pixel grid: horizontal and vertical runs
        pts = np.round(rng.normal(0, 1.5, (n, 2)).cumsum(0))
    else:  # scattered points
        pts = rng.random((n, 2)) * 100
    pts = pts.astype(np.float32)
    keep = np.ones(len(pts), bool)
    keep[1:] = np.any(np.abs(np.diff(pts, axis=0)) > 1e-6, axis=1)
    return pts[keep]


def test_douglas_peucker_port_equals_opencv_on_random_outlines():
    rng = np.random.default_rng(20261201)
    compared = 0
    for t in range(800):
        pts = _outline(rng, t % 4)
        eps = float(rng.choice([0.0, 0.5, 1.0, 1.5, 3.0, 10.0]))
        try:
            ref = cv2.approxPolyDP(pts.reshape(-1, 1, 2), eps, True)[:, 0, :]
        except cv2.error:  # a slice whose ends coincide: OpenCV asserts, the port goes on
            assert len(approx_closed_polygon(pts, eps)) >= 1
            continue
        ours = approx_closed_polygon(pts, eps)
        assert ours.dtype == np.float32 and ours.shape == ref.shape and np.array_equal(ours, ref), (t, eps)
        compared += 1
    assert compared > 700


def test_simplify_freehand_keeps_the_hands_points_within_tolerance():
    a = np.linspace(0, 2 * np.pi, 2000, endpoint=False)
    trace = np.c_[120 + 60 * np.cos(a), 90 + 40 * np.sin(a)] + 0.01 * np.sin(37 * a)[:, None]
    out = simplify_freehand(trace, 1.0)
    assert 8 < len(out) < 200
    src = {tuple(p) for p in trace.tolist()}
    assert all(p in src for p in out)  # the hand's own float64 coordinates
    roi = Roi("lesion", "polygon", out)
    # every traced point lies within about the tolerance of the simplified outline
    poly = np.asarray(out, float)
    seg_a, seg_b = poly, np.roll(poly, -1, axis=0)
    d = seg_b - seg_a
    t = np.clip(((trace[:, None, :] - seg_a) * d).sum(-1) / (d * d).sum(-1), 0, 1)
    dist = np.linalg.norm(trace[:, None, :] - (seg_a + t[..., None] * d), axis=-1).min(axis=1)
    assert dist.max() <= 1.0 + 1e-6
    assert roi.area_px() == pytest.approx(np.pi * 60 * 40, rel=0.05)  # chords within 1 px of the ellipse


@pytest.mark.parametrize("grow", [1, 3, 5])
def test_grow_square_equals_cv2_dilate(grow):
    rng = np.random.default_rng(grow)
    for _ in range(60):
        h, w = (int(v) for v in rng.integers(1, 50, 2))
        marked = (rng.random((h, w)) < rng.random() * 0.1).astype(np.uint8)
        ref = cv2.dilate(marked, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
        assert np.array_equal(grow_square(marked, grow), ref)


def test_export_roi_outlines_are_antialiased_where_opencv_drew_them():
    from ultrasound_reader.export.render import ROI_COLOURS, _draw_rois

    rng = np.random.default_rng(3)
    frame = rng.integers(0, 80, (120, 160, 3), dtype=np.uint8)
    rois = [Roi("lesion", "ellipse", [(30.0, 20.0), (110.0, 90.0)]),
            Roi("background", "rectangle", [(120.0, 10.0), (150.0, 40.0)])]
    ours = _draw_rois(frame, rois)
    ref = frame.copy()
    for r in rois:
        pts = np.round(r.outline()).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(ref, [pts], True, ROI_COLOURS[r.kind], 2, cv2.LINE_AA)
    touched, ref_touched = (ours != frame).any(axis=2), (ref != frame).any(axis=2)
    assert 0.7 < touched.sum() / ref_touched.sum() < 1.3  # about the same weight of line
    assert (touched & ref_touched).sum() > 0.7 * ref_touched.sum()  # in the same place
    exact = (ours == np.array(ROI_COLOURS["lesion"], np.uint8)).all(axis=2).sum()
    assert 0 < exact < touched.sum()  # a solid core and partly covered (anti-aliased) edge pixels
    assert np.array_equal(ours[60, 70], frame[60, 70])  # inside, away from the line: untouched
