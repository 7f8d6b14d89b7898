"""The tests' real Orthanc: see ultrasound_reader.dicom.pacs.testserver."""

from ultrasound_reader.dicom.pacs.testserver import AET, OUR_AET, PASSWORD, USER, Orthanc, free_port

__all__ = ["AET", "OUR_AET", "PASSWORD", "USER", "Orthanc", "free_port"]
