"""When each frame of a cine was acquired, and how fast to play it.

Sources, in the order the standard's Frame Increment Pointer usually names them:
FrameTime (ms between frames), FrameTimeVector (ms since the previous frame, one
per frame, the first 0), CineRate and RecommendedDisplayFrameRate (frames per
second). A single frame or a file with none of these has no rate, and we say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class FrameTiming:
    fps: float | None
    frame_times_ms: tuple[float, ...] | None  # start time of each frame from frame 0
    source: str | None  # the attribute the rate came from

    @property
    def frame_time_ms(self) -> float | None:
        return 1000.0 / self.fps if self.fps else None

    def time_of(self, index: int) -> float | None:
        """Milliseconds from frame 0 to frame ``index``, or None when unknown."""
        if self.frame_times_ms is not None and 0 <= index < len(self.frame_times_ms):
            return self.frame_times_ms[index]
        return index * 1000.0 / self.fps if self.fps else None  # constant rate


def _positive(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) and v > 0 else None


def timing_from_dataset(ds: Any, n_frames: int) -> FrameTiming:
    ft = _positive(ds.get("FrameTime"))
    # A constant rate needs no table (NumberOfFrames comes from the file: nothing is sized by it).
    if ft is not None:
        return FrameTiming(1000.0 / ft, None, "FrameTime")
    vector = ds.get("FrameTimeVector")
    if vector is not None:
        try:
            v = np.asarray([float(x) for x in (vector if not isinstance(vector, (int, float)) else [vector])])
        except (TypeError, ValueError):
            v = np.zeros(0)
        if len(v) == n_frames and n_frames > 1 and np.all(np.isfinite(v)) and np.all(v[1:] > 0):
            times = np.cumsum(np.concatenate([[0.0], v[1:]]))
            return FrameTiming(1000.0 / float(np.mean(v[1:])), tuple(float(t) for t in times), "FrameTimeVector")
    for key in ("CineRate", "RecommendedDisplayFrameRate"):
        fps = _positive(ds.get(key))
        if fps is not None:
            return FrameTiming(fps, None, key)
    return FrameTiming(None, None, None)
