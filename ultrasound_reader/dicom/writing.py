"""What the project's two DICOM writers share: SOP classes and the scanner-like JPEG encoding.

``dicom/synth.py`` writes test cines in every layout; ``phantom/writer.py`` writes
the phantom cases as a scanner would. Both name their SOP classes and encode JPEG
baseline frames here, once. The UIDs are pydicom's own named constants.
"""

from __future__ import annotations

import io

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
    """One RGB or gray uint8 frame as JPEG baseline, 4:2:2 chroma as scanners write it (Pillow).

    The same bytes as OpenCV's encoder with IMWRITE_JPEG_SAMPLING_FACTOR_422 (both are
    libjpeg-turbo with its default tables; tests compare): gray is written 1x1, as OpenCV
    does (Pillow's 4:2:2 would mark the single component 2x1).
    """
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(frame)).save(buf, format="JPEG", quality=int(quality),
                                                      subsampling=1 if frame.ndim == 3 else 0)
    return buf.getvalue()
