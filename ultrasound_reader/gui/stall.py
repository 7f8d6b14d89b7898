"""How long the event loop stops answering while work runs in the background.

A precise timer ticks every :data:`TICK_MS` on the GUI thread; the gap between two
ticks beyond the tick itself is time the loop could not react (painting, input). A
worker that holds the GIL, or a slow slot, shows up here as a stall, which is what
a reader feels as a frozen window. The longest stall is the figure the reading
workflow reports for an analysis (target: <= 50 ms).
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, Qt, QTimer

TICK_MS = 5


class StallMeter(QObject):
    """Records event-loop gaps between :meth:`start` and :meth:`stop`."""

    def __init__(self, parent: QObject | None = None, tick_ms: int = TICK_MS) -> None:
        super().__init__(parent)
        self.tick_ms = tick_ms
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(tick_ms)
        self._timer.timeout.connect(self._tick)
        self._last = 0.0
        self.gaps_ms: list[float] = []

    @property
    def running(self) -> bool:
        return self._timer.isActive()

    def start(self) -> None:
        self.gaps_ms = []
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> float:
        """Stop measuring; returns the longest stall (ms)."""
        if self._timer.isActive():
            self._tick()  # the time since the last tick counts too
            self._timer.stop()
        return self.longest_ms

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps_ms.append((now - self._last) * 1000.0)
        self._last = now

    @property
    def longest_ms(self) -> float:
        """The longest gap beyond one tick, in ms (0 when the loop always answered in time)."""
        return max((max(g - self.tick_ms, 0.0) for g in self.gaps_ms), default=0.0)

    def percentile_ms(self, q: float) -> float:
        """A percentile (0-100) of the stalls, in ms."""
        if not self.gaps_ms:
            return 0.0
        ordered = sorted(max(g - self.tick_ms, 0.0) for g in self.gaps_ms)
        k = min(int(round(q / 100.0 * (len(ordered) - 1))), len(ordered) - 1)
        return ordered[k]
