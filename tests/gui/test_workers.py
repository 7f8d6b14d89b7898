"""TaskRunner: work off the GUI thread, newest request per channel wins, errors delivered."""

from __future__ import annotations

import threading
import time

import pytest

from ultrasound_reader.errors import UserError
from ultrasound_reader.gui.workers import TaskRunner

pytestmark = pytest.mark.gui


def test_only_the_latest_request_of_a_channel_is_delivered(qtbot):
    runner = TaskRunner(max_threads=2)
    done, discarded, threads = [], [], []
    release = threading.Event()

    def slow(job, value):  # noqa: ANN001, ANN202
        threads.append(threading.current_thread())
        release.wait(5)
        return value

    def fast(job, value):  # noqa: ANN001, ANN202
        threads.append(threading.current_thread())
        return value

    runner.submit("open", slow, "old", on_done=done.append, on_discard=discarded.append)
    latest = runner.submit("open", fast, "new", on_done=done.append)
    qtbot.waitUntil(lambda: done == ["new"], timeout=5000)
    release.set()
    qtbot.waitUntil(lambda: not runner.busy, timeout=5000)
    assert done == ["new"] and discarded == ["old"] and runner.stale_dropped == 1
    assert runner.is_current(latest) is False  # delivered and forgotten
    assert threading.main_thread() not in threads


def test_errors_progress_and_cancel(qtbot):
    runner = TaskRunner()
    errors, progress, done = [], [], []

    def bad(job):  # noqa: ANN001, ANN202
        raise UserError("scan.dcm: not a DICOM file")

    def broken(job):  # noqa: ANN001, ANN202
        return 1 / 0

    runner.submit("a", bad, on_error=lambda m, u: errors.append((m, u)))
    runner.submit("b", broken, on_error=lambda m, u: errors.append((m, u)))

    def steps(job):  # noqa: ANN001, ANN202
        for k in range(3):
            job.progress(k, 3, "step")
            time.sleep(0.01)
        return "ok"

    runner.submit("c", steps, on_done=done.append, on_progress=lambda d, t, m: progress.append(d))

    def endless(job):  # noqa: ANN001, ANN202
        while True:
            job.check()
            time.sleep(0.005)

    runner.submit("d", endless, on_done=done.append, on_error=lambda m, u: errors.append((m, u)))
    runner.cancel("d")
    qtbot.waitUntil(lambda: not runner.busy, timeout=5000)
    assert ("scan.dcm: not a DICOM file", True) in errors
    assert any(m.startswith("internal error: ZeroDivisionError") and not u for m, u in errors)
    assert len(errors) == 2 and done == ["ok"] and progress == [0, 1, 2]
