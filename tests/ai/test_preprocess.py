"""ROI crops: box, padding policies at the border, masks, colour, normalisation, mapping back."""

from __future__ import annotations

import numpy as np
import pytest

from ultrasound_reader.ai.preprocess import Crop, crop_roi, map_to_box, roi_box, to_color
from ultrasound_reader.case import Roi
from ultrasound_reader.errors import UserError

IDENTITY = {"mean": [0.0] * 3, "std": [1 / 255] * 3}  # pixels come out as their uint8 values


def spec(w: int, h: int, **kw: object) -> dict:
    return {"width": w, "height": h, "color": {"bmode": "gray3", "cdfi": "rgb"}, **IDENTITY, **kw}


def ramp(h: int = 50, w: int = 60) -> np.ndarray:
    """Pixel value = x + 2y (distinct, so a crop tells where it came from)."""
    y, x = np.mgrid[0:h, 0:w]
    return (x + 2 * y).astype(np.uint8)


def test_box_is_the_pixels_whose_centres_are_inside() -> None:
    r = Roi("lesion", "rectangle", [(10, 20), (19, 24)])
    assert roi_box(r) == (10, 20, 20, 25)
    assert roi_box(Roi("lesion", "rectangle", [(10.4, 20.5), (19.6, 24.2)])) == (11, 21, 20, 25)
    assert roi_box(r, margin=1.0) == (6, 18, 24, 27)  # outline 9 x 4 grown by 4.5 and 2 on each side


def test_rectangle_crop_at_native_size_is_exact() -> None:
    img = ramp()
    c = crop_roi(img, Roi("lesion", "rectangle", [(10, 20), (19, 24)]), spec(10, 5))
    assert c.pixels.shape == (3, 5, 10) and c.box == (10, 20, 20, 25) and c.image_size == (60, 50)
    np.testing.assert_allclose(c.pixels[0], img[20:25, 10:20], atol=1e-3)
    np.testing.assert_allclose(c.pixels[0], c.pixels[2])  # gray replicated


@pytest.mark.parametrize("pad", ["constant", "edge", "clip"])
def test_padding_policies_at_the_border(pad: str) -> None:
    img = ramp()
    roi = Roi("lesion", "rectangle", [(-5, -3), (4, 6)])  # box (-5,-3)-(5,7): 10 x 10, partly outside
    s = spec(10, 10, pad=pad, pad_value=7) if pad != "clip" else spec(5, 7, pad=pad)
    c = crop_roi(img, roi, s)
    got = np.rint(c.pixels[0]).astype(int)
    if pad == "constant":
        assert c.box == (-5, -3, 5, 7)
        assert (got[:3, :] == 7).all() and (got[:, :5] == 7).all()
        np.testing.assert_array_equal(got[3:, 5:], img[0:7, 0:5])
    elif pad == "edge":
        np.testing.assert_array_equal(got[3:, 5:], img[0:7, 0:5])
        np.testing.assert_array_equal(got[:3, 5:], np.repeat(img[0:1, 0:5], 3, axis=0))
        assert got[0, 0] == img[0, 0]
    else:
        assert c.box == (0, 0, 5, 7)
        np.testing.assert_array_equal(got, img[0:7, 0:5])


def test_mask_outside_blanks_what_is_not_in_the_outline() -> None:
    img = np.full((40, 40), 200, np.uint8)
    tri = Roi("lesion", "polygon", [(0, 0), (19, 0), (0, 19)])
    c = crop_roi(img, tri, spec(20, 20, mask_outside=True, pad_value=0))
    got = np.rint(c.pixels[0])
    assert got[1, 1] == 200 and got[18, 18] == 0  # inside corner kept, far corner blanked
    plain = crop_roi(img, tri, spec(20, 20))
    assert (np.rint(plain.pixels[0]) == 200).all()


def test_resize_colour_and_normalisation() -> None:
    rgb = np.zeros((30, 30, 3), np.uint8)
    rgb[..., 0] = 255
    roi = Roi("mass", "rectangle", [(0, 0), (29, 29)])
    s = {"width": 8, "height": 6, "color": {"bmode": "gray3", "cdfi": "rgb"},
         "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    c = crop_roi(rgb, roi, s, role="cdfi")
    assert c.pixels.shape == (3, 6, 8) and c.pixels.dtype == np.float32
    np.testing.assert_allclose(c.pixels[:, 0, 0], [(1 - 0.485) / 0.229, -0.456 / 0.224, -0.406 / 0.225], atol=1e-5)
    g = crop_roi(rgb, roi, s, role="bmode")  # B-mode: luma replicated in all three channels
    luma = 0.299 * 255 / 255
    np.testing.assert_allclose(g.pixels[:, 0, 0] * np.array(s["std"]) + s["mean"], [luma] * 3, atol=2e-2)
    assert to_color(np.zeros((4, 4), np.uint8), "rgb").shape == (4, 4, 3)


@pytest.mark.parametrize("points, message", [
    ([(10, 10), (10, 30)], "zero or near-zero area"),
    ([(10.2, 10.2), (10.8, 10.8)], "zero or near-zero area"),
    ([(100, 100), (120, 130)], "lies outside the 60x50 image"),
    ([(-30, -30), (-2, -1)], "lies outside"),
])
def test_bad_rois_are_refused(points: list, message: str) -> None:
    with pytest.raises(UserError, match=message):
        crop_roi(ramp(), Roi("lesion", "rectangle", points, id="r1"), spec(8, 8), where="image 0")


def test_map_to_box_clips_to_the_image() -> None:
    crop = Crop("r", np.zeros((3, 4, 4), np.float32), (-10, 5, 30, 25), (20, 100))
    heat = np.arange(16, dtype=np.float32).reshape(4, 4)
    bbox, full = map_to_box(heat, crop)
    assert bbox == (0, 5, 20, 25) and full.shape == (20, 20)
    # The right part of the map survives: its last column is the map's right edge.
    assert full[0, -1] == pytest.approx(heat[0, 2] + (heat[0, 3] - heat[0, 2]) * 0.75, abs=0.3)
