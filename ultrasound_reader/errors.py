"""Exceptions shared by every layer.

A :class:`UserError` is bad input the user can fix (a file that is not DICOM, a
bundle of the wrong task, a missing ROI). Its message is one line that names the
file or field and the reason; the CLI prints it on stderr and exits 1, the GUI
shows it in a dialog and the status bar. Anything else is an internal error.
"""

from __future__ import annotations

import re
import sys
from typing import Any

# Longest message shown; the rest of a runaway value quoted from a file is cut.
MAX_MESSAGE_CHARS = 600
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def clean_text(text: object, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` on one line, control characters shown as '?', cut to ``limit`` characters.

    For anything quoted from an untrusted file (a header value, a library's
    message about it) before it reaches the terminal, a dialog or a log.
    """
    s = _CONTROL.sub("?", " ".join(str(text).split()))
    if len(s) > limit:
        s = f"{s[:limit - 30]}... ({len(s) - limit + 30} more characters)"
    return s


class UserError(Exception):
    """Bad input: the message is shown to the user as is, on one line (sanitised, capped)."""

    def __init__(self, message: str) -> None:
        super().__init__(clean_text(message))


class CancelledError(Exception):
    """Long work stopped because the user asked for it."""


def is_cancelled(token: Any) -> bool:
    """Whether a cancel token says stop; the one reading of a token for every layer.

    A token is None (never cancels), a ``threading.Event`` (``is_set()``), an
    object with a ``cancelled`` attribute or method (``concurrent.futures.Future``,
    a GUI job), a callable returning a bool, or a plain truthy/falsy value.
    """
    if token is None:
        return False
    if callable(getattr(token, "is_set", None)):
        return bool(token.is_set())
    if hasattr(token, "cancelled"):
        c = token.cancelled
        return bool(c() if callable(c) else c)
    return bool(token() if callable(token) else token)


# Packages the packaged (PyInstaller) application leaves out on purpose, by import name, with the
# name the user knows them by; packaging/excludes.py keeps them out of the build from this table.
# The features that need them (training and graph export: torch; phantom generation, the demo
# reader study and its benchmark: OpenCV) answer with one line there instead of failing.
PACKAGED_APP_LEAVES_OUT: dict[str, str] = {
    "torch": "torch", "torchvision": "torch", "cv2": "OpenCV", "sklearn": "scikit-learn", "onnx": "onnx",
}


def left_out_of_packaged_app(exc: BaseException) -> UserError | None:
    """The one-line error for a feature that needs a package the packaged application leaves out.

    ``exc`` is what importing failed with; None unless this is the frozen application
    (``sys.frozen``) and the missing module belongs to :data:`PACKAGED_APP_LEAVES_OUT`
    (a source install that lacks one of them is a broken installation: an internal error).
    """
    if not getattr(sys, "frozen", False) or not isinstance(exc, ModuleNotFoundError):
        return None
    label = PACKAGED_APP_LEAVES_OUT.get((exc.name or "").split(".")[0])
    if label is None:
        return None
    return UserError(f"needs the Python installation (pip install ultrasound-reader); "
                     f"the packaged application leaves out {label}")
