"""Turning user columns into clean arrays: binary truth, numeric scores, missing values.

Every public statistic goes through here, so a bad column is refused in one place
with one clear line (:class:`UserError`), and missing values are dropped *and
counted* instead of silently propagating NaN.
"""

from __future__ import annotations

import contextlib
import csv
import io
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ultrasound_reader.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

# A table larger than this is refused before it is read (pandas needs several times
# the file size in memory); prediction tables of a study are a few MB.
MAX_TABLE_BYTES = 256 * 1024 * 1024


def quote(value: object, limit: int = 40) -> str:
    """``value`` as it may appear in a message: repr (control characters escaped), capped."""
    text = repr(value) if isinstance(value, str) else repr(str(value))
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _decode(p: Path, raw: bytes) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"  # spreadsheet "Unicode text" exports
    else:
        encoding = "utf-8-sig"
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise UserError(f"{p}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                        "save the table as a UTF-8 CSV") from None
    if "\x00" in text:
        raise UserError(f"{p}: contains NUL bytes; not a text table (is it a spreadsheet or binary file?)")
    return text


def read_table(path: str | Path, max_bytes: int | None = None) -> pd.DataFrame:
    """A CSV (or TSV by extension) as a DataFrame, read as untrusted input.

    Refused with one line naming the file: missing, larger than ``max_bytes``
    (default :data:`MAX_TABLE_BYTES`), not UTF-8/UTF-16 text, binary, unparsable,
    empty, or a header that names a column twice (which pandas would silently
    rename, so ``--score x`` would read only the first ``x``).
    """
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: no such file")
    limit = MAX_TABLE_BYTES if max_bytes is None else max_bytes
    size = p.stat().st_size
    if size > limit:
        raise UserError(f"{p}: {size:,} bytes is larger than the {limit:,} bytes a table may have")
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise UserError(f"{p}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    text = _decode(p, raw)
    sep = "\t" if p.suffix.lower() in (".tsv", ".tab") else ","
    try:
        header = next(csv.reader(io.StringIO(text), delimiter=sep), [])
    except csv.Error as exc:
        raise UserError(f"{p}: the header line is not valid CSV ({exc})") from None
    seen: dict[str, int] = {}
    for i, name in enumerate(header, start=1):
        if name in seen and name.strip():
            raise UserError(f"{p}: column {quote(name)} appears twice in the header (columns {seen[name]} "
                            f"and {i}); rename one so that it is clear which to use")
        seen.setdefault(name, i)
    try:
        return pd.read_csv(io.StringIO(text), sep=sep)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise UserError(f"{p}: not a readable CSV table ({type(exc).__name__}: {' '.join(str(exc).split())})") from None


def require_columns(df: pd.DataFrame, columns: Sequence[str], source: str = "table") -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise UserError(f"{source}: column(s) {', '.join(quote(c) for c in missing)} not found "
                        f"(columns: {', '.join(map(str, df.columns))})")


def _row_of(values: object, position: int) -> int:
    """1-based data row of ``values[position]``: a pandas column keeps its table row (index + 1)."""
    index = getattr(values, "index", None)  # a pandas Series; list.index is a method
    if index is not None and not callable(index) and len(index) > position:
        label = index[position]
        if isinstance(label, (int, np.integer)):
            return int(label) + 1
    return position + 1

# Spellings of the two classes accepted in a truth column (case-insensitive).
_POSITIVE = {"1", "1.0", "true", "yes", "y", "pos", "positive", "malignant", "poor", "case"}
_NEGATIVE = {"0", "0.0", "false", "no", "n", "neg", "negative", "benign", "good", "control"}


def as_truth(values: object, name: str = "truth") -> np.ndarray:
    """0/1 floats with NaN for missing; refuses anything that is not two classes."""
    arr = np.asarray(values, dtype=object).ravel()
    out = np.full(arr.shape, np.nan)
    bad: list[str] = []
    first_bad = -1
    for i, v in enumerate(arr):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            continue
        if isinstance(v, (bool, np.bool_)):
            out[i] = float(v)
            continue
        if isinstance(v, (int, float, np.integer, np.floating)):
            if v in (0, 1):
                out[i] = float(v)
                continue
        else:
            s = str(v).strip().lower()
            if s in ("", "na", "nan", "none", "null"):
                continue
            if s in _POSITIVE:
                out[i] = 1.0
                continue
            if s in _NEGATIVE:
                out[i] = 0.0
                continue
        bad.append(quote(v, 20) if isinstance(v, str) else str(v))
        first_bad = i if first_bad < 0 else first_bad
    if bad:
        shown = ", ".join(sorted(set(bad))[:5])
        raise UserError(f"{name}: values must be 0/1 (or true/false, malignant/benign); got {shown} "
                        f"(first in row {_row_of(values, first_bad)})")
    return out


def as_score(values: object, name: str = "score") -> np.ndarray:
    """Floats with NaN for missing; refuses text and infinities."""
    try:
        arr = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        items = np.asarray(values, dtype=object).ravel()
        for i, v in enumerate(items):
            try:
                float(v)
            except (TypeError, ValueError):
                raise UserError(f"{name}: row {_row_of(values, i)}: {quote(v)} is not a number") from None
        raise UserError(f"{name}: values must be numbers") from None
    if np.isinf(arr).any():
        i = int(np.flatnonzero(np.isinf(arr))[0])
        raise UserError(f"{name}: {int(np.isinf(arr).sum())} infinite value(s) (first in row {_row_of(values, i)})")
    return arr


@dataclass(frozen=True)
class Complete:
    """Rows complete in truth and every score, plus what was dropped."""

    truth: np.ndarray  # int8 0/1
    scores: tuple[np.ndarray, ...]
    n_missing: int
    keep: np.ndarray  # boolean mask over the input rows

    @property
    def n_pos(self) -> int:
        return int(self.truth.sum())

    @property
    def n_neg(self) -> int:
        return int(self.truth.size - self.truth.sum())


def complete_cases(
    truth: object,
    *scores: object,
    truth_name: str = "truth",
    score_names: Sequence[str] | None = None,
    need_both_classes: bool = True,
) -> Complete:
    """Keep rows with truth and all scores present; check both classes remain."""
    t = as_truth(truth, truth_name)
    names = list(score_names or [f"score{i + 1}" if len(scores) > 1 else "score" for i in range(len(scores))])
    s = [as_score(x, n) for x, n in zip(scores, names)]
    for x, n in zip(s, names):
        if x.shape != t.shape:
            raise UserError(f"{n}: {x.size} values but {truth_name} has {t.size}")
    keep = ~np.isnan(t)
    for x in s:
        keep &= ~np.isnan(x)
    n_missing = int(t.size - keep.sum())
    tt = t[keep].astype(np.int8)
    if need_both_classes:
        check_both_classes(tt, truth_name, n_missing)
    return Complete(tt, tuple(x[keep] for x in s), n_missing, keep)


def check_both_classes(truth: np.ndarray, name: str = "truth", n_missing: int = 0) -> None:
    n_pos = int(np.sum(truth == 1))
    n_neg = int(np.sum(truth == 0))
    if n_pos == 0 or n_neg == 0:
        which = "positive (1)" if n_pos else "negative (0)"
        extra = f" after dropping {n_missing} row(s) with missing values" if n_missing else ""
        raise UserError(
            f"{name}: all {n_pos + n_neg} complete case(s) are {which}{extra}; "
            "ROC statistics need both positives and negatives"
        )


@contextlib.contextmanager
def library_warnings() -> Iterator[list[str]]:
    """Collect the warnings numpy/scipy/statsmodels raise inside the block.

    The statistics CLIs report them as statements in their output (text or JSON)
    instead of letting Python print them, with source lines, on stderr.
    """
    seen: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield seen
    for w in caught:
        text = f"{w.category.__name__}: {' '.join(str(w.message).split())}"
        if text not in seen:
            seen.append(text)
