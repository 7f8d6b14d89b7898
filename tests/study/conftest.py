"""Fixtures of the study tests: tiny PHANTOM cohorts, small random bundles, template studies.

A study is created once per session (the AI analysis of its cases is the slow part)
and each test works on a copy of the SQLite file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def soft_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ultrasound_reader.phantom.generate import generate

    out = tmp_path_factory.mktemp("cohort") / "soft"
    generate("soft-tissue", 8, 3, out, workers=1)
    return out


@pytest.fixture(scope="session")
def liver_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ultrasound_reader.phantom.generate import Options, generate

    out = tmp_path_factory.mktemp("cohort") / "liver"
    generate("liver", 6, 2, out, workers=1, options=Options(frames=4))
    return out


@pytest.fixture(scope="session")
def soft_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from ultrasound_reader.ai.bundle import make_random_bundle

    torch.set_num_threads(2)
    return make_random_bundle(tmp_path_factory.mktemp("bundles") / "soft", "soft-tissue", small=True, seed=2)


@pytest.fixture(scope="session")
def liver_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ultrasound_reader.ai.bundle import make_random_bundle

    return make_random_bundle(tmp_path_factory.mktemp("bundles") / "liver", "liver-fll", small=True, seed=1)


def _template(tmp_path_factory: pytest.TempPathFactory, cohort: Path, bundle: Path, design: str,
              **kw: object) -> Path:
    from ultrasound_reader.study.service import create_study

    db = tmp_path_factory.mktemp("template") / "study.db"
    create_study(str(db), f"test {design}", cohort, cohort / "truth.csv", bundle, design=design, seed=5, **kw)
    return db


@pytest.fixture(scope="session")
def soft_template(tmp_path_factory, soft_cohort, soft_bundle) -> Path:
    return _template(tmp_path_factory, soft_cohort, soft_bundle, "sequential")


@pytest.fixture(scope="session")
def crossover_template(tmp_path_factory, soft_cohort, soft_bundle) -> Path:
    return _template(tmp_path_factory, soft_cohort, soft_bundle, "crossover", washout_days=0.0)


@pytest.fixture
def soft_db(tmp_path: Path, soft_template: Path) -> str:
    dst = tmp_path / "study.db"
    shutil.copy(soft_template, dst)
    return str(dst)


@pytest.fixture
def crossover_db(tmp_path: Path, crossover_template: Path) -> str:
    dst = tmp_path / "study.db"
    shutil.copy(crossover_template, dst)
    return str(dst)


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """``ultrasound-reader ARGS`` in a subprocess, this tree first on the path."""
    e = dict(os.environ, PYTHONPATH=str(REPO), QT_QPA_PLATFORM="offscreen")
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "ultrasound_reader", *args], capture_output=True, text=True,
                          env=e, timeout=timeout)


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess]:
    return run_cli


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    """Assert a user error: exit 1, exactly one line on stderr, no traceback; return the line."""
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]
