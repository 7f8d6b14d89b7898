"""Untrusted JSON in, strict JSON out: the one place case files, manifests and signatures are parsed.

Reading (:func:`read_json`, :func:`loads`) refuses, with one line naming the file
and the reason, before anything is sized by the content:

* a file larger than the caller's limit (checked on the file size, before reading);
* text that is not UTF-8 or not JSON;
* nesting deeper than ``max_depth`` (CPython's parser would raise RecursionError
  around depth 1000; we stop far earlier, and a RecursionError is caught too);
* ``NaN``, ``Infinity`` and numbers that overflow to infinity (``1e400``): JSON has
  no such numbers, and a NaN threshold silently flips comparisons.

:func:`validate` checks an instance against a JSON Schema and turns the most
relevant error into a short message (the offending value is quoted, capped, with
control characters escaped: a 1 MB string never reaches a terminal).

Writing (:func:`dumps`) uses ``allow_nan=False``: the project never writes a
document that is not JSON.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ultrasound_reader.errors import UserError

MAX_DEPTH = 64
QUOTE_CHARS = 60


def printable(text: str, limit: int = 200) -> str:
    """``text`` with control and non-ASCII characters escaped, capped at ``limit`` characters."""
    text = "".join(ch if 32 <= ord(ch) < 127 else ch.encode("unicode_escape").decode("ascii") for ch in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def short(value: Any, limit: int = QUOTE_CHARS) -> str:
    """A printable, capped repr of a value quoted from an untrusted file."""
    if isinstance(value, (dict, list)):
        return f"{type(value).__name__} of {len(value)} item(s)"
    return printable(repr(value), limit)


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {short(text, 30)} is out of range (not finite)")
    return value


def depth(obj: Any) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0), computed without recursion."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        node, d = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, d)
        stack.extend((c, d + 1) for c in children if isinstance(c, (dict, list)))
    return deepest


def loads(text: str | bytes, source: str, max_depth: int = MAX_DEPTH) -> Any:
    """Parse untrusted JSON text; UserError naming ``source`` when it is not strict, shallow JSON."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UserError(f"{source}: not UTF-8 text (byte {exc.start})") from None
    try:
        data = json.loads(text, parse_constant=_constant, parse_float=_finite_float)
    except RecursionError:
        raise UserError(f"{source}: JSON nested too deeply (more than {max_depth} levels)") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{source}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except ValueError as exc:  # from the hooks above: NaN / Infinity / overflowing numbers
        raise UserError(f"{source}: not valid JSON ({printable(str(exc), 120)})") from None
    if depth(data) > max_depth:
        raise UserError(f"{source}: JSON nested too deeply (more than {max_depth} levels)")
    return data


def read_json(path: str | Path, *, max_bytes: int, what: str = "file", max_depth: int = MAX_DEPTH) -> Any:
    """Read and parse an untrusted JSON file, refusing it by size before reading it."""
    return loads(read_bytes(path, max_bytes=max_bytes, what=what), str(path), max_depth)


def read_bytes(path: str | Path, *, max_bytes: int, what: str = "file") -> bytes:
    """The bytes of an untrusted file, refused by size before they are read."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise UserError(f"{path}: {what} is {size:,} bytes, more than the {max_bytes:,} allowed")
        with path.open("rb") as fh:
            raw = fh.read(max_bytes + 1)
    except OSError as exc:
        raise UserError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    if len(raw) > max_bytes:  # grew while we looked
        raise UserError(f"{path}: {what} is more than the {max_bytes:,} bytes allowed")
    return raw


def _where(error: Any) -> str:
    path = "/".join(str(p) for p in error.absolute_path)
    return path or "(top level)"


def _message(error: Any) -> str:
    """jsonschema's message, rebuilt where it would quote a long or unprintable value."""
    v, inst = error.validator, error.instance
    if v in ("anyOf", "oneOf") and error.context:
        # "null or a number in range": report the reason of the branch that is not "null"
        subs = [e for e in error.context if e.validator_value != "null"] or list(error.context)
        return _message(subs[0])
    if v == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return f"{short(inst)} is not of type {expected}"
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        words = {"minimum": "less than the minimum of", "maximum": "greater than the maximum of",
                 "exclusiveMinimum": "not greater than", "exclusiveMaximum": "not less than"}
        return f"{short(inst)} is {words[v]} {error.validator_value}"
    if v in ("maxItems", "minItems", "maxLength", "minLength", "maxProperties", "minProperties"):
        n = len(inst) if hasattr(inst, "__len__") else "?"
        return f"has {n} item(s)/character(s); '{v}' is {error.validator_value}"
    if v in ("enum", "const"):
        allowed = error.validator_value if v == "enum" else [error.validator_value]
        return f"{short(inst)} is not one of {short(allowed if len(str(allowed)) < 200 else '...', 200)}" \
            if v == "enum" else f"{short(inst)} is not {short(error.validator_value)}"
    if v == "additionalProperties":
        extra = sorted(set(inst) - set(error.schema.get("properties", {}))) if isinstance(inst, dict) else []
        return f"unexpected key(s) {', '.join(short(k, 40) for k in extra[:5])}"
    return printable(error.message, 160)


def validate(instance: Any, schema: dict[str, Any], source: str) -> None:
    """UserError ``source: path/to/key: reason`` for the most relevant schema violation, if any."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    errors = list(validator.iter_errors(instance))
    if errors:
        e = jsonschema.exceptions.best_match(errors)
        raise UserError(f"{source}: {_where(e)}: {_message(e)}")


def dumps(obj: Any, **kwargs: Any) -> str:
    """JSON text, never with NaN or Infinity (ValueError names the problem if one slipped in)."""
    return json.dumps(obj, allow_nan=False, **kwargs)
