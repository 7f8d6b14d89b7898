"""``ultrasound-reader bench startup``: command-line start-up vs a bare ``import pydicom``.

Every figure is a fresh interpreter, timed from spawn to exit, medians of interleaved
runs (so all see the same load):

* ``baseline_import_pydicom_s``: ``python -c "import pydicom"`` (the floor: inspect
  cannot avoid reading DICOM);
* ``inspect_s``: ``python -m ultrasound_reader inspect DEMO.dcm --json`` on the demo
  B-mode cine, and ``inspect_over_pydicom`` (goal <= 2);
* ``version_s``: ``python -m ultrasound_reader --version`` (the entry point alone);
* ``inspect_eager_s``: the same ``inspect`` after building the parser with every
  sub-command imported, as the CLI did before it imported only the command being run
  (the "before" figure), and ``inspect_eager_over_pydicom``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from ultrasound_reader.errors import UserError
from ultrasound_reader.paths import resources_dir


def _demo_dicom() -> Path:
    found = sorted(resources_dir().glob("demo/liver/*/bmode.dcm"))
    if not found:
        raise UserError(f"{resources_dir()}: no demo cine (demo/liver/*/bmode.dcm) to time inspect on")
    return found[0]


def _spawn_s(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, timeout=300)
    elapsed = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])} ... exited {p.returncode}: {p.stderr.decode()[-300:]}")
    return elapsed


def run(quick: bool) -> dict:
    py = sys.executable
    env = dict(os.environ)
    # the same ultrasound_reader as this process, whichever way it was found
    package_root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    cases = {
        "baseline_import_pydicom_s": [py, "-c", "import pydicom"],
        "inspect_s": [py, "-m", "ultrasound_reader", "inspect", str(_demo_dicom()), "--json"],
        "version_s": [py, "-m", "ultrasound_reader", "--version"],
        "inspect_eager_s": [py, "-c", "import sys; from ultrasound_reader.cli import build_parser, main; "
                            "build_parser(); sys.exit(main(sys.argv[1:]))", "inspect", str(_demo_dicom()), "--json"],
    }
    for argv in cases.values():  # warm the file cache and .pyc files once
        _spawn_s(argv, env)
    repeats = 3 if quick else 9
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(repeats):
        for key, argv in cases.items():
            times[key].append(_spawn_s(argv, env))
    out: dict = {"repeats": repeats}
    for key, values in times.items():
        out[key] = round(statistics.median(values), 4)
    base = out["baseline_import_pydicom_s"]
    out["inspect_over_pydicom"] = round(out["inspect_s"] / base, 2)
    out["version_over_pydicom"] = round(out["version_s"] / base, 2)
    out["inspect_eager_over_pydicom"] = round(out["inspect_eager_s"] / base, 2)
    return out
