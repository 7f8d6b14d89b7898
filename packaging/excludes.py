"""What the frozen application leaves out, and the few things PyInstaller cannot find alone.

Read by ``ultrasound-reader.spec``; a quick test (tests/packaging) checks these lists
against the package. Size goal: the folder <= 600 MB on Linux without CUDA. Inference
runs on ONNX Runtime (ai/onnx_runtime.py), so torch, torchvision and their GPU
libraries stay out; torch is needed only to train and to export graphs, which the
application does not do (``train`` and ``bundle export-onnx`` say torch is missing).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ultrasound_reader.errors import PACKAGED_APP_LEAVES_OUT

# Python modules never bundled (with everything under them).
MODULES = [
    # training / export only; the GPU stack
    "torch", "torchvision", "torchaudio", "triton", "nvidia", "functorch", "torchgen",
    "cuda", "cupy", "numba",  # CUDA Python bindings (pyqtgraph's RawImageWidget tries them)
    "onnx", "onnxscript", "tensorboard", "sympy", "networkx",
    "sklearn", "joblib", "threadpoolctl",  # scikit-learn: training/dataset.py only (stratified splits)
    # development tools
    "pytest", "_pytest", "pytestqt", "PyInstaller", "IPython", "jupyter", "notebook", "tkinter", "_tkinter",
    "setuptools", "distutils", "_distutils_hack", "pkg_resources", "docutils", "sphinx",
    "rich", "pygments",  # optional pretty-printing (sklearn's optional-dependency report, mako's plugin)
    "matplotlib.backends.backend_tkagg", "matplotlib.backends.backend_webagg", "matplotlib.tests",
    "numpy.tests", "scipy.tests", "pandas.tests", "statsmodels.tests", "skimage",
    "ultrasound_reader.tests", "tests",
    # Qt modules the application does not use (it imports QtCore, QtGui, QtWidgets; pyqtgraph
    # adds QT_NEEDED below)
    "PySide6.QtWebEngineCore", "PySide6.QtWebEngineWidgets", "PySide6.QtWebEngineQuick", "PySide6.QtWebChannel",
    "PySide6.QtWebSockets", "PySide6.QtWebView", "PySide6.Qt3DCore", "PySide6.Qt3DRender", "PySide6.Qt3DInput",
    "PySide6.Qt3DLogic", "PySide6.Qt3DAnimation", "PySide6.Qt3DExtras", "PySide6.QtMultimedia",
    "PySide6.QtMultimediaWidgets", "PySide6.QtSpatialAudio", "PySide6.QtQuick", "PySide6.QtQuick3D",
    "PySide6.QtQuickControls2", "PySide6.QtQuickWidgets", "PySide6.QtQml", "PySide6.QtPdf", "PySide6.QtPdfWidgets",
    "PySide6.QtCharts", "PySide6.QtDataVisualization", "PySide6.QtGraphs", "PySide6.QtGraphsWidgets",
    "PySide6.QtBluetooth", "PySide6.QtNfc", "PySide6.QtPositioning", "PySide6.QtLocation", "PySide6.QtSensors",
    "PySide6.QtSerialPort", "PySide6.QtSerialBus", "PySide6.QtTextToSpeech", "PySide6.QtRemoteObjects",
    "PySide6.QtScxml", "PySide6.QtStateMachine", "PySide6.QtDesigner", "PySide6.QtHelp", "PySide6.QtUiTools",
    "PySide6.QtHttpServer", "PySide6.QtNetworkAuth", "PySide6.QtSql", "PySide6.QtAxContainer",
    "PySide6.QtSvgWidgets", "PySide6.QtConcurrent",
    "PySide6.QtDBus", "PySide6.QtXml",
    "PyQt5", "PyQt6", "PySide2", "OpenGL",
    # pyqtgraph tolerates its absence (pg.QtTest becomes a FailedImport); the app never uses it
    "PySide6.QtTest",
    # Pillow's AVIF codec (PIL._avif + libavif, 5 MB): nothing here reads or writes AVIF
    # (AvifImagePlugin says SUPPORTED = False without it)
    "PIL._avif",
]
# What the packaged application leaves out on purpose, and says so when a feature needs it
# (errors.PACKAGED_APP_LEAVES_OUT: torch, OpenCV for phantoms and the demo study, ...).
MODULES += [name for name in PACKAGED_APP_LEAVES_OUT if name not in MODULES]

# Qt modules pyqtgraph imports when the window opens (measured: sys.modules after
# `ultrasound-reader --screenshot`): never excluded.
# pyqtgraph's PlotCurveItem and OpenGLHelpers import QtOpenGL and QtOpenGLWidgets unconditionally.
QT_NEEDED = ["PySide6.QtCore", "PySide6.QtGui", "PySide6.QtWidgets", "PySide6.QtOpenGL", "PySide6.QtOpenGLWidgets",
             "PySide6.QtSvg"]

# Shared libraries (by file name) dropped after analysis: Qt libraries of the modules above,
# which PySide6's hooks or plugins may still drag in, and any GPU runtime.
_DROP_BINARY = re.compile(
    r"(^|/)(libQt6(WebEngine|WebChannel|WebSockets|WebView|3D|Multimedia|SpatialAudio|Quick|Qml|Pdf|Charts|"
    r"DataVisualization|Graphs|Bluetooth|Nfc|Positioning|Location|Sensors|SerialPort|SerialBus|TextToSpeech|"
    r"RemoteObjects|Scxml|StateMachine|Designer|Help|HttpServer|NetworkAuth|Sql|ShaderTools|"
    r"VirtualKeyboard|Lottie)[^/]*"
    r"|lib(cuda|cudart|cudnn|cublas|cufft|curand|cusparse|cusolver|nccl|nvrtc|nvToolsExt|nvjitlink|torch|c10)[^/]*"
    r"|Qt/plugins/(multimedia|qmltooling|sceneparsers|geometryloaders|renderers|renderplugins|sqldrivers|"
    r"position|sensors|texttospeech|webview|canbus|designer|assetimporters|networkinformation|tls|help)/[^/]*"
    r"|libqpdf[^/]*|libqwebgl[^/]*"
    # Qt plugins for embedded / kiosk set-ups (EGLFS, VNC, framebuffer, Vulkan display, virtual keyboard,
    # evdev/tuio input) and image formats the app never reads: a desktop needs xcb or wayland (offscreen,
    # minimal for headless runs), the gtk3 theme, and jpeg/gif/ico/svg
    r"|Qt/plugins/(egldeviceintegrations|generic)/[^/]*|libQt6(EglFSDeviceIntegration|EglFsKmsSupport)[^/]*"
    r"|Qt/plugins/platforms/libq(eglfs|vnc|linuxfb|vkkhrdisplay|minimalegl)\.so"
    r"|Qt/plugins/platforminputcontexts/libqtvirtualkeyboardplugin\.so"
    r"|Qt/plugins/imageformats/libq(tga|tiff|webp|icns|wbmp)\.so"
    # OpenCV's vendored libraries (cv2 is left out; see PACKAGED_APP_LEAVES_OUT)
    r"|opencv_python[^/]*\.libs/[^/]*)$"
)
# Data files dropped after analysis: QML, WebEngine resources, and Qt's translations (7 MB; the
# application is in English and installs no QTranslator).
# matplotlib's fonts beyond DejaVu Sans (our plots, the PDF report and render.py use the default
# DejaVu Sans; LastResort is its fallback): STIX, Computer Modern, DejaVu Serif, the Type 1 core fonts
# (used only with pdf.use14corefonts / ps.useafm), and its sample data (4.7 MB).
_DROP_DATA = re.compile(
    r"(^|/)(Qt/qml/|Qt/resources/qtwebengine|Qt/libexec/QtWebEngineProcess|Qt/translations/"
    r"|matplotlib/mpl-data/(sample_data/|fonts/(afm|pdfcorefonts)/|fonts/ttf/(STIX|cm|DejaVuSerif)[^/]*$))"
)

# Files of our own package never shipped as data.
PACKAGE_DATA_EXCLUDES = ["**/tests/**", "**/*.pyc", "**/__pycache__/**"]

# Found at run time through importlib.metadata (pylibjpeg's decoder plugins are entry points;
# the others check their own version or read their metadata).
METADATA = ["pylibjpeg", "pylibjpeg-libjpeg", "pylibjpeg-openjpeg", "pylibjpeg-rle", "pydicom", "model-signing",
            "sigstore", "ultrasound-reader"]

# Packages whose submodules are imported by computed name (dicom/deid.py picks the newest
# PS3.15 table module of dicom-anonymizer): every submodule is collected.
ALL_SUBMODULES = ["dicomanonymizer"]

# Packages that read data files of their own (no PyInstaller hook collects them): highdicom's
# IOD tables and ICC profile (SR / secondary capture export), sigstore's trust roots.
DATA_PACKAGES = ["highdicom", "sigstore"]

# Imported by name at run time (plugins, lazily chosen backends).
HIDDEN = ["libjpeg", "openjpeg", "rle", "pylibjpeg", "onnxruntime", "safetensors.numpy",
          "pydicom.pixels.decoders", "pydicom.pixels.encoders", "gdcm"]


# Pretty-printed JSON tables that their package reads with json.loads (highdicom's
# _standard_utils: pkgutil.get_data then json.loads), shipped compact: module_attribute_map.json
# 22.7 -> 15.7 MB.
COMPACT_JSON = re.compile(r"(^|/)highdicom/_standard/[^/]+\.json$")


def compact_json(src: str, dest: str, stage: Path) -> tuple[str, str]:
    """The (source, destination folder) data entry to collect: a compact copy of a COMPACT_JSON file,
    written under ``stage`` and checked to load as the same object; any other entry as it is."""
    path = Path(src)
    if not COMPACT_JSON.search(f"{dest}/{path.name}".replace("\\", "/")):
        return src, dest
    data = json.loads(path.read_text(encoding="utf-8"))
    out = stage / dest / path.name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, separators=(",", ":"), ensure_ascii=False), encoding="utf-8")
    if json.loads(out.read_text(encoding="utf-8")) != data:
        raise SystemExit(f"compact copy of {src} does not load as the same object")
    return str(out), dest


def link_duplicate_libraries(root: Path) -> int:
    """Replace each shared library under ``root``'s ``*.libs`` folders that is byte-identical to one
    already kept (auditwheel vendors the same libgfortran / libquadmath / libcrypto into several
    packages) by a relative symlink to it; the bytes saved."""
    import hashlib
    import os

    kept: dict[tuple[int, str], Path] = {}
    saved = 0
    for path in sorted(p for p in root.glob("*.libs/*") if p.is_file() and not p.is_symlink()):
        size = path.stat().st_size
        key = (size, hashlib.sha256(path.read_bytes()).hexdigest())
        first = kept.setdefault(key, path)
        if first is not path:
            path.unlink()
            path.symlink_to(os.path.relpath(first, path.parent))
            saved += size
    return saved


def drop_binary(dest: str) -> bool:
    return bool(_DROP_BINARY.search(dest.replace("\\", "/")))


def drop_data(dest: str) -> bool:
    return bool(_DROP_DATA.search(dest.replace("\\", "/")))
