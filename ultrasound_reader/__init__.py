"""Ultrasound Reader: an ultrasound DICOM reading workstation with AI decision support.

Research software. Not for clinical use.
"""

__version__ = "0.1.0"
