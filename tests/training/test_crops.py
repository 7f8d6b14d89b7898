"""Training crops: the identity augmentation reproduces the analysis crop; flips and zoom do what they say."""

from __future__ import annotations

import numpy as np

from ultrasound_reader.case import Roi
from ultrasound_reader.training.crops import ContextGeometry, augment, cut, normalise
from ultrasound_reader.ai.preprocess import crop_roi
from ultrasound_reader.training.config import AugmentConfig

SPEC = {"width": 48, "height": 32, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
        "color": {"bmode": "gray3"}, "pad": "constant", "pad_value": 0, "roi_margin": 0.1}


def _frame() -> np.ndarray:
    # A smooth, asymmetric picture: resampling differences stay small, flips are visible.
    y, x = np.mgrid[0:200, 0:300].astype(float)
    return (80 + 60 * np.sin(x / 23.0) * np.cos(y / 31.0) + 0.3 * x).clip(0, 255).astype(np.uint8)


def test_eval_crop_is_the_analyzers_crop_and_identity_view_matches_it() -> None:
    frame, roi = _frame(), Roi("lesion", "ellipse", [(60, 40), (200, 130)])
    g = ContextGeometry.for_augment((0.85, 1.15), 0.08)
    ev, ctx = cut(frame, roi, SPEC, "bmode", g)
    assert ev.shape == (1, 32, 48) and ctx.shape[0] == 1 and ctx.shape[1] > 32
    # Normalised, the stored eval crop equals crop_roi's network input.
    assert np.allclose(normalise(ev, SPEC), crop_roi(frame, roi, SPEC).pixels, atol=1e-5)
    rng = np.random.default_rng(0)
    ident = augment(ctx, (48, 32), g, rng, AugmentConfig((1.0, 1.0), 0.0, False, False, 0.0))
    assert np.abs(ident.astype(float) - ev.astype(float)).mean() < 2.0
    flip = AugmentConfig((1.0, 1.0), 0.0, True, False, 0.0)
    flipped = augment(ctx, (48, 32), g, np.random.default_rng(1), flip)
    flips = [augment(ctx, (48, 32), g, np.random.default_rng(s), flip)
             for s in range(8)]
    assert any(np.abs(f.astype(float) - ev[:, :, ::-1]).mean() < 2.0 for f in flips + [flipped])
    zoomed = augment(ctx, (48, 32), g, rng, AugmentConfig((0.85, 0.85), 0.0, False, False, 0.0))
    # Zooming out shows context: the view differs from the box crop.
    assert np.abs(zoomed.astype(float) - ev.astype(float)).mean() > 2.0


def test_intensity_augmentations_change_gain_contrast_and_sharpness() -> None:
    frame, roi = _frame(), Roi("lesion", "rectangle", [(60, 40), (200, 130)])
    g = ContextGeometry.for_augment((1.0, 1.0), 0.0)
    ev, ctx = cut(frame, roi, SPEC, "bmode", g)
    base = AugmentConfig((1.0, 1.0), 0.0, False, False, 0.0)
    views = [augment(ctx, (48, 32), g, np.random.default_rng(s), AugmentConfig((1.0, 1.0), 0.0, False, False, 0.3,
                                                                              contrast=0.3, blur=2.0))
             for s in range(6)]
    ident = augment(ctx, (48, 32), g, np.random.default_rng(0), base).astype(float)
    means = [v.mean() for v in views]
    assert max(means) - min(means) > 5  # gain varies
    assert len({round(float(v.std()), 1) for v in views}) > 3  # contrast / blur vary
    assert all(v.shape == ident.shape and v.dtype == np.uint8 for v in views)
