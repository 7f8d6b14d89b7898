"""GUI cold start: the main window's module stays light, and the start-up probe the bench uses works.

No timing here (``ultrasound-reader bench gui-startup`` measures); these check what the
figures rest on: importing gui/main_window pulls in none of the heavy libraries, and the
real ``ultrasound-reader`` path reports its window and then its first image, in order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# What the window's shell must not wait for (the build after the first paint imports them).
HEAVY = ("numpy", "pyqtgraph", "pydicom", "torch", "torchvision", "scipy", "matplotlib", "pandas",
         "statsmodels", "sqlalchemy", "jsonschema", "cv2", "onnxruntime", "cryptography")


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen", **extra}


def test_importing_the_main_window_imports_no_heavy_library():
    code = ("import json, sys; import ultrasound_reader.gui.main_window; "
            "from ultrasound_reader.gui import cli, cold_start; print(json.dumps(sorted(sys.modules)))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=_env(),
                       cwd=REPO)
    assert p.returncode == 0, p.stderr[-2000:]
    top = {m.split(".")[0] for m in json.loads(p.stdout.strip().splitlines()[-1])}
    assert "PySide6" in top  # the probe really ran the import
    assert sorted(top & set(HEAVY)) == []


def test_the_startup_probe_reports_window_then_image_and_exits_0(tmp_path):
    from ultrasound_reader.gui.app import demo_paths

    assert demo_paths(), "the repository carries the demo case (resources/demo)"
    probe = tmp_path / "probe.txt"
    p = subprocess.run([sys.executable, "-m", "ultrasound_reader", "--settings", str(tmp_path / "s.ini")],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path,
                       env=_env(ULTRASOUND_READER_STARTUP_PROBE=str(probe)))
    assert p.returncode == 0, p.stderr[-2000:]
    assert "propagateSizeHints" not in p.stderr  # the offscreen plugin's per-dock notice goes to the debug log
    lines = [line.split() for line in probe.read_text().splitlines()]
    assert [what for what, _ in lines] == ["window_shown", "image_drawn", "max_stall_ms"]
    shown, drawn, stall_ms = (float(t) for _, t in lines)
    assert shown <= drawn and 0 <= stall_ms <= (drawn - shown) * 1000


def test_without_the_probe_nothing_is_written(tmp_path, monkeypatch):
    from ultrasound_reader.gui.cold_start import PROBE_ENV, startup_probe

    monkeypatch.delenv(PROBE_ENV, raising=False)
    assert startup_probe(None) is None  # type: ignore[arg-type]


def test_build_imports_lists_every_module_the_window_imports_later():
    """cold_start imports BUILD_IMPORTS behind the shell: a function-level import missing from it
    would be imported on the GUI thread instead (a stall), so the list follows the code."""
    import ast

    from ultrasound_reader.gui.main_window import BUILD_IMPORTS

    tree = ast.parse((REPO / "ultrasound_reader" / "gui" / "main_window.py").read_text(encoding="utf-8"))
    later = set()
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef):
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ultrasound_reader"):
                    if node.module in ("ultrasound_reader", "ultrasound_reader.gui"):  # from PKG import module
                        later |= {f"{node.module}.{a.name}" for a in node.names if a.name != "__version__"}
                    else:
                        later.add(node.module)
    assert later and later <= set(BUILD_IMPORTS)
    assert len(BUILD_IMPORTS) == len(set(BUILD_IMPORTS))


@pytest.mark.slow
def test_bench_gui_startup_reports_ratios_from_one_run(tmp_path):
    p = subprocess.run([sys.executable, "-m", "ultrasound_reader", "bench", "gui-startup", "--quick", "--json"],
                       capture_output=True, text=True, timeout=600, cwd=tmp_path, env=_env())
    assert p.returncode == 0, p.stderr[-2000:]
    r = json.loads(p.stdout)["gui-startup"]
    bare = r["bare_window_s"]
    assert 0 < bare and 0 < r["window_s"] < r["image_s"] and 0 < r["eager_window_s"] < r["eager_image_s"]
    for key in ("window", "image", "eager_window", "eager_image", "libraries"):
        assert r[f"{key}_over_bare"] == pytest.approx(r[f"{key}_s"] / bare, abs=0.01)
    assert r["max_stall_ms"] >= 0


def test_the_frozen_app_to_time_is_the_named_executable_or_the_default_build(tmp_path, monkeypatch):
    from ultrasound_reader.errors import UserError
    from ultrasound_reader.gui import cold_start_bench

    monkeypatch.setenv("ULTRASOUND_READER_FROZEN_APP", str(tmp_path / "missing"))
    with pytest.raises(UserError, match="missing.*not an executable"):
        cold_start_bench.frozen_app()
    exe = tmp_path / "ultrasound-reader"
    exe.write_text("#!/bin/sh\n")
    with pytest.raises(UserError):  # a file, but not executable
        monkeypatch.setenv("ULTRASOUND_READER_FROZEN_APP", str(exe))
        cold_start_bench.frozen_app()
    exe.chmod(0o755)
    assert cold_start_bench.frozen_app() == exe
    monkeypatch.delenv("ULTRASOUND_READER_FROZEN_APP")
    default = Path(cold_start_bench.__file__).resolve().parents[2] / "packaging/dist/ultrasound-reader/ultrasound-reader"
    assert cold_start_bench.frozen_app() == (default if default.is_file() else None)
