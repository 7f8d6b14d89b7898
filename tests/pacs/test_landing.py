"""The PACS cache landing: concurrent retrieves of one study, and file-system failures."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from ultrasound_reader.dicom.pacs.landing import Landing
from ultrasound_reader.dicom.pacs.model import PacsError

STUDY = "1.2.826.0.1.3680043.8.498.1"
SERIES = [f"{STUDY}.{i}" for i in range(1, 4)]


def _land(root: Path, tag: int) -> None:
    with Landing(root, study_uid=STUDY) as landing:
        for se in SERIES:
            for k in range(3):
                landing.write(STUDY, se, f"{se}.{k}", f"{tag}-{se}-{k}".encode())
        landing.commit()


def test_concurrent_retrieves_of_one_study_all_land(tmp_path: Path) -> None:
    errors: list[BaseException] = []

    def worker(w: int) -> None:
        try:
            for i in range(40):
                _land(tmp_path, w * 1000 + i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    # every series is complete and from one retrieve (not a mix), nothing temporary is left
    for se in SERIES:
        files = sorted((tmp_path / STUDY / se).iterdir())
        assert [f.name for f in files] == [f"{se}.{k}.dcm" for k in range(3)]
        tags = {f.read_bytes().split(b"-")[0] for f in files}
        assert len(tags) == 1
    assert not list(tmp_path.glob(".partial-*"))


def test_a_file_where_the_study_folder_goes_is_a_pacs_error(tmp_path: Path) -> None:
    (tmp_path / STUDY).write_bytes(b"not a folder")
    with pytest.raises(PacsError, match="cannot move the retrieved series"):
        _land(tmp_path, 1)
    assert not list(tmp_path.glob(".partial-*"))
