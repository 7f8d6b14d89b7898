"""Background loading that steps aside while the viewer is showing frames (Qt-free).

Opening a case loads its model bundle in a worker thread. That load is mostly
imports (torch, torchvision, scipy: ~2,000 modules, seconds of work that holds the
GIL) and brings in hundreds of MiB. Running it while a cine plays made playback of
a freshly opened JPEG cine drop a third of its display slots and grow the process
by 300-600 MiB during playback (issue 14, item 15).

The fix is cooperative: the image view calls :meth:`ViewerActivity.touch` for every
frame it shows, and code that runs inside :func:`yield_to_viewer` waits before each
*new* module import (and at the :func:`pause_point` calls it makes) while a frame
was shown within the last :data:`HOLD_S` seconds. Playback and stepping therefore
run alone; the load resumes ``HOLD_S`` after the last frame. Waiting is keyed
on that heartbeat, not on a "playing" flag, so a GUI thread that itself blocks (on
an import lock the loader holds, say) stops the heartbeat and the loader goes on:
no deadlock is possible.
"""

from __future__ import annotations

import importlib.abc
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# Background imports wait while a frame was shown this recently. A second, not less: a
# reader who pauses often plays again at once, and one import already under way (torch's
# C extension) cannot be paused, so resuming in every short gap would still cost frames.
HOLD_S = 1.0
POLL_S = 0.02


class ViewerActivity:
    """When did the viewer last show a frame; lets background threads wait for a quiet moment."""

    def __init__(self, hold_s: float = HOLD_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.hold_s = float(hold_s)
        self.clock = clock
        self._last = -1e18
        self.waits = 0  # how many times a background step waited (tests, bench)
        self.waited_s = 0.0

    def touch(self) -> None:
        """A frame was shown now (called on the GUI thread; cheap)."""
        self._last = self.clock()

    def quiet_in(self) -> float:
        """Seconds until the viewer counts as quiet (0 when it is)."""
        return max(0.0, self._last + self.hold_s - self.clock())

    @property
    def busy(self) -> bool:
        return self.quiet_in() > 0.0

    def wait_quiet(self, sleep: Callable[[float], None] = time.sleep) -> float:
        """Block the calling (background) thread until no frame was shown for ``hold_s``; returns seconds waited."""
        remaining = self.quiet_in()
        if remaining <= 0.0:
            return 0.0
        t0 = self.clock()
        while remaining > 0.0:
            sleep(min(max(remaining, 0.001), POLL_S * 5))
            remaining = self.quiet_in()
        waited = self.clock() - t0
        self.waits += 1
        self.waited_s += waited
        return waited


ACTIVITY = ViewerActivity()
_local = threading.local()


def _yielding() -> bool:
    return getattr(_local, "depth", 0) > 0


class _YieldingFinder(importlib.abc.MetaPathFinder):
    """Finds nothing: it only makes threads inside :func:`yield_to_viewer` wait before an import."""

    def find_spec(self, fullname, path, target=None):  # noqa: ANN001, ANN201 - importlib protocol
        if _yielding():
            ACTIVITY.wait_quiet()
        return None


_FINDER = _YieldingFinder()
_install_lock = threading.Lock()


def _install() -> None:
    with _install_lock:
        if _FINDER not in sys.meta_path:
            sys.meta_path.insert(0, _FINDER)


@contextmanager
def yield_to_viewer() -> Iterator[None]:
    """Run the body (on a background thread) so that it pauses while the viewer shows frames."""
    _install()
    _local.depth = getattr(_local, "depth", 0) + 1
    try:
        yield
    finally:
        _local.depth -= 1


def pause_point() -> None:
    """Inside :func:`yield_to_viewer`: wait here while frames are being shown (no-op elsewhere)."""
    if _yielding():
        ACTIVITY.wait_quiet()
