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

    if not demo_paths():
        pytest.skip("no bundled demo case")
    probe = tmp_path / "probe.txt"
    p = subprocess.run([sys.executable, "-m", "ultrasound_reader", "--settings", str(tmp_path / "s.ini")],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path,
                       env=_env(ULTRASOUND_READER_STARTUP_PROBE=str(probe)))
    assert p.returncode == 0, p.stderr[-2000:]
    lines = [line.split() for line in probe.read_text().splitlines()]
    assert [what for what, _ in lines] == ["window_shown", "image_drawn"]
    shown, drawn = (float(t) for _, t in lines)
    assert shown <= drawn


def test_without_the_probe_nothing_is_written(tmp_path, monkeypatch):
    from ultrasound_reader.gui.cold_start import PROBE_ENV, startup_probe

    monkeypatch.delenv(PROBE_ENV, raising=False)
    assert startup_probe(None) is None  # type: ignore[arg-type]
