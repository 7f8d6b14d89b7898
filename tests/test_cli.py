import subprocess
import sys


def test_unknown_option_exits_1_with_one_line():
    p = subprocess.run([sys.executable, "-m", "ultrasound_reader", "--no-such-option"],
                       capture_output=True, text=True)
    assert p.returncode == 1
    assert "Traceback" not in p.stderr


def test_version():
    p = subprocess.run([sys.executable, "-m", "ultrasound_reader", "--version"], capture_output=True, text=True)
    assert p.returncode == 0 and "ultrasound-reader" in p.stdout


def test_global_option_before_files_still_routes_to_the_gui(tmp_path):
    from ultrasound_reader.cli import main
    # a missing file given to the GUI is a user error (exit 1), not "invalid choice"
    assert main(["-v", str(tmp_path / "missing.dcm")]) == 1


def _register(monkeypatch, name, module):
    from ultrasound_reader import cli

    monkeypatch.setitem(cli.COMMANDS, name, (module, "a command whose module is broken"))


def test_command_whose_module_is_missing_fails_loudly(monkeypatch, capsys):
    from ultrasound_reader.cli import main

    _register(monkeypatch, "broken", "ultrasound_reader.no_such_module")
    assert main(["broken", "--any", "argument"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "broken: internal error" in err[0] and "ultrasound_reader.no_such_module" in err[0]
    assert "Traceback" not in err[0]
    # the other commands still work, and --help names the broken one
    assert main(["evaluate", "--help"]) == 0
    assert main(["--help"]) == 0
    assert "unavailable" in capsys.readouterr().out


def test_command_whose_dependency_is_missing_names_the_package(monkeypatch, tmp_path, capsys):
    from ultrasound_reader.cli import main

    (tmp_path / "needs_dep_cmd.py").write_text("import no_such_dist_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    _register(monkeypatch, "needsdep", "needs_dep_cmd")
    assert main(["needsdep"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "'no_such_dist_xyz' is not installed" in line


import pytest


@pytest.mark.parametrize("argv", [
    ["pacs", "query", "--timeout", "abc"],          # nested sub-command, bad type
    ["export", "--threads", "abc"],
    ["pacs", "nodes", "add", "--move-port"],        # two levels down
    ["study", "reader", "add", "--no-such-option"],
    ["--no-such-option-at-all", "x"],
])
def test_usage_errors_are_one_line_and_exit_1(argv):
    p = subprocess.run([sys.executable, "-m", "ultrasound_reader", *argv], capture_output=True, text=True)
    assert p.returncode == 1, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("ultrasound-reader") and ": error: " in lines[0]
    assert "usage:" not in p.stderr
