"""What the project's two DICOM writers share: SOP classes and the scanner-like JPEG encoding.

``dicom/synth.py`` writes test cines in every layout; ``phantom/writer.py`` writes
the phantom cases as a scanner would. Both name their SOP classes and encode JPEG
baseline frames here, once. The UIDs are pydicom's own named constants.
"""

from __future__ import annotations

import numpy as np
from pydicom.uid import (
    EnhancedUSVolumeStorage,
    SecondaryCaptureImageStorage,
    UltrasoundImageStorage,
    UltrasoundMultiFrameImageStorage,
)

US_IMAGE = UltrasoundImageStorage  # 1.2.840.10008.5.1.4.1.1.6.1
US_MULTIFRAME = UltrasoundMultiFrameImageStorage  # 1.2.840.10008.5.1.4.1.1.3.1
SECONDARY_CAPTURE = SecondaryCaptureImageStorage  # 1.2.840.10008.5.1.4.1.1.7
ENHANCED_US_VOLUME = EnhancedUSVolumeStorage  # 1.2.840.10008.5.1.4.1.1.6.2


def jpeg_frame(frame: np.ndarray, quality: int) -> bytes:
    """One RGB or gray uint8 frame as JPEG baseline, 4:2:2 chroma as scanners write it (OpenCV)."""
    import cv2

    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality),
              cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422]
    img = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR) if frame.ndim == 3 else frame
    ok, buf = cv2.imencode(".jpg", img, params)
    if not ok:  # pragma: no cover - OpenCV always has a JPEG encoder in our builds
        raise RuntimeError("OpenCV could not encode a JPEG frame")
    return buf.tobytes()
