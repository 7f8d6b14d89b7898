"""Sub-command argument values checked the one way every CLI checks them.

Options are declared as strings (``type=str``) where argparse's own message would
not name the option the way the rest of the program does; these turn them into
values or a one-line :class:`UserError` naming the option: ``--NAME is required``,
``--NAME: 'x' is not an integer``, ``--NAME: 'inf' is not a finite number``.
An empty string counts as missing.
"""

from __future__ import annotations

import math

from ultrasound_reader.errors import UserError


def required_arg(name: str, value: str | None) -> str:
    if value is None or value == "":
        raise UserError(f"--{name} is required")
    return value


def int_arg(name: str, value: str | None, required: bool = True) -> int | None:
    if value is None or value == "":
        if required:
            raise UserError(f"--{name} is required")
        return None
    try:
        return int(value)
    except ValueError:
        raise UserError(f"--{name}: {value!r} is not an integer") from None


def float_arg(name: str, value: str | None, required: bool = True) -> float | None:
    if value is None or value == "":
        if required:
            raise UserError(f"--{name} is required")
        return None
    try:
        v = float(value)
    except ValueError:
        raise UserError(f"--{name}: {value!r} is not a number") from None
    if not math.isfinite(v):
        raise UserError(f"--{name}: {value!r} is not a finite number")
    return v
