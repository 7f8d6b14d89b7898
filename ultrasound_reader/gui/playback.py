"""Playback scheduling (Qt-free, unit tested).

The frame on screen is a function of wall time, not of how many timer ticks have
fired: ``frame = start + floor(elapsed * fps * speed)``. A late tick therefore never
slows the cine down; it skips ahead, and the display slots it missed are counted
as dropped frames. Drawing is capped at ``max_display_fps`` (screens refresh at
60 Hz): a faster cine shows every n-th frame by design, which is not a drop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_FPS = 25.0  # for files that carry no frame timing at all (stated in the UI)
MAX_DISPLAY_FPS = 60.0
SPEEDS: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 4.0)


@dataclass
class PlaybackStats:
    shown: int = 0  # display slots drawn
    dropped: int = 0  # display slots missed because a tick came late or a frame was not ready
    not_ready: int = 0  # of those, slots whose frame was not decoded in time
    elapsed_s: float = 0.0

    @property
    def fps(self) -> float:
        return self.shown / self.elapsed_s if self.elapsed_s > 0 else 0.0


class PlaybackClock:
    """Maps wall time to the frame to show, and counts missed display slots.

    Times are seconds from any monotonic clock (``time.perf_counter``).
    """

    def __init__(self, n_frames: int, fps: float, speed: float = 1.0, loop: bool = True,
                 max_display_fps: float = MAX_DISPLAY_FPS) -> None:
        if n_frames < 1:
            raise ValueError("a cine needs at least one frame")
        if not (fps > 0 and math.isfinite(fps)):
            raise ValueError(f"invalid frame rate {fps!r}")
        if speed <= 0:
            raise ValueError(f"invalid speed {speed!r}")
        self.n_frames = n_frames
        self.fps = float(fps)
        self.speed = float(speed)
        self.loop = loop
        self.max_display_fps = max_display_fps
        self._t0 = 0.0
        self._start_frame = 0
        self._last_slot = -1
        self.stats = PlaybackStats()
        self.running = False

    # -- derived rates ------------------------------------------------------------------
    @property
    def frame_rate(self) -> float:
        """Cine frames per second of wall time at the current speed."""
        return self.fps * self.speed

    @property
    def display_interval(self) -> float:
        """Seconds between two drawn frames: the frame period, or the screen's if shorter."""
        return 1.0 / min(self.frame_rate, self.max_display_fps)

    # -- control ------------------------------------------------------------------------
    def start(self, now: float, frame: int) -> None:
        """Start (or restart after a speed change) from ``frame`` at time ``now``."""
        if frame >= self.n_frames - 1 and not self.loop:
            frame = 0  # play again from the start, as a video player does
        self._t0 = now
        self._start_frame = max(0, min(int(frame), self.n_frames - 1))
        self._last_slot = 0  # slot 0 is the start frame, already on screen
        self.stats = PlaybackStats()
        self.running = True

    def stop(self) -> None:
        self.running = False

    def set_speed(self, speed: float, now: float, current_frame: int) -> None:
        if speed <= 0:
            raise ValueError(f"invalid speed {speed!r}")
        stats = self.stats
        running = self.running
        self.speed = float(speed)
        if running:  # re-anchor so the change does not jump the cine
            self.start(now, current_frame)
            self.stats = stats

    # -- the schedule -------------------------------------------------------------------
    def slot_at(self, now: float) -> int:
        """Index of the display slot due at ``now`` (0 at start)."""
        return max(0, math.floor((now - self._t0) / self.display_interval + 1e-9))

    def frame_at(self, now: float) -> int | None:
        """The frame due at ``now``; None once a non-looping cine has run past its end."""
        slot_time = self.slot_at(now) * self.display_interval
        advanced = math.floor(slot_time * self.frame_rate + 1e-6)
        frame = self._start_frame + advanced
        if frame < self.n_frames:
            return frame
        if not self.loop:
            return None
        return frame % self.n_frames

    def seconds_to_next(self, now: float) -> float:
        """Wall time until the next display slot begins."""
        next_slot = self.slot_at(now) + 1
        return max(0.0, self._t0 + next_slot * self.display_interval - now)

    def tick(self, now: float, ready: bool = True) -> int | None:
        """Account for a timer tick at ``now``; returns the frame to draw, or None to draw nothing.

        ``ready`` is False when the frame due is not decoded yet: that slot is dropped
        rather than decoding on the GUI thread. None is also returned when the slot
        was already drawn (an early tick) or a non-looping cine has ended (then
        ``running`` becomes False).
        """
        slot = self.slot_at(now)
        frame = self.frame_at(now)
        self.stats.elapsed_s = now - self._t0
        if frame is None:
            self.running = False
            return None
        if slot <= self._last_slot:
            return None
        missed = slot - self._last_slot - 1
        if missed > 0:
            self.stats.dropped += missed
        self._last_slot = slot
        if not ready:
            self.stats.dropped += 1
            self.stats.not_ready += 1
            return None
        self.stats.shown += 1
        return frame

    def frames_ahead(self, now: float, horizon_s: float = 0.5) -> list[int]:
        """Frames the schedule will show in the next ``horizon_s`` seconds (for prefetching)."""
        out: list[int] = []
        slot = self.slot_at(now)
        n_slots = max(1, math.ceil(horizon_s / self.display_interval))
        for k in range(1, n_slots + 1):
            frame = self._start_frame + math.floor((slot + k) * self.display_interval * self.frame_rate + 1e-6)
            if frame >= self.n_frames:
                if not self.loop:
                    break
                frame %= self.n_frames
            if not out or out[-1] != frame:
                out.append(frame)
        return out


def time_label(frame: int, n_frames: int, fps: float | None) -> str:
    """'Frame 12 / 30 · 0.367 s' (time from the first frame), without a time when fps is unknown."""
    text = f"Frame {frame + 1} / {n_frames}"
    if fps:
        text += f" · {frame / fps:.3f} s"
    return text
