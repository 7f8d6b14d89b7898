"""A plain-text progress bar on stderr: stage, epoch, batch, loss, ETA.

No dependency (tqdm is not installed here). On a terminal the line is redrawn in
place; when stderr is a file or a pipe (CI logs, nohup) one line per epoch is written
so the log stays readable. Only rank 0 of a distributed run shows it.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _fmt_time(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:d}:{s:02d}"


class Progress:
    """Progress of one training stage of ``epochs`` x ``batches`` steps."""

    def __init__(self, stage: str, epochs: int, batches: int, enabled: bool = True,
                 stream: TextIO | None = None, start_epoch: int = 0, width: int = 24) -> None:
        self.stage, self.epochs, self.batches = stage, epochs, max(1, batches)
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.width = width
        self.start_epoch = start_epoch
        self.t0 = time.perf_counter()
        self.done_steps = 0  # steps run in this process (resumed epochs excluded from the rate)
        self.loss = float("nan")
        self.epoch = start_epoch
        self._batch = 0

    @property
    def remaining_steps(self) -> int:
        return (self.epochs - self.epoch) * self.batches - self._batch

    def eta(self) -> float:
        if self.done_steps == 0:
            return float("nan")
        rate = (time.perf_counter() - self.t0) / self.done_steps
        return rate * self.remaining_steps

    def line(self) -> str:
        total = self.epochs * self.batches
        done = self.epoch * self.batches + self._batch
        filled = int(self.width * done / total)
        bar = "#" * filled + "." * (self.width - filled)
        eta = self.eta()
        eta_s = "--:--" if eta != eta else _fmt_time(eta)
        return (f"[{self.stage}] {bar} epoch {min(self.epoch + 1, self.epochs)}/{self.epochs} "
                f"batch {self._batch}/{self.batches} loss {self.loss:.4f} "
                f"elapsed {_fmt_time(time.perf_counter() - self.t0)} ETA {eta_s}")

    def step(self, epoch: int, batch: int, loss: float) -> None:
        """Batch ``batch`` (1-based) of ``epoch`` (0-based) finished with ``loss``."""
        self.epoch, self._batch, self.loss = epoch, batch, loss
        self.done_steps += 1
        if self.enabled and self.tty:
            self.stream.write("\r" + self.line())
            self.stream.flush()

    def end_epoch(self, epoch: int, extra: str = "") -> None:
        self.epoch, self._batch = epoch + 1, 0
        if not self.enabled:
            return
        text = (f"[{self.stage}] epoch {epoch + 1}/{self.epochs} loss {self.loss:.4f} "
                f"elapsed {_fmt_time(time.perf_counter() - self.t0)} "
                f"ETA {_fmt_time(self.eta()) if self.done_steps else '--:--'}"
                + (f" {extra}" if extra else ""))
        self.stream.write(("\r\x1b[2K" if self.tty else "") + text + "\n")
        self.stream.flush()

    def note(self, text: str) -> None:
        if self.enabled:
            self.stream.write(("\r\x1b[2K" if self.tty else "") + f"[{self.stage}] {text}\n")
            self.stream.flush()
