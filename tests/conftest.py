"""Shared fixtures. Tests never need a display: Qt runs offscreen."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# the GUI's crash log (gui/crash.py) goes here, not into the user's data folder
os.environ.setdefault("ULTRASOUND_READER_LOG_DIR", os.path.join(tempfile.gettempdir(), "ultrasound-reader-test-logs"))

REPO = Path(__file__).resolve().parents[1]


def _shared_dir() -> Path:
    # CI clones the repository with shared/ beside it; a checkout may also carry it inside.
    for candidate in (REPO.parent / "shared", REPO / "shared"):
        if (candidate / "dicom-samples").is_dir():
            return candidate
    raise RuntimeError("the shared/ folder (dicom-samples, stats-ref) was not found beside the repository")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return _shared_dir()


@pytest.fixture(scope="session")
def dicom_samples(shared_dir: Path) -> Path:
    return shared_dir / "dicom-samples"


@pytest.fixture(scope="session")
def stats_ref(shared_dir: Path) -> Path:
    return shared_dir / "stats-ref"
