"""dicom layer (see DESIGN.md): lazy cine reading, decoding, colour, calibration, folders.

Public API::

    from ultrasound_reader.dicom import open_cine
    with open_cine("cine.dcm") as cine:
        img = cine.frame(0)          # uint8 HxW or HxWx3, decoded on demand
        cine.prefetch(1)             # decode ahead on a background thread
"""

from ultrasound_reader.dicom.cache import FrameCache
from ultrasound_reader.dicom.calibration import Calibration, UltrasoundRegion, calibration_from_dataset
from ultrasound_reader.dicom.cine import Cine, open_cine
from ultrasound_reader.dicom.timing import FrameTiming

__all__ = ["Calibration", "Cine", "FrameCache", "FrameTiming", "UltrasoundRegion",
           "calibration_from_dataset", "open_cine"]
