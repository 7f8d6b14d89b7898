"""Exceptions shared by every layer.

A :class:`UserError` is bad input the user can fix (a file that is not DICOM, a
bundle of the wrong task, a missing ROI). Its message is one line that names the
file or field and the reason; the CLI prints it on stderr and exits 1, the GUI
shows it in a dialog and the status bar. Anything else is an internal error.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input: the message is shown to the user as is, on one line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class CancelledError(Exception):
    """Long work stopped because the user asked for it."""
