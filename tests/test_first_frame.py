"""gui/first_frame.py: which frame the window shows first, decoded by the usual loader, early in a child."""

from __future__ import annotations

import json
import os
import select
import shutil
import sys
import time

import pytest

from ultrasound_reader import case_rules
from ultrasound_reader.case import Case
from ultrasound_reader.dicom import open_cine
from ultrasound_reader.errors import UserError
from ultrasound_reader.gui.app import DEMO_CASE
from ultrasound_reader.gui.first_frame import EarlyDecode, FirstFrame, decode_first, first_view
from ultrasound_reader.paths import resources_dir

DEMO = resources_dir() / DEMO_CASE
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the early decode forks on Linux only")


def _wait(early: EarlyDecode, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not early.read():
        assert time.monotonic() < deadline, "the child did not finish"
        select.select([early.fd], [], [], 0.5)


def _reaped(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_a_case_opens_at_its_first_roi_image_and_frame_else_its_reference_frame(tmp_path):
    case = Case.load(DEMO)
    index, frame = case_rules.opening_view(case)
    lowest = min(r.frame for r in case.rois if r.image == index)
    assert index == min(r.image for r in case.rois) and frame == lowest
    assert first_view([str(DEMO)]) == (case.image_path(index), frame)
    # without ROIs: the first image at the frame the case names for it
    folder = tmp_path / "case"
    shutil.copytree(DEMO, folder)
    data = json.loads((folder / "case.json").read_text())
    data["rois"] = []
    data["images"][0]["frame"] = 5
    (folder / "case.json").write_text(json.dumps(data))
    path, frame = first_view([str(folder)])
    assert path == (folder / data["images"][0]["file"]).resolve() and frame == 5


def test_one_file_opens_at_frame_0_and_a_folder_or_several_files_are_left_to_the_window(tmp_path):
    image = DEMO / "bmode.dcm"
    assert first_view([str(image)]) == (image, 0)
    assert first_view([str(tmp_path)]) is None
    assert first_view([str(image), str(DEMO / "cdfi.dcm")]) is None


def test_the_first_frame_is_the_loaders_frame_and_a_bad_file_raises_its_error(tmp_path):
    frame = decode_first([str(DEMO)])
    assert frame is not None
    path, index = first_view([str(DEMO)])
    with open_cine(path) as cine:
        expected = cine.frame(index)
    assert (frame.index, frame.height, frame.width, frame.channels) == (index, *expected.shape[:2],
                                                                       1 if expected.ndim == 2 else 3)
    assert frame.pixels == expected.tobytes()
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"not DICOM " * 50)
    with pytest.raises(UserError, match="bad.dcm"):
        decode_first([str(bad)])


def test_a_frame_survives_the_pipe_encoding_and_a_partial_one_is_refused():
    frame = FirstFrame(3, 4, 2, 3, bytes(range(24)))
    data = frame.encode()
    assert FirstFrame.decode(data) == frame
    assert FirstFrame.decode(data[:-1]) is None
    assert FirstFrame.decode(b"") is None
    assert FirstFrame.decode(b"3 4 2 2\n" + bytes(16)) is None  # 2 channels: not a display frame


@linux_only
def test_the_early_child_sends_the_same_frame_and_is_reaped():
    early = EarlyDecode.start([str(DEMO)])
    assert early is not None
    _wait(early)
    assert early.result() == decode_first([str(DEMO)])
    assert _reaped(early.pid)


@linux_only
def test_a_bad_file_in_the_child_gives_no_frame_and_no_output(tmp_path, capfd):
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"not DICOM " * 50)
    early = EarlyDecode.start([str(bad)])
    assert early is not None
    _wait(early)
    assert early.result() is None and _reaped(early.pid)
    out, err = capfd.readouterr()
    assert "bad.dcm" not in out + err  # the window reports it, once


@linux_only
def test_cancel_stops_the_child_and_reaps_it():
    early = EarlyDecode.start([str(DEMO)])
    assert early is not None
    early.cancel()
    assert early.done and early.result() is None and _reaped(early.pid)
    early.cancel()  # twice is harmless


def _gone(pid: int) -> bool:
    """The process has ended (a zombie waiting for its new parent counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return True


@linux_only
def test_the_child_ends_when_the_gui_process_is_killed(tmp_path):
    # A child stuck in its read (a FIFO, a stalled network share) must not outlive a killed app.
    import signal
    import subprocess

    script = ("import sys, time\n"
              "from ultrasound_reader.gui import first_frame\n"
              "first_frame.decode_first = lambda paths: time.sleep(600)\n"
              "early = first_frame.EarlyDecode.start(['stuck'])\n"
              "print(early.pid, flush=True)\n"
              "time.sleep(600)\n")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert not _gone(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while not _gone(child):
            assert time.monotonic() < deadline, f"the early-decode child {child} outlived the killed GUI process"
            time.sleep(0.05)
    finally:
        parent.kill()
        parent.wait()
