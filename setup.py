"""Build hook: the wheel carries the demo cases and the demo model bundles.

They live once in git, beside the package (``resources/demo/``, ``models/`` with its
trust store ``models/trust/``); building the wheel copies them into it as package data
under ``ultrasound_reader/_data/``, where :mod:`ultrasound_reader.paths` finds them. An
editable install finds them beside the package and copies nothing. Everything else
(metadata, dependencies) is in ``pyproject.toml``; ``MANIFEST.in`` puts the same
folders in the sdist, so a wheel built from the sdist carries them too.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
# source folder -> its path under ultrasound_reader/_data/
DATA_DIRS = {"resources/demo": "resources/demo", "models": "models"}
# never shipped: documentation of the folders, screenshots, editor/OS/cache leftovers
SKIP_NAMES = {"README.md", "__pycache__", ".DS_Store"}
SKIP_SUFFIXES = (".pyc", ".tmp", ".swp", ".png~")


def demo_files(root: Path = HERE) -> list[tuple[Path, str]]:
    """(source file, path under ultrasound_reader/_data/) for every demo file shipped."""
    out = []
    for src_dir, dest_dir in DATA_DIRS.items():
        base = root / src_dir
        if not base.is_dir():
            raise SystemExit(f"{base}: missing; the wheel must carry the demo (build from a full checkout or sdist)")
        for path in sorted(base.rglob("*")):
            rel = path.relative_to(base)
            if (not path.is_file() or path.is_symlink() or any(p.startswith(".") or p in SKIP_NAMES for p in rel.parts)
                    or path.name.endswith(SKIP_SUFFIXES)):
                continue
            out.append((path, f"{dest_dir}/{rel.as_posix()}"))
    return out


class BuildPyWithDemo(build_py):
    """``build_py`` that also copies the demo cases and bundles into ``ultrasound_reader/_data``."""

    def _data_root(self) -> Path:
        return Path(self.build_lib) / "ultrasound_reader" / "_data"

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        root = self._data_root()
        shutil.rmtree(root, ignore_errors=True)  # no stale files from an earlier build
        for src, rel in demo_files():
            dest = root / rel
            self.mkpath(str(dest.parent))
            self.copy_file(str(src), str(dest))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        if self.editable_mode:
            return outputs
        return outputs + [str(self._data_root() / rel) for _, rel in demo_files()]


setup(cmdclass={"build_py": BuildPyWithDemo})
