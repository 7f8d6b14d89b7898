"""Retrieved files land in the cache atomically: a private temp folder, then renames.

Layout: ``ROOT/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm`` with
ROOT = ``paths.cache_dir()/pacs`` by default. While a retrieve runs, files go to
``ROOT/.partial-<random>/``; only when the whole transfer succeeded is each series
folder renamed into place (replacing an older copy of the same series in two
renames). A failure or a cancel removes the temp folder: nothing half-written is ever
visible under a study folder. Temp folders left by a killed process are swept on
the next retrieve once they are older than a day.

Commits of the same study are serialised by a lock on the study folder itself
(``flock`` on its directory descriptor; no extra file in the cache): two retrieves of one study landing
at once replace each other's series one after the other instead of failing half-way.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import time
import uuid
from pathlib import Path

from ultrasound_reader.dicom.pacs.model import PacsError, check_uid

log = logging.getLogger(__name__)

PARTIAL_PREFIX = ".partial-"
STALE_AFTER_S = 24 * 3600


def default_root() -> Path:
    from ultrasound_reader.paths import cache_dir

    return cache_dir() / "pacs"


def sweep_stale(root: Path, older_than_s: float = STALE_AFTER_S) -> None:
    now = time.time()
    for p in root.glob(PARTIAL_PREFIX + "*"):
        try:
            if now - p.stat().st_mtime > older_than_s:
                shutil.rmtree(p, ignore_errors=True)
        except OSError:
            pass


@contextlib.contextmanager
def _locked(folder: Path):  # noqa: ANN202
    """An exclusive lock on ``folder`` (a study's cache folder) while its series are swapped in."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


class Landing:
    """One retrieve's temp folder; use as a context manager (abort on any exception)."""

    def __init__(self, root: Path | None = None, *, study_uid: str, series_uid: str | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()
        self.study_uid = check_uid(study_uid, "study UID")
        self.series_uid = check_uid(series_uid, "series UID") if series_uid else None
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PacsError(f"{self.root}: cannot create the PACS cache folder ({exc.strerror})") from None
        sweep_stale(self.root)
        self.tmp = self.root / f"{PARTIAL_PREFIX}{uuid.uuid4().hex}"
        self.tmp.mkdir()
        self.files: list[tuple[str, str]] = []  # (series, sop) in arrival order
        self.bytes = 0
        self.committed: list[Path] = []

    def write(self, study_uid: str, series_uid: str, sop_uid: str, data: bytes) -> None:
        """Store one received instance (a whole Part-10 file's bytes) in the temp folder.

        An instance of another study (or series, when one was asked for) is refused:
        a PACS must send what was asked, and UIDs become file names.
        """
        study = check_uid(study_uid, "received instance: StudyInstanceUID")
        series = check_uid(series_uid, "received instance: SeriesInstanceUID")
        sop = check_uid(sop_uid, "received instance: SOPInstanceUID")
        if study != self.study_uid:
            raise PacsError(f"the PACS sent an instance of study {study}, not of the requested {self.study_uid}")
        if self.series_uid and series != self.series_uid:
            raise PacsError(f"the PACS sent an instance of series {series}, not of the requested {self.series_uid}")
        folder = self.tmp / series
        folder.mkdir(exist_ok=True)
        path = folder / f"{sop}.dcm"
        with open(path, "wb") as fh:
            fh.write(data)
        self.files.append((series, sop))
        self.bytes += len(data)

    def commit(self) -> list[Path]:
        """Move every received series into place; return the final series folders."""
        if not self.files:
            self.abort()
            raise PacsError(f"the PACS sent no instance of study {self.study_uid}"
                            + (f" series {self.series_uid}" if self.series_uid else ""))
        study_dir = self.root / self.study_uid
        try:
            study_dir.mkdir(exist_ok=True)
            with _locked(study_dir):
                for series_tmp in sorted(p for p in self.tmp.iterdir() if p.is_dir()):
                    final = study_dir / series_tmp.name
                    old = self.tmp / f"old-{series_tmp.name}"
                    if final.exists():
                        os.replace(final, old)
                    os.replace(series_tmp, final)
                    self.committed.append(final)
        except OSError as exc:
            self.abort()
            raise PacsError(f"{study_dir}: cannot move the retrieved series into the PACS cache "
                            f"({exc.strerror or exc})") from None
        shutil.rmtree(self.tmp, ignore_errors=True)
        return self.committed

    def final_files(self) -> list[Path]:
        return [self.root / self.study_uid / se / f"{sop}.dcm" for se, sop in self.files]

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> Landing:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            self.abort()
