"""errors.is_cancelled: the one reading of a cancel token, shared by ai/ and dicom/pacs/."""

import threading
from concurrent.futures import Future

from ultrasound_reader.ai import context
from ultrasound_reader.dicom.pacs import model
from ultrasound_reader.errors import is_cancelled


def test_every_kind_of_token_reads_the_same_everywhere():
    ev = threading.Event()
    fut: Future = Future()
    tokens = [(None, False), (ev, False), (fut, False), (lambda: False, False), (False, False),
              (lambda: True, True), (True, True)]
    for read in (is_cancelled, model.cancelled):
        for token, expect in tokens:
            assert read(token) is expect, (read, token)
    ev.set()
    assert fut.cancel()
    for read in (is_cancelled, model.cancelled):
        assert read(ev) and read(fut)
    assert context.is_cancelled is is_cancelled and model.cancelled is is_cancelled
