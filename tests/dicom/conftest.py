"""Helpers for the dicom tests: synthetic (PHANTOM) files written into tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ultrasound_reader.dicom.synth import speckle_frames, write_dicom


@pytest.fixture()
def make(tmp_path: Path) -> Callable[..., Path]:
    """make(name, frames, **write_dicom options) -> path of the written file."""

    def _make(name: str, frames: np.ndarray, **kwargs) -> Path:
        return write_dicom(tmp_path / f"{name}.dcm", frames, **kwargs)

    return _make


@pytest.fixture(scope="session")
def gray() -> np.ndarray:
    return speckle_frames(3, 48, 64, color=False, seed=3)


@pytest.fixture(scope="session")
def color() -> np.ndarray:
    return speckle_frames(3, 48, 64, color=True, seed=4)
