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


# -- PostgreSQL: a real temporary cluster on 127.0.0.1 ---------------------------------------
def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def missing_in_ci(reason: str) -> None:
    """Skip for a missing system tool on a developer's machine; fail under CI=true, where
    .ci/run installs it (a silent skip there would hide the PostgreSQL tests)."""
    if in_ci():
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def _pg_bindir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3])
                   if p.parts[-3].isdigit() else 0)
    return found[-1].parent if found else None


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def pg_server() -> str:
    """URL prefix of a throw-away PostgreSQL cluster (initdb + pg_ctl; as user postgres when run as root)."""
    import tempfile

    bindir = _pg_bindir()
    if bindir is None:
        missing_in_ci("PostgreSQL server binaries are not installed (.ci/run installs the postgresql package)")
    base = Path(tempfile.mkdtemp(prefix="study-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        import pwd

        pw = pwd.getpwnam("postgres")
        os.chown(base, pw.pw_uid, pw.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    data = base / "data"
    subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "study", "--no-sync",
                    "-E", "UTF8"], check=True, capture_output=True)
    opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
    subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-w", "-l", str(base / "log"),
                    "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://study@127.0.0.1:{port}"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def _pg_exec(server: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as c:
        c.execute(sql)


@pytest.fixture(scope="session")
def pg_template(pg_server, soft_cohort, soft_bundle) -> str:
    from ultrasound_reader.study.service import create_study

    _pg_exec(pg_server, "CREATE DATABASE study_template")
    create_study(f"{pg_server}/study_template", "test on postgresql", soft_cohort, soft_cohort / "truth.csv",
                 soft_bundle, seed=5)
    return "study_template"


@pytest.fixture
def pg_db(pg_server, pg_template, request) -> str:
    import re

    name = "t_" + re.sub(r"[^a-z0-9]", "_", request.node.name.lower())[:50]
    _pg_exec(pg_server, f"DROP DATABASE IF EXISTS {name}")
    _pg_exec(pg_server, f"CREATE DATABASE {name} TEMPLATE {pg_template}")
    return f"{pg_server}/{name}"
