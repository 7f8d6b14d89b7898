"""Opening reads the header only; frames are read and decoded one at a time.

The file reads are counted by wrapping the real FileReader.read (the real reader
still does the work): opening a 300-frame cine must read no pixel bytes, and one
frame must read about one frame's bytes.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit

from ultrasound_reader.dicom import FrameCache, open_cine
from ultrasound_reader.dicom.header import FileReader
from ultrasound_reader.dicom.synth import speckle_frames


@pytest.fixture(scope="module")
def cines(tmp_path_factory):
    from ultrasound_reader.dicom.synth import write_dicom

    folder = tmp_path_factory.mktemp("lazy")
    frames = speckle_frames(300, 32, 40, color=True, seed=5)
    return {
        "native": (write_dicom(folder / "native.dcm", frames, transfer_syntax=ExplicitVRLittleEndian), frames),
        "jpeg": (write_dicom(folder / "jpeg.dcm", frames, transfer_syntax=JPEGBaseline8Bit), frames),
        "jpeg_nobot": (write_dicom(folder / "jpeg_nobot.dcm", frames, transfer_syntax=JPEGBaseline8Bit,
                                   offset_table="none"), frames),
    }


@pytest.fixture()
def reads(monkeypatch):
    log: list[int] = []
    original = FileReader.read

    def counting(self, offset, size):
        data = original(self, offset, size)
        log.append(len(data))
        return data

    monkeypatch.setattr(FileReader, "read", counting)
    return log


@pytest.mark.parametrize("kind", ["native", "jpeg", "jpeg_nobot"])
def test_open_decodes_nothing_and_one_frame_reads_one_frame(cines, reads, kind):
    path, frames = cines[kind]
    size = path.stat().st_size
    with open_cine(path) as cine:
        assert cine.n_frames == 300
        assert cine.decode_count == 0 and len(cine.cache) == 0
        assert sum(reads) <= 300 * 4 + 64  # at most the offset table
        reads.clear()
        img = cine.frame(150)
        assert cine.decode_count == 1
        # One frame's bytes (+ item headers of a fragment scan when there is no offset table).
        assert sum(reads) <= size / 300 * 3 + 300 * 8 + 64
        if kind == "native":
            assert np.array_equal(img, frames[150])
        cine.frame(150)
        assert cine.decode_count == 1  # second access served by the cache


def test_cache_is_bounded_in_bytes(cines):
    path, _ = cines["native"]
    frame_bytes = 32 * 40 * 3
    budget_mib = 10 * frame_bytes / 2**20
    with open_cine(path, cache_mib=budget_mib) as cine:
        for i in range(cine.n_frames):
            cine.frame(i)
            assert cine.cache.nbytes <= cine.cache.budget_bytes
        assert len(cine.cache) == 10
        assert cine.is_cached(299) and not cine.is_cached(0)  # least recently used went first


def test_frames_are_read_only(cines):
    with open_cine(cines["native"][0]) as cine:
        with pytest.raises(ValueError):
            cine.frame(0)[0, 0] = 1


def test_prefetch_fills_ahead_and_is_bounded(cines):
    path, frames = cines["jpeg"]
    with open_cine(path, cache_mib=50 * 32 * 40 * 3 / 2**20) as cine:
        assert cine.prefetch_capacity() == 50
        queued = cine.prefetch(290, 1000)  # wraps past the end, capped at what fits
        assert queued == 50
        assert cine.wait_prefetch(timeout=30)
        assert all(cine.is_cached(i % 300) for i in range(290, 340))
        assert not cine.is_cached(100)
        before = cine.decode_count
        cine.frame(295)
        assert cine.decode_count == before


def test_prefetch_cancel_and_close_stop_the_thread(cines):
    path, _ = cines["jpeg"]
    cine = open_cine(path)
    cine.prefetch(0, 300)
    cine.cancel_prefetch()
    assert cine.wait_prefetch(timeout=10)
    assert cine.decode_count < 300
    thread = cine._prefetcher._thread
    cine.close()
    assert not thread.is_alive()
    with pytest.raises(ValueError):
        cine.frame(0)


def test_concurrent_access_decodes_each_frame_once(cines):
    path, _ = cines["jpeg"]
    with open_cine(path) as cine:
        ref = [np.array(cine.frame(i)) for i in range(40)]
        cine.cache.clear()
        cine.decode_count = 0
        errors: list[Exception] = []

        def worker():
            try:
                for i in range(40):
                    assert np.array_equal(cine.frame(i), ref[i])
            except Exception as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert cine.decode_count == 40


def test_shared_cache_between_cines(cines):
    cache = FrameCache(budget_mib=1)
    a = open_cine(cines["native"][0], cache=cache)
    b = open_cine(cines["jpeg"][0], cache=cache)
    a.frame(0)
    b.frame(0)
    assert len(cache) == 2
    a.close()
    assert len(cache) == 1 and b.is_cached(0)
    b.close()


def test_thumbnail_decodes_one_frame(cines):
    with open_cine(cines["jpeg"][0]) as cine:
        thumb = cine.thumbnail(16)
        assert cine.decode_count == 1
        assert max(thumb.shape[:2]) == 16 and thumb.dtype == np.uint8


def test_forgotten_cine_stops_its_prefetch_thread(cines):
    import gc

    cine = open_cine(cines["jpeg"][0])
    cine.prefetch(0, 20)
    cine.wait_prefetch(timeout=10)
    thread = cine._prefetcher._thread
    del cine
    gc.collect()
    thread.join(timeout=5)
    assert not thread.is_alive()
