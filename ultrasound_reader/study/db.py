"""Opening a study database: URL, engine settings, Alembic migrations, clear failures.

``--db`` takes a SQLAlchemy URL; a plain path means a SQLite file. SQLite runs in WAL
mode with ``synchronous=FULL`` and foreign keys on, and every write transaction
starts with ``BEGIN IMMEDIATE`` (so two writers queue on the busy timeout instead of
failing half-way); PostgreSQL URLs use psycopg 3 (``postgresql://`` is read as
``postgresql+psycopg://``).

The schema is Alembic's (``migrations/`` inside the package, run programmatically):
``create`` migrates to head; every other command refuses a database that is missing,
not a study database, or from a newer schema than this program knows.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ultrasound_reader.errors import UserError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_ENV = "ULTRASOUND_READER_STUDY_BUSY_TIMEOUT"  # seconds a writer waits for a lock
DEFAULT_BUSY_TIMEOUT_S = 10.0
# The newest migration (tests check it is Alembic's head): lets every command but
# 'create' check the schema without importing Alembic.
SCHEMA_HEAD = "0002"


@dataclass(frozen=True)
class Target:
    url: URL
    label: str  # what messages call it (the path, or the URL without its password)
    sqlite_path: Path | None  # None for server databases and in-memory SQLite


def parse_db(value: str | None) -> Target:
    """The database named by ``--db`` (a SQLAlchemy URL, or a path meaning a SQLite file)."""
    if not value:
        raise UserError("--db is required (a SQLite file path or a SQLAlchemy URL)")
    if "://" not in value:
        path = Path(value).expanduser().resolve()
        return Target(URL.create("sqlite", database=str(path)), str(path), path)
    try:
        url = make_url(value)
    except ArgumentError:
        raise UserError(f"--db: {value!r} is not a valid database URL") from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        db = url.database or ""
        path = None if db in ("", ":memory:") else Path(db).expanduser().resolve()
        if path is not None:
            url = url.set(database=str(path))
        return Target(url, str(path) if path else "in-memory SQLite", path)
    if backend == "postgresql":
        if url.get_driver_name() in ("", "psycopg2") and "+" not in url.drivername:
            url = url.set(drivername="postgresql+psycopg")
        return Target(url, url.render_as_string(hide_password=True), None)
    raise UserError(f"--db: {backend!r} databases are not supported (use a SQLite path or a postgresql:// URL)")


def busy_timeout_s() -> float:
    raw = os.environ.get(BUSY_TIMEOUT_ENV)
    if not raw:
        return DEFAULT_BUSY_TIMEOUT_S
    try:
        return max(float(raw), 0.0)
    except ValueError:
        raise UserError(f"{BUSY_TIMEOUT_ENV}: {raw!r} is not a number of seconds") from None


def make_engine(target: Target, write: bool = True, synchronous: str = "FULL") -> Engine:
    """An engine with the study's connection settings (SQLite pragmas, psycopg driver)."""
    try:
        return _make_engine(target, write, synchronous)
    except (ImportError, ArgumentError) as exc:
        raise UserError(f"--db: {target.label}: cannot use this database driver ({exc}); "
                        "use postgresql:// (psycopg 3) or a SQLite path") from None


def _make_engine(target: Target, write: bool, synchronous: str) -> Engine:
    if target.sqlite_path is None and target.url.get_backend_name() == "sqlite":
        engine = create_engine(target.url)
    elif target.sqlite_path is not None:
        timeout = busy_timeout_s()
        engine = create_engine(target.url, connect_args={"timeout": timeout})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below)
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            cur.execute("PRAGMA foreign_keys = ON")
            if write:
                cur.execute("PRAGMA journal_mode = WAL")
            cur.execute(f"PRAGMA synchronous = {synchronous}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn) -> None:  # noqa: ANN001
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
    else:
        engine = create_engine(target.url, pool_pre_ping=True)
    return engine


def _alembic_config(connection):  # noqa: ANN001, ANN202
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    cfg = _alembic_config(None)
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    return {s.revision for s in ScriptDirectory.from_config(_alembic_config(None)).walk_revisions()}


def _current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        return row[0] if row else None


def _check_readonly_file(target: Target) -> None:
    """A SQLite file marked read-only is refused for writing (even for root, who could write it)."""
    p = target.sqlite_path
    if p is not None and p.exists():
        mode = p.stat().st_mode
        if not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(p, os.W_OK):
            raise DatabaseUnavailable(f"study database {p} is read-only: nothing can be recorded (make it writable)")


def open_engine(target: Target, *, create: bool = False, write: bool = True) -> Engine:
    """Engine on an existing study database at the current schema (``create``: migrate to head first)."""
    p = target.sqlite_path
    if p is not None:
        if not p.exists():
            if not create:
                raise UserError(f"study database {p}: no such file (make one with 'study create')")
            if not p.parent.is_dir():
                raise UserError(f"study database {p}: folder {p.parent} does not exist")
        elif p.is_dir():
            raise UserError(f"study database {p} is a folder, not a SQLite file")
        if write:
            _check_readonly_file(target)
    engine = make_engine(target, write=write)
    try:
        with translate_errors(target):
            current = _current_revision(engine)
            if current == SCHEMA_HEAD and not create:
                return engine  # the common case, without importing Alembic
            head = head_revision()
            if current is not None and current not in known_revisions():
                raise UserError(f"study database {target.label} has schema revision {current!r}, newer than this "
                                f"program knows (head {head!r}); use a newer ultrasound-reader")
            if current != head:
                if not create:
                    if current is None:
                        raise DatabaseUnavailable(f"{target.label} is not a study database (no study schema in it)")
                    raise UserError(f"study database {target.label} has schema revision {current!r}, older than "
                                    f"this program's {head!r}; run 'study create' on it to migrate")
                migrate(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def migrate(engine: Engine) -> None:
    """Upgrade the database to the head revision (Alembic, in one transaction)."""
    from alembic import command

    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "head")


_TRIGGER = re.compile(r"study: [^\n]*")


def db_message(exc: BaseException) -> str | None:
    """The study trigger's message inside a database error, if it is one."""
    m = _TRIGGER.search(str(getattr(exc, "orig", exc)))
    return m.group(0).rstrip(". ") if m else None


class DatabaseUnavailable(UserError):
    """The database itself is the problem (locked, read-only, unreachable, not a study database).

    Reported to the user as is; never audited as a refused attempt (the audit row
    could not be written either), unlike a UserError about the input.
    """


class NoStudy(UserError):
    """The study database exists but holds no study yet."""


@contextmanager
def translate_errors(target: Target) -> Iterator[None]:
    """Turn the database's failures into one clear line (UserError) naming the database."""
    try:
        yield
    except UserError:
        raise
    except DBAPIError as exc:
        message, unavailable = classify(target, exc)
        raise (DatabaseUnavailable if unavailable else UserError)(message) from None
    except SQLAlchemyError as exc:
        raise UserError(f"study database {target.label}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None


def describe(target: Target, exc: DBAPIError) -> str:
    return classify(target, exc)[0]


def classify(target: Target, exc: DBAPIError) -> tuple[str, bool]:
    """The one-line message for a database error, and whether the database itself is unavailable."""
    trig = db_message(exc)
    if trig:
        return trig.removeprefix("study: "), False
    orig = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
    low = orig.lower()
    if "unique" in low or "duplicate key" in low:
        return "already recorded (another process committed it first); nothing was changed", False
    if "readonly" in low or "read-only" in low:
        return f"study database {target.label} is read-only: nothing can be recorded ({orig})", True
    if "locked" in low or "busy" in low:
        return (f"study database {target.label} is locked by another process "
                f"(waited {busy_timeout_s():g} s); try again when it is free"), True
    if "not a database" in low or "malformed" in low:
        return f"{target.label} is not a study database (SQLite says: {orig})", True
    if "unable to open" in low:
        return f"study database {target.label} cannot be opened ({orig})", True
    if isinstance(exc, OperationalError) and target.sqlite_path is None:
        return f"study database {target.label} cannot be reached ({orig})", True
    return f"study database {target.label}: {orig}", False


def sessionmaker_for(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
