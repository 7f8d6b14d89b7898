"""Where an untrusted file's failures become the project's error, and library chatter the log's.

Every DICOM file is untrusted. The readers below (pydicom, the codec plugins,
zlib, Pillow) answer a malformed file with whatever exception type they like,
and some of them only when an element is first touched (pydicom converts raw
elements lazily). Rather than a try/except at each of the many places a header
value is read, the two entry points that touch a file — opening it and decoding
a frame (:mod:`ultrasound_reader.dicom.cine`) — run inside :func:`untrusted`,
which turns any foreign exception into a :class:`UserError` naming the file and
the reason (the traceback goes to the debug log).

:func:`quiet_pydicom` routes pydicom's warnings and log records to the log at
debug level: they are remarks about a file the user cannot act on, and they
used to add several stderr lines to every refusal.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path

from ultrasound_reader.errors import CancelledError, UserError, clean_text

log = logging.getLogger("ultrasound_reader.dicom")


def quote(value: object, limit: int = 64) -> str:
    """A value from a file, safe to put in a message: one line, no control characters, short."""
    return repr(clean_text(value, limit))


class _ToDebug(logging.Filter):
    """Demotes every record of the logger it is attached to (pydicom's) to DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.DEBUG:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        # Handlers usually have no level of their own: drop the record unless debug is on.
        return logging.getLogger().isEnabledFor(logging.DEBUG)


_FILTER = _ToDebug()
_seen_loggers = [0]  # size of the logger registry when the filter was last attached


def quiet_pydicom() -> None:
    """pydicom's warnings off the terminal (pydicom logs each one too), its log at debug level.

    Idempotent and cheap: called on every open, because test runners and
    applications reset the warning filters.
    """
    # A logger's filters do not see its children's records: attach to pydicom's every logger.
    manager = logging.Logger.manager
    if len(manager.loggerDict) != _seen_loggers[0]:
        _seen_loggers[0] = len(manager.loggerDict)
        for name in ["pydicom", *list(manager.loggerDict)]:
            if name == "pydicom" or name.startswith("pydicom."):
                logger = logging.getLogger(name)
                if _FILTER not in logger.filters:
                    logger.addFilter(_FILTER)
    # pydicom's warn_and_log() logs each warning and warns it; keep the log record only.
    warnings.filterwarnings("ignore", module=r"pydicom(\.|$)")
    # Warnings pydicom attributes to its caller (stacklevel) land in this package.
    warnings.filterwarnings("ignore", module=r"ultrasound_reader\.dicom(\.|$)")


def _reason(exc: BaseException) -> str:
    text = clean_text(exc, 160)
    if isinstance(exc, zlib.error):
        return f"deflated data is corrupt (zlib: {text})"
    if isinstance(exc, NotImplementedError) and "Value Representation" in str(exc):
        return f"an element has an unknown value representation ({text})"
    if isinstance(exc, RecursionError):
        return "the data is nested too deeply"
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


@contextlib.contextmanager
def untrusted(path: Path | str, action: str) -> Iterator[None]:
    """Run the body; any foreign exception becomes ``UserError("{path}: cannot {action}: reason")``."""
    try:
        yield
    except (UserError, CancelledError):
        raise
    except MemoryError:
        raise UserError(f"{path}: cannot {action}: not enough memory (a length or size in the "
                        "file asks for more than can be allocated)") from None
    except Exception as exc:
        log.debug("%s: cannot %s", path, action, exc_info=True)
        raise UserError(f"{path}: cannot {action}: {_reason(exc)}") from None
