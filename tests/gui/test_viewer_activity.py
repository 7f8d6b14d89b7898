"""Background loading steps aside while the viewer shows frames (issue 14, item 15)."""

from __future__ import annotations

import sys
import threading
import time

import numpy as np

from ultrasound_reader.gui.bench import playback_flags
from ultrasound_reader.gui.viewer_activity import ACTIVITY, ViewerActivity, pause_point, yield_to_viewer


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_activity_is_busy_for_hold_after_each_frame() -> None:
    clock = FakeClock()
    act = ViewerActivity(hold_s=0.25, clock=clock)
    assert not act.busy and act.quiet_in() == 0.0
    act.touch()
    assert act.busy and abs(act.quiet_in() - 0.25) < 1e-9
    clock.t += 0.2
    assert act.busy
    clock.t += 0.06
    assert not act.busy


def test_wait_quiet_sleeps_until_the_frames_stop() -> None:
    clock = FakeClock()
    act = ViewerActivity(hold_s=0.25, clock=clock)
    shown = [3]  # three more frames arrive while the background thread waits

    def sleep(dt: float) -> None:
        clock.t += dt
        if shown[0] > 0:
            shown[0] -= 1
            act.touch()

    act.touch()
    waited = act.wait_quiet(sleep)
    assert shown[0] == 0
    assert waited >= 0.25 and not act.busy
    assert act.waits == 1
    assert act.wait_quiet(sleep) == 0.0 and act.waits == 1  # quiet: no wait counted


def test_imports_inside_yield_to_viewer_wait_for_quiet(tmp_path, monkeypatch) -> None:
    """A module imported on a background thread is not even looked up while frames are shown."""
    name = "gv_activity_probe_mod"
    (tmp_path / f"{name}.py").write_text("import time\nLOADED_AT = time.monotonic()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(ACTIVITY, "hold_s", 0.15)
    sys.modules.pop(name, None)
    done: dict[str, float] = {}

    def background() -> None:
        with yield_to_viewer():
            pause_point()
            module = __import__(name)
        done["loaded_at"] = module.LOADED_AT

    ACTIVITY.touch()
    worker = threading.Thread(target=background)
    worker.start()
    last_frame = time.monotonic()
    end = last_frame + 0.6
    while time.monotonic() < end:  # "playback": a frame every 20 ms for 0.6 s
        ACTIVITY.touch()
        last_frame = time.monotonic()
        assert "loaded_at" not in done
        time.sleep(0.02)
    worker.join(10)
    assert not worker.is_alive()
    assert done["loaded_at"] >= last_frame + 0.1  # only once the frames had stopped for ~hold_s
    sys.modules.pop(name, None)


def test_imports_outside_yield_to_viewer_never_wait(tmp_path, monkeypatch) -> None:
    name = "gv_activity_free_mod"
    (tmp_path / f"{name}.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(ACTIVITY, "hold_s", 5.0)
    sys.modules.pop(name, None)
    ACTIVITY.touch()
    t0 = time.monotonic()
    with yield_to_viewer():
        pass  # installs the finder
    assert __import__(name).X == 1
    assert time.monotonic() - t0 < 1.0
    monkeypatch.setattr(ACTIVITY, "_last", -1e18)
    sys.modules.pop(name, None)


def test_image_view_marks_activity(qtbot) -> None:
    from ultrasound_reader.gui.image_view import ImageView

    view = ImageView()
    qtbot.addWidget(view)
    ACTIVITY._last = -1e18
    assert not ACTIVITY.busy
    view.set_frame(np.zeros((8, 8), np.uint8), 0)
    assert ACTIVITY.busy
    ACTIVITY._last = -1e18


def test_playback_flags_name_drops_and_memory() -> None:
    ok = {"dropped": 0, "dropped_not_decoded": 0, "display_slots": 120, "rss_growth_mib": 90.0}
    assert playback_flags(ok, 256.0) == []
    bad = {"dropped": 27, "dropped_not_decoded": 2, "display_slots": 125, "rss_growth_mib": 617.4}
    flags = playback_flags(bad, 256.0)
    assert flags[0] == "dropped 27 of 125 display slots, 2 not decoded in time"
    assert flags[1] == "memory grew 617 MiB during playback, over the 256 MiB cache budget"
