"""A missing PostgreSQL is a skip on a developer's machine and a failure under CI=true."""

import pytest

from .conftest import missing_in_ci


def test_missing_tool_fails_under_ci_and_skips_elsewhere(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true but PostgreSQL"):
        missing_in_ci("PostgreSQL server binaries are not installed")
    for value in ("", "false"):
        monkeypatch.setenv("CI", value)
        with pytest.raises(pytest.skip.Exception):
            missing_in_ci("PostgreSQL server binaries are not installed")
