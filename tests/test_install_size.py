"""packaging/install_size.py: the README's install size comes from the installed environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _tree_bytes(root: Path) -> int:
    return sum((Path(d) / f).stat().st_size for d, _, files in os.walk(root) for f in files
               if not (Path(d) / f).is_symlink())


def test_install_size_adds_up_the_dependency_closure():
    p = subprocess.run([sys.executable, str(REPO / "packaging" / "install_size.py"), "--json"],
                       capture_output=True, text=True, timeout=300, cwd=REPO)
    assert p.returncode == 0, p.stderr[-2000:]
    m = json.loads(p.stdout)
    assert m["prefix"] == sys.prefix
    gpu = m["nvidia_and_triton_gb"] + m["torch_cuda_libraries_gb"]
    assert abs(m["total_gb"] - gpu - m["without_gpu_parts_gb"]) <= 0.02
    import numpy
    import torch

    # at least what torch's and numpy's folders hold on disk (less __pycache__ written since)
    floor = sum(_tree_bytes(Path(mod.__file__).parent) for mod in (torch, numpy)) / 1e9
    assert m["total_gb"] >= floor * 0.95
    assert "torch" in m["largest_mb"]
