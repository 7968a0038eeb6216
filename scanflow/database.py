"""Opening Scanflow's own SQL databases: SQLite by default, PostgreSQL by URL.

One place decides how a URL becomes an engine, so the prediction log, the
label store and everything reading them accept the same URLs:
``sqlite:///path.db``, ``postgresql://user@host/db`` (driven by psycopg 3).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from scanflow.extras import require
from scanflow.home import sqlite_file


def normalise_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3, the driver the extra installs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def make_engine(url: str, json_serializer: Callable[[Any], str] | None = None) -> Engine:
    """An engine for ``url``; SQLite gets its folder, write-ahead logging and a busy timeout.

    Several processes (server workers, the labelling page, the improve loop)
    write one SQLite file: WAL lets readers go on while one writes, and the
    busy timeout makes writers wait for each other instead of failing.
    """
    url = normalise_url(url)
    _check_url(url)
    if url.startswith("postgresql+psycopg://"):
        require("psycopg", "serve", "a PostgreSQL database")
    if (file := sqlite_file(url)) is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {"pool_pre_ping": True}
    if json_serializer is not None:
        options["json_serializer"] = json_serializer
    engine = create_engine(url, **options)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


class DatabaseUrlError(ValueError):
    """A URL that names no database Scanflow can open."""


URL_FORMS = "sqlite:///path/to/file.db or postgresql://user:password@host:5432/database"


def _check_url(url: str) -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        raise DatabaseUrlError(f"'{url}' is not a database URL: use {URL_FORMS}") from None
    if backend not in ("sqlite", "postgresql"):
        raise DatabaseUrlError(
            f"{describe(url)}: Scanflow keeps its tables in SQLite or PostgreSQL, not {backend}:"
            f" use {URL_FORMS}"
        )


def create_tables(metadata: MetaData, engine: Engine, attempts: int = 10) -> None:
    """Create the missing tables; other processes opening the same new database at once are fine.

    Server workers, replicas and labelling pages open one database together, and
    their ``CREATE TABLE`` statements race ("table ... already exists", or a
    unique violation in PostgreSQL's catalog): the loser waits a moment and
    checks again, until every table is there.
    """
    for attempt in range(attempts):
        try:
            metadata.create_all(engine, checkfirst=True)
            return
        except (OperationalError, ProgrammingError, IntegrityError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def describe(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: say it as given
        return url
