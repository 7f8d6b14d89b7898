"""The CLI imports only the sub-command it runs (``inspect`` never pays for scipy, torch or Qt)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ultrasound_reader.cli import COMMANDS

REPO = Path(__file__).resolve().parents[1]
DEMO_DCM = REPO / "resources" / "demo" / "liver" / "liver-s136-0000" / "bmode.dcm"

_PROBE = """
import io, json, sys
from contextlib import redirect_stdout
from ultrasound_reader.cli import main
out = io.StringIO()
with redirect_stdout(out):
    rc = main(sys.argv[1:])
print(json.dumps({"rc": rc, "out": out.getvalue(), "modules": sorted(sys.modules)}))
"""


def _imports_of(*argv: str) -> tuple[int, str, set[str]]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"}
    p = subprocess.run([sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True,
                       timeout=120, env=env, cwd=REPO)
    assert p.returncode == 0, p.stderr[-2000:]
    res = json.loads(p.stdout.strip().splitlines()[-1])
    return res["rc"], res["out"], set(res["modules"])


def _command_modules(modules: set[str]) -> set[str]:
    return {m for m, _ in COMMANDS.values() if m in modules}


def test_inspect_imports_only_its_own_module():
    rc, out, modules = _imports_of("inspect", str(DEMO_DCM), "--json")
    assert rc == 0 and json.loads(out)["frames"] > 1
    assert _command_modules(modules) == {"ultrasound_reader.dicom.cli"}
    heavy = {"scipy", "torch", "PySide6", "sklearn", "statsmodels", "pandas", "sqlalchemy", "matplotlib"}
    assert not heavy & {m.split(".")[0] for m in modules}


def test_subcommand_help_and_version_import_no_other_command():
    rc, out, modules = _imports_of("evaluate", "--help")
    assert rc == 0 and "--score" in out  # the command's own options are there
    assert _command_modules(modules) == {"ultrasound_reader.stats.cli_evaluate"}
    rc, out, modules = _imports_of("--version")
    assert rc == 0 and "ultrasound-reader" in out and not _command_modules(modules)


def test_top_level_help_still_lists_every_command():
    rc, out, modules = _imports_of("--help")
    assert rc == 0
    for name in COMMANDS:
        assert name in out
    # --help imports them all, so that it can name a command that cannot be imported
    assert _command_modules(modules) == {m for m, _ in COMMANDS.values()}


@pytest.mark.parametrize("argv", [["phantom", "--no-such-option"], ["inspect"]])
def test_usage_errors_of_the_selected_command_exit_1(argv, capsys):
    from ultrasound_reader.cli import main

    assert main(argv) == 1
    err = capsys.readouterr().err
    # one line naming the command (review item 5: no multi-line usage block)
    assert err.count("\n") == 1 and err.startswith("ultrasound-reader") and ": error: " in err, err
