"""The PyInstaller application (packaging/): what it leaves out, its licences, and the self-test.

Quick tests: the exclusion lists against what the package imports, the licence folder,
and ``--self-test`` in the source install (a reference with one value changed must
fail with one line naming the case, the output and both values). The slow test runs
``packaging/build.sh`` into a temporary folder and starts the frozen executable
without Python (``env -i``, PATH=/usr/bin:/bin), from a copy of the folder elsewhere
too, and takes a screenshot of its window offscreen.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGING = REPO / "packaging"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_pyi_{name}", PACKAGING / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _qt_modules_imported() -> set[str]:
    found = set()
    for f in (REPO / "ultrasound_reader").rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            found |= {n for n in names if n.startswith("PySide6.")}
    return found


def test_exclusions_keep_what_the_package_uses_and_drop_torch_and_gpu():
    ex = _load("excludes")
    used = _qt_modules_imported()
    assert {"PySide6.QtCore", "PySide6.QtGui", "PySide6.QtWidgets"} <= used
    assert not used & set(ex.MODULES), "a Qt module the package imports is excluded from the build"
    assert used <= set(ex.QT_NEEDED) and not set(ex.QT_NEEDED) & set(ex.MODULES)
    for heavy in ("torch", "torchvision", "triton", "nvidia", "PySide6.QtWebEngineCore", "PySide6.Qt3DCore",
                  "PySide6.QtMultimedia", "PySide6.QtQuick", "PySide6.QtPdf", "PySide6.QtCharts", "pytest"):
        assert heavy in ex.MODULES
    for lib in ("PySide6/Qt/lib/libQt6WebEngineCore.so.6", "PySide6/Qt/lib/libQt6Quick.so.6",
                "nvidia/cudnn/lib/libcudnn.so.9", "torch/lib/libtorch_cpu.so", "PySide6/Qt/lib/libQt6Pdf.so.6"):
        assert ex.drop_binary(lib), lib
    for lib in ("PySide6/Qt/lib/libQt6Gui.so.6", "PySide6/Qt/lib/libQt6Widgets.so.6", "PySide6/Qt/lib/libQt6Core.so.6",
                "PySide6/Qt/lib/libQt6OpenGL.so.6", "PySide6/Qt/lib/libQt6Svg.so.6",
                "PySide6/Qt/plugins/platforms/libqoffscreen.so", "PySide6/Qt/plugins/platforms/libqxcb.so",
                "onnxruntime/capi/onnxruntime_pybind11_state.cpython-311-x86_64-linux-gnu.so"):
        assert not ex.drop_binary(lib), lib
    assert ex.drop_data("PySide6/Qt/qml/QtQuick/qmldir") and not ex.drop_data("models/trust/x.pub")
    # the inference runtime the frozen app uses is collected, the exporter is not
    assert "onnxruntime" in ex.HIDDEN and "onnx" in ex.MODULES


def test_trims_keep_what_a_desktop_and_the_app_need():
    from ultrasound_reader.errors import PACKAGED_APP_LEAVES_OUT

    ex = _load("excludes")
    # what the app says it leaves out is what the build leaves out (OpenCV among them)
    assert "cv2" in PACKAGED_APP_LEAVES_OUT and set(PACKAGED_APP_LEAVES_OUT) <= set(ex.MODULES)
    assert ex.drop_binary("opencv_python_headless.libs/libavcodec-c4204469.so.62.28.101")
    assert "PIL._avif" in ex.MODULES and "PIL" not in ex.MODULES and "PIL._webp" not in ex.MODULES
    plugins = "PySide6/Qt/plugins/"
    for lib in ("platforms/libqeglfs.so", "platforms/libqvnc.so", "platforms/libqlinuxfb.so",
                "platforms/libqvkkhrdisplay.so", "egldeviceintegrations/libqeglfs-x11-integration.so",
                "platforminputcontexts/libqtvirtualkeyboardplugin.so", "generic/libqevdevmouseplugin.so",
                "generic/libqtuiotouchplugin.so", "imageformats/libqtiff.so", "imageformats/libqwebp.so",
                "imageformats/libqtga.so", "imageformats/libqicns.so", "imageformats/libqwbmp.so"):
        assert ex.drop_binary(plugins + lib), lib
    for lib in ("platforms/libqxcb.so", "platforms/libqwayland.so", "platforms/libqoffscreen.so",
                "platforms/libqminimal.so", "platformthemes/libqgtk3.so", "xcbglintegrations/libqxcb-glx-integration.so",
                "platforminputcontexts/libcomposeplatforminputcontextplugin.so",
                "platforminputcontexts/libibusplatforminputcontextplugin.so", "imageformats/libqjpeg.so",
                "imageformats/libqgif.so", "imageformats/libqico.so", "imageformats/libqsvg.so",
                "iconengines/libqsvgicon.so", "wayland-shell-integration/libxdg-shell.so"):
        assert not ex.drop_binary(plugins + lib), lib
    for lib in ("psycopg_binary.libs/libpq-9b38f5e3.so.5.17", "python_gdcm.libs/libcrypto-5409cd36.so.1.1.1k",
                "_gdcm/_gdcmswig.so", "_libjpeg.cpython-311-x86_64-linux-gnu.so", "pillow.libs/libjpeg-6dc8d115.so.62.4.0"):
        assert not ex.drop_binary(lib), lib  # PostgreSQL, GDCM, the JPEG decoders, Pillow's JPEG
    mpl = "matplotlib/mpl-data/"
    for kept in ("fonts/ttf/DejaVuSans.ttf", "fonts/ttf/DejaVuSans-Bold.ttf", "fonts/ttf/DejaVuSansDisplay.ttf",
                 "fonts/ttf/DejaVuSansMono.ttf", "fonts/ttf/LastResortHE-Regular.ttf", "matplotlibrc",
                 "stylelib/classic.mplstyle", "images/home.png"):
        assert not ex.drop_data(mpl + kept), kept
    for dropped in ("fonts/ttf/STIXGeneral.ttf", "fonts/ttf/cmr10.ttf", "fonts/ttf/DejaVuSerif.ttf",
                    "fonts/afm/pagd8a.afm", "fonts/pdfcorefonts/Helvetica.afm", "sample_data/logo2.png"):
        assert ex.drop_data(mpl + dropped), dropped
    # our plots and the PDF report ask for no other font family than matplotlib's default
    for f in ("stats/plots.py", "study/plots.py", "export/report.py", "export/render.py"):
        text = (REPO / "ultrasound_reader" / f).read_text(encoding="utf-8")
        assert "family=" not in text.replace('family="DejaVu Sans"', "") and "usetex" not in text, f


def test_compact_json_loads_as_the_same_object_and_leaves_the_rest(tmp_path):
    ex = _load("excludes")
    data = {"module": [{"keyword": "PatientName", "type": "2", "path": []}], "é": [1.5, None, True]}
    src = tmp_path / "module_attribute_map.json"
    src.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    out, dest = ex.compact_json(str(src), "highdicom/_standard", tmp_path / "stage")
    assert dest == "highdicom/_standard" and Path(out) == tmp_path / "stage" / dest / src.name
    assert json.loads(Path(out).read_text(encoding="utf-8")) == data
    assert Path(out).stat().st_size < src.stat().st_size
    assert ex.compact_json(str(src), "pydicom/data", tmp_path / "stage") == (str(src), "pydicom/data")


def test_identical_vendored_libraries_become_relative_symlinks(tmp_path):
    ex = _load("excludes")
    for folder, name, body in (("numpy.libs", "libgfortran-1.so.5", b"same" * 1000),
                               ("scipy.libs", "libgfortran-1.so.5", b"same" * 1000),
                               ("scipy.libs", "libquadmath-2.so.0", b"other" * 1000),
                               ("pillow.libs", "libquadmath-2.so.0", b"differs" * 1000)):
        (tmp_path / folder).mkdir(exist_ok=True)
        (tmp_path / folder / name).write_bytes(body)
    assert ex.link_duplicate_libraries(tmp_path) == 4000
    linked = tmp_path / "scipy.libs" / "libgfortran-1.so.5"
    assert linked.is_symlink() and os.readlink(linked) == "../numpy.libs/libgfortran-1.so.5"
    assert linked.read_bytes() == b"same" * 1000
    assert not (tmp_path / "numpy.libs" / "libgfortran-1.so.5").is_symlink()
    assert not any(p.is_symlink() for p in (tmp_path / "pillow.libs").iterdir())
    assert ex.link_duplicate_libraries(tmp_path) == 0  # idempotent


_FROZEN_WITHOUT = (
    "import sys\n"
    "sys.frozen = {frozen}\n"
    "for m in {blocked!r}:\n"
    "    sys.modules[m] = None  # as the packaged application, which does not carry it\n"
    "from ultrasound_reader.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def _run_without(blocked: list[str], args: list[str], tmp_path: Path, frozen: bool = True):
    code = _FROZEN_WITHOUT.format(frozen=frozen, blocked=blocked)
    return subprocess.run([os.sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})


@pytest.mark.parametrize("args, blocked, left_out", [
    (["phantom", "--task", "soft-tissue", "--cases", "1", "--out", "ph"], ["cv2"], "OpenCV"),
    (["study", "demo", "--out", "st"], ["cv2"], "OpenCV"),
    (["bench", "phantom", "--quick"], ["cv2"], "OpenCV"),
    (["train", str(REPO / "ultrasound_reader" / "training" / "configs" / "tiny.toml"), "--stop-after-epochs", "1"],
     ["torch", "torchvision"], "torch"),
])
def test_packaged_app_says_in_one_line_what_it_leaves_out(args, blocked, left_out, tmp_path):
    p = _run_without(blocked, args, tmp_path)
    assert p.returncode == 1, p.stderr[-2000:]
    assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr, p.stderr
    assert p.stderr.startswith(f"ultrasound-reader {args[0]}: error: ")
    assert "needs the Python installation (pip install ultrasound-reader)" in p.stderr
    assert f"the packaged application leaves out {left_out}" in p.stderr
    assert not any((tmp_path / d).exists() for d in ("ph", "st", "tr"))  # nothing half-written


def test_a_source_install_missing_a_dependency_is_still_an_internal_error(tmp_path):
    p = _run_without(["cv2"], ["phantom", "--task", "soft-tissue", "--cases", "1", "--out", "ph"], tmp_path, frozen=False)
    assert p.returncode == 2 and "internal error" in p.stderr and "packaged" not in p.stderr, p.stderr


def test_licence_folder_lists_each_distribution_with_its_files(tmp_path):
    lic = _load("licenses")
    dists = {n: md.distribution(n) for n in ("numpy", "pyside6-essentials") if _installed(n)}
    assert "numpy" in dists  # a dependency of the package: its metadata is always there
    index = lic.write(tmp_path / "licenses", dists, own_version="9.9")
    out = tmp_path / "licenses"
    assert (out / "INDEX.txt").read_text(encoding="utf-8").splitlines() == index
    assert any(line.startswith("ultrasound-reader 9.9") for line in index)
    assert any(p.name.startswith("LICENSE") for p in (out / "numpy").iterdir())
    assert any(line.startswith(f"numpy {dists['numpy'].version}") for line in index)
    if "pyside6-essentials" in dists:  # its wheel ships no licence file: the LGPL notice is written
        notice = (out / "pyside6-essentials" / "QT-LGPL-NOTICE.txt").read_text(encoding="utf-8")
        assert "LGPL" in notice and dists["pyside6-essentials"].version in notice
    # files under site-packages map back to their distribution
    np_file = Path(importlib.util.find_spec("numpy").origin)
    assert "numpy" in lic.distributions_of([np_file])


def _installed(name: str) -> bool:
    try:
        md.distribution(name)
        return True
    except md.PackageNotFoundError:
        return False


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    from ultrasound_reader.cli import main

    path = tmp_path_factory.mktemp("selftest") / "reference.json"
    assert main(["self-test", "--runtime", "torch", "--write-reference", str(path)]) == 0
    return path


def test_self_test_passes_against_its_reference(reference, capsys):
    from ultrasound_reader.cli import main

    capsys.readouterr()
    assert main(["--self-test", "--runtime", "torch", "--reference", str(reference)]) == 0
    out = capsys.readouterr().out
    assert "self-test passed" in out
    assert out.count(": verified") == 2  # both demo bundles
    ref = json.loads(reference.read_text(encoding="utf-8"))
    assert {c["task"] for c in ref["cases"].values()} == {"liver-fll", "soft-tissue"}


def test_self_test_mismatch_is_one_line_naming_output_and_values(reference, tmp_path, capsys):
    from ultrasound_reader.cli import main

    ref = json.loads(reference.read_text(encoding="utf-8"))
    case_id = sorted(c for c, v in ref["cases"].items() if v["task"] == "soft-tissue")[0]
    p = ref["cases"][case_id]["probabilities"]["SM-2"]
    ref["cases"][case_id]["probabilities"]["SM-2"] = p + 3e-5
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(ref), encoding="utf-8")
    capsys.readouterr()
    assert main(["--self-test", "--runtime", "torch", "--reference", str(bad)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert case_id in err[0] and "SM-2" in err[0]
    assert f"{p:.8f}" in err[0] and f"{p + 3e-5:.8f}" in err[0]


def test_self_test_bad_reference_file_is_a_user_error(tmp_path, capsys):
    from ultrasound_reader.cli import main

    bad = tmp_path / "ref.json"
    for text in ("{not json", '{"cases": {"c": {}}}', '{"cases": {"c": {"probabilities": {"L": "0.5"}}}}',
                 '{"cases": {"c": {"probabilities": {"L": 7}}}}'):
        bad.write_text(text, encoding="utf-8")
        assert main(["--self-test", "--reference", str(bad)]) == 1, text
        err = capsys.readouterr().err
        assert "not a self-test reference" in err and err.count("\n") == 1, text


# -- the frozen application ---------------------------------------------------------------
def _bare_env(home: Path) -> dict[str, str]:
    """What a machine without Python gives the process: no venv, no PYTHONPATH."""
    return {"HOME": str(home), "PATH": "/usr/bin:/bin", "QT_QPA_PLATFORM": "offscreen"}


@pytest.mark.slow
def test_build_script_makes_a_folder_that_runs_without_python(tmp_path):
    dist, work = tmp_path / "dist", tmp_path / "work"
    py = os.environ.get("PYTHON") or str(Path(os.sys.executable))
    build = subprocess.run(["bash", str(PACKAGING / "build.sh"), "--dist", str(dist), "--work", str(work),
                            "--python", py], capture_output=True, text=True, timeout=1800)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    app = dist / "ultrasound-reader"
    exe = app / "ultrasound-reader"
    assert exe.is_file() and os.access(exe, os.X_OK)
    # no torch, no CUDA, no tests inside
    names = [p.relative_to(app).as_posix() for p in app.rglob("*")]
    assert not [n for n in names if n.split("/")[-1].startswith(("libtorch", "libcudnn", "libcublas", "libcudart"))]
    assert not [n for n in names if n.startswith(("_internal/torch/", "_internal/nvidia/", "_internal/tests/"))]
    assert (app / "licenses" / "INDEX.txt").is_file() and (app / "ultrasound-reader.png").is_file()
    # moved elsewhere, run with no Python on PATH
    moved = tmp_path / "elsewhere" / "Ultrasound Reader"
    shutil.copytree(app, moved, symlinks=True)
    home = tmp_path / "home"
    home.mkdir()
    for folder in (app, moved):
        out = subprocess.run([str(folder / "ultrasound-reader"), "--self-test"], env=_bare_env(home),
                             capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        assert "self-test passed" in out.stdout and "runtime:   onnx" in out.stdout
        assert "torch imported: no" in out.stdout and out.stdout.count(": verified") == 2
        assert str(folder) in out.stdout  # the demo came from this folder
    # what the self-test does not reach: de-identified DICOM SR / secondary capture and the PDF
    # report (dicom-anonymizer's tables, highdicom, matplotlib), and a reader study (SQLAlchemy,
    # Alembic's migrations as data, statistics)
    case = moved / "_internal" / "resources" / "demo" / "soft-tissue" / "soft-s136-0000"
    out = subprocess.run([str(moved / "ultrasound-reader"), "export", str(case), "--sr", str(tmp_path / "sr.dcm"),
                          "--sc", str(tmp_path / "sc.dcm"), "--pdf", str(tmp_path / "r.pdf")], env=_bare_env(home),
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert all((tmp_path / f).stat().st_size > 1000 for f in ("sr.dcm", "sc.dcm", "r.pdf"))
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")
    demo = moved / "_internal" / "resources" / "demo" / "soft-tissue"
    out = subprocess.run([str(moved / "ultrasound-reader"), "study", "create", "--db", str(tmp_path / "study.db"),
                          "--name", "frozen", "--cases", str(demo), "--truth", str(demo / "truth.csv"),
                          "--bundle", str(moved / "_internal" / "models" / "soft-tissue-demo")],
                         env=_bare_env(home), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and (tmp_path / "study.db").is_file(), out.stderr[-2000:]
    # OpenCV is left out: the phantom generator (and the demo study made of phantoms) say so in one line
    for args in (["phantom", "--cases", "1", "--out", str(tmp_path / "ph")],
                 ["study", "demo", "--out", str(tmp_path / "st")], ["bench", "phantom", "--quick"]):
        out = subprocess.run([str(moved / "ultrasound-reader"), *args], env=_bare_env(home), capture_output=True,
                             text=True, timeout=600)
        assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr[-2000:]
        assert "needs the Python installation" in out.stderr and "leaves out OpenCV" in out.stderr
    assert not [n for n in names if n.startswith(("_internal/cv2/", "_internal/opencv_python"))]
    shot = tmp_path / "window.png"
    out = subprocess.run([str(moved / "ultrasound-reader"), "--screenshot", str(shot)], env=_bare_env(home),
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    import numpy as np
    from PIL import Image

    with Image.open(shot) as im:
        assert im.width > 400 and im.height > 300
        assert len(np.unique(np.asarray(im.convert("L").resize((64, 64))))) > 20  # not a blank window


def test_packaged_app_help_says_why_a_command_is_unavailable(tmp_path):
    p = _run_without(["cv2"], ["--help"], tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    text = " ".join(p.stdout.split())
    assert "generate synthetic ultrasound phantom cases [unavailable: needs the Python installation" in text
    assert "not installed (reinstall" not in text
