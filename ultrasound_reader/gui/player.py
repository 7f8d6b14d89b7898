"""Cine playback on the GUI thread, driven by a precise single-shot timer.

The schedule (which frame is due when, what counts as dropped) is the Qt-free
:class:`~.playback.PlaybackClock`; this class only wires it to a QTimer and to the
cine's background prefetcher. A frame that is not decoded when its slot comes is
dropped and counted, never decoded here: decoding on the GUI thread would stall
the very timer that keeps the rate.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from ultrasound_reader.gui.playback import DEFAULT_FPS, PlaybackClock, PlaybackStats

if TYPE_CHECKING:
    from ultrasound_reader.dicom import Cine

PREFETCH_HORIZON_S = 1.0  # keep this much of the cine decoded ahead of the play head
STATS_INTERVAL_S = 0.5
PREROLL_S = 0.25  # decoded ahead before the clock starts, as a video player buffers
PREROLL_MAX_S = 0.5  # never make the user wait longer than this for playback to start


def playback_fps(cine: Cine) -> tuple[float, str]:
    """The rate to play at and a note for the UI when the file gives none."""
    if cine.fps:
        return float(cine.fps), ""
    return DEFAULT_FPS, f"no frame rate in file: {DEFAULT_FPS:g} fps assumed"


class Player(QObject):
    """Plays the current cine; emits each frame to draw with its pixels (already decoded)."""

    frameReady = Signal(int, object)  # index, uint8 array
    playingChanged = Signal(bool)
    statsChanged = Signal(object)  # PlaybackStats

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self._on_timer)
        self._ticking = False
        self._preroll_started = 0.0
        self.cine: Cine | None = None
        self.clock: PlaybackClock | None = None
        self.current = 0
        self.speed = 1.0
        self.loop = True
        self.now = time.perf_counter  # replaceable in tests
        self._last_prefetch = -1e9
        self._last_stats = 0.0
        self._preroll_until = 0.0
        self.last_stats = PlaybackStats()
        self.preroll_ms = 0.0  # how long the last start waited for decoded frames

    # -- state ---------------------------------------------------------------------------
    @property
    def playing(self) -> bool:
        return self.clock is not None and self.clock.running

    def set_cine(self, cine: Cine | None) -> None:
        self.pause()
        self.cine = cine
        self.clock = None
        self.current = 0
        self.last_stats = PlaybackStats()

    def set_speed(self, speed: float) -> None:
        self.speed = float(speed)
        if self.clock is not None:
            self.clock.set_speed(self.speed, self.now(), self.current)
            if self.playing:
                self._prefetch(force=True)
                self._schedule()

    def set_loop(self, loop: bool) -> None:
        self.loop = bool(loop)
        if self.clock is not None:
            self.clock.loop = self.loop

    # -- control -------------------------------------------------------------------------
    def play(self) -> bool:
        """Start playing from ``current``; the clock starts once the first frames are decoded."""
        cine = self.cine
        if cine is None or cine.n_frames < 2 or self.playing:
            return False
        fps, _ = playback_fps(cine)
        self.clock = PlaybackClock(cine.n_frames, fps, self.speed, self.loop)
        now = self.now()
        self.clock.start(now, self.current)
        self.current = self.clock.frame_at(now) or 0
        self._prefetch(force=True)
        self._preroll_started = now
        self._preroll_until = now + PREROLL_MAX_S
        self.playingChanged.emit(True)
        self._preroll()
        return True

    def _preroll(self) -> None:
        """Wait (on the event loop, never blocking) until the next PREROLL_S of frames are decoded."""
        cine, clock = self.cine, self.clock
        if cine is None or clock is None or not clock.running or cine.closed:
            return
        now = self.now()
        needed = clock.frames_ahead(now, PREROLL_S)
        if now < self._preroll_until and not all(cine.is_cached(i) for i in needed):
            self.timer.start(5)
            return
        self.preroll_ms = (now - self._preroll_started) * 1000.0
        self.clock.start(now, self.current)  # the schedule begins now, with the frames ready
        self._last_stats = now
        self._ticking = True
        self._schedule()

    def pause(self) -> None:
        self.timer.stop()
        self._ticking = False
        was_playing = self.playing
        if self.clock is not None:
            self.clock.stop()
            self.last_stats = self.clock.stats
        if was_playing:
            self.statsChanged.emit(self.last_stats)
            self.playingChanged.emit(False)

    def toggle(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def seek(self, index: int) -> None:
        """Jump (while playing, the schedule restarts from there)."""
        self.current = index
        if self.playing and self.clock is not None:
            stats = self.clock.stats
            self.clock.start(self.now(), index)
            self.clock.stats = stats
            self._prefetch(force=True)

    # -- the timer -------------------------------------------------------------------------
    def _schedule(self) -> None:
        assert self.clock is not None
        wait = self.clock.seconds_to_next(self.now())
        # Round up: firing a hair early finds the same slot and costs one more wake-up.
        self.timer.start(max(0, int(wait * 1000 + 0.999)))

    def _on_timer(self) -> None:
        if self._ticking:
            self._tick()
        else:
            self._preroll()

    def _tick(self) -> None:
        cine, clock = self.cine, self.clock
        if cine is None or clock is None or not clock.running or cine.closed:
            return
        now = self.now()
        due = clock.frame_at(now)
        ready = due is not None and cine.is_cached(due)
        index = clock.tick(now, ready)
        if index is not None:
            self.current = index
            self.frameReady.emit(index, cine.frame(index))  # cached: no decode here
        elif due is not None and not ready:
            self._prefetch(force=True, start=due)
        if not clock.running:  # a non-looping cine reached its end
            self.pause()
            return
        self._prefetch()
        if now - self._last_stats >= STATS_INTERVAL_S:
            self._last_stats = now
            self.last_stats = clock.stats
            self.statsChanged.emit(clock.stats)
        self._schedule()

    def _prefetch(self, force: bool = False, start: int | None = None) -> None:
        """Keep the frames of the next PREFETCH_HORIZON_S queued for background decoding."""
        cine, clock = self.cine, self.clock
        if cine is None or clock is None:
            return
        now = self.now()
        ahead = clock.frames_ahead(now, PREFETCH_HORIZON_S)
        if not force:
            # Re-queue only when the horizon is not decoded yet, and not on every tick.
            if not ahead or (now - self._last_prefetch < 0.2) or all(cine.is_cached(i) for i in ahead[-3:]):
                return
        self._last_prefetch = now
        first = start if start is not None else (ahead[0] if ahead else self.current)
        step = max(1, round(clock.frame_rate / clock.max_display_fps)) if clock.frame_rate > clock.max_display_fps else 1
        cine.prefetch(first, step=step, wrap=self.loop)
