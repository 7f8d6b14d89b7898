"""Reference decodes for the dicom tests (pydicom's own output)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom


def pydicom_frames(path: Path) -> np.ndarray:
    """pydicom's own whole-file decode, always with a leading frame axis."""
    ds = pydicom.dcmread(path)
    arr = ds.pixel_array
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    return arr if frames > 1 else arr[None]
