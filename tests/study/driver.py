"""Headless answering driver for the reliability tests (run as a subprocess, killed at random).

    python driver.py DB READER [READER ...]

For each reader in turn it resumes at the reader's next step (``status``), performs
it (case shown + pre answer, reveal, post answer) through the service layer, and prints
``done READER POSITION STEP`` after each commit returns. Answer contents are a pure
function of (reader, position, phase) so the test can check that nothing was
half-written or crossed between readers.
"""

from __future__ import annotations

import sys
import zlib

from ultrasound_reader.study.service import AnswerInput, answer, reader_case, reveal, status


def content(reader: str, position: int, phase: str) -> AnswerInput:
    h = zlib.crc32(f"{reader}/{position}/{phase}".encode())
    likelihood = h % 101
    return AnswerInput(phase, likelihood >= 50, likelihood, confidence=1 + (h >> 8) % 5,
                       comment=f"{reader} case {position} {phase}")


def main(db: str, readers: list[str]) -> int:
    print("ready", flush=True)
    for reader in readers:
        while True:
            entry = next(r for r in status(db)["readers"] if r["reader"] == reader)
            nxt = entry["next"]
            if nxt is None:
                break
            pos, step = nxt["case"], nxt["step"]
            print(f"start {reader} {pos} {step}", flush=True)
            if step == "reveal":
                reveal(db, reader, pos)
            elif step == "pre":
                reader_case(db, reader, pos, mark_shown=True)  # the case goes on screen, then the answer
                answer(db, reader, pos, content(reader, pos, step))
            else:
                answer(db, reader, pos, content(reader, pos, step))
            print(f"done {reader} {pos} {step}", flush=True)
    print("finished", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
