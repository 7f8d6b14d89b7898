"""The same train command under torchrun (2 CPU processes, gloo): ranks share the epoch, rank 0 exports."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CONFIGS = Path(__file__).resolve().parents[2] / "ultrasound_reader" / "training" / "configs"


@pytest.mark.slow
def test_torchrun_two_processes_on_cpu(soft_phantom: Path, tmp_path: Path, crop_cache: Path) -> None:
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    assert torchrun, "torchrun (installed with torch) was not found beside this Python"
    run_dir = tmp_path / "run"
    p = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "ultrasound_reader", "train",
         str(CONFIGS / "tiny-soft-tissue.toml"), "--quiet", "--json", "--set", f"data.root={soft_phantom}",
         "--set", f"data.cache={crop_cache}", "--set", f"output.run_dir={run_dir}", "--set", "train.threads=1"],
        capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    result = json.loads(p.stdout[p.stdout.index("{"):])  # only rank 0 prints
    assert result["bundle_check"]["consistent"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics["stages"]) == {"DLM-1", "SM-1", "SM-2", "SM-3", "SM-4", "SM-5"}
