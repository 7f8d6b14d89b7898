"""Where bundled data lives: the demo cases (`resources/`) and demo model bundles (`models/`).

One place, so that an editable install, a wheel and a PyInstaller build find the
same files. Each location can be overridden by an environment variable
(``ULTRASOUND_READER_RESOURCES``, ``ULTRASOUND_READER_MODELS``, ``ULTRASOUND_READER_TRUST_STORE``); user-writable data
(caches, run folders) goes under ``ULTRASOUND_READER_CACHE`` or the platform cache.
"""

from __future__ import annotations

import os
import sys
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
