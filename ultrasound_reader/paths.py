"""Where bundled data lives: the demo cases (`resources/`) and demo model bundles (`models/`).

One place, so that an editable install, a wheel and a PyInstaller build find the
same files. Each location can be overridden by an environment variable
(``ULTRASOUND_READER_RESOURCES``, ``ULTRASOUND_READER_MODELS``, ``ULTRASOUND_READER_TRUST_STORE``); user-writable data
(caches, run folders) goes under ``ULTRASOUND_READER_CACHE`` or the platform cache.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def _bundled(name: str) -> Path:
    # PyInstaller unpacks data next to the executable (sys._MEIPASS); a wheel
    # installs them as package data under ultrasound_reader/_data/ (setup.py); a
    # source or editable install has the folders beside the package. _data comes
    # before the parent folder: an installed package's parent is site-packages,
    # where another distribution may have put a top-level "models" folder.
    frozen = getattr(sys, "_MEIPASS", None)
    candidates = []
    if frozen:
        candidates.append(Path(frozen) / name)
    candidates += [_PACKAGE_DIR / "_data" / name, _PACKAGE_DIR.parent / name]
    for path in candidates:
        if path.is_dir():
            return path
    return candidates[0]


def resources_dir() -> Path:
    """Folder of bundled demo cases."""
    env = os.environ.get("ULTRASOUND_READER_RESOURCES")
    return Path(env) if env else _bundled("resources")


def models_dir() -> Path:
    """Folder of bundled model bundles (one sub-folder each)."""
    env = os.environ.get("ULTRASOUND_READER_MODELS")
    return Path(env) if env else _bundled("models")


def trust_store_dir() -> Path:
    """Folder of public keys trusted to sign model bundles (``ULTRASOUND_READER_TRUST_STORE`` overrides).

    The default is the bundled ``models/trust`` (the demo key), found beside the package,
    not through ``ULTRASOUND_READER_MODELS``: pointing at other bundles does not make
    their keys trusted.
    """
    env = os.environ.get("ULTRASOUND_READER_TRUST_STORE")
    return Path(env) if env else _bundled("models") / "trust"


def cache_dir() -> Path:
    """Writable cache folder (crop caches, generated data); created on demand."""
    env = os.environ.get("ULTRASOUND_READER_CACHE")
    if env:
        path = Path(env)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        path = Path(base) / "ultrasound-reader"
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_dir() -> Path:
    """Writable per-user settings folder (PACS nodes, ...); created on demand.

    ``ULTRASOUND_READER_CONFIG`` overrides it (tests point it at a tmp folder).
    """
    env = os.environ.get("ULTRASOUND_READER_CONFIG")
    if env:
        path = Path(env)
    else:
        base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        path = Path(base) / "ultrasound-reader"
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], object], *,
                 label: str | None = None, private: bool = False) -> Path:
    """Write ``path`` atomically: ``write(tmp)`` fills a temporary file beside it, which
    then replaces ``path``; a crash or error never leaves half a file, nor the temp file.

    The parent folder must exist (an output never creates folders silently). An
    ``OSError`` (missing or non-folder parent, read-only folder, full disk) becomes a
    :class:`~ultrasound_reader.errors.UserError` naming the path (prefixed by ``label``,
    e.g. the command-line option, when given). ``private`` files are mode 0600, others
    the usual umask-filtered 0666.
    """
    from ultrasound_reader.errors import UserError

    path = Path(path)
    prefix = f"{label}: " if label else ""
    parent = path.parent
    if not parent.is_dir():
        why = "does not exist" if not parent.exists() else "is not a folder"
        raise UserError(f"{prefix}cannot write {path}: folder {parent} {why}")
    tmp: Path | None = None
    try:
        fd, name = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
        tmp = Path(name)
        os.close(fd)
        if not private:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        write(tmp)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise UserError(f"{prefix}cannot write {path} ({reason})") from None
    finally:
        if tmp is not None:
            try:
                tmp.unlink()
            except OSError:
                pass
    return path
