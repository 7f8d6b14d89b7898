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
