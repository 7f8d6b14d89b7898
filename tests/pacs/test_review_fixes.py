"""Review fixes: one atomic writer, de-identification edge cases, PACS CLI validation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ultrasound_reader.errors import UserError
from ultrasound_reader.paths import atomic_write


def _write(text: str):
    return lambda tmp: Path(tmp).write_text(text)


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    out = tmp_path / "a.txt"
    out.write_text("old")
    assert atomic_write(out, _write("new")) == out
    assert out.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
    assert (out.stat().st_mode & 0o777) == 0o666 & ~_umask()
    atomic_write(tmp_path / "secret", _write("k"), private=True)
    assert ((tmp_path / "secret").stat().st_mode & 0o777) == 0o600


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def test_atomic_write_refuses_missing_parent_and_creates_nothing(tmp_path: Path) -> None:
    target = tmp_path / "nonexistent" / "dir" / "x.dcm"
    with pytest.raises(UserError, match=r"--sr: cannot write .*x\.dcm: folder .*dir does not exist"):
        atomic_write(target, _write("x"), label="--sr")
    assert not (tmp_path / "nonexistent").exists()
    afile = tmp_path / "plain"
    afile.write_text("")
    with pytest.raises(UserError, match="is not a folder"):
        atomic_write(afile / "x.pdf", _write("x"))


def test_atomic_write_oserror_becomes_user_error_and_temp_is_removed(tmp_path: Path) -> None:
    def fails(tmp: Path) -> None:
        Path(tmp).write_text("half")
        raise OSError(28, "No space left on device")

    out = tmp_path / "r.pdf"
    with pytest.raises(UserError, match=r"cannot write .*r\.pdf \(No space left on device\)"):
        atomic_write(out, fails)
    assert list(tmp_path.iterdir()) == []

    def boom(tmp: Path) -> None:
        Path(tmp).write_text("half")
        raise RuntimeError("encoder bug")

    with pytest.raises(RuntimeError):
        atomic_write(out, boom)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_atomic_write_read_only_folder(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(UserError, match="Permission denied"):
            atomic_write(ro / "x", _write("x"))
    finally:
        ro.chmod(0o700)
