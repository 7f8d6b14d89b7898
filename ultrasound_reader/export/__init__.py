"""Exports of an analysed case: DICOM SR, secondary captures, PDF report (see core.Export).

Sits above dicom/, ai/ and stats/ (it draws Grad-CAM and nomograms and runs the
analyzer); the GUI's File > Export calls :class:`Export` the same way the CLI does.
"""

from ultrasound_reader.export.core import Export, Outputs, is_demo, signature_status

__all__ = ["Export", "Outputs", "is_demo", "signature_status"]
