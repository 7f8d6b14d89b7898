"""Fixtures of the ai tests: small random bundles (made once) and PHANTOM cases in tmp folders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from ultrasound_reader.case import Case, ClinicalFactors, ImageRef, Roi

MM_PER_PX = 0.2  # calibration of the DICOM test images (0.02 cm per pixel)


@pytest.fixture(autouse=True, scope="session")
def _two_threads() -> None:
    import torch

    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def fll_bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ultrasound_reader.ai.bundle import make_random_bundle

    return make_random_bundle(tmp_path_factory.mktemp("bundles") / "fll", "liver-fll", small=True, seed=1)


@pytest.fixture(scope="session")
def soft_bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ultrasound_reader.ai.bundle import make_random_bundle

    return make_random_bundle(tmp_path_factory.mktemp("bundles") / "soft", "soft-tissue", small=True, seed=2)


def speckle(rows: int, cols: int, seed: int, color: bool = False) -> np.ndarray:
    """PHANTOM B-mode-like speckle (Rayleigh) image, uint8."""
    rng = np.random.default_rng(seed)
    img = np.clip(rng.rayleigh(60.0, (rows, cols)), 0, 255).astype(np.uint8)
    if color:
        img = np.repeat(img[:, :, None], 3, axis=2)
        img[rows // 3: rows // 2, cols // 3: cols // 2] = (200, 30, 30)  # a "flow" blob
    return img


def write_image(folder: Path, name: str, img: np.ndarray, calibrated: bool) -> str:
    """Write a calibrated one-frame DICOM (ultrasound regions) or an uncalibrated PNG."""
    if calibrated:
        from ultrasound_reader.dicom.synth import write_dicom

        rows, cols = img.shape[:2]
        write_dicom(folder / f"{name}.dcm", img[None],
                    regions=[{"x0": 0, "y0": 0, "x1": cols - 1, "y1": rows - 1, "data_type": 1,
                              "delta_x": MM_PER_PX / 10, "delta_y": MM_PER_PX / 10}])
        return f"{name}.dcm"
    bgr = img[:, :, ::-1] if img.ndim == 3 else img
    cv2.imwrite(str(folder / f"{name}.png"), bgr)
    return f"{name}.png"


@pytest.fixture
def fll_case(tmp_path: Path) -> Callable[..., Case]:
    """Make an FLL case: 2 images, n lesion + m background ROIs, all factors recorded."""

    def make(n_lesion: int = 4, n_background: int = 4, calibrated: bool = True, lesion_px: int = 80,
             factors: ClinicalFactors | None = None) -> Case:
        images = []
        for i in range(2):
            img = speckle(240, 320, seed=i)
            images.append(ImageRef(write_image(tmp_path, f"liver{i}", img, calibrated)))
        rois = []
        for k in range(n_lesion):
            x, y = 20 + 10 * k, 30 + 5 * k
            shape = ("rectangle", "ellipse", "polygon", "freehand")[k % 4]
            pts = ([(x, y), (x + lesion_px, y + lesion_px * 0.8)] if shape in ("rectangle", "ellipse")
                   else [(x, y), (x + lesion_px, y + 10), (x + lesion_px // 2, y + lesion_px)])
            rois.append(Roi("lesion", shape, pts, image=k % 2))
        for k in range(n_background):
            rois.append(Roi("background", "rectangle", [(200, 120 + 5 * k), (300, 200 + 5 * k)], image=k % 2))
        f = factors if factors is not None else ClinicalFactors(
            age=62, sex="M", hepatitis=1, tumour_history=False, halo=True, vascularity=False)
        case = Case("liver-fll", "PHANTOM-fll", images=images, rois=rois, factors=f)
        case.save(tmp_path)
        return case

    return make


@pytest.fixture
def soft_case(tmp_path: Path) -> Callable[..., Case]:
    """Make a soft-tissue case: one grayscale and one CDFI image, a mass ROI on each."""

    def make(calibrated: bool = True, cdfi: bool = True) -> Case:
        images = [ImageRef(write_image(tmp_path, "gray", speckle(200, 300, 5), calibrated), role="bmode")]
        rois = [Roi("mass", "ellipse", [(60, 40), (220, 140)], image=0)]
        if cdfi:
            images.append(ImageRef(write_image(tmp_path, "cdfi", speckle(200, 300, 6, color=True), calibrated),
                                   role="cdfi"))
            rois.append(Roi("mass", "rectangle", [(50, 30), (230, 150)], image=1))
        case = Case("soft-tissue", "PHANTOM-soft", images=images, rois=rois)
        case.save(tmp_path)
        return case

    return make
