"""Long work off the GUI thread, tagged with request ids.

:class:`TaskRunner` runs plain Python callables in a QThreadPool and delivers their
result, error or progress back on the GUI thread. Each submission gets a request id
and belongs to a *channel* (``"open"``, ``"thumbnails"``, later ``"analysis"``); a
newer submission on a channel makes older ones stale, and a stale result is dropped
instead of landing on whatever the user has opened since. Work is written as
``fn(job, *args)`` where ``job`` reports progress (and partial results, ``job.partial``)
and tells whether the user cancelled, so the callable itself stays Qt-free and testable.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from ultrasound_reader.errors import CancelledError, UserError

log = logging.getLogger(__name__)


@dataclass
class Job:
    """What a running callable sees: progress reporting and cancellation."""

    request_id: int
    channel: str
    _emit_progress: Callable[[int, int, int, str], None]
    _cancel: threading.Event = field(default_factory=threading.Event)
    _emit_partial: Callable[[int, object], None] | None = None

    def progress(self, done: int, total: int, message: str = "") -> None:
        self._emit_progress(self.request_id, done, total, message)

    def partial(self, payload: object) -> None:
        """Hand an intermediate result to the GUI thread (``on_partial``; dropped once stale or cancelled)."""
        if self._emit_partial is not None and not self._cancel.is_set():
            self._emit_partial(self.request_id, payload)

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check(self) -> None:
        """Raise CancelledError if the user cancelled (call between steps)."""
        if self._cancel.is_set():
            raise CancelledError(f"{self.channel} cancelled")


class _Signals(QObject):
    progress = Signal(int, int, int, str)  # request id, done, total, message
    partial = Signal(int, object)  # request id, intermediate result
    finished = Signal(int, object)  # request id, result
    failed = Signal(int, str, bool)  # request id, message, is_user_error
    cancelled = Signal(int)


class _Task(QRunnable):
    def __init__(self, job: Job, signals: _Signals, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self.job, self.signals, self.fn, self.args = job, signals, fn, args

    def run(self) -> None:  # worker thread
        try:
            result = self.fn(self.job, *self.args)
        except CancelledError:
            self.signals.cancelled.emit(self.job.request_id)
        except UserError as exc:
            self.signals.failed.emit(self.job.request_id, str(exc), True)
        except Exception as exc:  # an internal error must reach the user, not kill the thread
            log.debug("internal error in %s task:\n%s", self.job.channel, traceback.format_exc())
            self.signals.failed.emit(self.job.request_id, f"internal error: {type(exc).__name__}: {exc}", False)
        else:
            self.signals.finished.emit(self.job.request_id, result)


@dataclass
class _Pending:
    job: Job
    signals: _Signals
    on_done: Callable[[Any], None] | None
    on_error: Callable[[str, bool], None] | None
    on_progress: Callable[[int, int, str], None] | None
    on_discard: Callable[[Any], None] | None
    on_partial: Callable[[Any], None] | None = None


class TaskRunner(QObject):
    """Submits work per channel; only the latest request of a channel is delivered."""

    busyChanged = Signal(bool)
    progress = Signal(str, int, int, str)  # channel, done, total, message (latest requests only)

    def __init__(self, max_threads: int = 2, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self._next_id = 1
        self._latest: dict[str, int] = {}
        self._pending: dict[int, _Pending] = {}
        self.stale_dropped = 0  # results that arrived after a newer request (tests read it)

    def submit(self, channel: str, fn: Callable[..., Any], *args: Any,
               on_done: Callable[[Any], None] | None = None,
               on_error: Callable[[str, bool], None] | None = None,
               on_progress: Callable[[int, int, str], None] | None = None,
               on_discard: Callable[[Any], None] | None = None,
               on_partial: Callable[[Any], None] | None = None) -> int:
        """Run ``fn(job, *args)`` in the pool; callbacks run on the GUI thread if still current.

        ``on_discard`` receives a result that arrived stale, to release what it holds
        (an open file, a thread); ``on_partial`` what the work hands out with ``job.partial``.
        """
        request_id = self._next_id
        self._next_id += 1
        previous = self._latest.get(channel)
        if previous is not None and previous in self._pending:
            self._pending[previous].job._cancel.set()  # older work of the channel is moot
        self._latest[channel] = request_id
        was_busy = self.busy
        signals = _Signals()
        job = Job(request_id, channel, signals.progress.emit, _emit_partial=signals.partial.emit)
        self._pending[request_id] = _Pending(job, signals, on_done, on_error, on_progress, on_discard, on_partial)
        signals.progress.connect(self._on_progress)
        signals.partial.connect(self._on_partial)
        signals.finished.connect(self._on_finished)
        signals.failed.connect(self._on_failed)
        signals.cancelled.connect(self._on_cancelled)
        self.pool.start(_Task(job, signals, fn, args))
        if not was_busy:
            self.busyChanged.emit(True)
        return request_id

    def cancel(self, channel: str) -> None:
        request_id = self._latest.get(channel)
        if request_id is not None and request_id in self._pending:
            self._pending[request_id].job._cancel.set()

    def is_current(self, request_id: int) -> bool:
        p = self._pending.get(request_id)
        return p is not None and self._latest.get(p.job.channel) == request_id

    @property
    def busy(self) -> bool:
        return bool(self._pending)

    def wait(self, msecs: int = 30000) -> bool:
        """Block until the pool is idle (tests, shutdown)."""
        return self.pool.waitForDone(msecs)

    # -- delivery on the GUI thread ---------------------------------------------------------
    def _pop(self, request_id: int) -> tuple[_Pending | None, bool]:
        current = self.is_current(request_id)
        pending = self._pending.pop(request_id, None)
        if not self._pending:
            self.busyChanged.emit(False)
        return pending, current

    def _on_progress(self, request_id: int, done: int, total: int, message: str) -> None:
        p = self._pending.get(request_id)
        if p is None or not self.is_current(request_id):
            return
        self.progress.emit(p.job.channel, done, total, message)
        if p.on_progress:
            p.on_progress(done, total, message)

    def _on_partial(self, request_id: int, payload: object) -> None:
        p = self._pending.get(request_id)
        if p is None or not self.is_current(request_id) or p.job.cancelled or p.on_partial is None:
            return
        p.on_partial(payload)

    def _on_finished(self, request_id: int, result: object) -> None:
        pending, current = self._pop(request_id)
        if pending is None:
            return
        if not current or pending.job.cancelled:
            self.stale_dropped += 1
            if pending.on_discard:
                pending.on_discard(result)
            return
        if pending.on_done:
            pending.on_done(result)

    def _on_failed(self, request_id: int, message: str, user_error: bool) -> None:
        pending, current = self._pop(request_id)
        if pending is None or not current or pending.job.cancelled:
            return
        if pending.on_error:
            pending.on_error(message, user_error)

    def _on_cancelled(self, request_id: int) -> None:
        self._pop(request_id)
