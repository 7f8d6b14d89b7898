"""The ``licenses/`` folder of the frozen application: ours, Python's, Qt's and every bundled distribution's.

Used by the spec (``ultrasound-reader.spec``) after PyInstaller's analysis: the
distributions are the ones whose files the analysis actually collected (modules and
shared libraries under site-packages), mapped to their distribution with
``importlib.metadata.packages_distributions``; for each, the licence files its
dist-info lists (``LICENSE*``, ``COPYING*``, ``NOTICE*``, ``AUTHORS*``, PEP 639
``licenses/``, and licence files inside the package such as ``cv2/LICENSE.txt``) are
copied to ``licenses/<distribution>/``. ``INDEX.txt`` names each with its version and
declared licence. Qt and PySide6 ship no licence file in their wheels: their LGPL-3.0
notice is written here, with the LGPL/GPL texts from the system's
``/usr/share/common-licenses`` where it has them.

Run alone to see what would be collected: ``python packaging/licenses.py OUT_DIR``
(then from the whole requirement closure of the installed ultrasound-reader).
"""

from __future__ import annotations

import importlib.metadata as md
import re
import shutil
import sys
import sysconfig
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_LICENCE_FILE = re.compile(r"^(LICEN[CS]E|COPYING|NOTICE|AUTHORS|ThirdPartyNotices)", re.IGNORECASE)
COMMON = Path("/usr/share/common-licenses")

QT_NOTICE = """\
Qt and Qt for Python (PySide6, shiboken6) {version}

This application uses the Qt libraries and PySide6 unmodified, as shared libraries
(_internal/PySide6/Qt/lib/, _internal/PySide6/, _internal/shiboken6/), under the
GNU Lesser General Public License version 3 (LGPL-3.0-only): see LGPL-3 and GPL-3
in this folder (LGPL-3 adds permissions to GPL-3), or
https://www.gnu.org/licenses/lgpl-3.0.html.

You may replace these libraries with your own build of the same Qt / PySide6
version: put the replacement files at the same paths. The source code of Qt is at
https://download.qt.io/official_releases/qt/ and of Qt for Python at
https://code.qt.io/cgit/pyside/pyside-setup.git/ (tag v{version}).

Copyright (C) The Qt Company Ltd. and other contributors.
"""


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def distributions_of(paths: Iterable[str | Path]) -> dict[str, md.Distribution]:
    """{normalised name: distribution} owning the given collected files (those under site-packages)."""
    roots = {Path(p).resolve() for p in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}}
    top_to_dists = md.packages_distributions()
    by_name = {}
    for d in md.distributions():
        by_name.setdefault(_norm(d.metadata["Name"]), d)
    found: dict[str, md.Distribution] = {}
    for p in paths:
        p = Path(p).resolve()
        for root in roots:
            if root in p.parents:
                top = p.relative_to(root).parts[0]
                top = top.split(".")[0] if not (root / top).is_dir() else top
                for dist_name in top_to_dists.get(top, []):
                    n = _norm(dist_name)
                    if n in by_name:
                        found[n] = by_name[n]
                break
    return found


def closure(root: str = "ultrasound-reader", extra: Iterable[str] = ("onnxruntime",)) -> dict[str, md.Distribution]:
    """The installed requirement closure of ``root`` (no extras) plus ``extra`` (for running this alone)."""
    from packaging.requirements import Requirement

    by_name = {}
    for d in md.distributions():
        by_name.setdefault(_norm(d.metadata["Name"]), d)
    seen: dict[str, md.Distribution] = {}
    todo = [root, *extra]
    while todo:
        n = _norm(todo.pop())
        if n in seen or n not in by_name:
            continue
        seen[n] = by_name[n]
        for r in by_name[n].requires or []:
            req = Requirement(r)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def _licence_files(d: md.Distribution) -> list[md.PackagePath]:
    out = []
    for f in d.files or []:
        parts = f.parts
        if _LICENCE_FILE.match(parts[-1]) or (len(parts) > 2 and parts[0].endswith(".dist-info")
                                               and parts[1] == "licenses"):
            out.append(f)
    return out


def declared(d: md.Distribution) -> str:
    m = d.metadata
    text = m.get("License-Expression") or m.get("License") or ""
    text = " ".join(text.split())
    if not text or len(text) > 80:  # some put the whole licence text in the field
        classifiers = [c.split("::")[-1].strip() for c in (m.get_all("Classifier") or []) if c.startswith("License ::")]
        text = "; ".join(classifiers) or (text[:77] + "..." if text else "not declared")
    return text


def write(out: str | Path, dists: dict[str, md.Distribution], *, own_version: str = "") -> list[str]:
    """Fill ``out`` (created; emptied first): returns the INDEX lines."""
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    index = ["Licences of the software in this application", ""]
    # ours
    own = REPO / "LICENSE"
    if own.is_file():
        shutil.copy2(own, out / "ultrasound-reader-LICENSE.txt")
    elif (COMMON / "Apache-2.0").is_file():  # pyproject: license = Apache-2.0; the repository has no LICENSE file
        shutil.copy2(COMMON / "Apache-2.0", out / "ultrasound-reader-LICENSE.txt")
    index.append(f"ultrasound-reader {own_version}: Apache-2.0 (ultrasound-reader-LICENSE.txt)")
    # the Python runtime PyInstaller bundles
    for cand in (Path(sys.base_prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "LICENSE.txt",
                 Path(sys.base_prefix) / "LICENSE.txt"):
        if cand.is_file():
            shutil.copy2(cand, out / "Python-LICENSE.txt")
            break
    index.append(f"Python {sys.version.split()[0]}: PSF-2.0 (Python-LICENSE.txt)")
    for text in ("LGPL-3", "GPL-3"):
        if (COMMON / text).is_file():
            shutil.copy2(COMMON / text, out / text)
    for name in sorted(dists):
        d = dists[name]
        files = _licence_files(d)
        folder = out / name
        copied = []
        for f in files:
            src = Path(f.locate())
            if not src.is_file():
                continue
            folder.mkdir(exist_ok=True)
            # keep names unique: numpy lists several LICENSE.txt of vendored code
            parts = f.parts[1:] if f.parts[0].endswith(".dist-info") else f.parts
            parts = parts[1:] if len(parts) > 1 and parts[0] == "licenses" else parts
            rel = "__".join(parts)
            shutil.copy2(src, folder / rel)
            copied.append(rel)
        if name in ("pyside6", "pyside6-essentials", "pyside6-addons", "shiboken6"):
            folder.mkdir(exist_ok=True)
            (folder / "QT-LGPL-NOTICE.txt").write_text(QT_NOTICE.format(version=d.version), encoding="utf-8")
            copied.append("QT-LGPL-NOTICE.txt")
        where = f"{name}/ ({len(copied)} file{'s' if len(copied) != 1 else ''})" if copied else "no licence file shipped"
        index.append(f"{d.metadata['Name']} {d.version}: {declared(d)} - {where}")
    (out / "INDEX.txt").write_text("\n".join(index) + "\n", encoding="utf-8")
    return index


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python packaging/licenses.py OUT_DIR")
    lines = write(sys.argv[1], closure())
    print("\n".join(lines))
