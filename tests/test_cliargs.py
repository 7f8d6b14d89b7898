"""One shared checker for sub-command option values (cliargs), used by phantom and study."""

import pytest

from ultrasound_reader import cliargs
from ultrasound_reader.cli import main
from ultrasound_reader.errors import UserError
from ultrasound_reader.phantom import cli as phantom_cli
from ultrasound_reader.study import cli as study_cli


def test_values_and_messages():
    assert cliargs.int_arg("seed", "7") == 7 and cliargs.float_arg("years", "2.5") == 2.5
    assert cliargs.int_arg("seed", "", required=False) is None and cliargs.required_arg("db", "x.db") == "x.db"
    for fn, value, msg in ((cliargs.int_arg, "", "--n is required"), (cliargs.int_arg, "1.5", "not an integer"),
                           (cliargs.float_arg, "inf", "not a finite number"), (cliargs.float_arg, "x", "not a number"),
                           (cliargs.required_arg, "", "--n is required")):
        with pytest.raises(UserError, match=msg):
            fn("n", value)


def test_phantom_and_study_use_the_shared_helper(tmp_path, capsys):
    assert phantom_cli._int is cliargs.int_arg and study_cli._int is cliargs.int_arg
    assert study_cli._float is cliargs.float_arg and study_cli._required is cliargs.required_arg
    # an empty value is "missing" in phantom too (it said "'' is not an integer")
    assert main(["phantom", "--task", "liver", "--out", str(tmp_path / "o"), "--cases", ""]) == 1
    assert "--cases is required" in capsys.readouterr().err
