"""The wheel carries the demo: a non-editable install finds the demo cases and signed bundles.

``setup.py`` copies ``resources/demo`` and ``models/`` (with the trust store) into the
wheel under ``ultrasound_reader/_data/``. The fast test builds the wheel (no
dependencies, a few seconds) and reads its file list; the slow one installs it in a
fresh venv and runs ``analyze`` on the demo through the default paths.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = "ultrasound_reader/_data/"
BUNDLES = ("liver-fll-demo", "soft-tissue-demo")
DEMO_CASES = ("liver/liver-s136-0000", "soft-tissue/soft-s136-0000")


def _source_copy(dest: Path) -> Path:
    """What a checkout needs to build the wheel, copied (so no build/ or egg-info lands in the tree)."""
    dest.mkdir()
    for name in ("ultrasound_reader", "resources", "models"):
        shutil.copytree(REPO / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for f in REPO.iterdir():
        if f.is_file() and (f.name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md")
                            or f.name.upper().startswith(("LICENSE", "NOTICE"))):
            shutil.copy2(f, dest / f.name)
    return dest


def _pip_wheel(source: Path, out: Path) -> Path:
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                        "--no-index", str(source), "-w", str(out)],
                       capture_output=True, text=True, timeout=600, cwd=out.parent)
    assert p.returncode == 0, (p.stdout + p.stderr)[-3000:]
    (wheel,) = out.glob("ultrasound_reader-*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    return _pip_wheel(_source_copy(tmp / "src"), tmp / "dist")


def test_wheel_carries_the_demo_cases_bundles_and_trust_key(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())

        def sha256(name: str) -> str:
            return hashlib.sha256(z.read(name)).hexdigest()

        # every file a bundle's manifest lists, byte for byte, plus its signature
        for bundle in BUNDLES:
            root = f"{DATA}models/{bundle}/"
            manifest = json.loads(z.read(root + "manifest.json"))
            assert manifest["files"], bundle
            for fname, digest in manifest["files"].items():
                assert sha256(root + fname) == digest, root + fname
            assert root + "model.sig" in names
        assert f"{DATA}models/trust/ultrasound-reader-demo.pub" in names
        for case in DEMO_CASES:
            for fname in ("case.json", "bmode.dcm", "cdfi.dcm"):
                name = f"{DATA}resources/demo/{case}/{fname}"
                assert sha256(name) == hashlib.sha256((REPO / "resources/demo" / case / fname).read_bytes()).hexdigest()
        for task in ("liver", "soft-tissue"):
            assert f"{DATA}resources/demo/{task}/truth.csv" in names
    # what else the package reads at run time
    for name in ("ultrasound_reader/study/migrations/env.py", "ultrasound_reader/study/migrations/script.py.mako",
                 "ultrasound_reader/study/migrations/versions/0001_initial.py",
                 "ultrasound_reader/training/configs/liver-fll-demo.toml",
                 "ultrasound_reader/training/configs/soft-tissue-demo.toml"):
        assert name in names, name
    # every file git tracks under the demo folders is in the wheel (READMEs aside)
    tracked = subprocess.run(["git", "ls-files", "resources/demo", "models"], cwd=REPO, capture_output=True, text=True)
    if tracked.returncode == 0 and tracked.stdout.strip():
        missing = [f for f in tracked.stdout.split()
                   if Path(f).name != "README.md" and DATA + f not in names]
        assert not missing
    # and nothing that is not needed
    unwanted = [n for n in names if n.startswith(("tests/", "resources/", "models/", "packaging/"))
                or "/screenshots/" in n or n.endswith((".pyc", "README.md")) or "__pycache__" in n]
    assert not unwanted, unwanted[:10]


def _fresh_venv(root: Path) -> Path:
    """A venv holding only the wheel; the heavy dependencies come from this test's environment via a .pth."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=300)
    python = root / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # A path line in a .pth only appends that folder: the .pth files inside it (this
    # environment's editable install of ultrasound_reader) are not processed.
    deps = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    Path(site, "zz-deps-from-test-env.pth").write_text("\n".join(deps) + "\n")
    return python


def _clean_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME") and not k.startswith("ULTRASOUND_READER_")}
    env.update(ULTRASOUND_READER_CACHE=str(tmp / "cache"), ULTRASOUND_READER_CONFIG=str(tmp / "config"),
               QT_QPA_PLATFORM="offscreen")
    return env


@pytest.mark.slow
def test_wheel_from_the_sdist_installs_and_analyses_the_demo(tmp_path):
    src = _source_copy(tmp_path / "src")
    # the sdist (MANIFEST.in) carries the demo too: build the wheel from it, as `python -m build` does
    p = subprocess.run([sys.executable, "-c", "import setuptools.build_meta as b; print(b.build_sdist('sdist'))"],
                       cwd=src, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    sdist = src / "sdist" / p.stdout.strip().splitlines()[-1]
    shutil.unpack_archive(sdist, tmp_path / "unpacked")
    (unpacked,) = (tmp_path / "unpacked").iterdir()
    wheel = _pip_wheel(unpacked, tmp_path / "dist")

    python = _fresh_venv(tmp_path / "venv")
    p = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                        "--no-index", str(wheel)], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, (p.stdout + p.stderr)[-3000:]
    run_dir = tmp_path / "cwd"  # not the source tree, so nothing is imported from it
    run_dir.mkdir()
    env = _clean_env(tmp_path)
    where = subprocess.run(
        [str(python), "-c", "import json, ultrasound_reader, ultrasound_reader.paths as p; print(json.dumps("
         "{'file': ultrasound_reader.__file__, 'resources': str(p.resources_dir()), 'models': str(p.models_dir()),"
         " 'trust': str(p.trust_store_dir())}))"],
        cwd=run_dir, env=env, capture_output=True, text=True, timeout=120)
    assert where.returncode == 0, where.stderr[-2000:]
    where = json.loads(where.stdout)
    installed = Path(where["file"]).resolve().parent
    assert installed.is_relative_to((tmp_path / "venv").resolve()), where
    for key in ("resources", "models", "trust"):
        assert Path(where[key]).resolve().is_relative_to(installed / "_data"), where
    exe = tmp_path / "venv" / "bin" / "ultrasound-reader"
    for case in DEMO_CASES:
        case_dir = Path(where["resources"]) / "demo" / case
        p = subprocess.run([str(exe), "analyze", str(case_dir), "--json", "--no-cam"], cwd=run_dir, env=env,
                           capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stderr[-2000:]
        ours = json.loads(p.stdout)
        # the default bundle, signature verified against the wheel's trust store
        assert ours["bundle_signature"]["verdict"] == "verified", ours["bundle_signature"]
        assert Path(ours["bundle_signature"]["trust_store"]).resolve() == Path(where["trust"]).resolve()
        # the same probabilities as the source tree's demo through the same code
        ref = subprocess.run([sys.executable, "-m", "ultrasound_reader", "analyze",
                              str(REPO / "resources" / "demo" / case), "--json", "--no-cam"],
                             cwd=REPO, capture_output=True, text=True, timeout=600,
                             env={**_clean_env(tmp_path), "PYTHONPATH": str(REPO)})
        assert ref.returncode == 0, ref.stderr[-2000:]
        ref = json.loads(ref.stdout)
        assert ours["bundle_name"] == ref["bundle_name"] and ours["decision"] == ref["decision"]
        assert ours["probabilities"].keys() == ref["probabilities"].keys()
        for k, v in ref["probabilities"].items():
            assert ours["probabilities"][k] == pytest.approx(v, abs=1e-6), k
    # the reader-study demo: Alembic migrations from the wheel, the bundled soft-tissue model
    p = subprocess.run([str(exe), "study", "demo", "--out", str(tmp_path / "study")], cwd=run_dir, env=env,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    p = subprocess.run([str(exe), "study", "status", "--db", str(tmp_path / "study" / "study.db"), "--json"],
                       cwd=run_dir, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    status = json.loads(p.stdout)
    assert status["cases"] == 20 and status["bundle"]["name"] == "soft-tissue-demo"
    assert status["readers"] and all(r["complete"] for r in status["readers"])
