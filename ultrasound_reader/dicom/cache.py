"""A frame cache bounded in bytes, and a background prefetcher that fills it.

Playback needs the next frames decoded before they are shown; memory must stay
bounded whatever the cine's length. The cache is a thread-safe LRU over decoded
frames keyed by (owner, index), so one cache can serve several open cines. The
prefetcher is one daemon thread per cine that decodes ahead of the play head; a new
request replaces the old one, and it never prefetches more than fits in the cache
(otherwise it would evict the very frames it just decoded).
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_CACHE_MIB = 256.0


class FrameCache:
    """Thread-safe LRU of numpy arrays, bounded by their total ``nbytes``."""

    def __init__(self, budget_mib: float = DEFAULT_CACHE_MIB) -> None:
        if budget_mib < 0:
            raise ValueError("cache budget must be >= 0 MiB")
        self.budget_bytes = int(budget_mib * 1024 * 1024)
        self._items: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def get(self, key: Hashable) -> np.ndarray | None:
        with self._lock:
            arr = self._items.get(key)
            if arr is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return arr

    def put(self, key: Hashable, arr: np.ndarray) -> None:
        size = arr.nbytes
        with self._lock:
            if size > self.budget_bytes:
                return  # would evict everything and still not fit
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._items[key] = arr
            self._bytes += size
            while self._bytes > self.budget_bytes:
                _, evicted = self._items.popitem(last=False)
                self._bytes -= evicted.nbytes

    def discard_owner(self, owner: Hashable) -> None:
        """Drop every frame of one cine (on close)."""
        with self._lock:
            for key in [k for k in self._items if isinstance(k, tuple) and k[0] == owner]:
                self._bytes -= self._items.pop(key).nbytes

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


def _weak(fn: Callable) -> Callable[[], Callable | None]:
    if hasattr(fn, "__self__") and hasattr(fn, "__func__"):
        return weakref.WeakMethod(fn)  # type: ignore[arg-type]
    return lambda: fn


class Prefetcher:
    """Decodes frames ahead of playback on a daemon thread.

    ``load(i)`` must decode frame i and put it into the cache (Cine.frame does
    both). ``request`` replaces whatever was queued; ``cancel`` empties the queue;
    ``stop`` ends the thread. Errors while prefetching are logged and end that
    request only: the GUI sees them when it asks for the frame itself.
    """

    def __init__(self, load: Callable[[int], object], is_cached: Callable[[int], bool], name: str) -> None:
        # Weak references: the thread must not keep a forgotten cine alive (its
        # __del__ closes the file and stops this thread).
        self._load_ref = _weak(load)
        self._is_cached_ref = _weak(is_cached)
        self._cond = threading.Condition()
        self._queue: list[int] = []
        self._generation = 0
        self._stopped = False
        self._busy = False
        self._thread = threading.Thread(target=self._run, name=f"prefetch {name}", daemon=True)
        self._thread.start()

    def request(self, indices: list[int]) -> None:
        with self._cond:
            self._generation += 1
            self._queue = list(indices)
            self._cond.notify_all()

    def cancel(self) -> None:
        self.request([])

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until the queue is done (tests and benchmarks); True if it is."""
        with self._cond:
            return self._cond.wait_for(lambda: (not self._queue and not self._busy) or self._stopped, timeout)

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._queue)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._queue = []
            self._cond.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopped:
                    self._busy = False
                    self._cond.notify_all()
                    self._cond.wait()
                if self._stopped:
                    self._busy = False
                    self._cond.notify_all()
                    return
                index = self._queue.pop(0)
                generation = self._generation
                self._busy = True
            if not self._step(index):
                with self._cond:
                    if self._generation == generation:
                        self._queue = []  # an error or a dead owner ends this request

    def _step(self, index: int) -> bool:
        """Decode one frame; False when the request should stop. Holds no strong
        reference to the owner once it returns."""
        load, is_cached = self._load_ref(), self._is_cached_ref()
        if load is None or is_cached is None:  # the owner is gone
            with self._cond:
                self._stopped = True
            return False
        try:
            if not is_cached(index):
                load(index)
            return True
        except Exception as exc:  # shown to the user when the frame itself is asked for
            log.debug("prefetch of frame %d failed: %s", index, exc)
            return False
